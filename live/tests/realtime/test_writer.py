"""The chat writer: a burst of messages is stored in one batch, and every sender gets its own answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from live import services
from live.models import Message, SessionStatus
from live.realtime import abroadcast, events, writer
from live.realtime.hub import hub
from live.serializers import MessageOut, message_out
from live.tests.factories import ActiveSessionFactory, many_classrooms
from tutoring.errors import ApplicationError
from tutoring.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def batches(monkeypatch):
    """The sizes of the batches the writer counts and stores."""
    sizes: list[int] = []
    count = writer.ChatWriter._count_batch

    async def counting(self, items):
        sizes.append(len(items))
        return await count(self, items)

    monkeypatch.setattr(writer.ChatWriter, "_count_batch", counting)
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


def test_every_refusal_in_one_batch_with_the_good_ones(in_server_loop, batches):
    """Each check the batch's insert makes refuses only its own draft, with its own reason."""
    session, ended, left = ActiveSessionFactory(), ActiveSessionFactory(), ActiveSessionFactory()
    ended.status, ended.actual_end_time = SessionStatus.COMPLETED, timezone.now()
    ended.save(update_fields=["status", "actual_end_time"])
    left.booking.student.is_active = False
    left.booking.student.save(update_fields=["is_active"])
    tutor, sid = session.booking.tutor, str(session.pk)
    submissions = [
        (tutor, sid, "first"),
        (ended.booking.tutor, str(ended.pk), "after the end"),
        (left.booking.student, str(left.pk), "deactivated"),
        (left.booking.tutor, str(left.pk), "the other party still may"),
        (session.booking.student, str(ended.pk), "not my session"),
        (tutor, sid, "last"),
    ]
    results = burst(in_server_loop, submissions)

    assert batches == [6]
    assert [getattr(r, "status_code", None) for r in results] == [None, 409, 401, None, 403, None]
    assert [r["content"] for r in (results[0], results[3], results[5])] == [
        "first",
        "the other party still may",
        "last",
    ]
    assert sorted(Message.objects.values_list("content", flat=True)) == ["first", "last", "the other party still may"]


@pytest.mark.postgres
def test_a_batch_that_passes_is_stored_in_one_statement(django_assert_num_queries):
    session = ActiveSessionFactory()
    drafts = [
        services.MessageDraft(session_id=str(session.pk), sender=user, content=f"m{i}")
        for i, user in enumerate([session.booking.tutor, session.booking.student] * 5)
    ]
    with django_assert_num_queries(1):  # the chat limit is counted in Redis, not here
        stored = services.messages_store(drafts=drafts)
    assert [m.content for m in stored] == [f"m{i}" for i in range(10)]
    assert Message.objects.filter(session=session).count() == 10


@pytest.mark.postgres
def test_the_checked_insert_looks_up_each_message_s_session_by_key_however_many_there_are():
    """PostgreSQL expects 100 rows of a JSON batch; joined to them, the sessions and bookings of 1,500
    classrooms were read in full for every batch (a hash join over sequential scans, 0.85 ms, growing
    with the tables). Each message's session, booking and sender are looked up by key instead."""
    session = ActiveSessionFactory()
    many_classrooms(1500, label="plan")
    message = Message(session_id=session.pk, sender=session.booking.tutor, content="hi", created_at=timezone.now())
    params, _ = services.insert_allowed_params({0: message})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE live_session, tutoring_booking, tutoring_user")
        cursor.execute("EXPLAIN (FORMAT JSON) " + services.insert_allowed_sql(), params)
        plan = cursor.fetchone()[0]

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    scanned = {(n["Node Type"], n.get("Relation Name")) for n in nodes(plan[0]["Plan"]) if "Relation Name" in n}
    assert scanned == {
        ("ModifyTable", "live_message"),
        ("Index Scan", "live_session"),
        ("Index Scan", "tutoring_booking"),
        ("Index Scan", "tutoring_user"),
    }, scanned


def test_a_batch_draws_its_message_ids_from_one_call_to_the_random_source(monkeypatch):
    """In the writer's thread each call lets go of the GIL, which a busy event loop is slow to hand back."""
    session = ActiveSessionFactory()
    calls = []
    urandom = services.os.urandom
    monkeypatch.setattr(services.os, "urandom", lambda n: calls.append(n) or urandom(n))
    drafts = [
        services.MessageDraft(session_id=str(session.pk), sender=session.booking.tutor, content=f"m{i}")
        for i in range(5)
    ]
    stored = services.messages_store(drafts=drafts)
    assert calls == [16 * 5]
    ids = set(Message.objects.filter(session=session).values_list("id", flat=True))
    assert ids == {m.pk for m in stored} and len(ids) == 5
    assert {i.version for i in ids} == {4}


def test_the_written_out_shape_is_the_serializers():
    session = ActiveSessionFactory()
    (stored,) = services.messages_store(
        drafts=[services.MessageDraft(session_id=str(session.pk), sender=session.booking.tutor, content="hi")]
    )
    message = Message.objects.get(pk=stored.pk)
    assert message_out(stored) == message_out(message) == MessageOut(message).data


def test_a_message_built_from_its_fields_in_order_is_the_keyword_built_one(django_assert_num_queries):
    """`_new_message` passes the fields by position: a field added or moved must fail here."""
    session = ActiveSessionFactory()
    tutor, message_id = session.booking.tutor, uuid.uuid4()
    fast = services._new_message(message_id, session.pk, tutor, "hi")
    keyword = Message(id=message_id, session_id=session.pk, sender=tutor, content="hi", created_at=fast.created_at)
    fields = [f.attname for f in Message._meta.concrete_fields]
    assert [getattr(fast, f) for f in fields] == [getattr(keyword, f) for f in fields]
    assert timezone.now() - fast.created_at < timedelta(seconds=5)
    with django_assert_num_queries(0):
        assert fast.sender is tutor


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


def test_delivered_here_once_and_carried_by_the_bus_to_the_others(in_server_loop, subscribe):
    """This process's members get a stored message straight from the writer, once; the bus carries it to
    the other processes' members (and a copy that comes back here is skipped by its origin)."""
    session = ActiveSessionFactory()
    sid = str(session.pk)
    elsewhere = subscribe(sid)  # another process's subscription: a connection of its own

    async def scenario():
        here: asyncio.Queue = asyncio.Queue()

        async def deliver(event, data):
            await here.put((event, data.get("content")))

        await hub.add(sid, "test", deliver)
        try:
            await writer.writer_for_loop(events._db).submit(session.booking.tutor, sid, "hello")
            await asyncio.sleep(0.2)  # time enough for a copy to come back from the bus
            # Published after the message: when it arrives here, so has any copy of the message.
            await abroadcast(sid, "marker", {"content": "marker"})
            return [await asyncio.wait_for(here.get(), 10) for _ in range(2)]
        finally:
            await hub.discard(sid, "test")

    received = in_server_loop(scenario)
    assert received == [("message", "hello"), ("marker", "marker")]
    carried = elsewhere.receive()
    assert carried["event"] == "message" and carried["data"]["content"] == "hello"


def loop_store(in_server_loop):
    """The running server's writer's `_LoopStore` (PostgreSQL only)."""

    async def get():
        return writer.writer_for_loop(events._db)._loop_store

    return in_server_loop(get)


@pytest.mark.postgres
@pytest.mark.redis
def test_on_postgresql_a_batch_that_passes_is_counted_and_stored_on_the_event_loop(in_server_loop, monkeypatch):
    """No hop to a thread and back: the count and the checked INSERT (prepared, on the writer's own
    connection) are made on the event loop; only what that statement keeps out goes to the thread."""
    on_thread = []
    call = writer._WriterThread._call
    monkeypatch.setattr(writer._WriterThread, "_call", lambda self, fn, *a: on_thread.append(fn) or call(self, fn, *a))
    session, ended = ActiveSessionFactory(), ActiveSessionFactory()
    ended.status, ended.actual_end_time = SessionStatus.COMPLETED, timezone.now()
    ended.save(update_fields=["status", "actual_end_time"])
    tutor, student, sid = session.booking.tutor, session.booking.student, str(session.pk)

    results = burst(in_server_loop, [(tutor, sid, "one"), (student, sid, "two")])
    assert [r["content"] for r in results] == ["one", "two"] and on_thread == []
    (refused,) = burst(in_server_loop, [(ended.booking.tutor, str(ended.pk), "late")])
    assert refused.status_code == 409 and on_thread == [services.messages_store_rest]  # to be told why

    conn = loop_store(in_server_loop)._conn

    async def prepared():
        cursor = await conn.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in await cursor.fetchall()]

    assert [s for s in in_server_loop(prepared) if "json_to_recordset" in s]
    assert sorted(Message.objects.values_list("content", flat=True)) == ["one", "two"]


@pytest.mark.postgres
@pytest.mark.redis
def test_a_batch_is_counted_while_the_one_before_it_is_inserted(in_server_loop, batches, monkeypatch):
    """The next batch's count does not wait for the INSERT before it; at most one counted batch waits,
    and what arrives after it joins the batch after. Everything is stored and answered in arrival order."""
    session = ActiveSessionFactory()
    tutor, sid = session.booking.tutor, str(session.pk)
    insert, inserted, gate = writer._LoopStore._insert_allowed, [], {}

    async def held_first(self, messages):
        inserted.append([m.content for m in messages.values()])
        if len(inserted) == 1:
            await gate["open"].wait()
        return await insert(self, messages)

    monkeypatch.setattr(writer._LoopStore, "_insert_allowed", held_first)

    async def scenario():
        gate["open"] = asyncio.Event()
        chat = writer.writer_for_loop(events._db)
        sent = [asyncio.ensure_future(chat.submit(tutor, sid, "m1"))]
        await eventually_true(lambda: inserted)  # m1's INSERT is under way, held
        sent.append(asyncio.ensure_future(chat.submit(tutor, sid, "m2")))
        await eventually_true(lambda: chat._counted is not None)  # m2 counted meanwhile
        sent += [asyncio.ensure_future(chat.submit(tutor, sid, m)) for m in ("m3", "m4")]
        await asyncio.sleep(0.05)
        while_held = ([item[2] for item in chat._counted[0]], [item[2] for item in chat._pending], list(inserted))
        gate["open"].set()
        return while_held, await asyncio.gather(*sent)

    (counted, pending, inserted_while_held), results = in_server_loop(scenario)
    assert (counted, pending, inserted_while_held) == (["m2"], ["m3", "m4"], [["m1"]])
    assert batches == [1, 1, 2] and inserted == [["m1"], ["m2"], ["m3", "m4"]]
    assert [r["content"] for r in results] == ["m1", "m2", "m3", "m4"]
    assert list(Message.objects.order_by("created_at").values_list("content", flat=True)) == ["m1", "m2", "m3", "m4"]


async def eventually_true(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.001)


@pytest.mark.postgres
@pytest.mark.redis
def test_the_writer_s_connection_closed_by_the_server_costs_no_message(in_server_loop):
    """PostgreSQL restarted or dropped it (here `pg_terminate_backend`): the batch whose statement fails
    on it is stored by the writer's thread, the next one on a new connection, each message once."""
    session = ActiveSessionFactory()
    tutor, sid = session.booking.tutor, str(session.pk)
    burst(in_server_loop, [(tutor, sid, "before")])
    pid = loop_store(in_server_loop)._conn.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    (after,) = burst(in_server_loop, [(tutor, sid, "after")])
    (again,) = burst(in_server_loop, [(tutor, sid, "again")])
    assert (after["content"], again["content"]) == ("after", "again")
    assert loop_store(in_server_loop)._conn.info.backend_pid != pid
    assert sorted(Message.objects.values_list("content", flat=True)) == ["after", "again", "before"]


@pytest.mark.postgres
@pytest.mark.redis
def test_without_a_connection_of_its_own_the_writer_stores_on_its_thread(in_server_loop, monkeypatch):
    async def refused():
        raise psycopg.OperationalError("connection refused")

    in_server_loop(loop_store(in_server_loop).close)
    monkeypatch.setattr(writer, "aconnect", refused)
    session = ActiveSessionFactory()
    (stored,) = burst(in_server_loop, [(session.booking.student, str(session.pk), "still here")])
    assert stored["content"] == "still here"
    assert list(Message.objects.values_list("content", flat=True)) == ["still here"]
