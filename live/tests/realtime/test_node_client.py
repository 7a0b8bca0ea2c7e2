"""The official Node `socket.io-client` (pinned in live/tests/js/package.json) with its default
transports against a real server: the seed's `io('/live', {auth: {token}})` works unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from live.models import Message, Participant
from live.tests.realtime.conftest import settle
from tutoring.tests.factories import StudentFactory

pytestmark = pytest.mark.django_db(transaction=True)

JS = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="session")
def node():
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed")
    if not (JS / "node_modules" / "socket.io-client").is_dir():
        pytest.fail(f"run `npm ci --prefix {JS}` first (make test does)")
    return path


def run_node(node, script: str, config: dict) -> dict:
    done = subprocess.run(
        [node, str(JS / script)], input=json.dumps(config), capture_output=True, text=True, timeout=120, cwd=JS
    )
    assert done.returncode == 0, done.stderr
    settle()
    return json.loads(done.stdout)


def test_the_seed_client_code_works_unchanged(node, realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)
    tokens = {
        "tutor": str(AccessToken.for_user(tutor)),
        "student": str(AccessToken.for_user(student)),
        "stranger": str(AccessToken.for_user(StudentFactory())),
    }

    out = run_node(node, "classroom.js", {"url": realtime_server, "sessionId": session_id, "tokens": tokens})

    # Connecting: bad and missing tokens are refused with err.data = {statusCode: 401, message}.
    for refused in (out["badToken"], out["noToken"]):
        assert refused["data"]["statusCode"] == 401
        assert refused["data"]["message"] and refused["message"] == refused["data"]["message"]
    assert out["firstTransport"] == "polling"  # the client's default: polling first...
    assert out["upgradedTo"] == "websocket"  # ...then the upgrade

    # Joining.
    assert out["strangerJoin"]["statusCode"] == 403
    assert out["unknownJoin"]["statusCode"] == 404
    for joined in (out["tutorJoin"], out["studentJoin"]):
        assert set(joined["data"]) == {"session", "participants", "messages"}
        assert joined["data"]["session"]["id"] == session_id
    assert out["studentConnected"] == {"participantId": str(student.pk), "updates": {"isConnected": True}}

    # Chat: stored, then sent to the whole room, sender included; the ack is the stored message.
    message = out["messageAck"]["data"]
    assert message["content"] == "Hello from Node"
    assert out["messageAtTutor"] == message == out["messageAtStudent"]
    assert out["noAckMessageAtTutor"]["content"] == "no ack"
    assert out["errorEvent"]["statusCode"] == 400
    assert out["afterUpgradeAtTutor"] == out["afterUpgradeAck"]["data"]
    assert list(
        Message.objects.filter(session=live_session).order_by("created_at").values_list("content", flat=True)
    ) == [
        "Hello from Node",
        "no ack",
        "over websocket",
    ]

    # Participant state and the session's own updates.
    assert out["updateAck"]["data"]["handRaised"] is True
    assert out["updateAtTutor"] == {"participantId": str(student.pk), "updates": {"handRaised": True}}
    assert out["startStatus"] == 200
    for event in (out["sessionUpdatedAtStudent"], out["sessionUpdatedAtTutor"]):
        assert event["id"] == session_id and event["status"] == "active" and event["actualStartTime"]

    # Closing the student's socket tells the room.
    assert out["studentLeft"] == {"participantId": str(student.pk), "updates": {"isConnected": False}}
    assert Participant.objects.get(session=live_session, user=student).is_connected is False


def test_the_tutor_moderates_through_the_node_client(node, realtime_server, live_session):
    tutor, student = live_session.booking.tutor, live_session.booking.student
    session_id = str(live_session.pk)
    config = {
        "url": realtime_server,
        "sessionId": session_id,
        "studentId": str(student.pk),
        "tokens": {"tutor": str(AccessToken.for_user(tutor)), "student": str(AccessToken.for_user(student))},
    }

    out = run_node(node, "moderation.js", config)

    assert out["mute"]["data"]["audioMuted"] is True
    assert out["muted"] == {"sessionId": session_id, "audio": True, "video": False}
    assert out["mutedUpdate"]["updates"] == {"audioMuted": True}
    assert out["remove"]["data"]["removed"] is True
    assert out["removed"] == {"sessionId": session_id}
    assert out["messageAfterRemoval"]["statusCode"] == 403
    assert out["rejoin"]["statusCode"] == 403
    assert out["removedToken"] == 403
    assert out["admit"]["data"]["removed"] is False
    assert out["admittedToken"] == 200
    assert out["join"]["data"]["session"]["id"] == session_id
    assert out["message"]["content"] == "welcome back"
    assert Participant.objects.get(session=live_session, user=student).removed is False
