"""Sessions over HTTP: create/join, get, token, start, end — shapes, rules and who may."""

import time
import uuid
from datetime import datetime

import jwt
import pytest
import yaml

from live import services
from live.models import Participant, Session, SessionStatus
from live.tests.conftest import API_KEY_SECRET
from live.tests.factories import ActiveSessionFactory, SessionFactory, store_one
from live.tests.shapes import SESSION_KEYS
from live.video.sandbox import sandbox_credentials
from payments.ledger import tutor_share
from payments.selectors import tutor_earnings
from payments.tests.factories import after_the_hold
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

SESSIONS = "/api/live/sessions"


def url(session, action: str = "") -> str:
    return f"{SESSIONS}/{session.pk}" + (f"/{action}" if action else "")


def create(client, booking):
    return client.post(SESSIONS, {"bookingId": str(booking.pk)}, format="json")


def sandbox_claims(token: str) -> dict:
    return jwt.decode(token, sandbox_credentials()[2], algorithms=["HS256"])


def ms(value: datetime) -> datetime:
    """`value` as the API shows it: to the millisecond."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class TestCreate:
    def test_student_first_201_with_only_their_token(self, client_for, booking):
        body = data(create(client_for(booking.student), booking), 201)
        assert set(body) == {"session", "tutorToken", "studentToken"}
        session = body["session"]
        assert set(session) == SESSION_KEYS
        assert session["bookingId"] == str(booking.pk)
        assert session["roomName"] == f"booking-{booking.pk}"
        assert session["status"] == "created"
        assert (session["tutorId"], session["studentId"]) == (str(booking.tutor_id), str(booking.student_id))
        assert datetime.fromisoformat(session["scheduledStartTime"]) == ms(booking.start_time)
        assert datetime.fromisoformat(session["scheduledEndTime"]) == ms(booking.end_time)
        assert session["scheduledStartTime"].endswith("+00:00")
        assert session["actualStartTime"] is None and session["actualEndTime"] is None
        assert body["tutorToken"] is None
        claims = sandbox_claims(body["studentToken"])
        assert claims["grants"] == {"identity": str(booking.student_id), "video": {"room": session["roomName"]}}

        row = Session.objects.get(pk=session["id"])
        assert row.room_sid.startswith("RM") and len(row.room_sid) == 34
        assert sorted(Participant.objects.filter(session=row).values_list("role", "user_id")) == sorted(
            [("tutor", booking.tutor_id), ("student", booking.student_id)]
        )

    def test_the_other_party_joins_the_same_session_200(self, client_for, booking):
        first = data(create(client_for(booking.student), booking), 201)
        second = data(create(client_for(booking.tutor), booking), 200)
        assert second["session"] == first["session"]
        assert second["studentToken"] is None
        assert sandbox_claims(second["tutorToken"])["grants"]["identity"] == str(booking.tutor_id)
        again = data(create(client_for(booking.student), booking), 200)
        assert again["session"]["id"] == first["session"]["id"] and again["tutorToken"] is None
        assert Session.objects.count() == 1 and Participant.objects.count() == 2

    def test_an_existing_session_is_returned_whatever_the_booking_became(self, client_for):
        session = SessionFactory(booking__status=BookingStatus.COMPLETED)
        body = data(create(client_for(session.booking.tutor), session.booking), 200)
        assert body["session"]["id"] == str(session.pk)

    @pytest.mark.parametrize(
        "status", [BookingStatus.PENDING_PAYMENT, BookingStatus.CANCELLED, BookingStatus.REFUNDED, "completed"]
    )
    def test_only_a_paid_booking_409(self, client_for, status):
        booking = BookingFactory(status=status)
        assert_error(create(client_for(booking.student), booking), 409, SESSIONS, "POST")
        assert not Session.objects.exists()

    def test_unknown_booking_404(self, client_for, student):
        response = client_for(student).post(SESSIONS, {"bookingId": "00000000-0000-4000-8000-000000000000"})
        assert_error(response, 404, SESSIONS, "POST")

    @pytest.mark.parametrize("stranger", [StudentFactory, TutorFactory])
    def test_a_stranger_gets_404(self, client_for, booking, stranger):
        assert_error(create(client_for(stranger()), booking), 404, SESSIONS, "POST")
        assert not Session.objects.exists()

    def test_staff_is_not_a_party_403(self, client_for, booking, staff):
        assert_error(create(client_for(staff), booking), 403, SESSIONS, "POST")

    @pytest.mark.parametrize("body", [{}, {"bookingId": "nope"}, {"bookingId": None}])
    def test_bad_input_400(self, client_for, student, body):
        error = assert_error(client_for(student).post(SESSIONS, body, format="json"), 400, SESSIONS, "POST")
        assert "bookingId" in error["errors"]

    def test_anonymous_401(self, api, booking):
        assert_error(create(api, booking), 401, SESSIONS, "POST")


class TestCreateWithTwilio:
    def test_room_created_at_twilio_then_the_row(self, client_for, booking, twilio):
        body = data(create(client_for(booking.tutor), booking), 201)
        [request] = twilio.requests
        assert request.form["UniqueName"] == [f"booking-{booking.pk}"]
        [room] = twilio.rooms.values()
        assert Session.objects.get(pk=body["session"]["id"]).room_sid == room["sid"]
        claims = jwt.decode(body["tutorToken"], API_KEY_SECRET, algorithms=["HS256"])
        assert claims["grants"] == {"identity": str(booking.tutor_id), "video": {"room": f"booking-{booking.pk}"}}

    def test_a_retry_after_a_lost_response_uses_the_same_room(self, client_for, booking, twilio):
        twilio.handle("POST", "/v1/Rooms", {"UniqueName": [f"booking-{booking.pk}"]})  # created, answer lost
        [room] = twilio.rooms.values()
        data(create(client_for(booking.student), booking), 201)
        assert Session.objects.get().room_sid == room["sid"]

    @pytest.mark.parametrize("failure", ["500", "down"])
    def test_provider_failure_502_and_nothing_written(self, client_for, booking, twilio, settings, failure):
        if failure == "down":
            settings.TWILIO_VIDEO_BASE_URL = "http://127.0.0.1:9"
        else:
            twilio.fail_next(500)
        body = assert_error(create(client_for(booking.student), booking), 502, SESSIONS, "POST")
        assert "Traceback" not in body["message"] and API_KEY_SECRET not in str(body)
        assert not Session.objects.exists() and not Participant.objects.exists()


class TestGet:
    def test_parties_and_staff_see_it(self, client_for, session, staff):
        for user in (session.booking.tutor, session.booking.student, staff):
            body = data(client_for(user).get(url(session)))
            assert set(body) == SESSION_KEYS
            assert body["id"] == str(session.pk) and body["roomName"] == session.room_name

    def test_a_stranger_gets_404(self, client_for, session):
        for stranger in (StudentFactory(), TutorFactory()):
            assert_error(client_for(stranger).get(url(session)), 404, url(session), "GET")

    def test_unknown_404(self, client_for, student):
        path = f"{SESSIONS}/00000000-0000-4000-8000-000000000000"
        assert_error(client_for(student).get(path), 404, path, "GET")
        assert_error(client_for(student).get(f"{SESSIONS}/not-a-uuid"), 404, f"{SESSIONS}/not-a-uuid", "GET")


class TestToken:
    def test_each_party_gets_their_own(self, client_for, session, settings):
        settings.TWILIO_TOKEN_TTL_SECONDS = 1200
        for user in (session.booking.tutor, session.booking.student):
            before = int(time.time())
            body = data(client_for(user).post(url(session, "token")))
            assert set(body) == {"token", "identity", "roomName", "expiresAt"}
            assert body["identity"] == str(user.pk) and body["roomName"] == session.room_name
            claims = sandbox_claims(body["token"])
            assert claims["grants"] == {"identity": str(user.pk), "video": {"room": session.room_name}}
            assert datetime.fromisoformat(body["expiresAt"]).timestamp() == claims["exp"]
            assert before + 1200 <= claims["exp"] <= int(time.time()) + 1200
            assert body["expiresAt"].endswith("+00:00")

    def test_staff_403_stranger_404(self, client_for, session, staff):
        assert_error(client_for(staff).post(url(session, "token")), 403, url(session, "token"), "POST")
        assert_error(client_for(StudentFactory()).post(url(session, "token")), 404, url(session, "token"), "POST")


class TestStart:
    def test_tutor_starts(self, client_for, session, subscribe, django_capture_on_commit_callbacks):
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            body = data(client_for(session.booking.tutor).post(url(session, "start")))
        assert set(body) == {"id", "status", "actualStartTime"}
        assert body["id"] == str(session.pk) and body["status"] == "active"
        session.refresh_from_db()
        assert session.status == SessionStatus.ACTIVE
        assert datetime.fromisoformat(body["actualStartTime"]) == ms(session.actual_start_time)
        assert subscriber.receive() == {
            "type": "live.event",
            "event": "session_updated",
            "data": {
                "id": str(session.pk),
                "status": "active",
                "actualStartTime": body["actualStartTime"],
                "actualEndTime": None,
            },
        }

    def test_only_from_created_409(self, client_for, session):
        tutor = client_for(session.booking.tutor)
        data(tutor.post(url(session, "start")))
        assert_error(tutor.post(url(session, "start")), 409, url(session, "start"), "POST")
        data(tutor.post(url(session, "end")))
        assert_error(tutor.post(url(session, "start")), 409, url(session, "start"), "POST")

    def test_student_and_staff_403_stranger_404(self, client_for, session, staff):
        path = url(session, "start")
        assert_error(client_for(session.booking.student).post(path), 403, path, "POST")
        assert_error(client_for(staff).post(path), 403, path, "POST")
        assert_error(client_for(StudentFactory()).post(path), 404, path, "POST")
        assert_error(client_for(TutorFactory()).post(path), 404, path, "POST")
        session.refresh_from_db()
        assert session.status == SessionStatus.CREATED and session.actual_start_time is None

    def test_a_room_that_timed_out_is_replaced_at_start(self, client_for, booking, twilio):
        created = data(create(client_for(booking.student), booking), 201)["session"]
        old_sid = Session.objects.get().room_sid
        twilio.end_room(old_sid)  # nobody joined for an hour
        data(client_for(booking.tutor).post(f"{SESSIONS}/{created['id']}/start"))
        new_sid = Session.objects.get().room_sid
        assert new_sid != old_sid and twilio.rooms[new_sid]["status"] == "in-progress"

    def test_provider_failure_at_start_502_and_still_created(self, client_for, booking, twilio):
        data(create(client_for(booking.student), booking), 201)
        session = Session.objects.get()
        twilio.fail_next(500)
        assert_error(client_for(booking.tutor).post(url(session, "start")), 502, url(session, "start"), "POST")
        session.refresh_from_db()
        assert session.status == SessionStatus.CREATED and session.actual_start_time is None


class TestEnd:
    def test_tutor_ends_booking_completed_earnings_released_after_the_hold(
        self, client_for, subscribe, django_capture_on_commit_callbacks
    ):
        session = ActiveSessionFactory()
        booking = session.booking
        share = tutor_share(booking.price)
        before = tutor_earnings(tutor_id=booking.tutor_id)
        assert (before.pending_earnings, before.total_earnings) == (share, 0)
        subscriber = subscribe(session.pk)
        with django_capture_on_commit_callbacks(execute=True):
            body = data(client_for(booking.tutor).post(url(session, "end")))
        assert set(body) == {"id", "status", "actualEndTime"}
        assert body["id"] == str(session.pk) and body["status"] == "completed"
        session.refresh_from_db()
        booking.refresh_from_db()
        assert session.status == SessionStatus.COMPLETED
        assert datetime.fromisoformat(body["actualEndTime"]) == ms(session.actual_end_time)
        assert booking.status == BookingStatus.COMPLETED and booking.completed_at == session.actual_end_time
        held = tutor_earnings(tutor_id=booking.tutor_id)
        assert (held.pending_earnings, held.total_earnings) == (share, 0)
        assert after_the_hold(tutor_id=booking.tutor_id) == 1
        after = tutor_earnings(tutor_id=booking.tutor_id)
        assert (after.pending_earnings, after.total_earnings) == (0, share)
        event = subscriber.receive()
        assert event["event"] == "session_updated"
        assert event["data"] == {
            "id": str(session.pk),
            "status": "completed",
            "actualStartTime": event["data"]["actualStartTime"],
            "actualEndTime": body["actualEndTime"],
        }
        assert datetime.fromisoformat(event["data"]["actualStartTime"]) == ms(session.actual_start_time)

    def test_staff_may_end(self, client_for, staff):
        session = ActiveSessionFactory()
        assert data(client_for(staff).post(url(session, "end")))["status"] == "completed"
        session.booking.refresh_from_db()
        assert session.booking.status == BookingStatus.COMPLETED

    def test_only_from_active_409(self, client_for, session):
        tutor = client_for(session.booking.tutor)
        assert_error(tutor.post(url(session, "end")), 409, url(session, "end"), "POST")
        data(tutor.post(url(session, "start")))
        student = session.booking.student
        services.presence_enter(
            connection_id=uuid.uuid4(), process_id=uuid.uuid4(), session_id=session.pk, user=student
        )
        data(tutor.post(url(session, "end")))
        assert_error(tutor.post(url(session, "end")), 409, url(session, "end"), "POST")
        after_the_hold(tutor_id=session.booking.tutor_id)
        assert tutor_earnings(tutor_id=session.booking.tutor_id).total_earnings == tutor_share(session.booking.price)

    def test_student_403_stranger_404(self, client_for):
        session = ActiveSessionFactory()
        path = url(session, "end")
        assert_error(client_for(session.booking.student).post(path), 403, path, "POST")
        assert_error(client_for(StudentFactory()).post(path), 404, path, "POST")
        assert_error(client_for(TutorFactory()).post(path), 404, path, "POST")
        session.refresh_from_db()
        assert session.status == SessionStatus.ACTIVE

    def test_a_refunded_booking_stays_refunded(self, client_for):
        session = ActiveSessionFactory(booking__status=BookingStatus.REFUNDED)
        assert data(client_for(session.booking.tutor).post(url(session, "end")))["status"] == "completed"
        session.booking.refresh_from_db()
        assert session.booking.status == BookingStatus.REFUNDED
        assert tutor_earnings(tutor_id=session.booking.tutor_id).total_earnings == 0

    def test_the_room_is_completed_at_twilio(self, client_for, booking, twilio):
        data(create(client_for(booking.student), booking), 201)
        session = Session.objects.get()
        tutor = client_for(booking.tutor)
        data(tutor.post(url(session, "start")))
        twilio.requests.clear()
        data(tutor.post(url(session, "end")))
        assert [(r.method, r.path, r.form) for r in twilio.requests] == [
            ("POST", f"/v1/Rooms/{session.room_sid}", {"Status": ["completed"]})
        ]
        assert twilio.rooms[session.room_sid]["status"] == "completed"

    @pytest.mark.parametrize("failure", ["500", "down"])
    def test_provider_failure_502_nothing_changes(self, client_for, twilio, settings, failure):
        session = ActiveSessionFactory()
        if failure == "down":
            settings.TWILIO_VIDEO_BASE_URL = "http://127.0.0.1:9"
        else:
            twilio.fail_next(500)
            twilio.fail_next(500)
        assert_error(client_for(session.booking.tutor).post(url(session, "end")), 502, url(session, "end"), "POST")
        session.refresh_from_db()
        session.booking.refresh_from_db()
        assert session.status == SessionStatus.ACTIVE and session.actual_end_time is None
        assert session.booking.status == BookingStatus.PAID
        earnings = tutor_earnings(tutor_id=session.booking.tutor_id)
        assert (earnings.pending_earnings, earnings.total_earnings) == (tutor_share(session.booking.price), 0)


def test_whole_life_cycle(client_for, booking, subscribe, django_capture_on_commit_callbacks):
    """Student opens the class, tutor joins, starts, both chat, tutor ends; the room hears every step."""
    student, tutor = client_for(booking.student), client_for(booking.tutor)
    session_id = data(create(student, booking), 201)["session"]["id"]
    subscriber = subscribe(session_id)
    assert data(create(tutor, booking), 200)["session"]["id"] == session_id
    path = f"{SESSIONS}/{session_id}"
    # The student is in the room (a realtime connection; its presence events are not published here).
    services.presence_enter(
        connection_id=uuid.uuid4(), process_id=uuid.uuid4(), session_id=session_id, user=booking.student
    )
    with django_capture_on_commit_callbacks(execute=True):
        started = data(tutor.post(f"{path}/start"))
    with django_capture_on_commit_callbacks(execute=True):
        store_one(session_id=session_id, sender=booking.student, content="  hello  ")
    with django_capture_on_commit_callbacks(execute=True):
        ended = data(tutor.post(f"{path}/end"))
    events = [subscriber.receive() for _ in range(3)]
    assert [e["event"] for e in events] == ["session_updated", "message", "session_updated"]
    assert (
        events[0]["data"]["status"] == "active" and events[0]["data"]["actualStartTime"] == started["actualStartTime"]
    )
    assert events[1]["data"]["content"] == "hello"
    assert events[2]["data"]["actualEndTime"] == ended["actualEndTime"]
    final = data(student.get(path))
    assert final["status"] == "completed"
    assert (final["actualStartTime"], final["actualEndTime"]) == (started["actualStartTime"], ended["actualEndTime"])
    messages = data(student.get(f"{path}/messages"))["messages"]
    assert [m["content"] for m in messages] == ["hello"]
    booking.refresh_from_db()
    assert booking.status == BookingStatus.COMPLETED
    assert tutor_earnings(tutor_id=booking.tutor_id).pending_earnings == tutor_share(booking.price)
    after_the_hold(tutor_id=booking.tutor_id)
    assert tutor_earnings(tutor_id=booking.tutor_id).total_earnings == tutor_share(booking.price)


def test_schema_documents_the_live_endpoints(api):
    paths = yaml.safe_load(api.get("/api/schema/").content)["paths"]
    for path, method in [
        ("/api/live/sessions", "post"),
        ("/api/live/sessions/{session_id}", "get"),
        ("/api/live/sessions/{session_id}/token", "post"),
        ("/api/live/sessions/{session_id}/start", "post"),
        ("/api/live/sessions/{session_id}/end", "post"),
        ("/api/live/sessions/{session_id}/participants", "get"),
        ("/api/live/sessions/{session_id}/messages", "get"),
    ]:
        assert method in paths[path], path
    created = paths["/api/live/sessions"]["post"]["responses"]
    assert {"200", "201"} <= set(created)
    assert created["201"]["content"]["application/json"]["schema"]["properties"]["data"]
