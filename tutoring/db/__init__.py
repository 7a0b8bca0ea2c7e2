"""Database helpers shared by the apps."""

from __future__ import annotations

import asyncio
from typing import Any

from django.db import connection, connections
from django.db.backends.utils import CursorWrapper
from psycopg import errors, pq


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


class LoopStatement:
    """One fixed statement run on an `aconnect` connection through libpq directly, on the event loop.

    psycopg's `execute` builds a cursor, converts the query and adapts every parameter, and drives the
    round trip through generators, timers and a reader registered anew per wait: at 400 chat msg/s that
    was a sixth of the realtime process's event loop, for one INSERT per batch. Here the parameters are
    text, sent as they are; the statement is prepared once on its connection (unless the connection has
    prepared statements off: DATABASE_PREPARED_STATEMENTS); the first column of each row comes back as
    text. An error result raises psycopg's error for it, and the connection stays usable; a connection
    that fails, or a round trip cancelled before its answer, leaves the statement `broken`: its owner
    closes the connection (an answer still on its way would be taken for the next statement's).

    Nothing else may use the connection while a round trip is on it: the owner runs one at a time.
    """

    def __init__(self, conn: Any, sql: str, name: str) -> None:
        self._conn = conn
        self._sql = _numbered(sql).encode()
        self._name = name.encode()
        self._prepared = False
        self.broken = False

    async def first_column(self, params: list[str]) -> list[str | None]:
        """Run the statement with `params` (as text); each row's first value, as text (None for NULL)."""
        pgconn, encoding = self._conn.pgconn, self._conn.info.encoding
        values = [param.encode(encoding) for param in params]
        if self._conn.prepare_threshold is None:
            (result,) = await self._round_trip(lambda: pgconn.send_query_params(self._sql, values))
        else:
            if not self._prepared:
                await self._round_trip(lambda: pgconn.send_prepare(self._name, self._sql))
                self._prepared = True
            (result,) = await self._round_trip(lambda: pgconn.send_query_prepared(self._name, values))
        return [
            None if (value := result.get_value(row, 0)) is None else value.decode(encoding)
            for row in range(result.ntuples)
        ]

    async def _round_trip(self, send) -> list[Any]:
        if self.broken:
            raise errors.OperationalError("the connection failed during an earlier statement")
        self.broken = True  # until the whole answer is in
        pgconn, loop = self._conn.pgconn, asyncio.get_running_loop()
        fd = pgconn.socket  # raises if the connection is already gone
        answered = loop.create_future()
        results: list[Any] = []

        def readable() -> None:
            try:
                pgconn.consume_input()
                while not pgconn.is_busy():
                    result = pgconn.get_result()
                    if result is None:  # the statement's answer is complete
                        if not answered.done():
                            answered.set_result(results)
                        return
                    results.append(result)
            except Exception as exc:  # psycopg.OperationalError: the connection is gone
                if not answered.done():
                    answered.set_exception(exc)

        send()
        while pgconn.flush():  # a large batch: the rest goes as the socket takes it (libpq's nonblocking mode)
            writable = loop.create_future()
            loop.add_writer(fd, _wake, writable)
            loop.add_reader(fd, _wake, writable)
            try:
                await writable
            finally:
                loop.remove_writer(fd)
                loop.remove_reader(fd)
            pgconn.consume_input()  # what the server said meanwhile, as libpq asks
        loop.add_reader(fd, readable)
        try:
            await answered
        finally:
            loop.remove_reader(fd)
        self.broken = False
        for result in results:
            if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
                raise errors.error_from_result(result, encoding=self._conn.info.encoding)
        return results


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _numbered(sql: str) -> str:
    """psycopg's `%s` placeholders as PostgreSQL's own `$1`, `$2`, …"""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise ValueError("only %s placeholders, and no other %, can be numbered")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]
