"""Both parties at the same moment, under real concurrency on PostgreSQL (row locks)."""

import pytest
from rest_framework.test import APIClient

from live.models import Participant, Session
from live.tests.factories import ActiveSessionFactory, PaidBookingFactory
from payments.ledger import tutor_share
from payments.selectors import tutor_earnings
from payments.tests.factories import after_the_hold
from tutoring.models import BookingStatus
from tutoring.tests.factories import StaffFactory
from tutoring.tests.test_concurrency import run_concurrently
from tutoring.tests.utils import bearer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post(user, path, body=None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    response = client.post(path, body or {}, format="json")
    return response.status_code, response.json()


def join_at_once(booking, n=8):
    parties = [booking.tutor, booking.student]
    return run_concurrently(lambda i: post(parties[i % 2], "/api/live/sessions", {"bookingId": str(booking.pk)}), n)


def test_both_parties_creating_at_once_get_one_session():
    booking = PaidBookingFactory()
    results = join_at_once(booking)
    assert sorted(code for code, _ in results) == [200] * 7 + [201], results
    assert len({body["data"]["session"]["id"] for _, body in results}) == 1
    assert Session.objects.count() == 1 and Participant.objects.count() == 2


def test_with_twilio_one_room_and_one_session(twilio):
    booking = PaidBookingFactory()
    results = join_at_once(booking)
    assert sorted(code for code, _ in results) == [200] * 7 + [201], results
    [room] = twilio.rooms.values()
    assert Session.objects.get().room_sid == room["sid"]


def test_ending_at_once_ends_once():
    session = ActiveSessionFactory()
    enders = [session.booking.tutor, StaffFactory()] * 3
    results = run_concurrently(lambda i: post(enders[i], f"/api/live/sessions/{session.pk}/end"), len(enders))
    assert sorted(code for code, _ in results) == [200] + [409] * 5, results
    session.booking.refresh_from_db()
    assert session.booking.status == BookingStatus.COMPLETED
    assert after_the_hold(tutor_id=session.booking.tutor_id) == 1
    earnings = tutor_earnings(tutor_id=session.booking.tutor_id)
    assert (earnings.pending_earnings, earnings.total_earnings) == (0, tutor_share(session.booking.price))
