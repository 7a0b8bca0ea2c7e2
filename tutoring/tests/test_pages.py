"""The pages of accounts, tutors and bookings (docs/pages.md), through Django's test client: each form
reaches the service the API calls and shows its answer; the session signs in; CSRF protects writes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from live.models import Session
from payments.models import Payment, Refund
from payments.tests.factories import intent_for, paid_booking
from tutoring.models import Booking, BookingStatus, TutorProfile, User
from tutoring.tests.factories import PASSWORD, BookingFactory, TutorFactory
from tutoring.tests.utils import csp

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser_for():
    """browser_for(user) → a test client signed in with that user's session."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def start_in(days: int, *, offset_hours: int = 8) -> tuple[str, datetime]:
    """A start time as the booking form sends it (a wall-clock time with its zone's offset), and in UTC."""
    zone = timezone.get_fixed_timezone(offset_hours * 60)
    local = (timezone.now() + timedelta(days=days)).astimezone(zone).replace(minute=0, second=0, microsecond=0)
    return local.isoformat(), local.astimezone(UTC)


# --- home and tutors ---------------------------------------------------------------------------------


def test_home_searches_tutors_by_subject_for_anyone(client):
    TutorFactory(name="Ada Lovelace", profile__subjects=["Mathematics", "Programming"])
    TutorFactory(name="Alan Turing", profile__subjects=["Logic"])
    everyone = client.get("/")
    assert everyone.status_code == 200
    assert b"Ada Lovelace" in everyone.content and b"Alan Turing" in everyone.content
    assert [*everyone.context["subjects"]] == ["Logic", "Mathematics", "Programming"]

    found = client.get("/", {"subject": "programming"})
    assert b"Ada Lovelace" in found.content and b"Alan Turing" not in found.content
    assert client.get("/", {"subject": "Astronomy"}).context["tutors"] == []


def test_home_pages_with_the_api_cursor_and_survives_a_mangled_one(client):
    for _ in range(25):
        TutorFactory()
    first = client.get("/")
    assert len(first.context["tutors"]) == 20 and first.context["next"]
    second = client.get("/", {"cursor": first.context["next"]})
    assert len(second.context["tutors"]) == 5
    assert {t.pk for t in first.context["tutors"]}.isdisjoint(t.pk for t in second.context["tutors"])
    assert len(client.get("/", {"cursor": "%%%not-a-cursor"}).context["tutors"]) == 20


def test_tutor_page_offers_the_booking_form_to_students_only(client, browser_for, tutor, student):
    url = f"/tutors/{tutor.pk}"
    anonymous = client.get(url)
    assert anonymous.status_code == 200
    assert b'id="booking-form"' not in anonymous.content and b"/login?next=" in anonymous.content
    as_student = browser_for(student).get(url)
    assert b'id="booking-form"' in as_student.content
    # Prices per length come from the booking service's own price rule (6000/h).
    prices = {d["minutes"]: d["price"] for d in as_student.context["durations"]}
    assert prices[30] == 3000 and prices[90] == 9000 and set(prices) == set(range(15, 241, 15))
    assert b'id="booking-form"' not in browser_for(TutorFactory()).get(url).content
    assert client.get(f"/tutors/{student.pk}").status_code == 404


def test_booking_form_books_at_the_time_and_offset_the_browser_sent(browser_for, tutor, student):
    sent, expected = start_in(3, offset_hours=8)
    response = browser_for(student).post(
        f"/tutors/{tutor.pk}", {"startTime": sent, "durationMinutes": "90", "subject": "Mathematics"}
    )
    booking = Booking.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/bookings/{booking.pk}"
    assert booking.student == student and booking.tutor == tutor
    assert booking.start_time == expected and booking.duration_minutes == 90
    assert booking.price == 9000 and booking.status == BookingStatus.PENDING_PAYMENT


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"startTime": "", "durationMinutes": "60"}, "startTime"),
        ({"startTime": "not a time", "durationMinutes": "60"}, "startTime"),
        ({"startTime": "2030-01-01T10:00:00+08:00", "durationMinutes": "50"}, "durationMinutes"),
    ],
)
def test_booking_form_shows_the_api_validation_errors(browser_for, tutor, student, fields, field):
    response = browser_for(student).post(f"/tutors/{tutor.pk}", fields)
    assert response.status_code == 400
    assert field in response.context["errors"]
    assert not Booking.objects.exists()


def test_booking_form_shows_the_services_refusal(browser_for, tutor, student):
    sent, _ = start_in(2)
    client = browser_for(student)
    booked = client.post(f"/tutors/{tutor.pk}", {"startTime": sent, "durationMinutes": "60"}, follow=True)
    assert messages_of(booked) == ["Booked. Pay for it to confirm the class."]
    again = client.post(f"/tutors/{tutor.pk}", {"startTime": sent, "durationMinutes": "60"})
    assert again.status_code == 400
    assert messages_of(again) == ["The tutor already has a booking at that time."]
    past = client.post(f"/tutors/{tutor.pk}", {"startTime": "2020-01-01T10:00:00+00:00", "durationMinutes": "60"})
    assert messages_of(past) == ["startTime must be in the future."]
    assert Booking.objects.count() == 1


def test_booking_form_sends_a_signed_out_visitor_to_log_in(client, tutor):
    response = client.post(f"/tutors/{tutor.pk}", {"startTime": start_in(2)[0], "durationMinutes": "60"})
    assert response.status_code == 302 and response["Location"] == f"/login?next=/tutors/{tutor.pk}"
    assert not Booking.objects.exists()


# --- accounts ----------------------------------------------------------------------------------------


def test_login_signs_in_with_the_session_and_follows_a_local_next(client, student):
    wrong = client.post("/login", {"email": student.email, "password": "nope"})
    assert wrong.status_code == 400 and messages_of(wrong) == ["Wrong email or password."]
    response = client.post("/login", {"email": student.email.upper(), "password": PASSWORD, "next": "/bookings"})
    assert response.status_code == 302 and response["Location"] == "/bookings"
    assert client.get("/bookings").context["user"] == student


def test_login_never_redirects_off_site(client, student):
    response = client.post("/login", {"email": student.email, "password": PASSWORD, "next": "https://evil.test/"})
    assert response["Location"] == "/"


def test_logout_is_a_post(browser_for, student):
    client = browser_for(student)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/bookings")["Location"] == "/login?next=/bookings"


def test_register_creates_the_account_through_the_service_and_signs_in(client):
    response = client.post(
        "/register",
        {"name": "New Student", "email": "New@Example.test", "password": "a-long-pass-314", "role": "student"},
    )
    assert response.status_code == 302
    user = User.objects.get(email="new@example.test")
    assert user.role == "student" and user.check_password("a-long-pass-314")
    assert client.get("/bookings").context["user"] == user
    tutor = Client().post(
        "/register", {"name": "T", "email": "t@example.test", "password": "a-long-pass-314", "role": "tutor"}
    )
    assert tutor.status_code == 302 and User.objects.get(email="t@example.test").tutor_profile.hourly_rate is None
    assert tutor["Location"] == "/profile"


def test_register_shows_the_services_errors(client, student):
    taken = client.post(
        "/register", {"name": "X", "email": student.email, "password": "a-long-pass-314", "role": "student"}
    )
    assert taken.status_code == 400 and messages_of(taken) == ["An account with this email already exists."]
    weak = client.post("/register", {"name": "X", "email": "x@example.test", "password": "12345678", "role": "student"})
    assert weak.status_code == 400 and "password" in weak.context["errors"]
    staff = client.post(
        "/register", {"name": "X", "email": "y@example.test", "password": "a-long-pass-314", "role": "staff"}
    )
    assert staff.status_code == 400 and "role" in staff.context["errors"]
    assert User.objects.count() == 1


# --- a tutor's own profile -----------------------------------------------------------------------------


def test_a_new_tutor_sets_rate_subjects_and_bio_and_students_can_book_them(browser_for):
    tutor = User.objects.create_user(email="new@tutor.test", password=PASSWORD, name="New Tutor", role="tutor")
    TutorProfile.objects.create(user=tutor)
    page = browser_for(tutor)
    shown = page.get("/profile")
    assert shown.status_code == 200 and shown.context["form"]["hourlyRate"] == ""
    assert b'<label for="hourlyRate">' in shown.content and b'<label for="subjects">' in shown.content

    saved = page.post(
        "/profile", {"hourlyRate": "45.50", "currency": "EUR", "subjects": "Physics, Chemistry, physics", "bio": " Hi "}
    )
    assert saved.status_code == 302 and saved["Location"] == "/profile"
    profile = TutorProfile.objects.get(user=tutor)
    assert (profile.hourly_rate, profile.currency, profile.bio) == (4550, "eur", "Hi")
    assert [s.name for s in profile.subjects.order_by("position")] == ["Physics", "Chemistry"]
    assert page.get("/profile").context["form"] == {
        "hourlyRate": "45.50",
        "currency": "eur",
        "subjects": "Physics, Chemistry",
        "bio": "Hi",
    }
    # What the student sees on the profile, and the price of a booking made from it.
    public = page.get(f"/tutors/{tutor.pk}")
    assert "€45.50".encode() in public.content


def test_the_profile_rate_is_written_in_the_currency_and_bad_input_changes_nothing(browser_for):
    tutor = TutorFactory(profile__hourly_rate=6000, profile__currency="usd")
    page = browser_for(tutor)
    yen = page.post("/profile", {"hourlyRate": "5000", "currency": "jpy", "subjects": "Go", "bio": ""})
    assert yen.status_code == 302
    assert TutorProfile.objects.values_list("hourly_rate", "currency").get(user=tutor) == (5000, "jpy")

    for body, field in (
        ({"hourlyRate": "45.5", "currency": "jpy"}, "hourlyRate"),  # yen have no decimals
        ({"hourlyRate": "lots", "currency": "jpy"}, "hourlyRate"),
        ({"hourlyRate": "0.50", "currency": "usd"}, "hourlyRate"),  # under the minimum
        ({"hourlyRate": "4500", "currency": "xyz"}, "currency"),
        ({"hourlyRate": "45", "currency": "usd", "subjects": "x" * 101}, "subjects"),
    ):
        refused = page.post("/profile", {"subjects": "Go", "bio": "", **body})
        assert refused.status_code == 400 and refused.context["errors"][field], body
        assert all(isinstance(message, str) for message in refused.context["errors"][field])
    assert TutorProfile.objects.values_list("hourly_rate", "currency").get(user=tutor) == (5000, "jpy")
    assert [s.name for s in TutorProfile.objects.get(user=tutor).subjects.all()] == ["Go"]


def test_the_currency_is_frozen_on_the_profile_page_once_booked(browser_for):
    booking = BookingFactory(tutor__profile__currency="usd")
    page = browser_for(booking.tutor)
    shown = page.get("/profile")
    frozen_select = b'id="currency" name="currency" aria-describedby'
    assert shown.context["currency_frozen"] is True and frozen_select in shown.content
    assert b"disabled" in shown.content
    # A disabled select sends nothing, and a forged one is ignored: the rate still saves, in usd.
    saved = page.post("/profile", {"hourlyRate": "70", "currency": "gbp", "subjects": "Maths", "bio": ""})
    assert saved.status_code == 302
    assert TutorProfile.objects.values_list("hourly_rate", "currency").get(user=booking.tutor) == (7000, "usd")


def test_only_tutors_have_the_profile_page(browser_for, student):
    assert browser_for(student).get("/profile").status_code == 403
    assert Client().get("/profile")["Location"] == "/login?next=/profile"


# --- the realtime token ------------------------------------------------------------------------------


def test_access_token_is_a_short_lived_jwt_of_the_session_user(browser_for, student):
    response = browser_for(student).post("/access-token")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    token = AccessToken(body["access"])
    assert token["user_id"] == str(student.pk)
    expires = datetime.fromisoformat(body["expiresAt"])
    assert timedelta(minutes=14) < expires - timezone.now() <= timedelta(minutes=15)


def test_access_token_needs_the_session_a_post_and_the_csrf_token(client, student):
    assert client.post("/access-token").status_code == 401
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(student)
    assert signed_in.get("/access-token").status_code == 405
    assert signed_in.post("/access-token").status_code == 403
    signed_in.get("/")  # sets the CSRF cookie, as a page load does
    token = signed_in.cookies["csrftoken"].value
    assert signed_in.post("/access-token", HTTP_X_CSRFTOKEN=token).status_code == 200


def test_the_api_does_not_accept_the_session(browser_for, student):
    assert browser_for(student).get("/api/auth/me").status_code == 401


# --- bookings ----------------------------------------------------------------------------------------


def test_bookings_list_only_the_users_own(browser_for, student):
    mine = BookingFactory(student=student)
    BookingFactory()
    response = browser_for(student).get("/bookings")
    assert [b.pk for b in response.context["bookings"]] == [mine.pk]


def test_booking_page_is_404_for_anyone_but_its_parties(browser_for, student):
    booking = BookingFactory()
    assert browser_for(student).get(f"/bookings/{booking.pk}").status_code == 404
    assert browser_for(booking.tutor).get(f"/bookings/{booking.pk}").status_code == 200
    assert Client().get(f"/bookings/{booking.pk}")["Location"] == f"/login?next=/bookings/{booking.pk}"


def test_paying_in_the_sandbox_takes_the_intent_then_the_sandbox_confirmation(browser_for, student):
    booking = BookingFactory(student=student)
    client = browser_for(student)
    page = client.get(f"/bookings/{booking.pk}")
    assert page.context["can_pay"] and page.context["payment"] is None
    assert client.post(f"/bookings/{booking.pk}/pay").status_code == 302
    payment = Payment.objects.get(booking=booking)
    page = client.get(f"/bookings/{booking.pk}")
    assert page.context["payment"] == payment
    assert b"(sandbox)" in page.content and payment.provider_id.encode() in page.content
    paid = client.post(f"/bookings/{booking.pk}/pay/sandbox", {"paymentIntentId": payment.provider_id}, follow=True)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PAID
    assert messages_of(paid) == ["Paid (sandbox). The class is confirmed."]
    again = client.post(f"/bookings/{booking.pk}/pay/sandbox", {"paymentIntentId": payment.provider_id}, follow=True)
    assert messages_of(again) == ["This booking is paid; there is nothing to pay."]


def test_a_declined_sandbox_card_leaves_the_booking_unpaid(browser_for, student):
    booking = BookingFactory(student=student)
    payment = intent_for(booking)
    response = browser_for(student).post(
        f"/bookings/{booking.pk}/pay/sandbox",
        {"paymentIntentId": payment.provider_id, "outcome": "failed"},
        follow=True,
    )
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING_PAYMENT
    assert messages_of(response) == ["The sandbox card was declined. Nothing was charged."]
    assert response.context["payment_failed"]


def test_only_the_student_pays(browser_for):
    booking = BookingFactory()
    assert browser_for(booking.tutor).post(f"/bookings/{booking.pk}/pay").status_code == 403
    assert not Payment.objects.exists()


def test_with_real_stripe_keys_the_booking_page_mounts_stripe_elements(browser_for, student, stripe_stub, settings):
    settings.STRIPE_SANDBOX = False
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_page"
    booking = BookingFactory(student=student)
    client = browser_for(student)
    before = client.get(f"/bookings/{booking.pk}")
    assert b"js.stripe.com" not in before.content and csp(before)["script-src"] == ["'self'"]
    client.post(f"/bookings/{booking.pk}/pay")
    payment = Payment.objects.get(booking=booking)
    page = client.get(f"/bookings/{booking.pk}")
    assert page.context["stripe"] == {
        "publishableKey": "pk_test_page",
        "clientSecret": payment.client_secret,
        "returnUrl": f"http://testserver/bookings/{booking.pk}",
    }
    assert b'<script src="https://js.stripe.com/v3/"></script>' in page.content
    assert b'id="payment-element"' in page.content and b"(sandbox)" not in page.content
    assert page["Cache-Control"] == "no-store"
    policy = csp(page)
    assert policy["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert policy["frame-src"] == ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    # The sandbox's stand-in for the card form does not exist with real keys.
    assert (
        client.post(f"/bookings/{booking.pk}/pay/sandbox", {"paymentIntentId": payment.provider_id}).status_code == 404
    )


def test_back_from_stripe_the_page_says_the_payment_is_being_confirmed(browser_for, student):
    booking = BookingFactory(student=student)
    page = browser_for(student).get(f"/bookings/{booking.pk}", {"redirect_status": "succeeded"})
    assert page.context["payment_returned"] and b"Payment received" in page.content


def test_cancel_calls_the_service_and_shows_its_refusal(browser_for, student):
    pending = BookingFactory(student=student)
    client = browser_for(student)
    response = client.post(f"/bookings/{pending.pk}/cancel", follow=True)
    pending.refresh_from_db()
    assert pending.status == BookingStatus.CANCELLED and messages_of(response) == ["The booking was cancelled."]
    twice = client.post(f"/bookings/{pending.pk}/cancel", follow=True)
    assert len(messages_of(twice)) == 1 and messages_of(twice) != ["The booking was cancelled."]
    other = BookingFactory()
    assert client.post(f"/bookings/{other.pk}/cancel").status_code == 404
    other.refresh_from_db()
    assert other.status == BookingStatus.PENDING_PAYMENT


def test_refund_request_goes_to_staff_review(browser_for, student):
    booking = paid_booking(student=student)
    client = browser_for(student)
    assert client.get(f"/bookings/{booking.pk}").context["can_request_refund"]
    empty = client.post(f"/bookings/{booking.pk}/refund", {"reason": "   "}, follow=True)
    assert len(messages_of(empty)) == 1 and not Refund.objects.exists()
    response = client.post(f"/bookings/{booking.pk}/refund", {"reason": "I was ill."}, follow=True)
    refund = Refund.objects.get()
    assert refund.status == "pending" and refund.reason == "I was ill." and refund.amount == booking.price
    assert messages_of(response) == ["Refund requested. Staff will review it."]
    assert response.context["refunds"] == [refund] and not response.context["can_request_refund"]
    twice = client.post(f"/bookings/{booking.pk}/refund", {"reason": "Again"}, follow=True)
    assert messages_of(twice) == ["This booking already has an open or completed refund."]


def test_join_opens_the_classroom_of_a_paid_booking(browser_for, student):
    booking = paid_booking(student=student)
    response = browser_for(student).post(f"/bookings/{booking.pk}/join")
    session = Session.objects.get(booking=booking)
    assert response.status_code == 302 and response["Location"] == f"/classroom/{session.pk}"
    assert browser_for(booking.tutor).post(f"/bookings/{booking.pk}/join")["Location"] == f"/classroom/{session.pk}"
    page = browser_for(student).get(f"/bookings/{booking.pk}")
    assert page.context["session"] == session
    unpaid = BookingFactory(student=student)
    refused = browser_for(student).post(f"/bookings/{unpaid.pk}/join", follow=True)
    assert messages_of(refused) == ["Only a paid booking has a class (this one is pending_payment)."]
    assert Session.objects.count() == 1


def test_pages_show_the_status_the_api_reports(browser_for, student):
    """An unpaid booking past its payment window reads `expired` before any job has written it down."""
    stale = BookingFactory(student=student, created_at=timezone.now() - timedelta(hours=2))
    client = browser_for(student)
    page = client.get(f"/bookings/{stale.pk}")
    assert page.context["status"] == BookingStatus.EXPIRED and not page.context["can_pay"]
    assert b">Expired<" in page.content and b"Pay $" not in page.content
    assert b">Expired<" in client.get("/bookings").content
