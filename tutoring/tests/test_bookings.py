from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from tutoring.models import Booking, BookingStatus, TutorProfile
from tutoring.services import booking_price
from tutoring.tests.factories import BookingFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

BOOKINGS = "/api/bookings"


def future(hours: float = 48) -> datetime:
    return (timezone.now() + timedelta(hours=hours)).replace(microsecond=0)


def book(client, tutor, start=None, minutes=60, **extra):
    body = {"tutorId": str(tutor.pk), "startTime": (start or future()).isoformat(), "durationMinutes": minutes}
    body.update(extra)
    return client.post(BOOKINGS, body, format="json")


@pytest.mark.parametrize(
    "rate,minutes,price",
    [
        (6000, 60, 6000),
        (3333, 45, 2500),
        (1001, 15, 250),
        (1002, 15, 251),
        (999, 30, 500),
        (4999, 90, 7499),
        (7, 15, 2),
    ],
)
def test_price_rule_round_half_up(rate, minutes, price):
    # 1002 × 15 / 60 = 250.5 → 251 and 999 × 30 / 60 = 499.5 → 500: halves round up, never to even.
    assert booking_price(hourly_rate=rate, duration_minutes=minutes) == price


class TestCreate:
    def test_created_with_price_and_shape(self, client_for, student):
        tutor = TutorFactory(profile__hourly_rate=4999, profile__currency="eur")
        start = future()
        booking = data(book(client_for(student), tutor, start, 90, subject="Algebra"), 201)
        assert set(booking) == {
            "id",
            "tutorId",
            "studentId",
            "subject",
            "startTime",
            "endTime",
            "durationMinutes",
            "price",
            "currency",
            "status",
            "createdAt",
        }
        assert booking["tutorId"] == str(tutor.pk)
        assert booking["studentId"] == str(student.pk)
        assert booking["subject"] == "Algebra"
        assert booking["price"] == 7499
        assert booking["currency"] == "eur"
        assert booking["status"] == "pending_payment"
        assert datetime.fromisoformat(booking["startTime"]) == start
        assert datetime.fromisoformat(booking["endTime"]) == start + timedelta(minutes=90)
        assert booking["startTime"].endswith("+00:00")
        assert Booking.objects.get(pk=booking["id"]).price == 7499

    @pytest.mark.parametrize("minutes", [0, 10, 14, 20, 245, 255, 300, -15])
    def test_duration_rules(self, client_for, student, tutor, minutes):
        body = assert_error(book(client_for(student), tutor, minutes=minutes), 400, BOOKINGS, "POST")
        assert "durationMinutes" in body["errors"]
        assert not Booking.objects.exists()

    def test_start_in_the_past_is_400(self, client_for, student, tutor):
        body = assert_error(book(client_for(student), tutor, start=future(-1)), 400)
        assert "startTime" in body["errors"]

    def test_tutor_without_rate_is_400(self, client_for, student, tutor):
        TutorProfile.objects.filter(user=tutor).update(hourly_rate=None)
        body = assert_error(book(client_for(student), tutor), 400)
        assert "tutorId" in body["errors"]

    def test_unknown_tutor_or_not_a_tutor_is_400(self, client_for, student):
        other_student = StudentFactory()
        assert "tutorId" in assert_error(book(client_for(student), other_student), 400)["errors"]
        body = {"tutorId": "nope", "startTime": future().isoformat(), "durationMinutes": 60}
        assert "tutorId" in assert_error(client_for(student).post(BOOKINGS, body), 400)["errors"]

    def test_only_students_book(self, client_for, tutor, staff):
        other = TutorFactory()
        assert_error(book(client_for(tutor), other), 403, BOOKINGS, "POST")
        assert_error(book(client_for(staff), other), 403)
        assert not Booking.objects.exists()

    def test_overlap_is_409_and_touching_is_fine(self, client_for, tutor):
        a, b = client_for(StudentFactory()), client_for(StudentFactory())
        start = future()
        data(book(a, tutor, start, 60), 201)
        assert_error(book(b, tutor, start + timedelta(minutes=45), 60), 409, BOOKINGS, "POST")
        assert_error(book(b, tutor, start - timedelta(minutes=30), 60), 409)
        assert_error(book(b, tutor, start - timedelta(minutes=30), 120), 409)
        data(book(b, tutor, start + timedelta(minutes=60), 60), 201)  # back to back
        data(book(b, tutor, start - timedelta(minutes=60), 60), 201)
        data(book(b, TutorFactory(), start, 60), 201)  # another tutor is free then
        assert Booking.objects.filter(tutor=tutor).count() == 3

    def test_cancelled_booking_frees_the_slot(self, client_for, student, tutor):
        client = client_for(student)
        booking = data(book(client, tutor), 201)
        data(client.post(f"{BOOKINGS}/{booking['id']}/cancel"))
        data(book(client, tutor), 201)


class TestReadAndCancel:
    def test_list_is_per_party_newest_first(self, client_for, tutor, student):
        mine = [BookingFactory(tutor=tutor, student=student) for _ in range(3)]
        BookingFactory()  # someone else's
        as_student = data(client_for(student).get(BOOKINGS))
        assert [b["id"] for b in as_student["bookings"]] == [str(b.pk) for b in reversed(mine)]
        assert as_student["next"] is None
        as_tutor = data(client_for(tutor).get(BOOKINGS, {"limit": 2}))
        assert len(as_tutor["bookings"]) == 2 and as_tutor["next"]
        rest = data(client_for(tutor).get(BOOKINGS, {"limit": 2, "cursor": as_tutor["next"]}))
        assert [b["id"] for b in rest["bookings"]] == [str(mine[0].pk)]

    def test_detail_for_parties_and_staff_404_for_strangers(self, client_for, staff):
        booking = BookingFactory()
        url = f"{BOOKINGS}/{booking.pk}"
        assert data(client_for(booking.student).get(url))["id"] == str(booking.pk)
        assert data(client_for(booking.tutor).get(url))["id"] == str(booking.pk)
        assert data(client_for(staff).get(url))["id"] == str(booking.pk)
        assert_error(client_for(StudentFactory()).get(url), 404, url, "GET")
        assert_error(client_for(booking.student).get(f"{BOOKINGS}/00000000-0000-0000-0000-000000000000"), 404)

    def test_cancel_by_either_party_only_while_pending(self, client_for):
        booking = BookingFactory()
        url = f"{BOOKINGS}/{booking.pk}/cancel"
        assert_error(client_for(StudentFactory()).post(url), 404, url, "POST")
        assert data(client_for(booking.tutor).post(url))["status"] == "cancelled"
        assert_error(client_for(booking.student).post(url), 409, url, "POST")

    @pytest.mark.parametrize(
        "status",
        [BookingStatus.COMPLETED, BookingStatus.REFUNDED, BookingStatus.EXPIRED, BookingStatus.MISSED],
    )
    def test_held_or_settled_bookings_cannot_be_cancelled(self, client_for, status):
        booking = BookingFactory(status=status)
        assert_error(client_for(booking.student).post(f"{BOOKINGS}/{booking.pk}/cancel"), 409)
        booking.refresh_from_db()
        assert booking.status == status

    def test_method_not_allowed(self, client_for, student):
        booking = BookingFactory(student=student)
        response = client_for(student).delete(f"{BOOKINGS}/{booking.pk}")
        assert_error(response, 405, f"{BOOKINGS}/{booking.pk}", "DELETE")
