"""An offline stand-in for Stripe with Stripe's formats, delivering its events as signed webhooks.

Ids look like Stripe's (`pi_…`, `pi_…_secret_…`, `re_…`, `evt_…`). Events are built as Stripe builds
them, signed with `STRIPE_WEBHOOK_SECRET` exactly as Stripe signs, and handed to the same function
the webhook endpoint calls — so the sandbox exercises verification, deduplication and dispatch.
"""

from __future__ import annotations

import json
import secrets
import string
import time

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext
from stripe import WebhookSignature

from payments.stripe import AccountResult, IntentResult, RefundResult, TransferResult, get_provider
from tutoring.errors import Conflict, NotFound

ONBOARDING_SALT = "sandbox-onboarding"

_ALPHABET = string.ascii_letters + string.digits
API_VERSION = "2025-10-29.clover"


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def stripe_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{_random(length)}"


def signed_event(event_type: str, obj: dict, *, created: int | None = None) -> tuple[bytes, str]:
    """A Stripe event around `obj` as (raw body, Stripe-Signature header)."""
    event = {
        "id": stripe_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created if created is not None else int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    payload = json.dumps(event)
    return payload.encode(), WebhookSignature.generate_signature_header(payload, settings.STRIPE_WEBHOOK_SECRET)


def deliver(event_type: str, obj: dict) -> None:
    """Send an event through the webhook handler, as Stripe's delivery would."""
    from payments.webhooks import webhook_receive

    payload, signature = signed_event(event_type, obj)
    webhook_receive(payload=payload, signature=signature)


def deliver_on_commit(event_type: str, obj: dict) -> None:
    """Stripe sends events after the API call returns; here, after the caller's transaction commits."""
    transaction.on_commit(lambda: deliver(event_type, obj))


class SandboxStripe:
    sandbox = True

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], transfer_group: str, idempotency_key: str
    ) -> IntentResult:
        intent_id = stripe_id("pi")
        return IntentResult(
            id=intent_id, client_secret=f"{intent_id}_secret_{_random(25)}", status="requires_payment_method"
        )

    def cancel_payment_intent(self, *, payment_intent_id: str, idempotency_key: str) -> str:
        return "canceled"

    def create_refund(
        self, *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> RefundResult:
        from payments.models import Payment

        refund_id = stripe_id("re")
        currency = Payment.objects.filter(provider_id=payment_intent_id).values_list("currency", flat=True).first()
        # Card refunds settle asynchronously: Stripe answers `pending`, then reports the outcome.
        deliver_on_commit(
            "refund.updated",
            {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "currency": currency or "usd",
                "payment_intent": payment_intent_id,
                "metadata": metadata,
                "status": "succeeded",
            },
        )
        return RefundResult(id=refund_id, status="pending")

    def create_account(self, *, email: str, metadata: dict[str, str], idempotency_key: str) -> AccountResult:
        return AccountResult(id=stripe_id("acct", 16), payouts_enabled=False, transfers_active=False)

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """A link to this site's sandbox onboarding page, standing in for Stripe's hosted onboarding."""
        # The nonce makes every link new, as Stripe's are.
        token = signing.dumps({"account": account_id, "return": return_url, "n": _random(8)}, salt=ONBOARDING_SALT)
        return f"{settings.SITE_URL}{reverse('sandbox-onboarding', args=[token])}"

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> TransferResult:
        return TransferResult(id=stripe_id("tr"))


def payment_intent_snapshot(payment, *, status: str, **extra) -> dict:
    """The PaymentIntent object Stripe puts in events, for a Payment of ours."""
    booking = payment.booking
    return {
        "id": payment.provider_id,
        "object": "payment_intent",
        "amount": payment.amount,
        "amount_received": payment.amount if status == "succeeded" else 0,
        "currency": payment.currency,
        "client_secret": payment.client_secret,
        "latest_charge": stripe_id("ch") if status == "succeeded" else None,
        "metadata": {
            "booking_id": str(booking.pk),
            "tutor_id": str(booking.tutor_id),
            "student_id": str(booking.student_id),
        },
        "status": status,
        "transfer_group": f"booking_{booking.pk}",
        "livemode": False,
        **extra,
    }


def account_snapshot(account_id: str, *, verified: bool, metadata: dict | None = None) -> dict:
    """The Account object Stripe puts in `account.updated` once onboarding is done (or not)."""
    return {
        "id": account_id,
        "object": "account",
        "type": "express",
        "capabilities": {"transfers": "active" if verified else "inactive"},
        "charges_enabled": verified,
        "payouts_enabled": verified,
        "details_submitted": verified,
        "requirements": {"currently_due": [] if verified else ["external_account"], "disabled_reason": None},
        "metadata": metadata or {},
    }


# --- what a person does on Stripe's pages -----------------------------------------------------------


def payment_sandbox_confirm(*, payment_intent_id: str, user, outcome: str = "succeeded"):
    """The student "pays" (or the card is declined) on the sandbox's stand-in for Stripe's card form;
    Stripe's event goes through the webhook handler. 404 with real Stripe keys.

    Like Stripe, the sandbox never lets a cancelled intent succeed: the booking and the payment are
    locked (in that order) while the state is checked and the event is processed, so a cancellation
    racing this comes wholly before (409 here) or wholly after (then a paid booking is cancelled).
    """
    from django.db import transaction

    from payments.models import CANCELLABLE_INTENT_STATUSES, Payment
    from payments.selectors import payment_get_for_student
    from tutoring.models import Booking, BookingStatus

    if not get_provider().sandbox:
        raise NotFound(gettext("Not found."))
    found = payment_get_for_student(provider_id=payment_intent_id, user=user)
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=found.booking_id)
        payment = Payment.objects.select_for_update().get(pk=found.pk)
        status = booking.current_status()
        if status != BookingStatus.PENDING_PAYMENT:
            raise Conflict(gettext("This booking is %(status)s; there is nothing to pay.") % {"status": status})
        if payment.status not in CANCELLABLE_INTENT_STATUSES:
            raise Conflict(gettext("This payment is %(status)s; there is nothing to pay.") % {"status": payment.status})
        if outcome == "succeeded":
            deliver("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
        else:
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": "Your card was declined.",
            }
            snapshot = payment_intent_snapshot(payment, status="requires_payment_method", last_payment_error=error)
            deliver("payment_intent.payment_failed", snapshot)
    payment.refresh_from_db()
    payment.booking.refresh_from_db()
    return payment
