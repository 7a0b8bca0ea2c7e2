"""Two overlapping bookings of one tutor are impossible, under real concurrency on PostgreSQL."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from tutoring.models import Booking, BookingStatus
from tutoring.tests.factories import BookingFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import bearer, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_eight_concurrent_overlapping_requests_one_wins():
    tutor = TutorFactory()
    students = [StudentFactory() for _ in range(8)]
    start = (timezone.now() + timedelta(days=3)).replace(microsecond=0)

    def attempt(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(students[i]))
        # Every request overlaps every other: starts staggered by 5 minutes, each 60 minutes long.
        body = {
            "tutorId": str(tutor.pk),
            "startTime": (start + timedelta(minutes=5 * i)).isoformat(),
            "durationMinutes": 60,
        }
        response = client.post("/api/bookings", body, format="json")
        return response.status_code, response.json()

    results = run_concurrently(attempt, 8)
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * 7, results
    assert all(body["statusCode"] == 409 for code, body in results if code == 409)
    assert Booking.objects.filter(tutor=tutor).count() == 1


def test_the_database_itself_refuses_an_overlap():
    """Bypassing the service (no lock, no check): the exclusion constraint still says no."""
    first = BookingFactory()
    clash = {
        "tutor": first.tutor,
        "student": StudentFactory(),
        "start_time": first.start_time + timedelta(minutes=30),
        "end_time": first.end_time + timedelta(minutes=30),
        "duration_minutes": 60,
        "price": 1,
        "currency": "usd",
    }
    with pytest.raises(IntegrityError, match="booking_no_overlap"), transaction.atomic():
        Booking.objects.create(**clash)
    # A cancelled booking does not hold the slot.
    Booking.objects.filter(pk=first.pk).update(status=BookingStatus.CANCELLED)
    Booking.objects.create(**clash)
