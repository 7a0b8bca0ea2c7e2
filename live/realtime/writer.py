"""Group commit for chat: the messages of this process that arrive together are stored together.

What arrives is counted against the chat limit and checked at once, even while the batch before it is
being inserted; once that one is stored, everything counted meanwhile is inserted in one statement,
then handed to this process's members, answered, and published for the other processes (in order,
while the next batch is stored). At most one counted batch waits: what arrives after it joins the
next one. A lone message still goes at once; under load the cost per message falls instead of the
queue growing. Every sender gets its own answer (the stored message, or the error that refused it),
messages keep their arrival order, and nothing is delivered or published before it is stored.

On PostgreSQL with Redis a batch is counted and inserted on the event loop itself (`_LoopStore`): one
EVALSHA on a Redis connection of its own, then the checked INSERT, prepared, on a psycopg async
connection of its own, sent through libpq directly (`tutoring.db.LoopStatement`). A message then costs
no hop to a thread and back, and no wait for the GIL between them (a busy loop hands it over only every
switch interval): at 400 msg/s its p50 went from 2.9 to 2.0 ms (bench/README.md). What that statement
keeps out, to be told why, and everything when the connection cannot be made, goes to a thread of the
writer's own with the chat service's sync code: `database_sync_to_async` checks the connection before
every call (with CONN_HEALTH_CHECKS, one more round trip per batch); that thread checks it only after a
failure and every CONNECTION_CHECK_SECONDS. SQLite keeps the shared thread it needs (`run_db`), for all of it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from psycopg import Error as PsycopgError

from live import services
from live.realtime import KeptPublisher, apublish_delivered
from live.realtime.hub import hub
from live.realtime.process import database_vendor
from live.serializers import message_out
from tutoring.db import LoopStatement, aconnect
from tutoring.db.postgresql.base import socket_alive
from tutoring.errors import ApplicationError
from tutoring.models import User
from tutoring.ratelimit import AsyncCounter

logger = logging.getLogger(__name__)

MAX_BATCH = 200
CONNECTION_CHECK_SECONDS = 10
IDLE_CHECK_SECONDS = 1

Item = tuple[User, str, Any, asyncio.Future]
# What stores a counted batch: each message's data, or the error that refused it.
Store = Callable[[], Awaitable[list[dict | ApplicationError]]]


def _fail(batch: list[Item], exc: Exception) -> None:
    logger.exception("realtime: storing %d chat messages failed", len(batch), exc_info=exc)
    for *_, future in batch:
        if not future.done():
            future.set_exception(exc)


def _drafts(items: list[tuple[User, str, Any]]) -> list[services.MessageDraft]:
    return [services.MessageDraft(session_id=sid, sender=user, content=content) for user, sid, content in items]


def _shaped(outcomes: list) -> list[dict | ApplicationError]:
    return [outcome if isinstance(outcome, ApplicationError) else message_out(outcome) for outcome in outcomes]


def _store(items: list[tuple[User, str, Any]]) -> list[dict | ApplicationError]:
    """In a database thread: store the messages (the chat service counts and checks each), shape them."""
    return _shaped(services.messages_store(drafts=_drafts(items)))


class _WriterThread:
    """`run_in_thread` for PostgreSQL: one thread, its connection checked now and then, not per batch."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-chat-writer")
        self._checked = 0.0

    def _call(self, fn, *args):
        now = time.monotonic()
        if now - self._checked > CONNECTION_CHECK_SECONDS:
            self._checked = now
            close_old_connections()  # an obsolete or broken connection is replaced here
        try:
            return fn(*args)
        except Exception:
            self._checked = 0.0  # check it before the next batch
            raise

    def __call__(self, fn):
        async def run(*args):
            context = contextvars.copy_context()  # as database_sync_to_async does (the language, say)
            call = functools.partial(context.run, self._call, fn, *args)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)

        return run


class _LoopStore:
    """`_store`'s steps with the two round trips made on the event loop (PostgreSQL and Redis only):
    the chat limit counted by an `AsyncCounter`, the checked INSERT (`services.insert_allowed_sql`) on a
    connection of its own, prepared, as a `LoopStatement`. Every other step is the chat service's own code.

    In two halves, so that a batch is counted while the one before it is inserted: `count` makes the
    first, and what it returns makes the second."""

    def __init__(self, run_in_thread) -> None:
        self._run_in_thread = run_in_thread
        self._counter = AsyncCounter()
        self._conn: Any = None
        self._insert: LoopStatement | None = None
        self._opened = self._used = 0.0

    async def count(self, items: list[tuple[User, str, Any]]) -> Store:
        """Count the batch against the chat limit and check it (no database); the call that stores it."""
        if not self._counter.available():  # the cache is not Redis (tests may point it elsewhere)
            return functools.partial(self._run_in_thread(_store), items)
        drafts = _drafts(items)
        buckets, indices = services.chat_buckets(drafts)
        taken = await self._counter.take(buckets)
        results, candidates = services.messages_check(drafts, services.chat_refusals(buckets, taken, indices))
        return functools.partial(self._store, drafts, results, candidates)

    async def _store(
        self, drafts: list[services.MessageDraft], results: services.Outcomes, candidates: dict[int, services.Message]
    ) -> list[dict | ApplicationError]:
        if candidates:
            try:
                await self._connection()
            except PsycopgError:  # the database is down or refuses us: the thread's code says so, as before
                logger.warning("realtime: no connection of the chat writer's own; storing on its thread", exc_info=True)
                store = self._run_in_thread(services.messages_store_checked)
                return _shaped(await store(drafts, results, candidates))
            for i in await self._insert_allowed(candidates):
                results[i] = candidates.pop(i)
        if any(outcome is None for outcome in results):  # what the statement kept out, and why
            return _shaped(await self._run_in_thread(services.messages_store_rest)(drafts, results, candidates))
        return _shaped(results)

    async def _connection(self) -> Any:
        """The connection, replaced when it is older than DATABASE_CONN_MAX_AGE (as Django's own are) or
        when, after a second or more unused, the server turns out to have closed it (a restart, an idle
        timeout). One closed while in use fails its batch's statement, which the thread then stores."""
        now = time.monotonic()
        max_age = settings.DATABASES["default"]["CONN_MAX_AGE"]
        if self._conn is not None and (
            (max_age is not None and now - self._opened > max_age)
            or (now - self._used > IDLE_CHECK_SECONDS and not socket_alive(self._conn))
        ):
            await self.close()
        if self._conn is None:
            self._conn, self._opened = await aconnect(), now
            self._insert = LoopStatement(self._conn, services.insert_allowed_sql(), "live_chat_insert")
        self._used = now
        return self._conn

    async def _insert_allowed(self, messages: dict[int, services.Message]) -> list[int]:
        """`services._insert_allowed` on the writer's connection: the keys of the messages stored."""
        params, keys = services.insert_allowed_params(messages)
        try:
            return [keys[uuid.UUID(stored)] for stored in await self._insert.first_column(params)]
        except (PsycopgError, ValueError):
            logger.warning("chat batch of %d failed as one checked insert; checking each", len(messages), exc_info=True)
            if self._insert.broken:  # psycopg never sees this connection fail: only the statement uses it
                await self.close()
            return []

    async def close(self) -> None:
        conn, self._conn, self._insert = self._conn, None, None
        if conn is not None:
            await conn.close()


class ChatWriter:
    def __init__(self, run_in_thread):
        on_postgresql = database_vendor() == "postgresql"
        self._run_in_thread = _WriterThread() if on_postgresql else run_in_thread
        self._loop_store = _LoopStore(self._run_in_thread) if on_postgresql else None
        self._pending: list[Item] = []  # arrived, not counted yet
        self._counted: tuple[list[Item], Store] | None = None  # counted, waiting for the batch before it
        self._counting: asyncio.Task | None = None
        self._storing: asyncio.Task | None = None
        self._outbox: list[tuple[str, str, dict, bool]] = []
        self._publisher: asyncio.Task | None = None
        self._kept_publisher = KeptPublisher()

    async def submit(self, user: User, session_id: str, content: Any) -> dict:
        """Store one message (with whatever arrives alongside); its data, or raises the refusing error."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((user, session_id, content, future))
        self._count_soon()
        return await future

    def _count_soon(self) -> None:
        """Count what is pending unless a counted batch is already waiting: at most one waits, so what
        arrives meanwhile still joins one batch, not a queue of small ones."""
        if self._pending and self._counted is None and (self._counting is None or self._counting.done()):
            self._counting = asyncio.create_task(self._count(), name="live-chat-counter")

    async def _count(self) -> None:
        while self._pending and self._counted is None:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                store = await self._count_batch([item[:3] for item in batch])
            except Exception as exc:  # Redis is down: every sender in the batch is told
                _fail(batch, exc)
                continue
            self._counted = (batch, store)
            if self._storing is None or self._storing.done():
                # Nothing is being stored: store it from this task, without a hop to a new one (a turn
                # of the loop, behind whatever else is ready); the next count gets a task of its own.
                self._storing, self._counting = asyncio.current_task(), None
                await self._store()
                return

    async def _store(self) -> None:
        while self._counted is not None:
            (batch, store), self._counted = self._counted, None
            self._count_soon()  # the next batch is counted while this one is inserted
            try:
                results = await store()
            except Exception as exc:  # the database is down: every sender in the batch is told
                _fail(batch, exc)
                continue
            stored = [
                (session_id, services.MESSAGE, result)
                for (_, session_id, _, _), result in zip(batch, results, strict=True)
                if isinstance(result, dict)
            ]
            # In arrival order, to this process's members at once; then to the bus, for the others.
            delivered = [(*event, await hub.deliver_here(*event)) for event in stored]
            for (*_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    if isinstance(result, dict):
                        future.set_result(result)
                    else:
                        future.set_exception(result)
            self._publish_later(delivered)

    async def _count_batch(self, items: list[tuple[User, str, Any]]) -> Store:
        if self._loop_store is not None:
            return await self._loop_store.count(items)
        return functools.partial(self._run_in_thread(_store), items)

    def _publish_later(self, stored: list[tuple[str, str, dict, bool]]) -> None:
        """To the other processes, in order, without holding up the next batch: the writer used to wait
        for this round trip (and the loop's turn after it) before storing what had queued meanwhile."""
        self._outbox.extend(stored)
        if self._outbox and (self._publisher is None or self._publisher.done()):
            self._publisher = asyncio.create_task(self._publish(), name="live-chat-publisher")

    async def _publish(self) -> None:
        while self._outbox:
            events, self._outbox = self._outbox, []
            try:
                await apublish_delivered(events, self._kept_publisher)  # one round trip for all waiting
            except Exception:  # stored, acknowledged and delivered here; a lost notification is logged only
                logger.exception("realtime: could not publish %d chat messages", len(events))


# One writer per event loop (each process has one; tests may run several loops).
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChatWriter] = weakref.WeakKeyDictionary()


def writer_for_loop(run_in_thread) -> ChatWriter:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = ChatWriter(run_in_thread)
    return writer
