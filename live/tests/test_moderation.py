"""The tutor's moderation over REST (docs/classroom.md "Moderation"): mute, remove, admit, enforced at the
provider — the sandbox's observable room state, and Twilio's exact requests through the SDK to the stub."""

import json
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from twilio.request_validator import RequestValidator

from live import services
from live.models import Participant, Presence, SessionEvent, SessionStatus
from live.realtime import events
from live.tests.factories import ActiveSessionFactory
from live.video.sandbox import room_state
from tutoring.tests.factories import StudentFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

INCLUDE_ALL = {"type": "include", "all": True}


def url(session, user, action):
    return f"/api/live/sessions/{session.pk}/participants/{user.pk}/{action}"


@pytest.fixture
def session(db):
    return ActiveSessionFactory()


def state(session, user) -> Participant:
    return Participant.objects.get(session=session, user=user)


class TestMute:
    def test_the_tutor_mutes_the_students_audio(
        self, client_for, session, subscribe, django_capture_on_commit_callbacks
    ):
        tutor, student = session.booking.tutor, session.booking.student
        Participant.objects.filter(session=session, user=student).update(is_audio_enabled=True)
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            body = data(client_for(tutor).post(url(session, student, "mute"), {}))
        assert body["id"] == str(student.pk)
        assert (body["audioMuted"], body["videoMuted"], body["isAudioEnabled"]) == (True, False, False)
        # The sandbox no longer forwards the student's audio to the tutor.
        assert room_state(session.room_sid)["subscribeRules"] == {
            str(tutor.pk): [INCLUDE_ALL, {"type": "exclude", "publisher": str(student.pk), "kind": "audio"}]
        }
        assert subscriber.receive()["data"] == {
            "participantId": str(student.pk),
            "updates": {"audioMuted": True, "isAudioEnabled": False},
        }
        assert subscriber.receive() == {
            "type": "live.event",
            "event": services.DIRECT,
            "data": {
                "sessionId": str(session.pk),
                "userId": str(student.pk),
                "event": "muted",
                "data": {"sessionId": str(session.pk), "audio": True, "video": False},
            },
        }
        [event] = SessionEvent.objects.filter(session=session, type="mute")
        assert (event.actor_id, event.data) == (
            tutor.pk,
            {"participantId": str(student.pk), "audio": True, "video": False},
        )

    def test_video_too_then_the_student_unmutes_and_forwarding_is_restored(self, client_for, session):
        tutor, student = session.booking.tutor, session.booking.student
        data(client_for(tutor).post(url(session, student, "mute"), {"audio": True, "video": True}))
        assert room_state(session.room_sid)["subscribeRules"][str(tutor.pk)] == [
            INCLUDE_ALL,
            {"type": "exclude", "publisher": str(student.pk), "kind": "audio"},
            {"type": "exclude", "publisher": str(student.pk), "kind": "video"},
        ]
        services.participant_update(session_id=session.pk, user=student, updates={"isAudioEnabled": True})
        row = state(session, student)
        assert (row.audio_muted, row.video_muted, row.is_audio_enabled) == (False, True, True)
        assert room_state(session.room_sid)["subscribeRules"][str(tutor.pk)] == [
            INCLUDE_ALL,
            {"type": "exclude", "publisher": str(student.pk), "kind": "video"},
        ]
        # The tutor lifts the video mute.
        body = data(client_for(tutor).post(url(session, student, "mute"), {"video": False}))
        assert (body["audioMuted"], body["videoMuted"]) == (False, False)
        assert room_state(session.room_sid)["subscribeRules"][str(tutor.pk)] == [INCLUDE_ALL]

    def test_muting_the_tutor_400(self, client_for, session):
        tutor = session.booking.tutor
        path = url(session, tutor, "mute")
        assert_error(client_for(tutor).post(path, {}), 400, path, "POST")
        assert not state(session, tutor).audio_muted

    def test_bad_body_400(self, client_for, session):
        path = url(session, session.booking.student, "mute")
        assert_error(client_for(session.booking.tutor).post(path, {"audio": "loud"}), 400, path, "POST")

    def test_who_may(self, client_for, session, staff):
        student = session.booking.student
        path = url(session, student, "mute")
        assert_error(client_for(student).post(path, {}), 403, path, "POST")
        assert_error(client_for(staff).post(path, {}), 403, path, "POST")
        assert_error(client_for(StudentFactory()).post(path, {}), 404, path, "POST")
        unknown = f"/api/live/sessions/{session.pk}/participants/{StudentFactory().pk}/mute"
        assert_error(client_for(session.booking.tutor).post(unknown, {}), 404, unknown, "POST")
        assert not state(session, student).audio_muted

    def test_an_ended_class_409(self, client_for, session):
        session.status, session.actual_end_time = SessionStatus.COMPLETED, session.actual_start_time
        session.save()
        path = url(session, session.booking.student, "mute")
        assert_error(client_for(session.booking.tutor).post(path, {}), 409, path, "POST")


class TestRemoveAdmit:
    def test_removed_student_gets_403_on_token_until_admitted(
        self, client_for, session, subscribe, django_capture_on_commit_callbacks
    ):
        tutor, student = session.booking.tutor, session.booking.student
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            body = data(client_for(tutor).post(url(session, student, "remove")))
        assert body["removed"] is True
        assert room_state(session.room_sid)["disconnected"] == [str(student.pk)]
        assert subscriber.receive()["data"] == {"participantId": str(student.pk), "updates": {"removed": True}}
        assert subscriber.receive()["data"]["event"] == "removed"
        token = f"/api/live/sessions/{session.pk}/token"
        assert_error(client_for(student).post(token), 403, token, "POST")
        join = "/api/live/sessions"
        assert_error(client_for(student).post(join, {"bookingId": str(session.booking_id)}), 403, join, "POST")
        assert data(client_for(tutor).post(token))["identity"] == str(tutor.pk)  # the tutor is not affected

        with django_capture_on_commit_callbacks(execute=True):
            body = data(client_for(tutor).post(url(session, student, "admit")))
        assert body["removed"] is False
        assert subscriber.receive()["data"] == {"participantId": str(student.pk), "updates": {"removed": False}}
        assert data(client_for(student).post(token))["identity"] == str(student.pk)
        kinds = SessionEvent.objects.filter(session=session, type__in=["remove", "admit"]).values_list(
            "type", flat=True
        )
        assert list(kinds) == ["remove", "admit"]

    def test_removing_the_tutor_400_and_only_the_tutor_may(self, client_for, session):
        tutor, student = session.booking.tutor, session.booking.student
        path = url(session, tutor, "remove")
        assert_error(client_for(tutor).post(path), 400, path, "POST")
        for action in ("remove", "admit"):
            path = url(session, student, action)
            assert_error(client_for(student).post(path), 403, path, "POST")
        assert not state(session, student).removed


def video_callback(client, settings, session, event, identity, participant_sid="PA" + "c3" * 16, sequence="5"):
    params = {
        "AccountSid": "AC" + "a1" * 16,
        "RoomName": session.room_name,
        "RoomSid": session.room_sid,
        "RoomStatus": "in-progress",
        "StatusCallbackEvent": event,
        "Timestamp": "2026-11-23T13:00:00.000Z",
        "SequenceNumber": sequence,
        "ParticipantSid": participant_sid,
        "ParticipantIdentity": identity,
    }
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.SITE_URL + "/api/webhooks/twilio/video", params
    )
    response = client.post(
        "/api/webhooks/twilio/video",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_join_that_raced_a_removal_is_refused_and_leaves_the_room(monkeypatch):
    """The join's check passed before the removal committed; the join's own presence step sees it: 403,
    and the connection, already subscribed, is unsubscribed again and records no presence."""
    session = ActiveSessionFactory()
    student, tutor = session.booking.student, session.booking.tutor
    real_check = services.realtime_join_check

    def check_then_removed(*, session_id, user):
        checked = real_check(session_id=session_id, user=user)
        services.participant_remove(session_id=session_id, user=tutor, participant_id=student.pk)
        return checked

    monkeypatch.setattr(services, "realtime_join_check", check_then_removed)
    calls = []

    async def subscribe(session_id):
        calls.append(("subscribe", session_id))

    async def unsubscribe(session_id):
        calls.append(("unsubscribe", session_id))

    async def close(status, message):
        calls.append(("close", status))

    client = events.Client(user=student, subscribe=subscribe, unsubscribe=unsubscribe, close=close)
    result = async_to_sync(events.dispatch)(client, "join", {"sessionId": str(session.pk)})
    assert result["statusCode"] == 403 and "removed" in result["message"]
    assert calls == [("subscribe", str(session.pk)), ("unsubscribe", str(session.pk))]
    assert client.sessions == set()
    assert not Presence.objects.filter(connection_id=client.connection_id).exists()
    assert not SessionEvent.objects.filter(session=session, data__connection=str(client.connection_id)).exists()


class TestTwilio:
    """The requests the official SDK sends for each action, as the stub received them."""

    @pytest.fixture
    def room(self, twilio, session):
        from live.video.twilio import TwilioVideoProvider

        room = TwilioVideoProvider().room_create(unique_name=session.room_name)
        session.room_sid = room.sid
        session.save()
        twilio.requests.clear()
        return room

    def test_mute_sets_the_tutors_subscribe_rules_unmute_restores(self, client_for, session, twilio, room):
        tutor, student = session.booking.tutor, session.booking.student
        twilio.connect(room.sid, str(tutor.pk))
        data(client_for(tutor).post(url(session, student, "mute"), {"audio": True}))
        [request] = twilio.requests
        assert (request.method, request.path) == (
            "POST",
            f"/v1/Rooms/{room.sid}/Participants/{tutor.pk}/SubscribeRules",
        )
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert {k: [json.loads(v) for v in vs] for k, vs in request.form.items()} == {
            "Rules": [[INCLUDE_ALL, {"type": "exclude", "publisher": str(student.pk), "kind": "audio"}]]
        }
        assert twilio.participant(room.sid, str(tutor.pk))["subscribe_rules"][1]["kind"] == "audio"
        services.participant_update(session_id=session.pk, user=student, updates={"isAudioEnabled": True})
        assert json.loads(twilio.requests[-1].form["Rules"][0]) == [INCLUDE_ALL]
        assert twilio.participant(room.sid, str(tutor.pk))["subscribe_rules"] == [INCLUDE_ALL]

    def test_a_tutor_not_connected_gets_the_rules_when_they_connect(
        self, client, client_for, settings, session, twilio, room
    ):
        tutor, student = session.booking.tutor, session.booking.student
        data(client_for(tutor).post(url(session, student, "mute"), {"video": True}))  # Twilio: 404, nothing to do
        assert state(session, student).video_muted
        twilio.connect(room.sid, str(tutor.pk))
        twilio.requests.clear()
        video_callback(client, settings, session, "participant-connected", str(tutor.pk))
        [request] = twilio.requests
        assert request.path == f"/v1/Rooms/{room.sid}/Participants/{tutor.pk}/SubscribeRules"
        assert json.loads(request.form["Rules"][0]) == [
            INCLUDE_ALL,
            {"type": "exclude", "publisher": str(student.pk), "kind": "video"},
        ]

    def test_remove_disconnects_the_participant_and_a_late_connection_is_dropped(
        self, client, client_for, settings, session, twilio, room
    ):
        tutor, student = session.booking.tutor, session.booking.student
        twilio.connect(room.sid, str(student.pk))
        data(client_for(tutor).post(url(session, student, "remove")))
        [request] = twilio.requests
        assert (request.method, request.path, request.form) == (
            "POST",
            f"/v1/Rooms/{room.sid}/Participants/{student.pk}",
            {"Status": ["disconnected"]},
        )
        assert twilio.participant(room.sid, str(student.pk)) is None
        # A token issued before the removal still connects at Twilio: the callback has them dropped.
        twilio.connect(room.sid, str(student.pk))
        twilio.requests.clear()
        video_callback(client, settings, session, "participant-connected", str(student.pk), sequence="8")
        assert [(r.method, r.path, r.form) for r in twilio.requests] == [
            ("POST", f"/v1/Rooms/{room.sid}/Participants/{student.pk}", {"Status": ["disconnected"]})
        ]

    def test_a_provider_failure_502_and_nothing_changed(self, client_for, session, twilio, room):
        tutor, student = session.booking.tutor, session.booking.student
        twilio.fail_next(500)
        path = url(session, student, "remove")
        assert_error(client_for(tutor).post(path), 502, path, "POST")
        assert not state(session, student).removed
        assert not SessionEvent.objects.filter(session=session, type="remove").exists()
