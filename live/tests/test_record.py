"""The session record (docs/classroom.md "The record"): events as they happen, in order, deduplicated; the
events list; the stats with each party's attendance, from a scripted session with exact seconds."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from twilio.request_validator import RequestValidator

from live import services
from live.models import Session, SessionEvent
from live.tests.factories import PaidBookingFactory, store_one
from tutoring.models import BookingStatus
from tutoring.tests.factories import StudentFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
PROCESS = uuid.uuid4()


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds")


def video_callback(client, settings, session, event, user, *, seconds, participant_sid, sequence):
    """A Twilio room callback, signed as Twilio signs it, reporting `event` at T0 + `seconds`."""
    params = {
        "AccountSid": "AC" + "a1" * 16,
        "RoomName": session.room_name,
        "RoomSid": session.room_sid,
        "RoomStatus": "in-progress",
        "RoomType": "group",
        "StatusCallbackEvent": event,
        "Timestamp": at(seconds).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SequenceNumber": str(sequence),
        "ParticipantSid": participant_sid,
        "ParticipantStatus": "connected" if event == "participant-connected" else "disconnected",
        "ParticipantIdentity": str(user.pk),
    }
    url = settings.SITE_URL + "/api/webhooks/twilio/video"
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    response = client.post(
        "/api/webhooks/twilio/video",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def scripted_session(client, client_for, settings, clock):
    """Student in the room before the start, leaves, comes back on video and chat at once (overlapping),
    leaves; the tutor stays from before the start to the end. Times are seconds after T0."""
    booking = PaidBookingFactory(start_time=at(300))
    tutor, student = booking.tutor, booking.student
    created = data(client_for(student).post("/api/live/sessions", {"bookingId": str(booking.pk)}), 201)
    session = Session.objects.get(pk=created["session"]["id"])
    a, b, t = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    services.presence_enter(connection_id=a, process_id=PROCESS, session_id=session.pk, user=student)  # 0
    clock.move_to(at(5))
    services.presence_enter(connection_id=t, process_id=PROCESS, session_id=session.pk, user=tutor)
    clock.move_to(at(10))
    data(client_for(tutor).post(f"/api/live/sessions/{session.pk}/start"))
    clock.move_to(at(40))
    services.participant_update(session_id=session.pk, user=student, updates={"handRaised": True})
    services.participant_update(session_id=session.pk, user=student, updates={"handRaised": True})  # no change
    store_one(session_id=session.pk, sender=student, content="a question")
    clock.move_to(at(70))
    services.presence_exit(connection_id=a, session_id=session.pk, user=student)
    clock.move_to(at(100))
    video_callback(
        client, settings, session, "participant-connected", student, seconds=100, participant_sid="PA1", sequence=7
    )
    # Twilio retries a callback it got no answer to: the same sequence number, recorded once.
    video_callback(
        client, settings, session, "participant-connected", student, seconds=100, participant_sid="PA1", sequence=7
    )
    clock.move_to(at(130))
    services.presence_enter(connection_id=b, process_id=PROCESS, session_id=session.pk, user=student)
    clock.move_to(at(160))
    video_callback(
        client, settings, session, "participant-disconnected", student, seconds=160, participant_sid="PA1", sequence=9
    )
    clock.move_to(at(190))
    services.connection_close(connection_id=b)
    clock.move_to(at(250))
    data(client_for(tutor).post(f"/api/live/sessions/{session.pk}/end"))
    return session


def test_stats_of_a_scripted_session_in_exact_seconds(client, client_for, settings, clock):
    session = scripted_session(client, client_for, settings, clock)
    clock.move_to(at(4000))  # read long after: nothing counts past the end
    stats = data(client_for(session.booking.student).get(f"/api/live/sessions/{session.pk}/stats"))
    assert stats == {
        "durationSeconds": 240,
        "messagesCount": 1,
        "handRaisesCount": 1,
        "attendance": {
            # In the room from before the start to the end (still connected when it ended).
            "tutor": {"firstJoinedAt": iso(at(5)), "lastLeftAt": iso(at(250)), "presentSeconds": 240},
            # 10→70 on chat, then 100→160 on video and 130→190 on chat: 60 + 90 (the overlap once).
            "student": {"firstJoinedAt": iso(at(0)), "lastLeftAt": iso(at(190)), "presentSeconds": 150},
        },
    }
    session.booking.refresh_from_db()
    assert session.booking.status == BookingStatus.COMPLETED


def test_the_events_list_oldest_first_deduplicated_and_paged(client, client_for, settings, clock, staff):
    session = scripted_session(client, client_for, settings, clock)
    tutor, student = session.booking.tutor, session.booking.student
    expected = [
        ("join", student.pk, 0),
        ("join", tutor.pk, 5),
        ("start", tutor.pk, 10),
        ("hand_raise", student.pk, 40),
        ("leave", student.pk, 70),
        ("video_connected", student.pk, 100),
        ("join", student.pk, 130),
        ("video_disconnected", student.pk, 160),
        ("leave", student.pk, 190),
        ("end", tutor.pk, 250),
    ]
    for user in (tutor, student, staff):
        seen, cursor = [], ""
        while True:
            page = data(client_for(user).get(f"/api/live/sessions/{session.pk}/events", {"limit": 3, "cursor": cursor}))
            seen += page["events"]
            cursor = page["next"]
            if cursor is None:
                break
        assert [(e["type"], uuid.UUID(e["actorId"]), e["timestamp"]) for e in seen] == [
            (kind, actor, iso(at(s))) for kind, actor, s in expected
        ]
    event = seen[5]
    assert set(event) == {"id", "type", "actorId", "data", "timestamp"}
    assert event["data"] == {"via": "video", "connection": "PA1"}
    assert SessionEvent.objects.get(uid=event["id"]).session_id == session.pk


def test_record_and_stats_are_for_parties_and_staff(client_for, session):
    stranger = StudentFactory()
    for action in ("events", "stats"):
        path = f"/api/live/sessions/{session.pk}/{action}"
        assert_error(client_for(stranger).get(path), 404, path, "GET")
    path = f"/api/live/sessions/{session.pk}/events"
    assert_error(client_for(session.booking.tutor).get(path, {"cursor": "nonsense"}), 400, path, "GET")


def test_stats_of_a_session_not_started(client_for, session):
    stats = data(client_for(session.booking.tutor).get(f"/api/live/sessions/{session.pk}/stats"))
    absent = {"firstJoinedAt": None, "lastLeftAt": None, "presentSeconds": 0}
    assert stats == {
        "durationSeconds": 0,
        "messagesCount": 0,
        "handRaisesCount": 0,
        "attendance": {"tutor": absent, "student": absent},
    }
