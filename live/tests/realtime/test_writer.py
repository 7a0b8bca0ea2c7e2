"""The chat writer: a burst of messages is stored in one batch, and every sender gets its own answer."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from live.models import Message
from live.realtime import events, writer
from live.realtime.hub import hub
from live.tests.factories import ActiveSessionFactory
from tutoring.errors import ApplicationError
from tutoring.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def batches(monkeypatch):
    """The sizes of the batches the writer stores."""
    sizes: list[int] = []
    store = writer._store

    def counting(items):
        sizes.append(len(items))
        return store(items)

    monkeypatch.setattr(writer, "_store", counting)
    return sizes


def burst(in_server_loop, submissions):
    async def send():
        chat = writer.writer_for_loop(events._db)
        jobs = [chat.submit(user, session_id, content) for user, session_id, content in submissions]
        return await asyncio.gather(*jobs, return_exceptions=True)

    return in_server_loop(send)


def test_a_burst_is_one_batch_with_one_answer_each(in_server_loop, batches):
    session = ActiveSessionFactory()
    student, sid = session.booking.student, str(session.pk)
    submissions = [(student, sid, f"  message {i}  ") for i in range(10)]
    submissions += [(student, sid, "   "), (StudentFactory(), sid, "hi"), (student, str(uuid.uuid4()), "x")]
    results = burst(in_server_loop, submissions)

    assert batches == [13]
    assert [r["content"] for r in results[:10]] == [f"message {i}" for i in range(10)]
    assert all(r["sessionId"] == sid and r["senderId"] == str(student.pk) for r in results[:10])
    assert all(isinstance(r, ApplicationError) for r in results[10:])
    assert [r.status_code for r in results[10:]] == [400, 403, 404]  # bad content, stranger, unknown session
    stored = list(Message.objects.order_by("created_at").values_list("id", "content"))
    assert stored == [(uuid.UUID(r["id"]), r["content"]) for r in results[:10]]


def test_over_the_chat_limit_in_one_batch_is_refused_and_not_stored(in_server_loop, batches, settings):
    settings.RATE_LIMIT_CHAT = "3/m"
    session = ActiveSessionFactory(booking__student=StudentFactory())
    student, sid = session.booking.student, str(session.pk)
    results = burst(in_server_loop, [(student, sid, f"m{i}") for i in range(5)])
    assert [r["content"] for r in results[:3]] == ["m0", "m1", "m2"]
    assert [getattr(r, "status_code", None) for r in results[3:]] == [429, 429]
    assert list(Message.objects.order_by("created_at").values_list("content", flat=True)) == ["m0", "m1", "m2"]


def test_a_lone_message_goes_at_once(in_server_loop, batches):
    session = ActiveSessionFactory()
    (result,) = burst(in_server_loop, [(session.booking.tutor, str(session.pk), "hello")])
    assert result["content"] == "hello" and batches == [1]


def test_stored_trimmed_and_published(in_server_loop):
    """What the writer stores reaches the session's subscribers through the bus, as stored."""
    session = ActiveSessionFactory()
    sid = str(session.pk)

    async def scenario():
        published: asyncio.Queue = asyncio.Queue()

        async def deliver(event, data):
            await published.put({"event": event, "data": data})

        await hub.add(sid, "test", deliver)
        try:
            await writer.writer_for_loop(events._db).submit(session.booking.tutor, sid, "  hi\n")
            return await asyncio.wait_for(published.get(), 10)
        finally:
            await hub.discard(sid, "test")

    event = in_server_loop(scenario)
    message = Message.objects.get()
    assert message.content == "hi"
    assert event == {
        "event": "message",
        "data": {
            "id": str(message.pk),
            "sessionId": sid,
            "senderId": str(session.booking.tutor_id),
            "content": "hi",
            "timestamp": message.created_at.isoformat(timespec="milliseconds"),
        },
    }
