"""The ASGI server of the tests that need real sockets (the realtime tests, the browser tests): uvicorn
running `tutoring.asgi:application` in a thread of the test process, one for the whole run (the
`threaded_server` fixture of the root conftest). It shares the test database and settings; tests that
use it need `django_db(transaction=True)` so its threads see what the test wrote.
"""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn
from django.conf import settings
from django.db import connection

from live.realtime import events
from tutoring.tests.servers import free_port

SETTLE_SECONDS = 30


class ThreadedServer:
    def __init__(self, app: str = "tutoring.asgi:application"):
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="wsproto"
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="realtime-test-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def run(self, coro_fn, *args, timeout: float = 120):
        """Run a coroutine on the server's event loop and return its result.

        Everything in this process that receives from the channel layer must share one event loop
        (channels-redis keeps one receive lock per layer, the in-memory layer's queues belong to a
        loop), so in-process transports such as WebsocketCommunicator run here, beside the server.
        """
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self.loop).result(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the realtime test server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


# The connections the test server has open, both transports: opened by `events.connect`, closed by
# `events.disconnect` (wrapped once per run by `threaded_server`).
open_clients: set[events.Client] = set()


def _track_connections() -> None:
    connect, disconnect = events.connect, events.disconnect

    async def tracked_connect(**kwargs):
        client = await connect(**kwargs)
        open_clients.add(client)
        return client

    async def tracked_disconnect(client):
        try:
            await disconnect(client)
        finally:
            open_clients.discard(client)

    events.connect, events.disconnect = tracked_connect, tracked_disconnect


def start_threaded_server() -> ThreadedServer:
    _track_connections()
    # Tests drive the realtime heartbeat themselves (`process.beat()`): a timer firing mid-test would
    # write to SQLite's shared in-memory database while the test reads it.
    settings.REALTIME_HEARTBEAT_SECONDS = 24 * 3600
    server = ThreadedServer()
    server.start()
    return server


def stop_threaded_server(server: ThreadedServer) -> None:
    server.stop()
    # The server's worker threads kept their database connections; the test database can only be
    # dropped once they are gone.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


def settle() -> None:
    """Wait until the server has finished with every connection: a disconnect writes to the database,
    and SQLite's shared in-memory test database refuses a read that overlaps a write."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while open_clients and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not open_clients, f"connections left open: {open_clients}"
