"""`POST /api/webhooks/stripe`: verify, store once, dispatch by type (docs/money.md "Webhooks and ordering").

The signature is checked on the raw body. Each event id is inserted under a unique constraint in the
same transaction as its processing: a concurrent duplicate waits on that insert and then sees the
id taken, and a processing failure rolls the row back so Stripe's retry is processed again.
Handlers get the event's object snapshot and its `created`, and return a short outcome for the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from stripe import SignatureVerificationError, WebhookSignature

from payments import services
from payments.models import WebhookEvent
from payments.snapshots import Ignored
from tutoring.errors import ApplicationError

logger = logging.getLogger(__name__)

# handler(object snapshot, event's `created`, the whole event) -> outcome
Handler = Callable[[dict, int, dict], str]
HANDLERS: dict[str, Handler] = {}


def handles(*event_types: str) -> Callable[[Handler], Handler]:
    """Register a handler for event types; other apps (withdrawals) register theirs the same way."""

    def register(fn: Handler) -> Handler:
        for event_type in event_types:
            HANDLERS[event_type] = fn
        return fn

    return register


class InvalidWebhook(Exception):
    pass


def _verify(payload: bytes, signature: str | None) -> None:
    """Stripe signs platform events and Connect events (connected accounts) with each endpoint's own
    secret; STRIPE_WEBHOOK_SECRET may list both, comma-separated."""
    secrets = [s.strip() for s in settings.STRIPE_WEBHOOK_SECRET.split(",") if s.strip()] or [""]
    for secret in secrets[:-1]:
        try:
            WebhookSignature.verify_header(payload, signature, secret, tolerance=300)
            return
        except SignatureVerificationError:
            continue
    WebhookSignature.verify_header(payload, signature, secrets[-1], tolerance=300)


def webhook_receive(*, payload: bytes, signature: str | None) -> tuple[WebhookEvent | None, str]:
    """Verify and process one delivery. Returns (stored event or None if a duplicate, outcome)."""
    try:
        _verify(payload, signature)
        event = json.loads(payload)
        event_id, event_type, created = event["id"], event["type"], int(event["created"])
        obj = event["data"]["object"]
    except (SignatureVerificationError, ValueError, KeyError, TypeError) as exc:
        raise InvalidWebhook(str(exc)) from exc

    handler = HANDLERS.get(event_type)
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(
                event_id=event_id,
                type=event_type,
                created=created,
                object_id=str(obj.get("id", ""))[:255],
                payload=event,
            )
            try:
                outcome = handler(obj, created, event) if handler else "ignored: unhandled type"
            except Ignored as ignored:
                outcome = str(ignored)
            stored.outcome = outcome[:200]
            stored.save(update_fields=["outcome"])
    except IntegrityError:
        if WebhookEvent.objects.filter(event_id=event_id).exists():
            return None, "duplicate"
        raise
    logger.info("stripe event %s %s: %s", event_type, event_id, outcome)
    return stored, outcome


class StripeWebhookView(APIView):
    """Stripe calls this; it is authenticated by its signature only and never rate limited."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = ()

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT},
        responses=inline_serializer(
            "StripeWebhookReceived",
            {
                "received": serializers.BooleanField(),
                "duplicate": serializers.BooleanField(),
                "outcome": serializers.CharField(),
            },
        ),
        parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER, required=True)],
        tags=["webhooks"],
        description="Stripe events, verified with `STRIPE_WEBHOOK_SECRET` on the raw body (400 if not).",
    )
    def post(self, request):
        try:
            # The raw bytes, before any parsing: the signature covers them exactly.
            stored, outcome = webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature"))
        except InvalidWebhook as exc:
            raise ApplicationError("Invalid Stripe signature or payload.") from exc
        return Response({"received": True, "duplicate": stored is None, "outcome": outcome})


# --- handlers -------------------------------------------------------------------------------------


@handles("payment_intent.succeeded")
def _payment_succeeded(intent: dict, created: int, event: dict) -> str:
    return services.payment_apply_snapshot(intent=intent, event_created=created, succeeded=True)


@handles("payment_intent.payment_failed")
def _payment_failed(intent: dict, created: int, event: dict) -> str:
    return services.payment_apply_snapshot(intent=intent, event_created=created, succeeded=False)


@handles("refund.updated", "refund.failed", "refund.created")
def _refund_updated(refund: dict, created: int, event: dict) -> str:
    return services.refund_apply_snapshot(refund_object=refund, event_created=created)


@handles("charge.refunded")
def _charge_refunded(charge: dict, created: int, event: dict) -> str:
    # Newer API versions leave `refunds` out of the charge; then `refund.updated` settles it.
    refunds = (charge.get("refunds") or {}).get("data") or []
    if not refunds:
        return "ignored: no refund list on the charge"
    outcomes = []
    for refund in refunds:
        try:
            outcomes.append(services.refund_apply_snapshot(refund_object=refund, event_created=created))
        except Ignored as ignored:  # one unknown or stale refund must not hide the others
            outcomes.append(str(ignored))
    return "; ".join(outcomes)
