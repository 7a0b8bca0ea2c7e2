"""Stripe webhooks, signed exactly as Stripe signs them (stripe.WebhookSignature.generate_signature_header)."""

import json
import time

import pytest
from stripe import WebhookSignature

from payments.models import LedgerEntry, Payment, WebhookEvent
from payments.stripe.sandbox import payment_intent_snapshot, stripe_id
from payments.tests.factories import intent_for
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory
from tutoring.tests.utils import assert_error, data

pytestmark = pytest.mark.django_db

URL = "/api/webhooks/stripe"
SECRET = "whsec_sandbox"


def event(event_type, obj, *, created=None, event_id=None):
    return {
        "id": event_id or stripe_id("evt"),
        "object": "event",
        "api_version": "2025-10-29.clover",
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "type": event_type,
    }


def post(api, body, *, secret=SECRET, header=None, timestamp=None):
    payload = body if isinstance(body, str) else json.dumps(body)
    if header is None:
        header = WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return api.generic("POST", URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


@pytest.fixture
def pending():
    booking = BookingFactory()
    return booking, intent_for(booking)


def state(booking):
    booking.refresh_from_db()
    return (
        booking.status,
        Payment.objects.get(booking=booking).status,
        LedgerEntry.objects.filter(booking=booking).count(),
    )


def test_succeeded_marks_paid_once(api, pending):
    booking, payment = pending
    body = event("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
    first = data(post(api, body))
    assert first == {"received": True, "duplicate": False, "outcome": "booking paid"}
    assert state(booking) == (BookingStatus.PAID, "succeeded", 2)
    again = data(post(api, body))
    assert again["duplicate"] is True
    assert state(booking) == (BookingStatus.PAID, "succeeded", 2)
    assert WebhookEvent.objects.filter(event_id=body["id"]).count() == 1


@pytest.mark.parametrize(
    "how",
    ["no header", "garbage header", "wrong secret", "tampered body", "too old", "signature of another body"],
)
def test_unverified_deliveries_are_400_and_change_nothing(api, pending, how):
    booking, payment = pending
    body = event("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
    payload = json.dumps(body)
    if how == "no header":
        response = api.generic("POST", URL, payload, content_type="application/json")
    elif how == "garbage header":
        response = post(api, body, header="t=1,v1=deadbeef")
    elif how == "wrong secret":
        response = post(api, body, secret="whsec_someone_else")
    elif how == "tampered body":
        header = WebhookSignature.generate_signature_header(payload, SECRET)
        response = post(api, payload.replace('"livemode": false', '"livemode": true'), header=header)
    elif how == "too old":
        response = post(api, body, timestamp=int(time.time()) - 3600)
    else:
        header = WebhookSignature.generate_signature_header(json.dumps({**body, "id": "evt_other"}), SECRET)
        response = post(api, body, header=header)
    assert_error(response, 400, URL, "POST")
    assert state(booking) == (BookingStatus.PENDING_PAYMENT, "requires_payment_method", 0)
    assert not WebhookEvent.objects.exists()


def test_signed_but_malformed_is_400(api):
    assert_error(post(api, "{not json"), 400)
    assert_error(post(api, {"id": "evt_1", "type": "x"}), 400)
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 1},
        {"amount_received": 5999, "amount": 5999},
        {"currency": "eur"},
        {"metadata": {"booking_id": "other"}},
    ],
)
def test_mismatch_does_not_mark_paid(api, pending, change):
    booking, payment = pending
    snapshot = {**payment_intent_snapshot(payment, status="succeeded"), **change}
    outcome = data(post(api, event("payment_intent.succeeded", snapshot)))["outcome"]
    assert outcome.startswith("rejected:")
    assert state(booking) == (BookingStatus.PENDING_PAYMENT, "requires_payment_method", 0)
    assert "Does not match" in Payment.objects.get().failure_message


def test_unknown_types_and_intents_are_200_and_ignored(api, pending):
    booking, _ = pending
    assert data(post(api, event("customer.created", {"id": "cus_1", "object": "customer"})))["outcome"].startswith(
        "ignored"
    )
    unknown = {"id": "pi_unknown", "object": "payment_intent", "amount": 1, "currency": "usd", "metadata": {}}
    assert data(post(api, event("payment_intent.succeeded", unknown)))["outcome"] == "ignored: unknown payment intent"
    assert WebhookEvent.objects.count() == 2
    assert state(booking)[0] == BookingStatus.PENDING_PAYMENT


def test_out_of_order_snapshots(api, pending):
    booking, payment = pending
    now = int(time.time())
    failed = payment_intent_snapshot(payment, status="requires_payment_method", last_payment_error={"code": "x"})
    succeeded = payment_intent_snapshot(payment, status="succeeded")
    # The later failure arrives first, then an older failure: the older snapshot is ignored.
    assert (
        data(post(api, event("payment_intent.payment_failed", failed, created=now - 10)))["outcome"] == "payment failed"
    )
    older = data(post(api, event("payment_intent.payment_failed", failed, created=now - 20)))
    assert older["outcome"] == "ignored: older snapshot"
    # The success (newest) applies; a failure created before it, delivered after it, changes nothing.
    assert data(post(api, event("payment_intent.succeeded", succeeded, created=now)))["outcome"] == "booking paid"
    late = data(post(api, event("payment_intent.payment_failed", failed, created=now - 5)))
    assert late["outcome"].startswith("ignored")
    assert state(booking) == (BookingStatus.PAID, "succeeded", 2)


def test_a_handler_failure_rolls_back_so_stripe_retries(api, pending, monkeypatch):
    _, payment = pending
    from payments import webhooks

    def boom(obj, created, event):
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(webhooks.HANDLERS, "payment_intent.succeeded", boom)
    body = event("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
    api.raise_request_exception = False
    assert_error(post(api, body), 500, URL, "POST")
    assert not WebhookEvent.objects.exists()
    monkeypatch.undo()
    assert data(post(api, body))["outcome"] == "booking paid"


def test_webhooks_are_not_rate_limited(api, settings):
    settings.RATE_LIMIT_API = "2/m"
    for _ in range(5):
        body = event("customer.updated", {"id": "cus_1"})
        assert post(api, body).status_code == 200
