"""Money and time rules under real concurrency on PostgreSQL: one lock order (booking, then payment,
then refund) for every path, and jobs that may run twice at once."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from stripe import WebhookSignature

from payments import ledger, services
from payments.models import LedgerEntry, Payment, PaymentStatus, Refund, RefundStatus
from payments.stripe.sandbox import payment_intent_snapshot, stripe_id
from payments.tests.factories import intent_for, paid_booking
from tutoring import services as bookings
from tutoring.models import Booking, BookingStatus
from tutoring.services import booking_complete
from tutoring.tests.factories import BookingFactory
from tutoring.tests.utils import bearer, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PAIRS = 12


def client(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=bearer(user))
    return api


def succeeded_webhook(payment) -> tuple[str, str]:
    payload = json.dumps(
        {
            "id": stripe_id("evt"),
            "object": "event",
            "created": int(timezone.now().timestamp()),
            "type": "payment_intent.succeeded",
            "data": {"object": payment_intent_snapshot(payment, status="succeeded")},
        }
    )
    return payload, WebhookSignature.generate_signature_header(payload, settings.STRIPE_WEBHOOK_SECRET)


def assert_no_money_on_a_gone_booking():
    """Every succeeded payment is either on a booking that holds it, or refunded (or being refunded)."""
    for payment in Payment.objects.filter(status=PaymentStatus.SUCCEEDED).select_related("booking"):
        if payment.booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED, BookingStatus.REFUNDED):
            refund = Refund.objects.get(booking=payment.booking)
            assert refund.status in (RefundStatus.APPROVED, RefundStatus.SUCCEEDED), payment.booking.status
    assert ledger.audit() == []
    assert ledger.verify_balances() == []


def test_cancel_racing_the_success_webhook_never_deadlocks_or_strands_money():
    bookings_ = [BookingFactory(start_time=timezone.now() + timedelta(days=3, hours=2 * i)) for i in range(PAIRS)]
    payments = [intent_for(b) for b in bookings_]

    def act(i):
        booking, payment = bookings_[i // 2], payments[i // 2]
        if i % 2 == 0:
            response = client(booking.student).post(f"/api/bookings/{booking.pk}/cancel")
        else:
            payload, header = succeeded_webhook(payment)
            response = APIClient().generic(
                "POST", "/api/webhooks/stripe", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
            )
        return response.status_code

    codes = run_concurrently(act, 2 * PAIRS)
    assert all(code in (200, 409) for code in codes), codes
    assert all(codes[i] == 200 for i in range(1, 2 * PAIRS, 2)), "every webhook delivery is taken"
    for booking in Booking.objects.all():
        assert booking.status in (BookingStatus.PAID, BookingStatus.CANCELLED, BookingStatus.REFUNDED)
    assert_no_money_on_a_gone_booking()


def test_cancel_racing_the_sandbox_card_form():
    """The sandbox behaves like Stripe: a cancelled intent never succeeds."""
    bookings_ = [BookingFactory(start_time=timezone.now() + timedelta(days=3, hours=2 * i)) for i in range(PAIRS)]
    payments = [intent_for(b) for b in bookings_]

    def act(i):
        booking, payment = bookings_[i // 2], payments[i // 2]
        api = client(booking.student)
        if i % 2 == 0:
            return api.post(f"/api/bookings/{booking.pk}/cancel").status_code
        return api.post("/api/payments/sandbox/confirm", {"paymentIntentId": payment.provider_id}).status_code

    codes = run_concurrently(act, 2 * PAIRS)
    assert all(code in (200, 409) for code in codes), codes
    for payment in Payment.objects.select_related("booking"):
        assert not (payment.status == PaymentStatus.SUCCEEDED and payment.booking.status == BookingStatus.CANCELLED)
    assert_no_money_on_a_gone_booking()


def test_the_jobs_run_concurrently_without_double_effects():
    now = timezone.now()
    unpaid = [BookingFactory() for _ in range(3)]
    for booking in unpaid:
        intent_for(booking)
    held = [paid_booking() for _ in range(3)]
    for booking in held:
        booking_complete(booking_id=booking.pk, at=now - timedelta(hours=settings.EARNINGS_HOLD_HOURS, minutes=1))
    never_held = [paid_booking(start_time=now - timedelta(days=3)) for _ in range(3)]
    later = now + timedelta(minutes=settings.BOOKING_PAYMENT_TTL_MINUTES, seconds=1)

    jobs = [
        lambda: bookings.bookings_expire_due(now=later),
        lambda: services.earnings_release_due(now=later),
        lambda: bookings.bookings_mark_missed_due(now=later),
    ]
    results = run_concurrently(lambda i: jobs[i % 3](), 12)
    assert sum(results[0::3]) == 3 and sum(results[1::3]) == 3 and sum(results[2::3]) == 3
    assert Booking.objects.filter(status=BookingStatus.EXPIRED).count() == 3
    assert Payment.objects.filter(status=PaymentStatus.CANCELED).count() == 3
    assert LedgerEntry.objects.filter(kind="release").count() == 2 * 3
    assert Booking.objects.filter(status=BookingStatus.MISSED).count() == 3
    assert Refund.objects.filter(booking__in=never_held, status=RefundStatus.PENDING).count() == 3
    assert ledger.verify_balances() == [] and ledger.audit() == []
