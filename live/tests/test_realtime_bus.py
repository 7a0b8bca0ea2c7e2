"""The bus: events reach a session's group on the real channel layer, after commit, and only then."""

import asyncio
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django_redis import get_redis_connection

from live.realtime import KeptPublisher, abroadcast, broadcast, group_name

pytestmark = pytest.mark.django_db


def test_group_name():
    session_id = uuid.uuid4()
    assert group_name(session_id) == f"live.session.{session_id}"


def test_broadcast_reaches_the_group_after_commit(subscribe, django_capture_on_commit_callbacks):
    session_id = uuid.uuid4()
    subscriber = subscribe(session_id)
    other = subscribe(uuid.uuid4())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        broadcast(session_id, "session_updated", {"id": str(session_id), "status": "active"})
        marker = subscriber.mark()
        assert subscriber.receive() == marker  # not yet: the transaction has not committed
    assert len(callbacks) == 1
    assert subscriber.receive() == {
        "type": "live.event",
        "event": "session_updated",
        "data": {"id": str(session_id), "status": "active"},
    }
    marker = other.mark()
    assert other.receive() == marker  # another session's group heard nothing


@pytest.mark.django_db(transaction=True)
def test_nothing_is_published_for_a_rolled_back_change(subscribe):
    session_id = uuid.uuid4()
    subscriber = subscribe(session_id)
    with pytest.raises(RuntimeError), transaction.atomic():
        broadcast(session_id, "message", {"content": "never"})
        raise RuntimeError("roll back")
    broadcast(session_id, "message", {"content": "committed"})  # no transaction: at once
    assert subscriber.receive()["data"] == {"content": "committed"}
    marker = subscriber.mark()
    assert subscriber.receive() == marker


def test_abroadcast_publishes_from_async_code(subscribe):
    session_id = uuid.uuid4()
    subscriber = subscribe(session_id)
    async_to_sync(abroadcast)(
        session_id, "participant_updated", {"participantId": "u", "updates": {"handRaised": True}}
    )
    assert subscriber.receive() == {
        "type": "live.event",
        "event": "participant_updated",
        "data": {"participantId": "u", "updates": {"handRaised": True}},
    }


@pytest.mark.redis
def test_the_kept_publisher_publishes_in_order_and_once_when_its_connection_was_dropped(subscribe):
    """The chat writer's own connection: its PUBLISHes arrive in order; one killed meanwhile (CLIENT KILL,
    a Redis restart) costs no message and sends none twice."""
    session_id = uuid.uuid4()
    subscriber = subscribe(session_id)
    group = group_name(session_id)
    publisher = KeptPublisher()

    async def scenario():
        await publisher.publish(
            [(group, {"type": "live.event", "n": 1}), (group, {"type": "live.event", "n": 2})], [False, False]
        )
        (conn,) = [kept.conn for kept in publisher._conns.values()]
        await conn.send_command("CLIENT", "ID")
        get_redis_connection("default").execute_command("CLIENT", "KILL", "ID", await conn.read_response())
        await publisher.publish([(group, {"type": "live.event", "n": 3})], [False])
        await publisher.close()

    async_to_sync(scenario)()
    assert [subscriber.receive()["n"] for _ in range(3)] == [1, 2, 3]
    marker = subscriber.mark()
    assert subscriber.receive() == marker  # nothing twice


def wait_for_subscribers(channel: str, count: int) -> None:
    """Until Redis counts `count` subscribers of `channel` (a SUBSCRIBE is sent without waiting for it)."""
    redis = get_redis_connection("default")
    for _ in range(500):
        if redis.execute_command("PUBSUB", "NUMSUB", channel)[1] == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{channel} never had {count} subscribers")


@pytest.mark.redis
def test_the_kept_publisher_publishes_only_what_another_process_listens_to(subscribe):
    """A chat message this process has delivered here goes to the bus only when another process is
    subscribed to its session, checked in the same step as the PUBLISH; one this process is not
    subscribed to goes whenever anyone is. While this process's own subscriptions are not in effect
    (its subscriber connection being remade), nothing counts as its own."""
    session_id = uuid.uuid4()
    group = group_name(session_id)
    publisher = KeptPublisher()

    async def scenario():
        layer = get_channel_layer()
        channel = layer._get_layer()._get_group_channel_name(group)
        ours = await layer.new_channel()  # as the hub subscribes this process
        await layer.group_add(group, ours)
        await publisher._canary(layer, layer._get_layer()._get_shard(channel))
        await asyncio.to_thread(wait_for_subscribers, channel, 1)

        def event(n):
            return [(group, {"type": "live.event", "n": n})]

        sent = [await publisher.publish(event(1), [True]), await publisher.publish(event(2), [False])]
        subscriber = await asyncio.to_thread(subscribe, session_id)  # another process
        await asyncio.to_thread(wait_for_subscribers, channel, 2)
        sent.append(await publisher.publish(event(3), [True]))
        # This process's subscriber connection as Redis sees it while redis-py remakes it: subscribed
        # to nothing, though the hub still counts its members as subscribed.
        shard = layer._get_layer()._get_shard(channel)
        await shard._pubsub.unsubscribe(channel, publisher._canaries[shard])
        await asyncio.to_thread(wait_for_subscribers, channel, 1)
        sent.append(await publisher.publish(event(4), [True]))
        await publisher.close()
        await layer.group_discard(group, ours)
        return sent, subscriber

    sent, subscriber = async_to_sync(scenario)()
    assert sent == [0, 1, 1, 1]
    assert [subscriber.receive()["n"] for _ in range(2)] == [3, 4]
