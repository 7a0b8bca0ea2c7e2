"""Staff admin of classrooms (docs/api.md "Staff"): read-only sessions with participants and chat; ending a class."""

import pytest
from django.contrib.messages import get_messages

from live import services
from live.models import Message, SessionStatus
from live.tests.factories import ActiveSessionFactory, SessionFactory
from payments.ledger import tutor_share
from payments.models import Refund
from payments.selectors import tutor_earnings
from tutoring.models import BookingStatus

pytestmark = pytest.mark.django_db

LIST = "/admin/live/session/"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_list_filter_and_search(admin_client):
    created, running = SessionFactory(), ActiveSessionFactory()
    page = admin_client.get(LIST).content.decode()
    assert created.room_name in page and running.room_name in page
    page = admin_client.get(LIST, {"status__exact": "active"}).content.decode()
    assert running.room_name in page and created.room_name not in page
    page = admin_client.get(LIST, {"q": created.booking.student.email}).content.decode()
    assert created.room_name in page and running.room_name not in page


def test_detail_shows_participants_and_chat_read_only(admin_client):
    session = SessionFactory()
    Message.objects.create(session=session, sender=session.booking.student, content="Is the homework due Monday?")
    response = admin_client.get(f"{LIST}{session.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Is the homework due Monday?" in page
    assert session.booking.tutor.email in page and session.booking.student.email in page
    assert session.room_sid in page
    for field in ("status", "room_sid", "room_name", "booking", "actual_end_time"):
        assert f'name="{field}"' not in page
    assert 'name="messages-0-content"' not in page and 'name="participants-0-is_connected"' not in page
    assert admin_client.get(f"{LIST}add/").status_code == 403
    assert admin_client.get(f"{LIST}{session.pk}/delete/").status_code == 403


def test_end_selected_sessions(admin_client):
    running, waiting = ActiveSessionFactory(), SessionFactory()
    response = admin_client.post(
        LIST, {"action": "end_sessions", "_selected_action": [str(running.pk), str(waiting.pk)]}, follow=True
    )
    assert response.status_code == 200
    notes = [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]
    assert ("error", f"{waiting.room_name}: Only an active class can be ended (this one is created).") in notes
    assert ("success", "Ended 1 session(s).") in notes
    running.refresh_from_db()
    waiting.refresh_from_db()
    running.booking.refresh_from_db()
    assert running.status == SessionStatus.COMPLETED and waiting.status == SessionStatus.CREATED
    assert running.booking.status == BookingStatus.COMPLETED
    assert tutor_earnings(tutor_id=running.booking.tutor_id).pending_earnings == tutor_share(running.booking.price)


def test_provider_failure_is_reported(admin_client, twilio):
    session = ActiveSessionFactory()
    twilio.fail_next(500)
    twilio.fail_next(500)
    response = admin_client.post(LIST, {"action": "end_sessions", "_selected_action": [str(session.pk)]}, follow=True)
    [(level, text)] = [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]
    assert level == "error" and text.startswith(f"{session.room_name}: A payment or video provider failed")
    session.refresh_from_db()
    assert session.status == SessionStatus.ACTIVE


def test_chat_list_read_only(admin_client):
    session = SessionFactory()
    message = Message.objects.create(session=session, sender=session.booking.tutor, content="See you next week")
    assert "See you next week" in admin_client.get("/admin/live/message/").content.decode()
    page = admin_client.get(f"/admin/live/message/{message.pk}/change/").content.decode()
    assert "See you next week" in page and 'name="content"' not in page


def test_not_for_non_staff(client, student):
    client.force_login(student)
    response = client.get(LIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_detail_shows_the_record_and_attendance(admin_client):
    session = ActiveSessionFactory()  # the student joined at the start
    services.participant_update(session_id=session.pk, user=session.booking.student, updates={"handRaised": True})
    page = admin_client.get(f"{LIST}{session.pk}/change/").content.decode()
    assert "record (events, oldest first)" in page.lower()
    assert "hand_raise" in page and "join" in page
    assert "1 hand raises" in page
    assert "student: 0 s present, first joined" in page
    assert 'name="events-0-type"' not in page


def test_the_refund_queue_shows_attendance_beside_each_request(admin_client, django_assert_max_num_queries):
    attended, skipped = ActiveSessionFactory(), ActiveSessionFactory(student_present=False)
    for session in (attended, skipped):
        services.session_end(session_id=session.pk, user=session.booking.tutor)
    # The attended class earns; a student asks for a refund anyway.
    attended.booking.refresh_from_db()
    Refund.objects.create(
        booking=attended.booking,
        payment=attended.booking.payment,
        amount=100,
        currency=attended.booking.currency,
        reason="too fast",
        requested_by=attended.booking.student,
    )
    with django_assert_max_num_queries(12):
        response = admin_client.get("/admin/payments/refund/?status__exact=pending")
    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    assert "student never present, tutor" in page  # the missed class's request, opened by the rules
    assert "student 0 s, tutor" in page
