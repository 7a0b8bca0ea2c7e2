"""The time rules of bookings (docs/money.md "Bookings"): offsets, the payment window, the class window,
missed classes and cancellations, with the clock moved by time-machine."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from live.models import SessionStatus
from live.tests.factories import SessionFactory
from payments.models import Payment, PaymentStatus, Refund, RefundOrigin, RefundStatus
from payments.selectors import tutor_earnings
from payments.stripe.sandbox import deliver, payment_intent_snapshot
from payments.tests.factories import intent_for, paid_booking
from payments.tests.stripe_stub import Failure
from tutoring import services
from tutoring.models import Booking, BookingStatus
from tutoring.tests.factories import BookingFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

BOOKINGS = "/api/bookings"
MINUTE = timedelta(minutes=1)


def book(client, tutor, start: str, minutes=60):
    return client.post(BOOKINGS, {"tutorId": str(tutor.pk), "startTime": start, "durationMinutes": minutes})


def in_days(days: float) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(microsecond=0)


class TestTimes:
    def test_a_start_without_an_offset_is_400(self, client_for, student, tutor):
        naive = in_days(2).replace(tzinfo=None).isoformat()
        body = assert_error(book(client_for(student), tutor, naive), 400, BOOKINGS, "POST")
        assert "offset" in body["errors"]["startTime"][0]
        assert not Booking.objects.exists()

    @pytest.mark.parametrize("offset", ["+00:00", "Z", "+08:00", "-05:30"])
    def test_any_offset_is_taken_as_given(self, client_for, student, tutor, offset):
        local = in_days(2).astimezone(UTC).replace(tzinfo=None).isoformat()
        created = data(book(client_for(student), tutor, f"{local}{offset}"), 201)
        expected = datetime.fromisoformat(f"{local}{'+00:00' if offset == 'Z' else offset}")
        assert datetime.fromisoformat(created["startTime"]) == expected

    @pytest.mark.parametrize("start", ["9999-12-31T23:30:00Z", "2101-01-01T00:00:00Z", "2100-12-31T23:30:00Z"])
    def test_dates_beyond_2100_are_400(self, client_for, student, tutor, start):
        assert_error(book(client_for(student), tutor, start), 400, BOOKINGS, "POST")
        assert not Booking.objects.exists()


class TestPaymentWindow:
    def test_an_unpaid_booking_stops_blocking_when_its_window_ends_before_any_job(self, client_for, tutor):
        first, second = StudentFactory(), StudentFactory()
        start = in_days(3).isoformat()
        stale = data(book(client_for(first), tutor, start, 240), 201)
        assert_error(book(client_for(second), tutor, start, 60), 409)
        with time_machine.travel(timezone.now() + timedelta(minutes=settings.BOOKING_PAYMENT_TTL_MINUTES, seconds=1)):
            assert data(client_for(first).get(f"{BOOKINGS}/{stale['id']}"))["status"] == "expired"  # no job ran
            assert data(book(client_for(second), tutor, start, 60), 201)["status"] == "pending_payment"
        assert Booking.objects.get(pk=stale["id"]).status == BookingStatus.EXPIRED

    def test_within_the_window_it_still_blocks(self, client_for, tutor):
        start = in_days(3).isoformat()
        data(book(client_for(StudentFactory()), tutor, start), 201)
        with time_machine.travel(timezone.now() + timedelta(minutes=settings.BOOKING_PAYMENT_TTL_MINUTES - 1)):
            assert_error(book(client_for(StudentFactory()), tutor, start), 409)

    def test_an_intent_for_an_expired_booking_is_409(self, client_for):
        booking = BookingFactory()
        with time_machine.travel(booking.payment_due_by):
            response = client_for(booking.student).post("/api/payments/intents", {"bookingId": str(booking.pk)})
            assert_error(response, 409, "/api/payments/intents", "POST")
        assert not Payment.objects.exists()

    def test_the_job_marks_expired_and_cancels_the_intent(self):
        booking = BookingFactory()
        payment = intent_for(booking)
        other = BookingFactory()
        assert services.bookings_expire_due(now=timezone.now()) == 0
        later = booking.payment_due_by + timedelta(seconds=1)
        assert services.bookings_expire_due(now=later) == 2
        assert services.bookings_expire_due(now=later) == 0  # twice: nothing more
        booking.refresh_from_db(), other.refresh_from_db(), payment.refresh_from_db()
        assert (booking.status, other.status) == (BookingStatus.EXPIRED, BookingStatus.EXPIRED)
        assert payment.status == PaymentStatus.CANCELED

    def test_the_job_expires_even_when_stripe_fails_and_cancels_on_its_next_run(self, stripe_stub):
        booking = BookingFactory()
        payment = intent_for(booking)
        stripe_stub.fail("POST", f"/v1/payment_intents/{payment.provider_id}/cancel", Failure(status=500, times=1))
        later = booking.payment_due_by + timedelta(seconds=1)
        assert services.bookings_expire_due(now=later) == 1
        booking.refresh_from_db(), payment.refresh_from_db()
        assert booking.status == BookingStatus.EXPIRED and payment.status == "requires_payment_method"
        assert services.bookings_expire_due(now=later) == 0
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.CANCELED

    def test_a_payment_that_succeeds_late_is_refunded_in_full(self, django_capture_on_commit_callbacks):
        booking = BookingFactory()
        payment = intent_for(booking)
        late = time_machine.travel(booking.payment_due_by + timedelta(seconds=5))
        with late, django_capture_on_commit_callbacks(execute=True):
            deliver("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
        booking.refresh_from_db()
        assert booking.status == BookingStatus.EXPIRED  # it was never paid in time
        refund = Refund.objects.get(booking=booking)
        assert (refund.origin, refund.amount, refund.status) == (RefundOrigin.LATE_PAYMENT, booking.price, "succeeded")
        assert refund.requested_by is None and refund.decided_by is None
        earnings = tutor_earnings(tutor_id=booking.tutor_id)
        assert (earnings.pending_earnings, earnings.total_earnings, earnings.payments_count) == (0, 0, 0)

    def test_a_payment_for_a_cancelled_booking_is_refunded(self, client_for, django_capture_on_commit_callbacks):
        booking = BookingFactory()
        payment = intent_for(booking)
        data(client_for(booking.student).post(f"{BOOKINGS}/{booking.pk}/cancel"))
        # Stripe could not cancel in time: the success arrives anyway.
        with django_capture_on_commit_callbacks(execute=True):
            deliver("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CANCELLED
        assert Refund.objects.get(booking=booking).status == RefundStatus.SUCCEEDED


class TestClassWindow:
    def start(self, client_for, session):
        return client_for(session.booking.tutor).post(f"/api/live/sessions/{session.pk}/start")

    def at(self, session, offset: timedelta):
        return time_machine.travel(session.booking.start_time + offset, tick=False)

    def test_16_minutes_early_is_409(self, client_for):
        session = SessionFactory(booking__start_time=in_days(2))
        with self.at(session, -timedelta(minutes=16)):
            assert_error(self.start(client_for, session), 409)
        session.refresh_from_db()
        assert session.status == SessionStatus.CREATED

    def test_15_minutes_early_is_fine(self, client_for):
        session = SessionFactory(booking__start_time=in_days(2))
        with self.at(session, -timedelta(minutes=15)):
            assert data(self.start(client_for, session))["status"] == "active"

    def test_after_the_end_is_409(self, client_for):
        session = SessionFactory(booking__start_time=in_days(2))
        with self.at(session, timedelta(minutes=session.booking.duration_minutes, seconds=1)):
            assert_error(self.start(client_for, session), 409)

    def test_the_window_comes_from_settings(self, client_for, settings):
        settings.CLASS_START_EARLY_MINUTES = 60
        session = SessionFactory(booking__start_time=in_days(2))
        with self.at(session, -timedelta(minutes=59)):
            assert data(self.start(client_for, session))["status"] == "active"

    def test_a_cancelled_booking_cannot_start(self, client_for):
        session = SessionFactory(booking__status=BookingStatus.CANCELLED)
        assert_error(self.start(client_for, session), 409)


class TestMissed:
    def test_a_paid_class_never_held_becomes_missed_with_a_refund_request(self):
        booking = paid_booking(start_time=in_days(1))
        due = booking.end_time + timedelta(hours=settings.EARNINGS_HOLD_HOURS)
        assert services.bookings_mark_missed_due(now=due - timedelta(seconds=1)) == 0
        assert services.bookings_mark_missed_due(now=due) == 1
        assert services.bookings_mark_missed_due(now=due) == 0  # twice: one refund request
        booking.refresh_from_db()
        assert booking.status == BookingStatus.MISSED
        refund = Refund.objects.get(booking=booking)
        assert (refund.status, refund.origin, refund.amount, refund.reason) == (
            RefundStatus.PENDING,
            RefundOrigin.MISSED,
            booking.price,
            "class not held",
        )
        # The money stays pending for staff to decide.
        assert tutor_earnings(tutor_id=booking.tutor_id).pending_earnings == 5100

    def test_a_class_that_started_is_not_missed(self):
        session = SessionFactory(
            status=SessionStatus.ACTIVE, actual_start_time=timezone.now(), booking__start_time=in_days(1)
        )
        later = session.booking.end_time + timedelta(hours=settings.EARNINGS_HOLD_HOURS, minutes=1)
        assert services.bookings_mark_missed_due(now=later) == 0
        session.booking.refresh_from_db()
        assert session.booking.status == BookingStatus.PAID


class TestCancellation:
    def cancel(self, client_for, user, booking):
        return client_for(user).post(f"{BOOKINGS}/{booking.pk}/cancel")

    def test_the_student_cancels_a_day_ahead_and_is_refunded_without_staff(
        self, client_for, django_capture_on_commit_callbacks
    ):
        booking = paid_booking(start_time=timezone.now() + timedelta(hours=settings.FREE_CANCELLATION_HOURS) + MINUTE)
        with django_capture_on_commit_callbacks(execute=True):
            body = data(self.cancel(client_for, booking.student, booking))
        assert body["status"] == "cancelled"
        booking.refresh_from_db()
        assert booking.status == BookingStatus.REFUNDED  # once Stripe confirmed (the sandbox at commit)
        refund = Refund.objects.get(booking=booking)
        assert (refund.status, refund.origin, refund.amount) == ("succeeded", RefundOrigin.CANCELLATION, booking.price)
        assert refund.decided_by is None and refund.decision_note.startswith("automatic")
        earnings = tutor_earnings(tutor_id=booking.tutor_id)
        assert (earnings.pending_earnings, earnings.total_earnings, earnings.payments_count) == (0, 0, 1)

    def test_later_the_student_gets_409(self, client_for):
        booking = paid_booking(
            start_time=timezone.now() + timedelta(hours=settings.FREE_CANCELLATION_HOURS, minutes=-1)
        )
        url = f"{BOOKINGS}/{booking.pk}/cancel"
        assert_error(self.cancel(client_for, booking.student, booking), 409, url, "POST")
        booking.refresh_from_db()
        assert booking.status == BookingStatus.PAID and not Refund.objects.exists()

    def test_the_tutor_cancels_until_the_start_with_a_full_refund(self, client_for, django_capture_on_commit_callbacks):
        booking = paid_booking(start_time=timezone.now() + timedelta(minutes=30))
        with django_capture_on_commit_callbacks(execute=True):
            assert data(self.cancel(client_for, booking.tutor, booking))["status"] == "cancelled"
        booking.refresh_from_db()
        assert booking.status == BookingStatus.REFUNDED
        assert Refund.objects.get(booking=booking).amount == booking.price

    def test_not_once_the_class_has_started(self, client_for):
        booking = paid_booking(start_time=timezone.now() + timedelta(minutes=30))
        with time_machine.travel(booking.start_time + timedelta(seconds=1)):
            assert_error(self.cancel(client_for, booking.tutor, booking), 409)

    def test_a_cancelled_paid_booking_frees_the_time_at_once(self, client_for, django_capture_on_commit_callbacks):
        booking = paid_booking(start_time=in_days(3))
        data(self.cancel(client_for, booking.student, booking))
        start = booking.start_time.isoformat()
        assert data(book(client_for(StudentFactory()), booking.tutor, start), 201)

    def test_a_pending_refund_request_is_taken_over(self, client_for, django_capture_on_commit_callbacks):
        booking = paid_booking(start_time=in_days(3))
        client_for(booking.student).post("/api/payments/refunds", {"bookingId": str(booking.pk), "reason": "ill"})
        with django_capture_on_commit_callbacks(execute=True):
            data(self.cancel(client_for, booking.student, booking))
        refund = Refund.objects.get(booking=booking)
        assert (refund.status, refund.origin, refund.reason) == ("succeeded", RefundOrigin.CANCELLATION, "ill")

    def test_a_provider_failure_changes_nothing(self, client_for, stripe_stub):
        booking = paid_booking(start_time=in_days(3))
        stripe_stub.fail("POST", "/v1/refunds", Failure(status=500))
        assert_error(self.cancel(client_for, booking.student, booking), 502)
        booking.refresh_from_db()
        assert booking.status == BookingStatus.PAID and not Refund.objects.exists()


class TestCurrency:
    PATH = "/api/tutors/me"

    def test_unknown_currency_is_400(self, client_for):
        tutor = TutorFactory()
        for code in ["xyz", "XYZ", "us", "usdd", "12a"]:
            assert_error(client_for(tutor).patch(self.PATH, {"currency": code}), 400, self.PATH, "PATCH")
        assert data(client_for(tutor).patch(self.PATH, {"currency": "GBP"}))["currency"] == "gbp"

    def test_frozen_once_a_booking_exists(self, client_for):
        booking = BookingFactory()
        client = client_for(booking.tutor)
        assert_error(client.patch(self.PATH, {"currency": "jpy"}), 409, self.PATH, "PATCH")
        assert data(client.patch(self.PATH, {"currency": "usd", "bio": "same currency is fine"}))["currency"] == "usd"
        assert booking.tutor.tutor_profile.currency == "usd"

    def test_a_jpy_booking_prices_in_whole_yen(self, client_for):
        tutor = TutorFactory(profile__hourly_rate=4500, profile__currency="jpy")
        created = data(book(client_for(StudentFactory()), tutor, in_days(2).isoformat(), 45), 201)
        assert (created["price"], created["currency"]) == (3375, "jpy")  # ¥4,500/h × 45 min

    def test_three_decimal_currencies_price_in_steps_of_ten(self, client_for):
        tutor = TutorFactory(profile__hourly_rate=12345, profile__currency="kwd")
        created = data(book(client_for(StudentFactory()), tutor, in_days(2).isoformat(), 60), 201)
        assert created["price"] == 12350
