"""The bus: events reach a session's group on the real channel layer, after commit, and only then."""

import uuid

import pytest
from asgiref.sync import async_to_sync
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
        await publisher.publish([(group, {"type": "live.event", "n": 1}), (group, {"type": "live.event", "n": 2})])
        (conn,) = publisher._conns.values()
        await conn.send_command("CLIENT", "ID")
        get_redis_connection("default").execute_command("CLIENT", "KILL", "ID", await conn.read_response())
        await publisher.publish([(group, {"type": "live.event", "n": 3})])
        await publisher.close()

    async_to_sync(scenario)()
    assert [subscriber.receive()["n"] for _ in range(3)] == [1, 2, 3]
    marker = subscriber.mark()
    assert subscriber.receive() == marker  # nothing twice
