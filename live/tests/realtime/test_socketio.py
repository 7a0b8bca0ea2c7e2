"""Socket.IO `/live` (docs/realtime.md) with python-socketio's client against a real server."""

from __future__ import annotations

import inspect
import uuid
from datetime import timedelta

import pytest
import requests
import socketio
from asgiref.sync import async_to_sync, sync_to_async
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from live.models import Message, Participant
from live.realtime.socketio import LivePacket
from live.tests.factories import SessionFactory
from live.tests.realtime.conftest import SioClient, eventually, settle
from live.tests.shapes import PARTICIPANT_KEYS, SESSION_KEYS
from tutoring.tests.asgi_server import open_clients
from tutoring.tests.factories import StudentFactory
from tutoring.tests.utils import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def token(user) -> str:
    return str(AccessToken.for_user(user))


def run(coro_fn, *args):
    result = async_to_sync(coro_fn)(*args)
    settle()
    return result


async def connected(base, user) -> SioClient:
    client = SioClient(base)
    await client.connect(token(user))
    return client


def test_connect_with_the_auth_token(realtime_server, student):
    async def scenario():
        client = await connected(realtime_server, student)
        assert "/live" in client.sio.namespaces
        await client.close()

    run(scenario)


def test_the_token_may_come_as_a_query_parameter(realtime_server, student):
    async def scenario():
        client = SioClient(realtime_server + f"?token={token(student)}")
        await client.connect(None)
        assert "/live" in client.sio.namespaces
        await client.close()

    run(scenario)


@pytest.mark.parametrize("bad", [None, "", "not-a-jwt", "expired", "refresh", "forged"])
def test_a_bad_token_is_refused_with_401(realtime_server, student, bad):
    if bad == "expired":
        access = AccessToken.for_user(student)
        access.set_exp(lifetime=-timedelta(seconds=1))
        bad = str(access)
    elif bad == "refresh":
        bad = str(RefreshToken.for_user(student))
    elif bad == "forged":
        header, payload, _ = token(student).split(".")
        bad = f"{header}.{payload}.{'A' * 43}"

    async def scenario():
        client = SioClient(realtime_server)
        with pytest.raises(Exception) as info:
            await client.connect(bad)
        assert "/live" not in client.sio.namespaces
        return client.connect_error, info.value

    packet, exc = run(scenario)
    # python-socketio hands over the whole CONNECT_ERROR payload; the JS client's `err.data` is its `data`.
    error = packet["data"]
    assert error["statusCode"] == 401, (packet, exc)
    assert isinstance(error["message"], str) and error["message"]
    assert packet["message"] == error["message"]


def test_join_answers_session_participants_and_the_last_50_messages(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    stored = [
        Message.objects.create(session=live_session, sender=tutor, content=f"m{i}") for i in range(55)
    ]  # created_at increases with i
    session_id = str(live_session.pk)

    async def scenario():
        client = await connected(realtime_server, student)
        ack = await client.call("join", {"sessionId": session_id})
        await client.close()
        return ack

    ack = run(scenario)
    assert set(ack) == {"data"}, ack
    data = ack["data"]
    assert set(data) == {"session", "participants", "messages"}
    assert set(data["session"]) == SESSION_KEYS
    assert data["session"]["id"] == session_id
    assert data["session"]["studentId"] == str(student.pk)
    assert [p["role"] for p in data["participants"]] == ["tutor", "student"]
    assert all(set(p) == PARTICIPANT_KEYS for p in data["participants"])
    # Joining marks the joiner connected, and the snapshot says so.
    assert data["participants"][1]["id"] == str(student.pk)
    assert data["participants"][1]["isConnected"] is True
    # The last 50, oldest first.
    assert [m["id"] for m in data["messages"]] == [str(m.pk) for m in stored[5:]]
    assert set(data["messages"][0]) == {"id", "sessionId", "senderId", "content", "timestamp"}


@pytest.mark.parametrize(
    ("who", "session", "status"),
    [
        ("stranger", "real", 403),
        ("staff", "real", 403),
        ("student", "unknown", 404),
        ("student", "garbage", 404),
        ("student", "missing", 400),
    ],
)
def test_join_is_for_the_parties_of_a_known_session(realtime_server, live_session, staff, who, session, status):
    user = {"stranger": StudentFactory(), "staff": staff, "student": live_session.booking.student}[who]
    payload = {
        "real": {"sessionId": str(live_session.pk)},
        "unknown": {"sessionId": str(uuid.uuid4())},
        "garbage": {"sessionId": "nope"},
        "missing": {},
    }[session]

    async def scenario():
        client = await connected(realtime_server, user)
        ack = await client.call("join", payload)
        # A refused join subscribes to nothing: a later message of the room does not arrive.
        await client.close()
        return ack

    ack = run(scenario)
    assert ack["statusCode"] == status, ack
    assert isinstance(ack["message"], str) and ack["message"]
    assert "data" not in ack


def test_message_round_trip_reaches_both_parties_and_is_stored(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        a, b = await connected(realtime_server, tutor), await connected(realtime_server, student)
        for client in (a, b):
            assert "data" in await client.call("join", {"sessionId": session_id})
        ack = await b.call("message", {"sessionId": session_id, "content": "  hello tutor  "})
        to_tutor = await a.inbox.next("message")
        to_sender = await b.inbox.next("message")
        await a.close()
        await b.close()
        return ack, to_tutor, to_sender

    ack, to_tutor, to_sender = run(scenario)
    message = ack["data"]
    assert set(message) == {"id", "sessionId", "senderId", "content", "timestamp"}
    assert message["content"] == "hello tutor"
    assert message["senderId"] == str(student.pk)
    assert message["sessionId"] == session_id
    assert to_tutor == message
    assert to_sender == message
    row = Message.objects.get(pk=message["id"])
    assert (row.content, row.sender_id, str(row.session_id)) == ("hello tutor", student.pk, session_id)


@pytest.mark.parametrize(
    ("content", "status"),
    [("   ", 400), ("", 400), ("x" * 2001, 400), (None, 400), (42, 400)],
)
def test_invalid_messages_are_refused_and_not_stored(realtime_server, live_session, content, status):
    student = live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        client = await connected(realtime_server, student)
        await client.call("join", {"sessionId": session_id})
        ack = await client.call("message", {"sessionId": session_id, "content": content})
        await client.close()
        return ack

    ack = run(scenario)
    assert ack["statusCode"] == status, ack
    assert not Message.objects.exists()


def test_2000_characters_is_the_longest_message(realtime_server, live_session):
    session_id = str(live_session.pk)

    async def scenario():
        client = await connected(realtime_server, live_session.booking.tutor)
        await client.call("join", {"sessionId": session_id})
        ack = await client.call("message", {"sessionId": session_id, "content": "x" * 2000})
        await client.close()
        return ack

    assert len(run(scenario)["data"]["content"]) == 2000


def test_a_party_that_has_not_joined_cannot_send(realtime_server, live_session):
    session_id = str(live_session.pk)

    async def scenario():
        client = await connected(realtime_server, live_session.booking.student)
        ack = await client.call("message", {"sessionId": session_id, "content": "hi"})
        update = await client.call("participant_update", {"sessionId": session_id, "updates": {"handRaised": True}})
        await client.close()
        return ack, update

    ack, update = run(scenario)
    assert ack["statusCode"] == 403
    assert update["statusCode"] == 403
    assert not Message.objects.exists()


def test_without_an_ack_an_error_comes_as_an_error_event(realtime_server, live_session):
    session_id = str(live_session.pk)

    async def scenario():
        client = await connected(realtime_server, live_session.booking.student)
        await client.emit("message", {"sessionId": session_id, "content": "not joined"})
        error = await client.inbox.next("error")
        await client.emit("join", {"sessionId": str(uuid.uuid4())})
        missing = await client.inbox.next("error")
        await client.close()
        return error, missing

    error, missing = run(scenario)
    assert error["statusCode"] == 403 and error["message"]
    assert missing["statusCode"] == 404


def test_participant_update_is_stored_and_broadcast(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        a, b = await connected(realtime_server, tutor), await connected(realtime_server, student)
        await a.call("join", {"sessionId": session_id})
        await b.call("join", {"sessionId": session_id})
        a.inbox.pending("participant_updated")  # the joins' own isConnected updates
        ack = await b.call(
            "participant_update", {"sessionId": session_id, "updates": {"isAudioEnabled": True, "handRaised": True}}
        )
        seen_by_tutor = await a.inbox.next("participant_updated")
        bad = await b.call("participant_update", {"sessionId": session_id, "updates": {"isConnected": False}})
        await a.close()
        await b.close()
        return ack, seen_by_tutor, bad

    ack, seen, bad = run(scenario)
    assert ack["data"]["id"] == str(student.pk)
    assert ack["data"]["isAudioEnabled"] is True and ack["data"]["handRaised"] is True
    assert seen == {"participantId": str(student.pk), "updates": {"isAudioEnabled": True, "handRaised": True}}
    row = Participant.objects.get(session=live_session, user=student)
    assert row.is_audio_enabled and row.hand_raised and not row.is_video_enabled
    assert bad["statusCode"] == 400  # isConnected is the server's to say


def test_joining_and_disconnecting_tell_the_room(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        a = await connected(realtime_server, tutor)
        await a.call("join", {"sessionId": session_id})
        own = await a.inbox.next("participant_updated")  # the joiner is in the room it tells
        assert own == {"participantId": str(tutor.pk), "updates": {"isConnected": True}}
        b = await connected(realtime_server, student)
        await b.call("join", {"sessionId": session_id})
        joined = await a.inbox.next("participant_updated")
        await b.close()
        left = await a.inbox.next("participant_updated")
        await a.close()
        return joined, left

    joined, left = run(scenario)
    assert joined == {"participantId": str(student.pk), "updates": {"isConnected": True}}
    assert left == {"participantId": str(student.pk), "updates": {"isConnected": False}}
    assert Participant.objects.get(session=live_session, user=student).is_connected is False


def open_connections_of(user) -> int:
    return sum(client.user.pk == user.pk for client in list(open_clients))


def test_a_second_connection_keeps_the_party_connected(realtime_server, live_session):
    """Two tabs: closing one leaves the participant connected; closing both does not."""
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        watcher = await connected(realtime_server, tutor)
        await watcher.call("join", {"sessionId": session_id})
        await watcher.inbox.next("participant_updated")  # its own
        tab1, tab2 = await connected(realtime_server, student), await connected(realtime_server, student)
        await tab1.call("join", {"sessionId": session_id})
        await tab2.call("join", {"sessionId": session_id})
        assert await watcher.inbox.next("participant_updated") == {
            "participantId": str(student.pk),
            "updates": {"isConnected": True},
        }
        await tab1.close()
        # tab1's disconnect has been handled once the server has seen it go (its connection is closed).
        await eventually(lambda: open_connections_of(student) == 1)
        sent = await tab2.call("message", {"sessionId": session_id, "content": "still here"})
        await watcher.inbox.next("message")
        still = await sync_to_async(lambda: Participant.objects.get(session_id=session_id, user=student).is_connected)()
        pending = watcher.inbox.pending("participant_updated")
        await tab2.close()
        gone = await watcher.inbox.next("participant_updated")
        await watcher.close()
        return sent, still, pending, gone

    sent, still, pending, gone = run(scenario)
    assert "data" in sent
    assert still is True
    assert pending == []
    assert gone == {"participantId": str(student.pk), "updates": {"isConnected": False}}


def test_leave_stops_the_events(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        a, b = await connected(realtime_server, tutor), await connected(realtime_server, student)
        await a.call("join", {"sessionId": session_id})
        await b.call("join", {"sessionId": session_id})
        left = await a.call("leave", {"sessionId": session_id})
        after_leave = await a.call("message", {"sessionId": session_id, "content": "after leaving"})
        await b.call("message", {"sessionId": session_id, "content": "one"})
        await b.inbox.next("message")  # the room got it...
        await a.call("join", {"sessionId": session_id})  # ...and a, back in, gets only what follows
        await b.call("message", {"sessionId": session_id, "content": "two"})
        got = await a.inbox.next("message")
        await a.close()
        await b.close()
        return left, after_leave, got, a.inbox.pending("message")

    left, after_leave, got, rest = run(scenario)
    assert left == {"data": {"sessionId": session_id}}
    assert after_leave["statusCode"] == 403
    assert got["content"] == "two"
    assert rest == []


def test_session_updated_reaches_the_room_when_the_tutor_starts_the_class(realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        client = await connected(realtime_server, student)
        await client.call("join", {"sessionId": session_id})
        response = await sync_to_async(requests.post)(
            f"{realtime_server}/api/live/sessions/{session_id}/start",
            headers={"Authorization": bearer(tutor)},
            timeout=15,
        )
        assert response.status_code == 200, response.content
        event = await client.inbox.next("session_updated")
        await client.close()
        return event

    event = run(scenario)
    assert set(event) == {"id", "status", "actualStartTime", "actualEndTime"}
    assert event["id"] == session_id
    assert event["status"] == "active"
    assert event["actualStartTime"] and event["actualEndTime"] is None


def test_the_61st_message_in_a_minute_is_refused_and_not_stored(realtime_server, settings):
    student = StudentFactory()
    live_session = SessionFactory(booking__student=student)
    session_id = str(live_session.pk)

    async def scenario():
        client = await connected(realtime_server, student)
        await client.call("join", {"sessionId": session_id})
        acks = [await client.call("message", {"sessionId": session_id, "content": f"m{i}"}) for i in range(61)]
        await client.close()
        return acks

    acks = run(scenario)
    assert all("data" in ack for ack in acks[:60]), [a for a in acks[:60] if "data" not in a]
    assert acks[60]["statusCode"] == 429
    assert acks[60]["retryAfter"] >= 1
    assert Message.objects.filter(session=live_session).count() == 60
    assert not Message.objects.filter(content="m60").exists()


@pytest.mark.django_db(transaction=False)
def test_the_private_override_still_fits_the_pinned_python_socketio():
    """`LiveServer` overrides python-socketio's private `_handle_event_internal` to learn whether an event
    carries an ack id (errors without one come as an `error` event). A release that renames or reshapes
    it must fail here, not silently send every error as an ack."""
    assert "_handle_event_internal" in vars(socketio.AsyncServer)
    params = list(inspect.signature(socketio.AsyncServer._handle_event_internal).parameters)
    assert params == ["self", "server", "sid", "eio_sid", "data", "namespace", "id"]


@pytest.mark.django_db(transaction=False)
def test_packets_encode_and_decode_as_the_standard_json_did():
    """`LivePacket` encodes and decodes through orjson; what orjson refuses goes the standard way, so a
    packet decodes (or fails) as before, and an outgoing one is never taken for binary."""
    text = '2/live,7["message",{"sessionId":"s","content":"课 \\ud83d\\ude00 ok"}]'
    decoded = LivePacket(encoded_packet=text)
    assert (decoded.id, decoded.data) == (7, ["message", {"sessionId": "s", "content": "课 😀 ok"}])
    lone = LivePacket(encoded_packet='2/live,["message",{"content":"a\\ud800b"}]')  # orjson refuses it
    assert lone.data == ["message", {"content": "a\ud800b"}]  # and the chat service says why (400)
    # An integer past 64 bits arrives as a float (no event of ours takes one; engine.io refused 100 digits).
    assert LivePacket(encoded_packet="2/live,[" + "9" * 101 + "]").data == [1e101]
    with pytest.raises(ValueError):
        LivePacket(encoded_packet='2/live,["message",')

    out = LivePacket(socketio.packet.EVENT, namespace="/live", data=["message", {"content": "课 a\ud800", "n": 2**70}])
    assert out.packet_type == socketio.packet.EVENT
    assert out.encode() == '2/live,["message",{"content":"\\u8bfe a\\ud800","n":1180591620717411303424}]'
    assert LivePacket(socketio.packet.ACK, namespace="/live", id=3, data=[{"content": "课"}]).encode() == (
        '3/live,3[{"content":"课"}]'
    )
