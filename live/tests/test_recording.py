"""Recording (docs/classroom.md "Recording"): Twilio recording rules while the tutor records, a composition of
both parties when the class ends, its signed callback, and the file behind a short-lived signed link —
the sandbox making a real, playable file offline, and Twilio's exact requests through the SDK to the stub."""

import io
import json
import wave
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import TestCase
from django.utils import timezone
from twilio.request_validator import RequestValidator

from live.models import Recording, RecordingStatus, SessionEvent
from live.tests.factories import ActiveSessionFactory, SessionFactory
from live.video.sandbox import room_state
from tutoring.tests.factories import StudentFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

CALLBACK = "/api/webhooks/twilio/composition"
IDLE = {"status": "idle", "startedAt": None, "stoppedAt": None, "url": None, "durationSeconds": None}


def path(session, action=""):
    return f"/api/live/sessions/{session.pk}/recording" + (f"/{action}" if action else "")


def composition_callback(client, settings, params, *, token=None):
    token = settings.TWILIO_AUTH_TOKEN if token is None else token
    signature = RequestValidator(token).compute_signature(settings.SITE_URL + CALLBACK, params)
    return client.post(
        CALLBACK,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


@pytest.fixture
def session(db):
    return ActiveSessionFactory()


class TestSandbox:
    def test_record_end_and_play(
        self, client, client_for, session, staff, subscribe, django_capture_on_commit_callbacks
    ):
        tutor, student = client_for(session.booking.tutor), client_for(session.booking.student)
        assert data(student.get(path(session))) == IDLE
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            started = data(tutor.post(path(session, "start")))
        assert started["status"] == "recording" and started["startedAt"] and started["url"] is None
        assert room_state(session.room_sid)["recording"] is True
        assert subscriber.receive()["data"] == {"sessionId": str(session.pk), "recording": started}
        with django_capture_on_commit_callbacks(execute=True):
            stopped = data(tutor.post(path(session, "stop")))
        assert (stopped["status"], stopped["startedAt"]) == ("processing", started["startedAt"])
        assert stopped["stoppedAt"] is not None
        assert room_state(session.room_sid)["recording"] is False
        assert subscriber.receive()["data"]["recording"] == stopped

        # The class ends: the composition is asked for, made, and reported through the signed callback.
        with django_capture_on_commit_callbacks(execute=True):
            data(tutor.post(f"/api/live/sessions/{session.pk}/end"))
        recording = data(student.get(path(session)))
        assert recording["status"] == "ready" and recording["durationSeconds"] == 3
        assert recording["url"].startswith(f"/api/live/sessions/{session.pk}/recording/media?token=")
        updates = [subscriber.receive() for _ in range(3)]
        assert [u["event"] for u in updates] == ["recording_updated", "session_updated", "recording_updated"]
        assert updates[-1]["data"]["recording"]["status"] == "ready"
        assert data(client_for(staff).get(path(session)))["status"] == "ready"
        kinds = SessionEvent.objects.filter(session=session).values_list("type", flat=True)
        assert [k for k in kinds if k.startswith("recording")] == ["recording_start", "recording_stop"]

        # The link needs no bearer token (a media element has none); the file is a real WAV of 3 s.
        response = client.get(recording["url"])
        assert response.status_code == 200 and response["Content-Type"] == "audio/wav"
        assert response["Cache-Control"] == "private, no-store"
        with wave.open(io.BytesIO(b"".join(response.streaming_content))) as played:
            assert (played.getnchannels(), played.getframerate()) == (1, 8000)
            assert played.getnframes() == 3 * 8000

    def test_the_link_is_short_lived_and_names_one_recording(self, client, client_for, session, settings):
        self.ready(client_for, session)
        url = data(client_for(session.booking.student).get(path(session)))["url"]
        media = f"/api/live/sessions/{session.pk}/recording/media"
        assert_error(client.get(media, {"token": "forged"}), 403, media, "GET")
        assert_error(client.get(media), 403, media, "GET")
        other = ActiveSessionFactory()
        moved = url.replace(str(session.pk), str(other.pk))
        assert client.get(moved).status_code == 403
        with time_machine.travel(timezone.now() + timedelta(seconds=settings.RECORDING_LINK_TTL_SECONDS + 1)):
            assert client.get(url).status_code == 403
        assert client.get(url).status_code == 200

    def ready(self, client_for, session):
        tutor = client_for(session.booking.tutor)
        data(tutor.post(path(session, "start")))
        with TestCase.captureOnCommitCallbacks(execute=True):
            data(tutor.post(f"/api/live/sessions/{session.pk}/end"))
        assert Recording.objects.get(session=session).status == RecordingStatus.READY

    def test_who_and_when(self, client_for, session, staff):
        tutor, student = client_for(session.booking.tutor), client_for(session.booking.student)
        assert_error(student.post(path(session, "start")), 403, path(session, "start"), "POST")
        assert_error(client_for(staff).post(path(session, "start")), 403, path(session, "start"), "POST")
        assert_error(client_for(StudentFactory()).get(path(session)), 404, path(session), "GET")
        assert_error(tutor.post(path(session, "stop")), 409, path(session, "stop"), "POST")
        data(tutor.post(path(session, "start")))
        assert_error(tutor.post(path(session, "start")), 409, path(session, "start"), "POST")
        waiting = SessionFactory()
        waiting_tutor = client_for(waiting.booking.tutor)
        assert_error(waiting_tutor.post(path(waiting, "start")), 409, path(waiting, "start"), "POST")

    def test_a_class_never_recorded_asks_for_no_composition(
        self, client_for, session, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            data(client_for(session.booking.tutor).post(f"/api/live/sessions/{session.pk}/end"))
        assert data(client_for(session.booking.student).get(path(session))) == IDLE


class TestTwilio:
    @pytest.fixture
    def room(self, twilio, session):
        from live.video.twilio import TwilioVideoProvider

        room = TwilioVideoProvider().room_create(unique_name=session.room_name)
        session.room_sid = room.sid
        session.save()
        twilio.requests.clear()
        return room

    def test_recording_rules_then_a_composition_at_the_end(
        self, client, client_for, settings, session, twilio, room, django_capture_on_commit_callbacks
    ):
        tutor = client_for(session.booking.tutor)
        data(tutor.post(path(session, "start")))
        data(tutor.post(path(session, "stop")))
        data(tutor.post(path(session, "start")))
        rules = [(r.method, r.path, json.loads(r.form["Rules"][0])) for r in twilio.requests]
        assert rules == [
            ("POST", f"/v1/Rooms/{room.sid}/RecordingRules", [{"type": "include", "all": True}]),
            ("POST", f"/v1/Rooms/{room.sid}/RecordingRules", [{"type": "exclude", "all": True}]),
            ("POST", f"/v1/Rooms/{room.sid}/RecordingRules", [{"type": "include", "all": True}]),
        ]
        twilio.requests.clear()
        with django_capture_on_commit_callbacks(execute=True):
            data(tutor.post(f"/api/live/sessions/{session.pk}/end"))
        complete, compose = twilio.requests
        assert (complete.path, complete.form) == (f"/v1/Rooms/{room.sid}", {"Status": ["completed"]})
        assert (compose.method, compose.path) == ("POST", "/v1/Compositions")
        assert compose.form == {
            "RoomSid": [room.sid],
            "AudioSources": ["*"],
            "VideoLayout": [json.dumps({"grid": {"video_sources": ["*"]}})],
            "Format": ["mp4"],
            "StatusCallback": ["https://class.example.test/api/webhooks/twilio/composition"],
            "StatusCallbackMethod": ["POST"],
        }
        [sid] = twilio.compositions
        recording = Recording.objects.get(session=session)
        assert (recording.status, recording.composition_sid) == (RecordingStatus.PROCESSING, sid)

        params = {
            "AccountSid": "AC" + "a1" * 16,
            "CompositionSid": sid,
            "RoomSid": room.sid,
            "StatusCallbackEvent": "composition-available",
            "Duration": "1830",
            "MediaUri": f"/v1/Compositions/{sid}/Media",
        }
        # Forged: signed with another key, or not signed at all → 403, nothing changes.
        assert_error(composition_callback(client, settings, params, token="not-the-auth-token"), 403, CALLBACK, "POST")
        assert (
            client.post(CALLBACK, urlencode(params), content_type="application/x-www-form-urlencoded").status_code
            == 403
        )
        assert Recording.objects.get(session=session).status == RecordingStatus.PROCESSING
        assert composition_callback(client, settings, params).json() == {"data": {"received": True}}
        ready = data(client_for(session.booking.student).get(path(session)))
        assert (ready["status"], ready["durationSeconds"]) == ("ready", 1830)

        # The file: Twilio's short-lived link, fetched with our credentials only when the link is opened.
        twilio.requests.clear()
        response = client.get(ready["url"])
        assert response.status_code == 302
        assert response["Location"] == f"https://media.example.test/{sid}.mp4?signature=s3cr3t"
        [media] = twilio.requests
        assert (media.method, media.path) == ("GET", f"/v1/Compositions/{sid}/Media")

    def test_a_failed_composition(
        self, client, client_for, settings, session, twilio, room, django_capture_on_commit_callbacks
    ):
        data(client_for(session.booking.tutor).post(path(session, "start")))
        with django_capture_on_commit_callbacks(execute=True):
            data(client_for(session.booking.tutor).post(f"/api/live/sessions/{session.pk}/end"))
        [sid] = twilio.compositions
        params = {"AccountSid": "AC" + "a1" * 16, "CompositionSid": sid, "StatusCallbackEvent": "composition-failed"}
        assert composition_callback(client, settings, params).status_code == 200
        assert data(client_for(session.booking.student).get(path(session)))["status"] == "failed"

    def test_twilio_failing_to_compose_leaves_the_class_ended_and_the_recording_failed(
        self, client_for, session, twilio, room, django_capture_on_commit_callbacks
    ):
        data(client_for(session.booking.tutor).post(path(session, "start")))
        twilio.requests.clear()
        twilio.fail_next(200, json.dumps({"sid": room.sid, "status": "completed"}))  # the room completes
        twilio.fail_next(500)  # the composition fails
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                data(client_for(session.booking.tutor).post(f"/api/live/sessions/{session.pk}/end"))["status"]
                == "completed"
            )
        assert Recording.objects.get(session=session).status == RecordingStatus.FAILED
