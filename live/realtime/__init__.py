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
import logging
import os
import uuid
from collections.abc import Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from tutoring.ratelimit import redis_command

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


async def abroadcast_many(
    events: Iterable[tuple[Any, str, dict]], *, delivered_here: bool = False, publisher: KeptPublisher | None = None
) -> None:
    """`abroadcast` for many events, published in order in one go (the chat writer's batch).

    `delivered_here`: this process's members already have them; the bus carries them to the others.
    `publisher`: the caller's own connections to publish on."""
    messages = [(group_name(session_id), _message(event, data)) for session_id, event, data in events]
    if delivered_here:
        for _, message in messages:
            message["origin"] = ORIGIN
    await (publisher.publish(messages) if publisher is not None else apublish(messages))


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
                for channel, payload in publishes:
                    pipe.publish(channel, payload)
                await pipe.execute()
        return
    for group, message in messages:
        await layer.group_send(group, message)


def _by_shard(layer: RedisPubSubChannelLayer, messages: list[tuple[str, dict]]) -> dict[Any, list[tuple[str, bytes]]]:
    """Each shard's PUBLISHes (channel name, serialized message), in order: as `group_send` names them."""
    loop_layer = layer._get_layer()
    by_shard: dict[Any, list[tuple[str, bytes]]] = {}
    for group, message in messages:
        channel = loop_layer._get_group_channel_name(group)
        by_shard.setdefault(loop_layer._get_shard(channel), []).append((channel, layer.serialize(message)))
    return by_shard


class KeptPublisher:
    """`apublish` for one caller at a time (the chat writer's publisher), on a Redis connection of its own
    per shard, the commands in the protocol's own framing.

    redis-py's pipeline (a pipeline object, its command stack, the pool's connection taken and given
    back, a reply callback each) cost the event loop more than storing a batch of one does. A kept
    connection that died meanwhile (Redis restarted) fails its first use before any command ran, and
    the same PUBLISHes go once more on a new one; any other failure raises, the connection dropped.
    """

    def __init__(self) -> None:
        self._conns: dict[Any, Any] = {}

    async def publish(self, messages: list[tuple[str, dict]]) -> None:
        layer = get_channel_layer()
        if not messages or not isinstance(layer, RedisPubSubChannelLayer):
            return await apublish(messages)
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            for shard, publishes in _by_shard(layer, messages).items():
                command = b"".join(redis_command("PUBLISH", channel, payload) for channel, payload in publishes)
                kept = shard in self._conns
                try:
                    await self._send(shard, command, len(publishes))
                except RedisConnectionError:
                    if not kept:
                        raise
                    await self._send(shard, command, len(publishes))

    async def _send(self, shard: Any, command: bytes, replies: int) -> None:
        conn = self._conns.get(shard)
        try:
            if conn is None:
                shard._ensure_redis()
                conn = self._conns[shard] = shard._redis.connection_pool.make_connection()
                await conn.connect()
            await conn.send_packed_command([command])
            for _ in range(replies):
                await conn.read_response()
        except BaseException:
            self._conns.pop(shard, None)  # an unread reply must not reach the next caller
            if conn is not None:
                await conn.disconnect()
            raise

    async def close(self) -> None:
        conns, self._conns = self._conns, {}
        for conn in conns.values():
            await conn.disconnect()


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
