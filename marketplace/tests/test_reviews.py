"""Reviews (docs/marketplace.md): the student of a completed class rates it once; the tutor's average and
count follow in the same transaction and are listed without a query per tutor."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from marketplace.models import Review
from marketplace.services import rating_of
from tutoring.models import BookingStatus, TutorProfile
from tutoring.tests.factories import BookingFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import assert_error, data, run_concurrently

pytestmark = pytest.mark.django_db


HOURS_AGO = itertools.count(48, 2)


def held(**kwargs):
    """A class held in the past (each at its own hour, so one tutor's never overlap)."""
    start = timezone.now() - timedelta(hours=next(HOURS_AGO))
    return BookingFactory(
        start_time=start,
        end_time=start + timedelta(hours=1),
        status=BookingStatus.COMPLETED,
        completed_at=start + timedelta(hours=1),
        **kwargs,
    )


def review(client, booking, body):
    return client.post(f"/api/bookings/{booking.pk}/review", body, format="json")


class TestCreate:
    def test_the_student_reviews_a_completed_class_once(self, client_for):
        booking = held()
        client = client_for(booking.student)
        body = data(review(client, booking, {"rating": 4, "comment": "  Clear and patient.  "}), 201)
        assert body == {
            "id": body["id"],
            "bookingId": str(booking.pk),
            "rating": 4,
            "comment": "Clear and patient.",
            "studentName": booking.student.name,
            "createdAt": body["createdAt"],
        }
        path = f"/api/bookings/{booking.pk}/review"
        assert_error(review(client, booking, {"rating": 5}), 409, path, "POST")
        assert Review.objects.count() == 1
        tutor = data(client.get(f"/api/tutors/{booking.tutor_id}"))
        assert (tutor["rating"], tutor["reviewsCount"]) == (4.0, 1)

    @pytest.mark.parametrize("status", ["pending_payment", "paid", "cancelled", "refunded", "expired", "missed"])
    def test_only_a_completed_class_is_409_otherwise(self, client_for, status):
        booking = BookingFactory(status=status)
        assert_error(review(client_for(booking.student), booking, {"rating": 5}), 409)
        assert not Review.objects.exists()

    def test_an_unpaid_booking_that_expired_meanwhile_is_409(self, client_for):
        booking = BookingFactory(created_at=timezone.now() - timedelta(hours=2))
        assert_error(review(client_for(booking.student), booking, {"rating": 5}), 409)

    def test_only_the_student(self, client_for, staff):
        booking = held()
        assert_error(review(client_for(booking.tutor), booking, {"rating": 5}), 403)
        assert_error(review(client_for(staff), booking, {"rating": 5}), 403)
        assert_error(review(client_for(StudentFactory()), booking, {"rating": 5}), 404)
        assert not Review.objects.exists()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"rating": 0}, "rating"),
            ({"rating": 6}, "rating"),
            ({"rating": "5"}, "rating"),
            ({"rating": 4.5}, "rating"),
            ({"rating": 5.0}, "rating"),
            ({"rating": True}, "rating"),
            ({}, "rating"),
            ({"rating": 5, "comment": "x" * 2001}, "comment"),
        ],
    )
    def test_bad_input_is_400(self, client_for, body, field):
        booking = held()
        path = f"/api/bookings/{booking.pk}/review"
        assert field in assert_error(review(client_for(booking.student), booking, body), 400, path, "POST")["errors"]
        assert not Review.objects.exists()
        assert TutorProfile.objects.get(user=booking.tutor).reviews_count == 0

    def test_a_comment_of_2000_characters_is_kept(self, client_for):
        booking = held()
        assert data(review(client_for(booking.student), booking, {"rating": 3, "comment": "é" * 2000}), 201)


class TestAverage:
    @pytest.mark.parametrize(
        ("ratings", "average"),
        [
            ((5,), "5.0"),
            ((5, 4), "4.5"),
            ((5, 4, 4), "4.3"),
            ((5, 4, 4, 4), "4.3"),
            ((1, 2), "1.5"),
            ((2, 2, 1), "1.7"),
        ],
    )
    def test_one_decimal_half_up(self, ratings, average):
        assert rating_of(sum(ratings), len(ratings)) == Decimal(average)

    def test_lists_show_average_and_count_without_a_query_per_tutor(self, client_for, django_assert_max_num_queries):
        tutor = TutorFactory()
        for rating in (5, 4, 4, 4):
            booking = held(tutor=tutor)
            data(review(client_for(booking.student), booking, {"rating": rating}), 201)
        for _ in range(5):
            TutorFactory()
        client = client_for(StudentFactory())
        with django_assert_max_num_queries(4):  # user + page + subjects (+ a savepoint-free margin)
            tutors = data(client.get("/api/tutors", {"limit": 50}))["tutors"]
        rated = {t["id"]: (t["rating"], t["reviewsCount"]) for t in tutors}
        assert rated.pop(str(tutor.pk)) == (4.3, 4)
        assert set(rated.values()) == {(None, 0)}


class TestList:
    def test_newest_first_paged(self, client_for):
        tutor = TutorFactory()
        for rating in (1, 2, 3, 4, 5):
            booking = held(tutor=tutor)
            data(review(client_for(booking.student), booking, {"rating": rating, "comment": f"r{rating}"}), 201)
        held(tutor=TutorFactory())  # another tutor's class, never listed here
        client = client_for(StudentFactory())
        path = f"/api/tutors/{tutor.pk}/reviews"
        first = data(client.get(path, {"limit": 3}))
        assert [r["rating"] for r in first["reviews"]] == [5, 4, 3]
        second = data(client.get(path, {"limit": 3, "cursor": first["next"]}))
        assert [r["comment"] for r in second["reviews"]] == ["r2", "r1"] and second["next"] is None
        assert all(r["studentName"] for r in first["reviews"] + second["reviews"])

    def test_unknown_tutor_is_404(self, client_for, student):
        path = f"/api/tutors/{student.pk}/reviews"
        assert_error(client_for(student).get(path), 404, path, "GET")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestConcurrent:
    def test_reviews_of_one_tutor_at_once_all_count(self, client_for):
        tutor = TutorFactory()
        bookings = [held(tutor=tutor) for _ in range(6)]
        clients = [client_for(b.student) for b in bookings]
        statuses = run_concurrently(lambda i: review(clients[i], bookings[i], {"rating": 1 + i % 5}).status_code, 6)
        assert statuses == [201] * 6
        profile = TutorProfile.objects.get(user=tutor)
        ratings = [1 + i % 5 for i in range(6)]
        assert (profile.reviews_count, profile.rating_total) == (6, sum(ratings))
        assert profile.rating == rating_of(sum(ratings), 6)

    def test_one_class_reviewed_twice_at_once_counts_once(self, client_for):
        booking = held()
        clients = [client_for(booking.student) for _ in range(4)]
        statuses = run_concurrently(lambda i: review(clients[i], booking, {"rating": 5}).status_code, 4)
        assert sorted(statuses) == [201, 409, 409, 409]
        assert TutorProfile.objects.get(user=booking.tutor).reviews_count == 1
