"""The bus: events reach a session's group on the real channel layer, after commit, and only then."""

import uuid

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction

from live.realtime import abroadcast, broadcast, group_name

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
