"""This process's subscription to the bus: one channel-layer channel per session with local members.

The bus publishes a session's events to the Channels group `live.session.<id>`. Each process joins
that group once per session that has local members of either transport, with one reader task that
hands every event to the local members: the socket.io room (one member, however many sockets it
holds) and each Channels consumer that joined. A classroom costs a process one group member and one
task, not one per socket, and `group_send` pushes one copy per process instead of one per socket.

A channel per session (not one per process) because a bus message names its event, not its session:
the channel it arrives on does. Readers stop on a message, never by cancellation: on Python 3.11 a
cancelled channels-redis receive can hang in its blocking read until the socket times out.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from channels.layers import get_channel_layer

from live.realtime import MESSAGE_TYPE, ORIGIN, group_name

logger = logging.getLogger(__name__)

STOP = "live.hub.stop"

Deliver = Callable[[str, dict], Awaitable[None]]


@dataclass
class _Member:
    deliver: Deliver
    count: int = 0


@dataclass
class _Subscription:
    channel: str
    reader: asyncio.Task | None = None
    members: dict[Hashable, _Member] = field(default_factory=dict)


class SessionHub:
    """Reference-counted members per session; the first subscribes the process, the last unsubscribes it."""

    def __init__(self, *, refresh_seconds: float = 3600):
        self._subscriptions: dict[str, _Subscription] = {}
        # A lock per session while anyone uses it (weak: a finished classroom leaves nothing behind).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._refresh_seconds = refresh_seconds
        self._refresher: asyncio.Task | None = None

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        return lock

    async def add(self, session_id: str, key: Hashable, deliver: Deliver) -> None:
        """`key` now wants the session's events through `deliver(event, data)` (counted per key)."""
        async with self._lock(session_id):
            subscription = self._subscriptions.get(session_id)
            if subscription is None:
                layer = get_channel_layer()
                # The default prefix: channels-redis reads all of a process's channels of one prefix
                # through one Redis key; a channel of another prefix would starve behind the others.
                channel = await layer.new_channel()
                await layer.group_add(group_name(session_id), channel)
                subscription = self._subscriptions[session_id] = _Subscription(channel=channel)
                subscription.reader = asyncio.create_task(self._read(subscription), name=f"live-hub-{session_id}")
                if self._refresher is None or self._refresher.done():
                    self._refresher = asyncio.create_task(self._refresh(), name="live-hub-refresh")
            member = subscription.members.setdefault(key, _Member(deliver=deliver))
            member.count += 1

    async def discard(self, session_id: str, key: Hashable) -> None:
        async with self._lock(session_id):
            subscription = self._subscriptions.get(session_id)
            member = subscription.members.get(key) if subscription else None
            if member is None:
                return
            member.count -= 1
            if member.count > 0:
                return
            del subscription.members[key]
            if subscription.members:
                return
            del self._subscriptions[session_id]
            layer = get_channel_layer()
            await layer.group_discard(group_name(session_id), subscription.channel)
            await layer.send(subscription.channel, {"type": STOP})

    async def _read(self, subscription: _Subscription) -> None:
        layer = get_channel_layer()
        while True:
            message = await layer.receive(subscription.channel)
            if message.get("type") == STOP:
                return
            if message.get("type") != MESSAGE_TYPE or message.get("origin") == ORIGIN:
                continue  # not an event, or one this process already handed to its members
            await self._deliver(subscription, message["event"], message["data"])

    async def deliver_here(self, session_id: str, event: str, data: dict) -> bool:
        """Hand an event straight to this process's members of the session (the chat writer, once a
        batch is stored): no wait for the bus's round trip and the reader's turn on the loop. The copy
        the bus brings back, if any, is skipped, by its origin; the other processes' members get theirs
        from it. Whether this process is subscribed to the session (then the bus need not bring it)."""
        subscription = self._subscriptions.get(session_id)
        if subscription is None:
            return False
        await self._deliver(subscription, event, data)
        return True

    @staticmethod
    async def _deliver(subscription: _Subscription, event: str, data: dict) -> None:
        for member in list(subscription.members.values()):
            try:
                await member.deliver(event, data)
            except Exception:
                logger.exception("realtime: could not deliver %s", event)

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


hub = SessionHub()
