"""Socket.IO's subscription to the bus: one channel-layer channel per session per process.

The bus publishes a session's events to the Channels group `live.session.<id>`. A socket.io room only
exists in the process that holds its sockets, so each process subscribes once per session that has
local socket.io members: a channel added to the session's group, and one reader task that emits what
arrives to the local room. A hundred sockets of one classroom in a process cost one group member and
one task, not a hundred; with channels-redis all of a process's channels share a single Redis reader.

A channel per session (rather than one per process) because a bus message names its event, not its
session: the channel it arrives on does.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from channels.layers import get_channel_layer

from live.realtime import MESSAGE_TYPE, group_name

logger = logging.getLogger(__name__)

STOP = "live.hub.stop"

Deliver = Callable[[str, str, dict], Awaitable[None]]


@dataclass
class _Subscription:
    channel: str
    members: int
    reader: asyncio.Task


class SessionHub:
    """Reference-counted group memberships of this process, with a reader per subscribed session."""

    def __init__(self, deliver: Deliver, *, refresh_seconds: float = 3600):
        self._deliver = deliver
        self._subscriptions: dict[str, _Subscription] = {}
        # A lock per session while anyone uses it (weak: a finished classroom leaves nothing behind).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._refresh_seconds = refresh_seconds
        self._refresher: asyncio.Task | None = None

    def sessions(self) -> list[str]:
        return list(self._subscriptions)

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def add(self, session_id: str) -> None:
        """One more local member of `session_id`: the first one subscribes the process."""
        async with self._lock(session_id):
            subscription = self._subscriptions.get(session_id)
            if subscription is not None:
                subscription.members += 1
                return
            layer = get_channel_layer()
            # The default prefix: channels-redis reads all of a process's channels with that prefix
            # through one Redis key; a channel of another prefix would starve behind the others.
            channel = await layer.new_channel()
            await layer.group_add(group_name(session_id), channel)
            reader = asyncio.create_task(self._read(session_id, channel), name=f"live-hub-{session_id}")
            self._subscriptions[session_id] = _Subscription(channel=channel, members=1, reader=reader)
            if self._refresher is None or self._refresher.done():
                self._refresher = asyncio.create_task(self._refresh(), name="live-hub-refresh")

    async def discard(self, session_id: str) -> None:
        """One local member fewer: the last one unsubscribes the process."""
        async with self._lock(session_id):
            subscription = self._subscriptions.get(session_id)
            if subscription is None:
                return
            subscription.members -= 1
            if subscription.members > 0:
                return
            del self._subscriptions[session_id]
            layer = get_channel_layer()
            await layer.group_discard(group_name(session_id), subscription.channel)
            # Stop the reader with a message rather than by cancelling it: a cancelled channels-redis
            # receive can drop a message it had already taken for another channel of this process.
            await layer.send(subscription.channel, {"type": STOP})

    async def _read(self, session_id: str, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            message = await layer.receive(channel)
            if message.get("type") == STOP:
                return
            if message.get("type") != MESSAGE_TYPE:
                continue
            try:
                await self._deliver(session_id, message["event"], message["data"])
            except Exception:
                logger.exception("realtime: could not deliver %s to session %s", message.get("event"), session_id)

    async def _refresh(self) -> None:
        """Re-join every group now and then: channels-redis forgets members after `group_expiry`, and a
        process can keep a busy classroom's subscription for longer than any single connection lasts."""
        layer = get_channel_layer()
        while self._subscriptions:
            await asyncio.sleep(self._refresh_seconds)
            for session_id, subscription in list(self._subscriptions.items()):
                try:
                    await layer.group_add(group_name(session_id), subscription.channel)
                except Exception:
                    logger.exception("realtime: could not refresh the subscription to %s", session_id)
