"""Clients of both realtime transports for the realtime tests, against the one ASGI server of the run.

The server (`threaded_server`, root conftest; `tutoring.tests.asgi_server`) is uvicorn running
`tutoring.asgi:application` in a thread of the test process: it shares the test database (SQLite in
memory included) and the test settings, and talks to clients over real sockets. Tests that use it need
`django_db(transaction=True)` so the server's threads see what the test wrote. The multi-process tests
start daphne processes instead (`tutoring.tests.servers`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from typing import Any

import aiohttp
import pytest
import socketio

from live.tests.factories import SessionFactory
from tutoring.tests.asgi_server import settle

__all__ = ["settle"]

WAIT = 15  # seconds: only bounds a broken test; every awaited event is expected


@pytest.fixture
def realtime_server(threaded_server) -> str:
    """The base URL of the server."""
    return threaded_server.url


@pytest.fixture
def in_server_loop(threaded_server):
    """in_server_loop(coro_fn, *args): run on the server's event loop (see `ThreadedServer.run`)."""
    return threaded_server.run


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
