"""Database helpers shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import connection, connections
from django.db.backends.utils import CursorWrapper


def prepared_cursor() -> CursorWrapper:
    """A cursor for one of the hottest reads: on PostgreSQL its statements are prepared on the server
    once per connection (`tutoring.db.postgresql`); elsewhere (SQLite) an ordinary cursor.

    Only for SQL written once per process (a fixed string, or compiled once like the participants
    read): each distinct statement takes one of the connection's prepared slots.
    """
    make = getattr(connection, "prepared_cursor", None)
    return make() if make is not None else connection.cursor()


async def aconnect() -> Any:
    """A psycopg `AsyncConnection` of its own to the default PostgreSQL database, in autocommit, for
    an event loop's hottest writes (the realtime chat writer): opened with the parameters Django would
    use (server, credentials, `DATABASE_PREPARED_STATEMENTS`), binding parameters on the server.

    Django does not manage it: its owner closes it, and replaces it when `socket_alive` says no.
    """
    from psycopg import AsyncConnection

    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)  # Django's cursors are synchronous; psycopg's async one binds on the server
    return await AsyncConnection.connect(**params, autocommit=True)
