"""docs/api.md "Webhooks": Twilio Video status callbacks, signed exactly as Twilio signs them."""

from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from live.models import Participant, SessionStatus
from live.tests.factories import ActiveSessionFactory, SessionFactory
from payments.ledger import tutor_share
from payments.selectors import tutor_earnings
from payments.tests.factories import after_the_hold
from tutoring.models import BookingStatus
from tutoring.tests.factories import StudentFactory
from tutoring.tests.utils import assert_error

pytestmark = pytest.mark.django_db

PATH = "/api/webhooks/twilio/video"


@pytest.fixture
def callback(client, settings):
    """callback(params, token=, url=) → the response to a callback signed like Twilio's."""

    def send(params, *, token=None, url=None, signature=None):
        token = settings.TWILIO_AUTH_TOKEN if token is None else token
        url = url or settings.SITE_URL + PATH
        if signature is None:
            signature = RequestValidator(token).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return client.post(PATH, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers)

    return send


def params(session, event, user=None, **extra):
    """The form fields Twilio posts for a room event."""
    fields = {
        "AccountSid": "AC" + "a1" * 16,
        "RoomName": session.room_name,
        "RoomSid": session.room_sid,
        "RoomStatus": "completed" if event == "room-ended" else "in-progress",
        "RoomType": "group",
        "StatusCallbackEvent": event,
        "Timestamp": "2026-11-23T13:00:00.000Z",
        "SequenceNumber": "3",
    }
    if user is not None:
        fields.update(
            ParticipantSid="PA" + "c3" * 16,
            ParticipantStatus="disconnected" if event == "participant-disconnected" else "connected",
            ParticipantIdentity=str(user.pk),
        )
    fields.update(extra)
    return fields


def track(session, event, user, kind):
    return params(session, event, user, TrackSid="MT" + "d4" * 16, TrackKind=kind, TrackName=f"{kind}-1")


def ok(response):
    assert response.status_code == 200, response.content
    assert response.json() == {"data": {"received": True}}


def state(session, user):
    p = Participant.objects.get(session=session, user=user)
    return {"audio": p.is_audio_enabled, "video": p.is_video_enabled, "connected": p.is_connected}


class TestParticipantEvents:
    def test_connect_and_disconnect(self, callback, session, subscribe, django_capture_on_commit_callbacks):
        student = session.booking.student
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            ok(callback(params(session, "participant-connected", student)))
        assert state(session, student)["connected"] is True
        assert subscriber.receive() == {
            "type": "live.event",
            "event": "participant_updated",
            "data": {"participantId": str(student.pk), "updates": {"isConnected": True}},
        }
        with django_capture_on_commit_callbacks(execute=True):
            ok(callback(params(session, "participant-disconnected", student)))
        assert state(session, student)["connected"] is False
        assert subscriber.receive()["data"] == {"participantId": str(student.pk), "updates": {"isConnected": False}}

    @pytest.mark.parametrize(
        "event,kind,expected",
        [
            ("track-added", "audio", {"audio": True, "video": False}),
            ("track-enabled", "audio", {"audio": True, "video": False}),
            ("track-added", "video", {"audio": False, "video": True}),
            ("track-enabled", "video", {"audio": False, "video": True}),
            ("track-added", "data", {"audio": False, "video": False}),
        ],
    )
    def test_tracks_turn_state_on(self, callback, session, event, kind, expected):
        tutor = session.booking.tutor
        ok(callback(track(session, event, tutor, kind)))
        assert {k: v for k, v in state(session, tutor).items() if k != "connected"} == expected

    @pytest.mark.parametrize("event", ["track-disabled", "track-removed"])
    def test_tracks_turn_state_off(self, callback, session, subscribe, django_capture_on_commit_callbacks, event):
        tutor = session.booking.tutor
        Participant.objects.filter(user=tutor).update(is_audio_enabled=True, is_video_enabled=True)
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            ok(callback(track(session, event, tutor, "video")))
        assert state(session, tutor) == {"audio": True, "video": False, "connected": False}
        assert subscriber.receive()["data"] == {"participantId": str(tutor.pk), "updates": {"isVideoEnabled": False}}

    def test_a_repeated_event_changes_and_says_nothing(
        self, callback, session, subscribe, django_capture_on_commit_callbacks
    ):
        student = session.booking.student
        ok(callback(track(session, "track-enabled", student, "audio")))
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            ok(callback(track(session, "track-enabled", student, "audio")))
        marker = subscriber.mark()
        assert subscriber.receive() == marker

    def test_unknown_rooms_identities_and_events_are_ignored_with_200(self, callback, session):
        student = session.booking.student
        other = SessionFactory()
        for fields in [
            params(session, "participant-connected", student, RoomSid="RM" + "0" * 32),
            params(session, "participant-connected", student, RoomSid="", RoomName="booking-unknown"),
            params(session, "participant-connected", StudentFactory()),
            params(session, "participant-connected", other.booking.student),
            params(session, "participant-connected", student, ParticipantIdentity="not-a-uuid"),
            params(session, "participant-connected", student, ParticipantIdentity=""),
            params(session, "recording-started", student),
            params(session, "room-created"),
        ]:
            ok(callback(fields))
        assert not Participant.objects.filter(is_connected=True).exists()

    def test_the_room_is_found_by_name_when_no_sid_is_given(self, callback, session):
        ok(callback(params(session, "participant-connected", session.booking.tutor, RoomSid="")))
        assert state(session, session.booking.tutor)["connected"] is True


class TestRoomEnded:
    def test_completes_an_active_session_without_asking_twilio(
        self, callback, twilio, subscribe, django_capture_on_commit_callbacks
    ):
        session = ActiveSessionFactory()
        booking = session.booking
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            ok(callback(params(session, "room-ended")))
        session.refresh_from_db()
        booking.refresh_from_db()
        assert session.status == SessionStatus.COMPLETED and session.actual_end_time is not None
        assert booking.status == BookingStatus.COMPLETED
        earnings = tutor_earnings(tutor_id=booking.tutor_id)
        assert (earnings.pending_earnings, earnings.total_earnings) == (tutor_share(booking.price), 0)
        after_the_hold(tutor_id=booking.tutor_id)
        earnings = tutor_earnings(tutor_id=booking.tutor_id)
        assert (earnings.pending_earnings, earnings.total_earnings) == (0, tutor_share(booking.price))
        event = subscriber.receive()
        assert event["event"] == "session_updated"
        assert (event["data"]["id"], event["data"]["status"]) == (str(session.pk), "completed")
        assert twilio.requests == []

    def test_a_created_session_stays_created(self, callback, session):
        ok(callback(params(session, "room-ended")))
        session.refresh_from_db()
        assert session.status == SessionStatus.CREATED

    def test_a_completed_session_is_left_alone(self, callback, client_for):
        session = ActiveSessionFactory()
        client_for(session.booking.tutor).post(f"/api/live/sessions/{session.pk}/end")
        session.refresh_from_db()
        ended_at = session.actual_end_time
        ok(callback(params(session, "room-ended")))
        session.refresh_from_db()
        assert session.actual_end_time == ended_at
        assert after_the_hold(tutor_id=session.booking.tutor_id) == 1  # released once, not twice
        assert tutor_earnings(tutor_id=session.booking.tutor_id).total_earnings == tutor_share(session.booking.price)

    def test_a_replaced_rooms_late_end_is_ignored(self, callback):
        session = ActiveSessionFactory()
        ok(callback(params(session, "room-ended", RoomSid="RM" + "9" * 32)))
        session.refresh_from_db()
        assert session.status == SessionStatus.ACTIVE


class TestSignature:
    def test_valid_with_the_configured_token(self, callback, twilio, session):
        ok(callback(params(session, "participant-connected", session.booking.student)))

    def test_the_url_django_sees_is_accepted_too(self, callback, session):
        ok(callback(params(session, "participant-connected", session.booking.student), url=f"http://testserver{PATH}"))

    @pytest.mark.parametrize(
        "forgery",
        ["wrong token", "another url", "missing", "garbage", "tampered", "empty configured token"],
    )
    def test_forged_or_missing_403_and_nothing_changes(self, callback, settings, twilio, forgery):
        session = ActiveSessionFactory()
        student = session.booking.student
        fields = params(session, "participant-connected", student)
        kwargs = {}
        if forgery == "wrong token":
            kwargs["token"] = "not-the-auth-token"
        elif forgery == "another url":
            kwargs["url"] = "https://attacker.example.test" + PATH
        elif forgery == "missing":
            kwargs["signature"] = ""
        elif forgery == "garbage":
            kwargs["signature"] = "bm90IGEgc2lnbmF0dXJl"
        elif forgery == "tampered":
            kwargs["signature"] = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
                settings.SITE_URL + PATH, params(session, "participant-disconnected", student)
            )
        else:
            settings.TWILIO_AUTH_TOKEN = ""
            kwargs["token"] = ""
        response = callback(fields, **kwargs)
        body = assert_error(response, 403, PATH, "POST")
        assert "signature" in body["message"].lower()
        assert state(session, student)["connected"] is False
        ended = callback(params(session, "room-ended"), **kwargs)
        assert_error(ended, 403, PATH, "POST")
        session.refresh_from_db()
        assert session.status == SessionStatus.ACTIVE

    def test_get_is_405_error_body(self, client):
        assert_error(client.get(PATH), 405, PATH, "GET")

    def test_not_rate_limited(self, callback, session, settings):
        settings.RATE_LIMIT_API = "2/m"
        for _ in range(5):
            ok(callback(params(session, "participant-connected", session.booking.tutor)))
