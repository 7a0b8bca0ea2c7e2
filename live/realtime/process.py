"""This realtime process's connections: heartbeat, presence that heals, revocation, clean shutdown.

Every open connection (either transport) is a `live.Connection` row that this process refreshes every
REALTIME_HEARTBEAT_SECONDS; presence in a session is a row per joined connection. A process that dies
(kill -9, a lost machine) stops refreshing its rows, and within REALTIME_PRESENCE_TTL_SECONDS plus one
heartbeat any surviving process's sweep deletes them and marks their users disconnected (broadcast as
`participant_updated`). A process that is told to stop (SIGTERM under daphne) drops all its rows at
once, while its event loop still runs to publish the changes, and never waits for a stopped loop.

The heartbeat also re-checks who the connections belong to: a user deactivated (or deleted) since they
connected loses every connection at the next heartbeat; a connection closes when its access token
expires (each client carries a timer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, connections

from live import services

if TYPE_CHECKING:
    from live.realtime.events import Client

logger = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4()
# How long shutdown may spend recording that this process's connections are gone.
SHUTDOWN_TIMEOUT = 5


def run_db(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run `fn` in a worker thread with a usable database connection.

    On PostgreSQL calls run in parallel threads (each keeps its own connection) so one slow write does
    not queue every other socket behind it; SQLite has a single writer anyway, and its in-memory test
    database must not be written from two threads at once, so there they share Django's one thread.
    """
    return database_sync_to_async(fn, thread_sensitive=database_vendor() == "sqlite")


@functools.cache
def database_vendor() -> str:
    """`connection.vendor`, read once per process: under ASGI `connection` is local to each task, so
    reading it in a socket's task builds a DatabaseWrapper (~3.5 KB) that lives as long as the socket."""
    return connection.vendor


def freeze_startup_heap() -> None:
    """Leave what the process built to start (modules, settings, URL patterns, translation catalogues:
    ~200,000 objects that live as long as it does) out of every cyclic garbage collection from now on.

    Each full collection otherwise walked all of them: 200-300 ms with the event loop stopped, every ten
    seconds at 400 chat msg/s — the whole p99 of a chat run. The first connection has been through token
    checking, the database and translation, so by then nearly everything lazily built at start exists.
    """
    gc.collect()  # what is already garbage is not frozen with the rest
    gc.freeze()


# The event loop and the threads that do its database work (the chat writer's, `run_db`'s) share one
# GIL. A thread back from a socket call waits for the loop to let go of it, and a busy loop does so
# only every switch interval (5 ms by default): a batch of chat messages that takes 1.5 ms alone took
# ~18 ms beside a busy loop, ~4 ms at 0.5 ms (`bench/writer_convoy.py`).
SWITCH_INTERVAL_SECONDS = 0.0005


def share_the_gil_sooner() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


class RealtimeProcess:
    def __init__(self) -> None:
        self.clients: dict[uuid.UUID, Client] = {}
        self.shutting_down = False
        self._heartbeat: asyncio.Task | None = None
        self._hooked = False
        self._started = False

    def add(self, client: Client) -> None:
        if not self._started:
            self._started = True
            freeze_startup_heap()
            share_the_gil_sooner()
        self.clients[client.connection_id] = client
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat_forever(), name="live-heartbeat")
        self._hook_shutdown()

    def discard(self, client: Client) -> None:
        self.clients.pop(client.connection_id, None)

    def _beat(self, open_connections: dict) -> set[Any]:
        """In a database thread: refresh ours, sweep the dead, and name the users no longer active."""
        services.connections_refresh(process_id=PROCESS_ID, open_connections=open_connections)
        services.connections_sweep()
        return services.users_inactive(user_ids={user.pk for user, _ in open_connections.values()})

    async def beat(self) -> None:
        """One heartbeat (also run by tests instead of waiting for the timer)."""
        open_connections = {cid: (c.user, sorted(c.sessions)) for cid, c in self.clients.items()}
        inactive = await run_db(self._beat)(open_connections)
        for client in list(self.clients.values()):
            if client.user.pk in inactive:
                await client.revoke(401, services.DEACTIVATED)

    async def _beat_forever(self) -> None:
        while not self.shutting_down:
            await asyncio.sleep(settings.REALTIME_HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except Exception:  # the database or Redis is away: try again next time
                logger.exception("realtime: heartbeat failed")

    def _hook_shutdown(self) -> None:
        """Under daphne (Twisted), run `shutdown` before the reactor stops, while the loop still runs."""
        if self._hooked:
            return
        self._hooked = True
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is None or not getattr(reactor, "running", False):
            return
        from twisted.internet import defer

        def before_shutdown() -> defer.Deferred:
            # At once, not when the coroutine first runs: daphne is cancelling every connection right
            # now, and their disconnect handlers must leave the database work to `shutdown`.
            self.shutting_down = True
            return defer.Deferred.fromFuture(asyncio.ensure_future(self.shutdown()))

        reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)

    async def shutdown(self) -> None:
        """Record at once that every connection of this process is gone (their users disconnected and
        told), instead of one database hop per socket while the server is cancelling them."""
        self.shutting_down = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        # A thread of its own: the shared pool may be busy with the disconnects of closing sockets.
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-shutdown")
        try:
            dropped = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(executor, self._end), timeout=SHUTDOWN_TIMEOUT
            )
            logger.info("realtime: shutting down, %d connections closed", dropped)
        except Exception:  # the sweep of the survivors settles it within the presence TTL
            logger.exception("realtime: could not record the connections of this process as closed")
        finally:
            executor.shutdown(wait=False)

    @staticmethod
    def _end() -> int:
        try:
            return services.connections_end_process(process_id=PROCESS_ID)
        finally:
            connections.close_all()  # this thread ends here


process = RealtimeProcess()
