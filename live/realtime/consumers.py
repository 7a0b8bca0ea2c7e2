"""The native WebSocket transport at `/ws/live/?token=<access JWT>` (docs/realtime.md).

JSON text frames `{"event", "data", "ack"}` both ways, with the events, payloads and answers of the
socket.io transport (the same `events.dispatch`). A frame with an `ack` id is answered with
`{"event": "ack", "ack": id, "data": ...}` or `{"event": "ack", "ack": id, "error": {statusCode, message}}`;
an error for a frame without one comes as `{"event": "error", "data": {statusCode, message}}`.
A missing, invalid or expired token closes the socket with code 4401 right after the handshake; so
does the token expiring or the user being deactivated later (after an `error` frame saying so). A
user past the connections-per-user limit is closed with 4429.

Events reach the consumer through the process's `SessionHub`, as they reach the socket.io rooms: one
channel-layer subscription per session per process, whatever the number of sockets. The consumer has
no channel of its own (`channel_layer_alias = None`), so closing it never cancels a channel-layer
receive (on Python 3.11 a cancelled channels-redis receive can hang until its socket times out).
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from live import services
from live.realtime import events
from live.realtime.auth import token_from_query
from live.realtime.hub import hub
from tutoring import errors

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_MANY = 4429


class LiveConsumer(AsyncJsonWebsocketConsumer):
    # No per-consumer channel: events come from the hub (see the module docstring).
    channel_layer_alias = None
    client: events.Client | None = None
    closed = False

    async def connect(self) -> None:
        try:
            self.client = await events.connect(
                token=token_from_query(self.scope.get("query_string", b"")),
                subscribe=self._subscribe,
                unsubscribe=self._unsubscribe,
                close=self._close_for,
            )
        except (errors.Unauthorized, errors.RateLimited) as exc:
            # Accept first: a close code only reaches the client over an open WebSocket.
            await self.accept()
            await self.close(code=CLOSE_TOO_MANY if isinstance(exc, errors.RateLimited) else CLOSE_UNAUTHORIZED)
            return
        await self.accept()

    async def _close_for(self, status: int, message: str) -> None:
        """The server ends the connection (token expired, user deactivated): say why, then close."""
        if not self.closed:
            await self.send_json({"event": "error", "data": {"statusCode": status, "message": message}})
            await self.close(code=CLOSE_UNAUTHORIZED)

    async def _subscribe(self, session_id: str) -> None:
        await hub.add(session_id, self, self._deliver)

    async def _unsubscribe(self, session_id: str) -> None:
        await hub.discard(session_id, self)

    async def _deliver(self, event: str, data: dict) -> None:
        """A bus event of a session this socket joined."""
        if self.closed:
            return
        if event == services.DIRECT:
            delivery = await events.direct(self.client, data.get("sessionId", ""), data) if self.client else None
            if delivery is None:
                return
            event, data = delivery
        await self.send_json({"event": event, "data": data})

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.client is None:
            return
        try:
            frame = json.loads(text_data if text_data is not None else (bytes_data or b"").decode())
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply to decode
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
            await self.send_json({"event": "error", "data": _bad_frame()})
            return
        ack = frame.get("ack")
        result = await events.dispatch(self.client, frame["event"], frame.get("data"))
        if ack is not None:
            if events.is_error(result):
                await self.send_json({"event": "ack", "ack": ack, "error": result})
            else:
                await self.send_json({"event": "ack", "ack": ack, "data": result["data"]})
        elif events.is_error(result):
            await self.send_json({"event": "error", "data": result})

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if self.client is not None:
            await events.disconnect(self.client)


def _bad_frame() -> dict[str, Any]:
    return {"statusCode": 400, "message": 'Frames are JSON objects: {"event": "<name>", "data": {...}, "ack": "<id>"}.'}
