"""Money under real concurrency on PostgreSQL: one intent, one processing per event."""

import json

import pytest
from rest_framework.test import APIClient
from stripe import WebhookSignature

from payments.models import LedgerEntry, Payment, WebhookEvent
from payments.stripe.sandbox import payment_intent_snapshot, stripe_id
from payments.tests.factories import intent_for
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory
from tutoring.tests.utils import bearer, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_six_concurrent_intent_requests_make_one_provider_call(stripe_stub):
    booking = BookingFactory()

    def ask(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(booking.student))
        response = client.post("/api/payments/intents", {"bookingId": str(booking.pk)}, format="json")
        return response.status_code, response.json()["data"]

    results = run_concurrently(ask, 6)
    assert [code for code, _ in results] == [200] * 6
    assert len({body["clientSecret"] for _, body in results}) == 1
    assert len(stripe_stub.calls("POST", "/v1/payment_intents")) == 1
    assert Payment.objects.count() == 1


def test_the_same_event_five_times_concurrently_is_processed_once():
    booking = BookingFactory()
    payment = intent_for(booking)
    event = {
        "id": stripe_id("evt"),
        "object": "event",
        "created": 1_800_000_000,
        "livemode": False,
        "type": "payment_intent.succeeded",
        "data": {"object": payment_intent_snapshot(payment, status="succeeded")},
    }
    payload = json.dumps(event)

    def deliver(_):
        header = WebhookSignature.generate_signature_header(payload, "whsec_sandbox")
        response = APIClient().generic(
            "POST", "/api/webhooks/stripe", payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
        return response.status_code, response.json()["data"]["duplicate"]

    results = run_concurrently(deliver, 5)
    assert sorted(results) == [(200, False)] + [(200, True)] * 4
    assert WebhookEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(booking=booking).count() == 2
    booking.refresh_from_db()
    assert booking.status == BookingStatus.PAID
