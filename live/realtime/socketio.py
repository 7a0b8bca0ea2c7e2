"""Socket.IO at `/socket.io/`, namespace `/live` (docs/realtime.md), mounted under Channels by `tutoring.asgi`.

The seed's client works unchanged: `io('/live', {auth: {token}})`, polling first, then websocket. The
connect packet's `auth.token` (or `?token=`) is checked before the namespace accepts the socket; a bad
one is refused with `err.data = {statusCode: 401, message}` (429 past the connections-per-user limit).
When the token expires or the user is deactivated the server sends an `error` event saying so and
disconnects the socket. Every other event goes to
`live.realtime.events.dispatch`; its answer is the ack when the client asked for one, and an error
without an ack comes back as an `error` event.

Rooms are python-socketio's in-process rooms (one per session id); they are fed only by the bus,
through the process's `SessionHub`, so events from any process reach them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from typing import Any

import orjson
import socketio
from engineio import exceptions as eio_exceptions
from engineio import json as eio_json
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket as EioSocket
from socketio import packet

from live import services
from live.realtime import events
from live.realtime.auth import token_from_query
from live.realtime.hub import hub
from tutoring import errors

logger = logging.getLogger(__name__)

NAMESPACE = "/live"
PATH = "socket.io"

# Whether the event being handled carries an ack id: python-socketio tells handlers nothing about it.
_wants_ack: contextvars.ContextVar[bool] = contextvars.ContextVar("live_sio_wants_ack", default=False)


class _Json:
    """socket.io's JSON through orjson, with the standard library's where orjson says no.

    Encoding and decoding every packet's JSON was ~6% of the event loop per chat message with the
    `json` module (whose decoder engine.io also builds anew per packet); orjson does it in a fraction.
    What orjson refuses (a lone surrogate; to encode, an integer past 64 bits) goes the standard way, so
    packets decode and encode as before, errors included. Two differences: non-ASCII characters are not
    escaped (JSON does not require it), and an integer past 64 bits arrives as a float, where engine.io
    refused one of over 100 digits (its guard against costly parsing; no event of ours takes one)."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        try:
            return orjson.dumps(obj).decode()  # always compact: socket.io asks for separators=(",", ":")
        except TypeError:  # orjson's JSONEncodeError
            return eio_json.dumps(obj, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return eio_json.loads(text, **kwargs)  # engine.io's, which also bounds integers' digits


class LivePacket(packet.Packet):
    """socket.io's packet with `_Json`, and without a scan of every outgoing packet for binary data:
    the bus carries plain msgpack types only (`live.realtime`), so no event of ours holds bytes."""

    json = _Json
    uses_binary_events = False


class _EioSocket(EioSocket):
    """engine.io's socket, waiting for what it has to send without a task per wait.

    Each socket's writer waits in `poll` with `asyncio.wait_for(queue.get(), timeout)`, which on Python
    3.11 wraps the wait in a task of its own: every frame sent cost one more task to create, schedule
    and finish on the event loop. `asyncio.timeout` waits the same way without it (as `wait_for` itself
    does from 3.12). Over a WebSocket it waits with no timer at all: engine.io's reader of that socket
    gives up after the same time without a frame from the client, and then always wakes the writer with
    an end-of-queue; only a long-polling GET has no other way out. The rest is engine.io's `poll`.
    """

    async def poll(self):
        try:
            if self.upgraded:
                packets = [await self.queue.get()]
            else:
                async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                    packets = [await self.queue.get()]
            self.queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise eio_exceptions.QueueEmpty() from None
        if packets == [None]:
            return []
        while True:
            try:
                pkt = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets


class LiveManager(socketio.AsyncManager):
    """python-socketio's in-process rooms, emitting to a room without a task per recipient.

    Its `emit` starts a task for each socket of the room and waits for all of them, for a send that only
    puts the frame on the socket's queue (engine.io's writer takes it from there): per chat message, two
    tasks and a wait on the event loop for nothing. Here the frame, encoded once as there, is queued for
    each socket in turn. Emits that ask for acks from a room keep python-socketio's way.
    """

    async def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        if callback is not None or namespace not in self.rooms:
            return await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
            )
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        parts = encoded if isinstance(encoded, list) else [encoded]  # a list when the data holds binary
        frames = [eio_packet.Packet(eio_packet.MESSAGE, part) for part in parts]
        for sid, eio_sid in self.get_participants(namespace, to or room):
            if sid in skip:
                continue
            for frame in frames:
                try:
                    await self.server._send_eio_packet(eio_sid, frame)
                except Exception:  # one socket's failure must not keep the event from the others
                    logger.exception("realtime: could not send %s to %s", event, sid)


class LiveServer(socketio.AsyncServer):
    async def _handle_eio_connect(self, eio_sid, environ):
        """python-socketio keeps the environ of a connection's first request for as long as it is open.
        Its server callables (`asgi.receive`/`asgi.send`) and body reader hold that finished polling
        request — daphne's request object, queue and the rest, ~17 KB — alive with it: keep the plain
        values (headers, query string) only.

        engine.io offers no way to choose its sockets' class: the connection's socket, made just before
        this call, becomes an `_EioSocket` here, before its writer first waits."""
        socket = self.eio.sockets.get(eio_sid)
        if type(socket) is EioSocket:
            socket.__class__ = _EioSocket
        await super()._handle_eio_connect(eio_sid, {k: v for k, v in environ.items() if isinstance(v, str)})

    async def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        token = _wants_ack.set(id is not None)
        try:
            return await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        finally:
            _wants_ack.reset(token)


class LiveNamespace(socketio.AsyncNamespace):
    def __init__(self, namespace: str = NAMESPACE):
        super().__init__(namespace)
        self.clients: dict[str, events.Client] = {}

    async def _deliver(self, session_id: str, event: str, data: dict) -> None:
        if event == services.DIRECT:
            for sid, client in list(self.clients.items()):
                delivery = await events.direct(client, session_id, data)
                if delivery is not None:
                    await self.emit(*delivery, to=sid)
            return
        await self.emit(event, data, room=session_id)

    async def on_connect(self, sid: str, environ: dict, auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not token:
            token = token_from_query(environ.get("QUERY_STRING", ""))

        async def subscribe(session_id: str) -> None:
            # The whole room is one member of the hub: one emit per event reaches all its sockets.
            await hub.add(session_id, self, functools.partial(self._deliver, session_id))
            await self.enter_room(sid, session_id)

        async def unsubscribe(session_id: str) -> None:
            await self.leave_room(sid, session_id)
            await hub.discard(session_id, self)

        async def close(status: int, message: str) -> None:
            """The server ends the connection (token expired, user deactivated): say why, then close."""
            await self.emit("error", {"statusCode": status, "message": message}, to=sid)
            await self.disconnect(sid)

        try:
            client = await events.connect(token=token, subscribe=subscribe, unsubscribe=unsubscribe, close=close)
        except (errors.Unauthorized, errors.RateLimited) as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.body()) from None
        self.clients[sid] = client

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        client = self.clients.pop(sid, None)
        if client is not None:
            await events.disconnect(client)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        sid, data = args[0], (args[1] if len(args) > 1 else None)
        client = self.clients.get(sid)
        if client is None:  # pragma: no cover -- python-socketio only delivers events of connected sockets
            return None
        result = await events.dispatch(client, event, data)
        if events.is_error(result) and not _wants_ack.get():
            await self.emit("error", result, to=sid)
        return result


def _without_websocket_body(translate_request):
    """engineio's ASGI driver gives every request's environ a body reader of a class it defines anew per
    request (~3 KB); a WebSocket's environ lives as long as the socket, and a WebSocket has no body."""

    async def translate(scope, receive, send):
        environ = await translate_request(scope, receive, send)
        if scope["type"] == "websocket":
            environ.pop("wsgi.input", None)
        return environ

    return translate


def create_server() -> LiveServer:
    server = LiveServer(
        client_manager=LiveManager(),
        async_mode="asgi",
        serializer=LivePacket,
        # One socket's events are handled in order (a chat must not reorder a sender's messages);
        # different sockets still run concurrently.
        async_handlers=False,
        # The socket.io default of 1 MB is far more than a 2000-character message needs.
        max_http_buffer_size=64 * 1024,
    )
    server.eio._async = {
        **server.eio._async,
        "translate_request": _without_websocket_body(server.eio._async["translate_request"]),
    }
    server.register_namespace(LiveNamespace())
    return server


sio = create_server()
app = socketio.ASGIApp(sio, socketio_path=PATH)
