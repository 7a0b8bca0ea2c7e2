"""The one realtime bus of the classroom (docs/realtime.md "One bus, many processes").

Every event for a session goes to the Channels layer group `live.session.<session_id>` as
`{"type": "live.event", "event": <name>, "data": <payload>}`. The layer is Redis when REDIS_URL is set,
so an event raised in any process (a gunicorn worker handling a REST call, a daphne process handling a
socket) reaches the subscribers of every process. Transports (the Channels consumer, socket.io) join
the group and forward `live.event` messages to their clients; they never publish any other way.

Payloads cross the layer as msgpack: plain dicts, lists, strings, numbers, booleans and None only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import logging
import os
import uuid
from collections.abc import Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import transaction

from tutoring.ratelimit import KeptConnection, redis_command

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "live.event"
# Marks what this process published and has already handed to its own members (the chat writer's
# batches): its copy coming back from the bus is skipped (`live.realtime.hub`).
ORIGIN = uuid.uuid4().hex


def group_name(session_id: Any) -> str:
    return f"live.session.{session_id}"


def _message(event: str, data: dict) -> dict:
    return {"type": MESSAGE_TYPE, "event": event, "data": data}


async def abroadcast(session_id: Any, event: str, data: dict) -> None:
    """Publish now, from async code (consumers, socket.io handlers)."""
    await apublish([(group_name(session_id), _message(event, data))])


async def apublish_delivered(events: Iterable[tuple[Any, str, dict, bool]], publisher: KeptPublisher) -> None:
    """Publish events this process's members already have (the chat writer's batch), in order, marked
    as this process's (`ORIGIN`) for the bus to carry to the others only: each is `(session_id, event,
    data, here)`, `here` when this process is subscribed to the session (`hub.deliver_here`)."""
    events = list(events)
    messages = [
        (group_name(session_id), {**_message(event, data), "origin": ORIGIN}) for session_id, event, data, _ in events
    ]
    await publisher.publish(messages, [here for *_, here in events])


async def apublish(messages: list[tuple[str, dict]]) -> None:
    """Publish `(group, message)` pairs in order.

    On channels-redis's pub/sub layer all of them go to Redis in one pipelined round trip per shard:
    its `group_send` waits for one PUBLISH at a time behind a lock of the whole process, so a batch of
    40 chat messages cost 40 round trips in a row while every later message waited. The pipeline
    sends the same PUBLISH commands (same channel names, same serializer), so subscribers cannot tell.
    Any other layer (the in-memory one of the embedded default and the tests) gets `group_send`s.
    """
    if not messages:
        return
    layer = get_channel_layer()
    if isinstance(layer, RedisPubSubChannelLayer):
        for shard, publishes in _by_shard(layer, messages).items():
            async with shard._lock:
                shard._ensure_redis()
                pipe = shard._redis.pipeline(transaction=False)
                for _, channel, payload in publishes:
                    pipe.publish(channel, payload)
                await pipe.execute()
        return
    for group, message in messages:
        await layer.group_send(group, message)


def _by_shard(
    layer: RedisPubSubChannelLayer, messages: list[tuple[str, dict]]
) -> dict[Any, list[tuple[int, str, bytes]]]:
    """Each shard's PUBLISHes (the message's index, channel name, serialized message), in order: as
    `group_send` names them."""
    loop_layer = layer._get_layer()
    by_shard: dict[Any, list[tuple[int, str, bytes]]] = {}
    for i, (group, message) in enumerate(messages):
        channel = loop_layer._get_group_channel_name(group)
        by_shard.setdefault(loop_layer._get_shard(channel), []).append((i, channel, layer.serialize(message)))
    return by_shard


# Publishes each message whose channel has a subscriber besides this process, checked in the same
# atomic step as the PUBLISH (so exactly the subscribers a plain PUBLISH would reach, less this process
# when it has the message already). ARGV: this process's canary channel, then (channel, payload, here)
# per message, `here` "1" when this process's own subscription has had the message. A canary without a
# subscriber means this process's subscriptions are not in effect (its connection is being remade):
# then none of them counts. Answers how many were published.
_PUBLISH_UNLESS_ALONE = b"""
local ours = redis.call('PUBSUB', 'NUMSUB', ARGV[1])[2] > 0
local published = 0
for i = 2, #ARGV, 3 do
  local mine = 0
  if ours and ARGV[i + 2] == '1' then mine = 1 end
  if redis.call('PUBSUB', 'NUMSUB', ARGV[i])[2] > mine then
    redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
    published = published + 1
  end
end
return published
"""
_PUBLISH_UNLESS_ALONE_SHA = hashlib.sha1(_PUBLISH_UNLESS_ALONE).hexdigest()


class KeptPublisher:
    """The chat writer's publishing, for one caller at a time: on a Redis connection of its own per
    shard, in the protocol's own framing, and only to channels some other process listens to.

    redis-py's pipeline (a pipeline object, its command stack, the pool's connection taken and given
    back, a reply callback each) cost the event loop more than storing a batch of one does. And a
    message whose classroom has no member on another process was published only to come back to this
    one, to be read, decoded and skipped (`ORIGIN`): 7% of the event loop's samples at 400 msg/s with
    both parties here (bench/README.md, change 21). A script publishes what has another subscriber and
    nothing else (`publish`'s `here`). Each connection is a `KeptConnection` (a dropped one retried
    once, a forgotten script reloaded).
    """

    def __init__(self) -> None:
        self._conns: dict[Any, KeptConnection] = {}
        self._canaries: dict[Any, str] = {}

    async def publish(self, messages: list[tuple[str, dict]], here: list[bool]) -> int:
        """Publish `(group, message)` pairs in order; `here[i]`: this process's subscription to the group
        has had the message (delivered here), so only other subscribers need it. How many were sent."""
        layer = get_channel_layer()
        if not messages or not isinstance(layer, RedisPubSubChannelLayer):
            await apublish(messages)
            return len(messages)
        published = 0
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            for shard, publishes in _by_shard(layer, messages).items():
                args: list[object] = ["EVALSHA", _PUBLISH_UNLESS_ALONE_SHA, 0, await self._canary(layer, shard)]
                for i, channel, payload in publishes:
                    args += (channel, payload, int(here[i]))
                kept = self._conns.get(shard)
                if kept is None:
                    kept = self._conns[shard] = KeptConnection(functools.partial(_connect, shard))
                published += await kept.evalsha(redis_command(*args), _PUBLISH_UNLESS_ALONE)
        return published

    async def _canary(self, layer: RedisPubSubChannelLayer, shard: Any) -> str:
        """A channel of this process's on `shard`'s subscriber connection that nothing is sent to: it has
        a subscriber exactly while that connection's subscriptions are in effect (redis-py makes them
        again, all in one command, when it reconnects)."""
        name = self._canaries.get(shard)
        if name is None:
            loop_layer = layer._get_layer()
            name = f"{loop_layer.prefix}specific.{uuid.uuid4().hex}"
            while loop_layer._get_shard(name) is not shard:
                name = f"{loop_layer.prefix}specific.{uuid.uuid4().hex}"
            await loop_layer._subscribe_to_channel(name)
            self._canaries[shard] = name
        return name

    async def close(self) -> None:
        conns, self._conns = self._conns, {}
        for kept in conns.values():
            await kept.close()


async def _connect(shard: Any) -> Any:
    """A connection of its own to `shard`'s Redis, as channels-redis configures its own."""
    shard._ensure_redis()
    conn = shard._redis.connection_pool.make_connection()
    await conn.connect()
    return conn


# How long a thread waits for its event loop to publish. On a realtime process shutting down the loop
# stops while threads still publish; waiting on it forever kept the process from ever exiting.
PUBLISH_TIMEOUT = 5


def _loop_of_this_thread() -> asyncio.AbstractEventLoop | None:
    """The event loop that handed this thread its work (database_sync_to_async), if any."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(SyncToAsync.threadlocal, "main_event_loop", None)


def _publish(messages: list[tuple[str, dict]]) -> None:
    loop = _loop_of_this_thread()
    if loop is not None and loop.is_running():
        future = asyncio.run_coroutine_threadsafe(_publish_bounded(messages), loop)
        try:
            future.result(timeout=PUBLISH_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise
        return
    # No running loop of ours: a gunicorn worker, a command, or a realtime process whose loop has
    # stopped (shutting down), where asgiref's async_to_sync would wait for it forever. A loop of its own.
    async_to_sync(_publish_bounded, force_new_loop=True)(messages)


async def _publish_bounded(messages: list[tuple[str, dict]]) -> None:
    """Publish in order, all within PUBLISH_TIMEOUT (one hop to the loop for however many)."""

    await asyncio.wait_for(apublish(messages), timeout=PUBLISH_TIMEOUT)


def broadcast(session_id: Any, event: str, data: dict) -> None:
    """Publish from sync code once the current transaction commits; a rolled-back change says nothing.

    Outside a transaction it publishes at once. A failure to publish is logged, never raised: the
    change is already committed and the request must not fail for a lost notification. A thread of a
    realtime process publishes on the process's loop while it runs, on a loop of its own once it has
    stopped, and never waits longer than PUBLISH_TIMEOUT; what a dying process could not say, the
    presence sweep of the survivors settles (live.realtime.process).
    """
    broadcast_many([(session_id, event, data)])


def broadcast_many(events: Iterable[tuple[Any, str, dict]]) -> None:
    """`broadcast` for many events at once, published in order in one go after commit."""
    messages = [(group_name(session_id), _message(event, data)) for session_id, event, data in events]
    if not messages:
        return

    def send() -> None:
        try:
            _publish(messages)
        except Exception:
            logger.exception("realtime: could not publish %d event(s), first to %s", len(messages), messages[0][0])

    transaction.on_commit(send)
