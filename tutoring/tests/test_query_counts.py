"""Every authenticated read of the API, with the PostgreSQL round trips it makes pinned.

The rule (docs/api.md "Queries per request"): a read makes at most one query beyond what its data
needs, that one being the signed-in user's row (`pure_reads` save even that). Each count is pinned
with what its queries are; a new GET endpoint fails `test_every_read_is_pinned` until it is added here.
Lists hold several rows, so a query per row would show.
"""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import get_resolver
from django.utils import timezone

from live.tests.factories import SessionFactory, store_one
from payments.tests.factories import paid_booking
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory, StudentFactory
from tutoring.tests.test_routes import NOT_RESOURCES, routes
from tutoring.tests.utils import data
from withdrawals.tests.factories import tutor_with_balance

pytestmark = pytest.mark.django_db

# route → (who asks, queries, what they are)
PINNED = {
    "api/auth/me": ("student", 1, "the user (the data itself)"),
    "api/tutors": ("student", 3, "the user; the page of tutors with their ratings; their subjects"),
    "api/tutors/<uuid:tutor_id>": ("student", 3, "the user; the tutor with the rating; the subjects"),
    "api/tutors/<uuid:tutor_id>/availability": ("student", 5, "the user; the tutor; the hours; weekly; exceptions"),
    "api/tutors/<uuid:tutor_id>/reviews": ("student", 3, "the user; the tutor; the page of reviews with names"),
    "api/tutors/<uuid:tutor_id>/slots": ("student", 6, "the user; the tutor; the hours; weekly; exceptions; bookings"),
    "api/bookings": ("student", 2, "the user; the page of bookings"),
    "api/bookings/<uuid:booking_id>": ("student", 2, "the user; the booking"),
    "api/live/sessions/<uuid:session_id>": ("student", 2, "the user; the session with its booking"),
    "api/live/sessions/<uuid:session_id>/messages": ("student", 3, "the user; the session; the page"),
    "api/live/sessions/<uuid:session_id>/participants": ("student", 1, "the participants, parties and user at once"),
    "api/live/sessions/<uuid:session_id>/events": ("student", 3, "the user; the session; the page of events"),
    "api/live/sessions/<uuid:session_id>/stats": ("student", 4, "the user; the session; both counts; presence events"),
    "api/live/sessions/<uuid:session_id>/recording": ("student", 3, "the user; the session; the recording"),
    "api/payments/refunds/<uuid:refund_id>": ("student", 2, "the user; the refund with its booking"),
    "api/withdrawals/accounts": ("tutor", 2, "the user; the account"),
    "api/withdrawals": ("tutor", 2, "the user; the page of withdrawals"),
    "api/withdrawals/stats": ("tutor", 2, "the user; one aggregate"),
}


# GETs with no signed-in user, so nothing of this rule applies; their reads are tested where they live.
NO_USER = {
    # A media element cannot send a token: the signed link is the credential (live/tests/test_recording.py).
    "api/live/sessions/<uuid:session_id>/recording/media",
}


def get_routes() -> list[str]:
    found = []
    for route, view in routes(get_resolver().url_patterns):
        if route.startswith("api/") and not route.startswith(NOT_RESOURCES) and "get" in (view.actions or {}):
            found.append(route)
    return [route for route in found if route not in NO_USER]


def test_every_read_is_pinned():
    assert sorted(get_routes()) == sorted(PINNED)


@pytest.fixture
def world(client_for):
    """A tutor with earnings, a payout account, two withdrawals, weekly hours, two reviews; a student
    with three bookings, one of them in a classroom with messages, and a refund asked for."""
    tutor = tutor_with_balance()
    for amount in (5000, 5000):
        data(client_for(tutor).post("/api/withdrawals", {"amount": amount}), 201)
    hours = {"timezone": "UTC", "weekly": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]}
    data(client_for(tutor).put("/api/tutors/me/availability", hours, format="json"))
    student = StudentFactory()
    for days in (3, 4):
        start = timezone.now() - timedelta(days=days)
        done = BookingFactory(
            tutor=tutor,
            student=StudentFactory(),
            start_time=start,
            end_time=start + timedelta(hours=1),
            status=BookingStatus.COMPLETED,
            completed_at=start + timedelta(hours=1),
        )
        data(client_for(done.student).post(f"/api/bookings/{done.pk}/review", {"rating": 5}, format="json"), 201)
    BookingFactory(tutor=tutor, student=student)
    refunded = paid_booking(tutor=tutor, student=student)
    refund = data(
        client_for(student).post("/api/payments/refunds", {"bookingId": str(refunded.pk), "reason": "ill"}), 201
    )
    session = SessionFactory(booking__tutor=tutor, booking__student=student)
    for i in range(3):
        store_one(session_id=session.pk, sender=student, content=f"message {i}")
    ids = {
        "tutor_id": tutor.pk,
        "booking_id": session.booking_id,
        "session_id": session.pk,
        "refund_id": refund["id"],
    }
    return {"tutor": tutor, "student": student}, ids


QUERY: dict[str, str] = {}


def path_of(route: str, ids: dict) -> str:
    path = "/" + route
    for name, value in ids.items():
        path = path.replace(f"<uuid:{name}>", str(value))
    return path


@pytest.mark.parametrize("route", sorted(PINNED))
def test_reads_make_their_pinned_queries(route, world, client_for, django_assert_num_queries):
    users, ids = world
    day = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    week = {"from": day.isoformat(), "to": (day + timedelta(days=7)).isoformat(), "durationMinutes": 60}
    QUERY["api/tutors/<uuid:tutor_id>/slots"] = "?" + urlencode(week)
    who, count, _what = PINNED[route]
    client = client_for(users[who])
    path = path_of(route, ids) + QUERY.get(route, "")
    client.get(path)  # whatever a process reads once and keeps (e.g. the tutor subjects' list) is read
    with django_assert_num_queries(count):
        response = client.get(path)
    assert response.status_code == 200, response.content
