"""Database helpers shared by the apps."""

from __future__ import annotations

from django.db import connection
from django.db.backends.utils import CursorWrapper


def prepared_cursor() -> CursorWrapper:
    """A cursor for one of the hottest reads: on PostgreSQL its statements are prepared on the server
    once per connection (`tutoring.db.postgresql`); elsewhere (SQLite) an ordinary cursor.

    Only for SQL written once per process (a fixed string, or compiled once like the participants
    read): each distinct statement takes one of the connection's prepared slots.
    """
    make = getattr(connection, "prepared_cursor", None)
    return make() if make is not None else connection.cursor()
