"""Attendance decides what a held class is (docs/classroom.md "Attendance"): a class ended without the
student ever present makes the booking `missed` — a refund request for staff, no earnings for the tutor."""

import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import time_machine
from django.utils import timezone
from twilio.request_validator import RequestValidator

from live import services
from live.tests.factories import ActiveSessionFactory, SessionFactory
from payments.ledger import tutor_share
from payments.models import Refund, RefundOrigin, RefundStatus
from payments.selectors import tutor_earnings
from payments.tests.factories import after_the_hold
from tutoring.models import BookingStatus
from tutoring.tests.utils import data

pytestmark = pytest.mark.django_db


def end(client_for, session):
    return data(client_for(session.booking.tutor).post(f"/api/live/sessions/{session.pk}/end"))


def test_ended_without_the_student_the_booking_is_missed(client_for):
    session = ActiveSessionFactory(student_present=False)
    booking = session.booking
    assert end(client_for, session)["status"] == "completed"  # the session is over all the same
    booking.refresh_from_db()
    assert booking.status == BookingStatus.MISSED and booking.completed_at is None
    [refund] = Refund.objects.filter(booking=booking)
    assert (refund.status, refund.origin, refund.reason, refund.amount) == (
        RefundStatus.PENDING,
        RefundOrigin.MISSED,
        "class not held",
        booking.price,
    )
    # The tutor's share never becomes theirs: it waits for the staff's decision on the refund.
    assert after_the_hold(tutor_id=booking.tutor_id) == 0
    assert tutor_earnings(tutor_id=booking.tutor_id).total_earnings == 0
    stats = data(client_for(booking.student).get(f"/api/live/sessions/{session.pk}/stats"))
    assert stats["attendance"]["student"] == {"firstJoinedAt": None, "lastLeftAt": None, "presentSeconds": 0}


def test_present_only_before_the_start_is_not_present(client_for):
    session = SessionFactory()
    student, connection = session.booking.student, uuid.uuid4()
    services.presence_enter(connection_id=connection, process_id=uuid.uuid4(), session_id=session.pk, user=student)
    services.presence_exit(connection_id=connection, session_id=session.pk, user=student)
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=False):
        data(client_for(session.booking.tutor).post(f"/api/live/sessions/{session.pk}/start"))
        end(client_for, session)
    session.booking.refresh_from_db()
    assert session.booking.status == BookingStatus.MISSED


def test_present_for_a_moment_is_a_held_class(client_for):
    session = ActiveSessionFactory()  # the student is in the room
    end(client_for, session)
    session.booking.refresh_from_db()
    assert session.booking.status == BookingStatus.COMPLETED
    assert not Refund.objects.filter(booking=session.booking).exists()
    assert after_the_hold(tutor_id=session.booking.tutor_id) == 1
    assert tutor_earnings(tutor_id=session.booking.tutor_id).total_earnings == tutor_share(session.booking.price)


def test_present_on_video_only_counts(client, client_for, settings):
    session = ActiveSessionFactory(student_present=False, actual_start_time=timezone.now() - timedelta(minutes=5))
    params = {
        "AccountSid": "AC" + "a1" * 16,
        "RoomSid": session.room_sid,
        "RoomName": session.room_name,
        "StatusCallbackEvent": "participant-connected",
        "Timestamp": (timezone.now() - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SequenceNumber": "2",
        "ParticipantSid": "PA" + "e5" * 16,
        "ParticipantIdentity": str(session.booking.student_id),
    }
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.SITE_URL + "/api/webhooks/twilio/video", params
    )
    client.post(
        "/api/webhooks/twilio/video",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    end(client_for, session)
    session.booking.refresh_from_db()
    assert session.booking.status == BookingStatus.COMPLETED


def test_the_room_ending_at_twilio_decides_the_same(client, settings):
    session = ActiveSessionFactory(student_present=False)
    params = {
        "AccountSid": "AC" + "a1" * 16,
        "RoomSid": session.room_sid,
        "RoomName": session.room_name,
        "StatusCallbackEvent": "room-ended",
        "SequenceNumber": "9",
    }
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.SITE_URL + "/api/webhooks/twilio/video", params
    )
    client.post(
        "/api/webhooks/twilio/video",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )
    session.booking.refresh_from_db()
    assert session.booking.status == BookingStatus.MISSED
    assert Refund.objects.filter(booking=session.booking, origin=RefundOrigin.MISSED).count() == 1
