"""Django's PostgreSQL backend with a per-request connection check that costs no round trip.

With CONN_HEALTH_CHECKS Django proves a persistent connection alive at its first use in each request
with `SELECT 1`: a round trip (about 0.1 ms, a tenth of a short read's database time) on every
request. A connection the server has closed (restart, `pg_terminate_backend`, an idle timeout) has
told its socket so, with an error message and/or end of file, so the same question is answered by
asking the socket whether anything is waiting to be read: an idle connection has nothing to read
until the server sends something. Anything there, or a connection psycopg already knows to be broken
or not idle, is closed and replaced, as a failed `SELECT 1` would be.

After a database error in the previous request Django still asks `is_usable` (a real `SELECT 1`).

It also gives the hottest reads a cursor whose statements are prepared on the server (`prepared_cursor`,
through `tutoring.db.prepared_cursor`): PostgreSQL plans such a statement once per connection instead
of at every execution, which for a join of four small tables is most of its time (the participants
read: 0.48 against 0.23 ms a round trip, `bench/README.md`). Django's own cursors bind parameters on
the client and never prepare.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from django.db.backends.postgresql.base import ServerBindingCursor
from psycopg import pq


def socket_alive(conn) -> bool:
    """Whether an idle psycopg connection still looks open, without a round trip to the server."""
    if conn is None or conn.closed or conn.broken:
        return False
    pgconn = conn.pgconn
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class PreparedCursor(ServerBindingCursor):
    """Parameters bound on the server, and each statement prepared at its first execution on the
    connection (psycopg keeps the last `prepared_max` of them, 100 by default). The connection must
    allow it (`prepare_threshold` not None, the setting DATABASE_PREPARED_STATEMENTS); where it does
    not, this is an unprepared server-bound cursor."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


class DatabaseWrapper(PostgresDatabaseWrapper):
    _next_prepared = False

    def prepared_cursor(self):
        """`cursor()` (the health check, the wrapping that counts and logs queries), prepared."""
        self._next_prepared = True
        try:
            return self.cursor()
        finally:
            self._next_prepared = False

    def create_cursor(self, name=None):
        if self._next_prepared and name is None:
            return PreparedCursor(self.connection)
        return super().create_cursor(name)

    def close_if_health_check_failed(self):
        if self.pool or self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not socket_alive(self.connection):
            self.close()
        self.health_check_done = True
