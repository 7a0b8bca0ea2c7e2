"""A real ASGI server for the realtime tests, and clients of both transports.

The server is uvicorn running `tutoring.asgi:application` in a thread of the test process (one for the
whole run): it shares the test database (SQLite in memory included) and the test settings, and talks
to clients over real sockets. Tests that use it need `django_db(transaction=True)` so the server's
threads see what the test wrote. The multi-process tests start daphne processes instead
(`tutoring.tests.servers`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict
from typing import Any

import aiohttp
import pytest
import socketio
import uvicorn
from django.db import connection

from live.realtime import events
from live.tests.factories import SessionFactory
from tutoring.tests.servers import free_port

WAIT = 15  # seconds: only bounds a broken test; every awaited event is expected


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

    def tracked_connect(**kwargs):
        client = connect(**kwargs)
        open_clients.add(client)
        return client

    async def tracked_disconnect(client):
        try:
            await disconnect(client)
        finally:
            open_clients.discard(client)

    events.connect, events.disconnect = tracked_connect, tracked_disconnect


@pytest.fixture(scope="session")
def threaded_server(django_db_setup, django_db_blocker):
    _track_connections()
    server = ThreadedServer()
    server.start()
    yield server
    server.stop()
    # The server's worker threads kept their database connections; the test database can only be
    # dropped once they are gone.
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture
def realtime_server(threaded_server) -> str:
    """The base URL of the server."""
    return threaded_server.url


@pytest.fixture
def in_server_loop(threaded_server):
    """in_server_loop(coro_fn, *args): run on the server's event loop (see `ThreadedServer.run`)."""
    return threaded_server.run


def settle() -> None:
    """Wait until the server has finished with every connection: a disconnect writes to the database,
    and SQLite's shared in-memory test database refuses a read that overlaps a write."""
    deadline = time.monotonic() + WAIT * 2
    while open_clients and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not open_clients, f"connections left open: {open_clients}"


@pytest.fixture(autouse=True)
def _connections_closed(transactional_db):
    """Every test here ends once the server is done with its connections, so nothing of one test runs
    into the next one or into the database flush."""
    yield
    settle()


@pytest.fixture
def live_session(transactional_db):
    return SessionFactory()


class Inbox:
    """Events a client received, by name, to await one at a time."""

    def __init__(self):
        self.queues: dict[str, asyncio.Queue] = defaultdict(asyncio.Queue)

    def put(self, event: str, data: Any) -> None:
        self.queues[event].put_nowait(data)

    async def next(self, event: str, timeout: float = WAIT) -> Any:
        return await asyncio.wait_for(self.queues[event].get(), timeout)

    def pending(self, event: str) -> list[Any]:
        queue, items = self.queues[event], []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items


class SioClient:
    """python-socketio's AsyncClient on namespace /live, with an inbox of every event it gets."""

    def __init__(self, base: str):
        self.base = base
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox = Inbox()
        self.connect_error: Any = None

        @self.sio.on("*", namespace="/live")
        async def any_event(event, data=None):
            self.inbox.put(event, data)

        @self.sio.on("connect_error", namespace="/live")
        async def on_connect_error(data):
            self.connect_error = data

    async def connect(self, token: str | None, *, transports: list[str] | None = None) -> None:
        await self.sio.connect(
            self.base,
            namespaces=["/live"],
            auth={"token": token} if token is not None else None,
            transports=transports,
            wait_timeout=WAIT,
        )

    async def call(self, event: str, data: Any) -> dict:
        return await self.sio.call(event, data, namespace="/live", timeout=WAIT)

    async def emit(self, event: str, data: Any) -> None:
        await self.sio.emit(event, data, namespace="/live")

    async def close(self) -> None:
        await self.sio.disconnect()


class WsClient:
    """A plain WebSocket client of the Channels transport (`/ws/live/?token=`), speaking its JSON frames."""

    def __init__(self, base: str):
        self.base = base.replace("http://", "ws://")
        self.inbox = Inbox()
        self.acks: dict[str, asyncio.Future] = {}
        self._n = 0
        self._http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None

    async def connect(self, token: str | None) -> None:
        self._http = aiohttp.ClientSession()
        query = f"?token={token}" if token is not None else ""
        self.ws = await self._http.ws_connect(f"{self.base}/ws/live/{query}", timeout=aiohttp.ClientWSTimeout(WAIT))
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame.get("event") == "ack":
                future = self.acks.pop(frame["ack"], None)
                if future is not None and not future.done():
                    future.set_result(frame)
            else:
                self.inbox.put(frame["event"], frame.get("data"))
        self.close_code = self.ws.close_code
        self.closed.set()

    async def send(self, frame: dict) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def call(self, event: str, data: Any) -> dict:
        """Send a frame with an ack id; the reply frame `{"event": "ack", "ack", "data"|"error"}`."""
        self._n += 1
        ack = f"a{self._n}"
        future = asyncio.get_running_loop().create_future()
        self.acks[ack] = future
        await self.send({"event": event, "data": data, "ack": ack})
        return await asyncio.wait_for(future, WAIT)

    async def emit(self, event: str, data: Any) -> None:
        await self.send({"event": event, "data": data})

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, WAIT)
        if self._http is not None:
            await self._http.close()


async def eventually(predicate, timeout: float = WAIT, interval: float = 0.05):
    """Poll an async or sync predicate until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
