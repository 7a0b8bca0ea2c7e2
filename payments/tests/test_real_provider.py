"""The real provider: the official SDK against a local stub of the Stripe API."""

import pytest

from payments.models import Payment, Refund, RefundStatus
from payments.selectors import tutor_earnings
from payments.tests.factories import paid_booking
from payments.tests.stripe_stub import Failure
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

INTENTS = "/api/payments/intents"


def test_intent_request_as_sent(client_for, stripe_stub):
    booking = BookingFactory()
    body = data(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)}))
    (call,) = stripe_stub.calls("POST", "/v1/payment_intents")
    assert call.headers["Idempotency-Key"] == f"pi-create-{booking.pk}"
    assert call.headers["Authorization"] == "Bearer sk_test_stub_key"
    assert call.form == {
        "amount": str(booking.price),
        "currency": "usd",
        "metadata[booking_id]": str(booking.pk),
        "metadata[tutor_id]": str(booking.tutor_id),
        "metadata[student_id]": str(booking.student_id),
        "transfer_group": f"booking_{booking.pk}",
        "automatic_payment_methods[enabled]": "true",
    }
    stored = stripe_stub.objects[body["paymentIntentId"]]
    assert body["clientSecret"] == stored["client_secret"]
    # The second call is answered from our database: no second request to Stripe.
    assert data(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)})) == body
    assert len(stripe_stub.calls("POST", "/v1/payment_intents")) == 1


@pytest.mark.parametrize(
    "failure",
    [
        Failure(status=500),
        Failure(status=402, error={"type": "card_error", "code": "card_declined", "message": "Declined."}),
        Failure(status=400, error={"type": "invalid_request_error", "message": "Bad currency.", "param": "currency"}),
        Failure(status=401, error={"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test"}),
        Failure(status=200, delay=1.5),  # past the client's 0.5 s timeout
    ],
    ids=["500", "card_error", "invalid_request", "bad_key", "timeout"],
)
def test_provider_failures_are_502_and_write_nothing(client_for, stripe_stub, failure):
    booking = BookingFactory()
    stripe_stub.fail("POST", "/v1/payment_intents", failure)
    response = client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)})
    body = assert_error(response, 502, INTENTS, "POST")
    assert "sk_test" not in response.content.decode() and "Bad currency" not in body["message"]
    assert not Payment.objects.exists()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING_PAYMENT


def test_sandbox_confirm_is_404_with_real_keys(client_for, stripe_stub):
    booking = BookingFactory()
    intent = data(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)}))
    response = client_for(booking.student).post(
        "/api/payments/sandbox/confirm", {"paymentIntentId": intent["paymentIntentId"]}
    )
    assert_error(response, 404)


def test_refund_request_as_sent_and_status_applied_at_once(client_for, staff, settings):
    booking = paid_booking()  # paid in the sandbox; the refund goes to the (stubbed) real Stripe
    refund = data(
        client_for(booking.student).post("/api/payments/refunds", {"bookingId": str(booking.pk), "reason": "ill"}),
        201,
    )
    from payments.tests.stripe_stub import StripeStub

    with StripeStub() as stub:
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE = "sk_test_stub_key", stub.url
        body = data(client_for(staff).post(f"/api/payments/refunds/{refund['id']}/approve", {"amount": 1500}))
    (call,) = stub.calls("POST", "/v1/refunds")
    assert call.headers["Idempotency-Key"] == f"refund-{refund['id']}"
    assert call.form == {
        "payment_intent": booking.payment.provider_id,
        "amount": "1500",
        "metadata[refund_id]": refund["id"],
        "metadata[booking_id]": str(booking.pk),
    }
    # The stub answers `succeeded`: applied without waiting for the webhook.
    assert body["status"] == "succeeded" and body["amount"] == 1500
    booking.refresh_from_db()
    assert booking.status == BookingStatus.REFUNDED
    assert tutor_earnings(tutor_id=booking.tutor_id).total_earnings == 5100 - 1275


def test_refund_provider_failure_leaves_it_pending(client_for, staff, stripe_stub):
    booking = BookingFactory(status=BookingStatus.PENDING_PAYMENT)
    # Pay through the stubbed provider, then the signed webhook (sandbox helpers only build the event).
    intent = data(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)}))
    from payments.stripe.sandbox import deliver, payment_intent_snapshot

    deliver(
        "payment_intent.succeeded",
        payment_intent_snapshot(Payment.objects.get(provider_id=intent["paymentIntentId"]), status="succeeded"),
    )
    refund = data(
        client_for(booking.student).post("/api/payments/refunds", {"bookingId": str(booking.pk), "reason": "x"}), 201
    )
    stripe_stub.fail("POST", "/v1/refunds", Failure(status=500, times=1))
    url = f"/api/payments/refunds/{refund['id']}/approve"
    assert_error(client_for(staff).post(url, {"note": "ok"}), 502, url, "POST")
    stored = Refund.objects.get()
    assert (stored.status, stored.decided_by, stored.provider_id) == (RefundStatus.PENDING, None, None)
    # Retrying after the failure uses the same idempotency key and goes through.
    assert data(client_for(staff).post(url, {"note": "ok"}))["status"] == "succeeded"
    keys = [c.headers["Idempotency-Key"] for c in stripe_stub.calls("POST", "/v1/refunds")]
    assert keys == [f"refund-{refund['id']}"] * 2


def test_booking_cancel_cancels_the_intent_at_stripe(client_for, stripe_stub):
    booking = BookingFactory()
    intent = data(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)}))
    assert data(client_for(booking.student).post(f"/api/bookings/{booking.pk}/cancel"))["status"] == "cancelled"
    (call,) = stripe_stub.calls("POST", f"/v1/payment_intents/{intent['paymentIntentId']}/cancel")
    assert call.headers["Idempotency-Key"] == f"pi-cancel-{booking.pk}"
    assert Payment.objects.get().status == "canceled"


def test_booking_cancel_refused_when_stripe_already_took_the_money(client_for, stripe_stub):
    booking = BookingFactory()
    intent = data(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)}))
    pi = intent["paymentIntentId"]
    stripe_stub.fail(
        "POST",
        f"/v1/payment_intents/{pi}/cancel",
        Failure(
            status=400,
            error={
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "This PaymentIntent's status is succeeded.",
            },
        ),
    )
    stripe_stub.objects[pi]["status"] = "succeeded"
    assert_error(client_for(booking.student).post(f"/api/bookings/{booking.pk}/cancel"), 409)
    assert stripe_stub.calls("GET", f"/v1/payment_intents/{pi}")
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING_PAYMENT


def test_booking_cancel_provider_failure_is_502_and_keeps_the_booking(client_for, stripe_stub):
    booking = BookingFactory()
    intent = data(client_for(booking.student).post(INTENTS, {"bookingId": str(booking.pk)}))
    stripe_stub.fail("POST", f"/v1/payment_intents/{intent['paymentIntentId']}/cancel", Failure(status=503))
    assert_error(client_for(booking.student).post(f"/api/bookings/{booking.pk}/cancel"), 502)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PENDING_PAYMENT
    assert Payment.objects.get().status == "requires_payment_method"
