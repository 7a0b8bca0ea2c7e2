"""The Channels transport `/ws/live/` (docs/realtime.md): WebsocketCommunicator against the real ASGI
application and channel layer (in-memory, or channels-redis with REDIS_URL)."""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from live import services
from live.models import Message, Participant
from live.tests.factories import SessionFactory
from live.tests.realtime.conftest import WAIT, settle
from tutoring.asgi import application
from tutoring.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(in_server_loop):
    """Scenarios run on the server's loop: one loop receives from the channel layer in this process."""

    def run_settled(coro_fn, *args):
        result = in_server_loop(coro_fn, *args)
        settle()
        return result

    return run_settled


class Socket:
    """A communicator speaking the frame protocol, with acks numbered per socket."""

    def __init__(self, token: str | None):
        query = f"?token={token}" if token is not None else ""
        self.comm = WebsocketCommunicator(application, f"/ws/live/{query}")
        self.n = 0
        self.frames: list[dict] = []

    @classmethod
    async def open(cls, user) -> Socket:
        socket = cls(str(AccessToken.for_user(user)))
        connected, _ = await socket.comm.connect(timeout=WAIT)
        assert connected
        return socket

    async def next(self, event: str) -> dict:
        """The data of the next frame named `event` (other frames are kept for later)."""
        for i, frame in enumerate(self.frames):
            if frame["event"] == event:
                return self.frames.pop(i)
        while True:
            frame = await self.comm.receive_json_from(timeout=WAIT)
            if frame["event"] == event:
                return frame
            self.frames.append(frame)

    async def call(self, event: str, data) -> dict:
        self.n += 1
        ack = f"c{self.n}"
        await self.comm.send_json_to({"event": event, "data": data, "ack": ack})
        while True:
            frame = await self.next("ack")
            if frame["ack"] == ack:
                return frame
            self.frames.append(frame)  # pragma: no cover -- acks come in order on one socket

    async def close(self) -> None:
        await self.comm.disconnect(timeout=WAIT)


@pytest.mark.parametrize("token", [None, "", "garbage"])
def test_an_invalid_token_closes_with_4401(run, token):
    async def scenario():
        comm = WebsocketCommunicator(application, "/ws/live/" + (f"?token={token}" if token is not None else ""))
        accepted, _ = await comm.connect(timeout=WAIT)
        closed = await comm.receive_output(timeout=WAIT)
        await comm.disconnect(code=4401, timeout=WAIT)
        return accepted, closed

    accepted, closed = run(scenario)
    # Accepted, then closed at once: a close code only reaches a client over an open WebSocket.
    assert accepted is True
    assert closed == {"type": "websocket.close", "code": 4401}


def test_join_message_and_participant_update_over_frames(run):
    live_session = SessionFactory()
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        a, b = await Socket.open(tutor), await Socket.open(student)
        joined = await a.call("join", {"sessionId": session_id})
        await b.call("join", {"sessionId": session_id})
        ack = await b.call("message", {"sessionId": session_id, "content": " hi "})
        to_tutor = await a.next("message")
        to_sender = await b.next("message")
        update = await a.call("participant_update", {"sessionId": session_id, "updates": {"isVideoEnabled": True}})
        seen = []
        while len(seen) < 1:
            frame = await b.next("participant_updated")
            if frame["data"]["participantId"] == str(tutor.pk) and "isVideoEnabled" in frame["data"]["updates"]:
                seen.append(frame)
        await a.close()
        await b.close()
        return joined, ack, to_tutor, to_sender, update, seen[0]

    joined, ack, to_tutor, to_sender, update, seen = run(scenario)
    assert joined["event"] == "ack" and joined["ack"] == "c1"
    assert set(joined["data"]) == {"session", "participants", "messages"}
    assert joined["data"]["session"]["id"] == session_id
    message = ack["data"]
    assert message["content"] == "hi" and message["senderId"] == str(student.pk)
    assert to_tutor == {"event": "message", "data": message}
    assert to_sender == {"event": "message", "data": message}
    assert Message.objects.filter(pk=message["id"], content="hi").exists()
    assert update["data"]["isVideoEnabled"] is True
    assert seen == {
        "event": "participant_updated",
        "data": {"participantId": str(tutor.pk), "updates": {"isVideoEnabled": True}},
    }


@pytest.mark.parametrize(
    ("who", "session_id", "status"),
    [("stranger", "real", 403), ("student", "unknown", 404), ("student", None, 400)],
)
def test_denied_join_answers_the_error_body(run, who, session_id, status):
    live_session = SessionFactory()
    user = StudentFactory() if who == "stranger" else live_session.booking.student
    data = {
        "real": {"sessionId": str(live_session.pk)},
        "unknown": {"sessionId": str(uuid.uuid4())},
        None: {},
    }[session_id]

    async def scenario():
        socket = await Socket.open(user)
        reply = await socket.call("join", data)
        await socket.close()
        return reply

    reply = run(scenario)
    assert set(reply) == {"event", "ack", "error"}
    assert reply["error"]["statusCode"] == status and reply["error"]["message"]


def test_errors_without_an_ack_come_as_error_frames(run):
    live_session = SessionFactory()

    async def scenario():
        socket = await Socket.open(live_session.booking.student)
        await socket.comm.send_json_to(
            {"event": "message", "data": {"sessionId": str(live_session.pk), "content": "x"}}
        )
        not_joined = await socket.next("error")
        await socket.comm.send_to(text_data="{not json")
        not_json = await socket.next("error")
        await socket.comm.send_to(text_data=json.dumps({"event": "dance", "data": {}}))
        unknown = await socket.next("error")
        await socket.close()
        return not_joined, not_json, unknown

    not_joined, not_json, unknown = run(scenario)
    assert not_joined["data"]["statusCode"] == 403
    assert not_json["data"]["statusCode"] == 400
    assert unknown["data"]["statusCode"] == 400


def test_session_updated_and_disconnect_reach_the_other_socket(run):
    live_session = SessionFactory()
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)

    async def scenario():
        a, b = await Socket.open(tutor), await Socket.open(student)
        await a.call("join", {"sessionId": session_id})
        await b.call("join", {"sessionId": session_id})
        await database_sync_to_async(services.session_start)(session_id=session_id, user=tutor)
        started = await b.next("session_updated")
        await b.close()
        while True:
            frame = await a.next("participant_updated")
            if frame["data"] == {"participantId": str(student.pk), "updates": {"isConnected": False}}:
                break
        await a.close()
        return started

    started = run(scenario)
    assert started["data"]["id"] == session_id and started["data"]["status"] == "active"
    assert Participant.objects.get(session=live_session, user=student).is_connected is False
    assert Participant.objects.get(session=live_session, user=tutor).is_connected is False


def test_the_61st_message_in_a_minute_is_refused_over_the_websocket_too(run):
    student = StudentFactory()
    live_session = SessionFactory(booking__student=student)
    session_id = str(live_session.pk)

    async def scenario():
        socket = await Socket.open(student)
        await socket.call("join", {"sessionId": session_id})
        replies = [await socket.call("message", {"sessionId": session_id, "content": f"m{i}"}) for i in range(61)]
        await socket.close()
        return replies

    replies = run(scenario)
    assert all("data" in reply for reply in replies[:60])
    assert replies[60]["error"]["statusCode"] == 429
    assert Message.objects.filter(session=live_session).count() == 60
