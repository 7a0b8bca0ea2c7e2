"""Every write of payments: intents, the payment outcome, refunds and their staff review (docs/money.md).

Provider calls happen inside the transaction that holds the lock on what they change (the booking
for an intent, the refund for a refund), so concurrent requests make one provider call; a provider
failure raises before anything is written, and the idempotency keys (derived from our ids) make a
retry after an unknown outcome return the same Stripe object instead of a second one.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from payments import ledger
from payments.models import OPEN_REFUND_STATUSES, Payment, PaymentStatus, Refund, RefundStatus
from payments.snapshots import lock_for_snapshot
from payments.stripe import get_provider
from tutoring.access import check_booking_access
from tutoring.decisions import decide, lock_pending, rejection_note
from tutoring.errors import ApplicationError, Conflict, Forbidden
from tutoring.models import Booking, BookingStatus, User

logger = logging.getLogger(__name__)

STUDENT_ONLY = "Only the booking's student can do this."


def _booking_for_student(booking_id, user: User) -> Booking:
    """The booking, row-locked, if `user` is its student: 404 for strangers, 403 for its tutor and staff."""
    booking = check_booking_access(
        Booking.objects.select_for_update().filter(pk=booking_id).first(), user, forbidden=STUDENT_ONLY
    )
    if booking.student_id != user.pk:
        raise Forbidden(STUDENT_ONLY)
    return booking


def payment_intent_create(*, booking_id, user: User) -> Payment:
    """The booking's one PaymentIntent: created on the first call, returned as it is on every other."""
    with transaction.atomic():
        booking = _booking_for_student(booking_id, user)
        existing = Payment.objects.filter(booking=booking).first()
        if booking.status != BookingStatus.PENDING_PAYMENT:
            raise Conflict(f"This booking is {booking.status}; only a booking pending payment can be paid.")
        if existing is not None:
            return existing
        result = get_provider().create_payment_intent(
            amount=booking.price,
            currency=booking.currency,
            metadata={"booking_id": str(booking.pk), "tutor_id": str(booking.tutor_id), "student_id": str(user.pk)},
            transfer_group=f"booking_{booking.pk}",
            idempotency_key=f"pi-create-{booking.pk}",
        )
        return Payment.objects.create(
            booking=booking,
            provider_id=result.id,
            client_secret=result.client_secret,
            amount=booking.price,
            currency=booking.currency,
            status=result.status,
        )


def payment_intent_cancel_for_booking(*, booking: Booking) -> None:
    """Called with the booking locked while it is being cancelled: the customer must not pay later.

    If Stripe says the intent already succeeded, the cancellation is refused (409): the money is in,
    and the booking becomes paid when the event arrives.
    """
    payment = Payment.objects.select_for_update().filter(booking=booking).first()
    if payment is None or payment.status == PaymentStatus.CANCELED:
        return
    if payment.status == PaymentStatus.SUCCEEDED:
        raise Conflict("This booking is already paid; ask for a refund instead.")
    status = get_provider().cancel_payment_intent(
        payment_intent_id=payment.provider_id, idempotency_key=f"pi-cancel-{booking.pk}"
    )
    if status != PaymentStatus.CANCELED:
        raise Conflict("The payment for this booking went through; ask for a refund instead.")
    payment.status = PaymentStatus.CANCELED
    payment.save(update_fields=["status", "updated_at"])


def payment_apply_snapshot(*, intent: dict, event_created: int, succeeded: bool) -> str:
    """Apply a verified `payment_intent.succeeded`/`payment_failed` snapshot. Returns what happened.

    The booking becomes `paid` only if the intent is ours for that booking and the amount and currency
    match the price fixed at booking time; anything else is recorded and left for staff.
    """
    with transaction.atomic():
        payment = lock_for_snapshot(
            Payment.objects, [Q(provider_id=intent["id"])], created=event_created, what="payment intent"
        )
        if payment.status == PaymentStatus.SUCCEEDED:
            return "ignored: already succeeded"
        if not succeeded:
            error = intent.get("last_payment_error") or {}
            payment.status = PaymentStatus.FAILED
            payment.failure_code = (error.get("decline_code") or error.get("code") or "")[:100]
            payment.failure_message = (error.get("message") or "")[:500]
            payment.save()
            return "payment failed"

        booking = Booking.objects.select_for_update().get(pk=payment.booking_id)
        mismatch = [
            name
            for name, got, expected in (
                ("booking", (intent.get("metadata") or {}).get("booking_id"), str(booking.pk)),
                ("amount", intent.get("amount"), booking.price),
                ("amount_received", intent.get("amount_received", booking.price), booking.price),
                ("currency", (intent.get("currency") or "").lower(), booking.currency),
            )
            if got != expected
        ]
        if mismatch:
            logger.error("payment %s does not match booking %s: %s", payment.provider_id, booking.pk, mismatch)
            payment.failure_message = f"Does not match the booking: {', '.join(mismatch)}."
            payment.save()
            return f"rejected: {', '.join(mismatch)} mismatch"

        payment.status = PaymentStatus.SUCCEEDED
        payment.succeeded_at = timezone.now()
        payment.failure_code = payment.failure_message = ""
        payment.save()
        if booking.status != BookingStatus.PENDING_PAYMENT:
            logger.error(
                "payment %s succeeded for booking %s in status %s", payment.provider_id, booking.pk, booking.status
            )
            return f"payment recorded; booking was {booking.status}"
        booking.status = BookingStatus.PAID
        booking.save(update_fields=["status", "updated_at"])
        ledger.record_payment(booking=booking, amount=payment.amount)
        return "booking paid"


# --- refunds -------------------------------------------------------------------------------------


def refund_request(*, booking_id, user: User, reason: str) -> Refund:
    """The student asks for their money back; staff decide. The full price unless staff approve less."""
    reason = reason.strip()
    if not 1 <= len(reason) <= 1000:
        raise ApplicationError("reason must be 1–1000 characters.", errors={"reason": ["1–1000 characters."]})
    with transaction.atomic():
        booking = _booking_for_student(booking_id, user)
        if booking.status not in (BookingStatus.PAID, BookingStatus.COMPLETED):
            raise Conflict(f"Only a paid or completed booking can be refunded (this one is {booking.status}).")
        if Refund.objects.filter(booking=booking, status__in=(*OPEN_REFUND_STATUSES, RefundStatus.SUCCEEDED)).exists():
            raise Conflict("This booking already has an open or completed refund.")
        payment = Payment.objects.filter(booking=booking, status=PaymentStatus.SUCCEEDED).first()
        if payment is None:
            raise Conflict("This booking has no card payment to refund.")
        return Refund.objects.create(
            booking=booking,
            payment=payment,
            amount=booking.price,
            currency=booking.currency,
            reason=reason,
            requested_by=user,
        )


def refund_approve(*, refund_id, staff: User, amount: int | None = None, note: str = "") -> Refund:
    """Approve and ask Stripe for the refund; the status Stripe returns is applied at once.

    The idempotency key is the refund's id alone, so a retry after a lost answer — even with another
    amount — can never create a second refund at Stripe.
    """
    with transaction.atomic():
        refund = lock_pending(
            Refund.objects.select_related("payment", "booking"), refund_id, staff=staff, what="refund"
        )
        if amount is not None:
            if not 0 < amount <= refund.payment.amount:
                raise ApplicationError(
                    f"amount must be between 1 and {refund.payment.amount}.",
                    errors={"amount": [f"Between 1 and {refund.payment.amount}."]},
                )
            refund.amount = amount
        result = get_provider().create_refund(
            payment_intent_id=refund.payment.provider_id,
            amount=refund.amount,
            metadata={"refund_id": str(refund.pk), "booking_id": str(refund.booking_id)},
            idempotency_key=f"refund-{refund.pk}",
        )
        decide(refund, staff=staff, status=RefundStatus.APPROVED, note=note)
        refund.provider_id = result.id
        refund.save()
        _refund_apply_status(refund, result.status, result.failure_reason)
    return refund


def refund_reject(*, refund_id, staff: User, note: str) -> Refund:
    note = rejection_note(note, what="refund")
    with transaction.atomic():
        refund = lock_pending(Refund.objects, refund_id, staff=staff, what="refund")
        decide(refund, staff=staff, status=RefundStatus.REJECTED, note=note)
        refund.save()
    return refund


def refund_apply_snapshot(*, refund_object: dict, event_created: int) -> str:
    """Apply a verified refund snapshot (`refund.updated`, `refund.failed`, or one inside `charge.refunded`)."""
    # Match by our id in the metadata first: an event racing the approval that created the refund at
    # Stripe then waits for that approval's lock instead of missing the not-yet-committed Stripe id.
    ours = (refund_object.get("metadata") or {}).get("refund_id")
    provider_id = refund_object.get("id")
    lookups = [Q(pk=ours, provider_id=provider_id)] if ours and _is_uuid(ours) else []
    with transaction.atomic():
        refund = lock_for_snapshot(
            Refund.objects, [*lookups, Q(provider_id=provider_id)], created=event_created, what="refund"
        )
        refund.save(update_fields=["last_event_created", "updated_at"])
        return _refund_apply_status(
            refund, refund_object.get("status") or "", refund_object.get("failure_reason") or ""
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _refund_apply_status(refund: Refund, provider_status: str, failure_reason: str = "") -> str:
    """Settle a refund from Stripe's status. Succeeded and failed are final; anything else waits."""
    if refund.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
        return f"ignored: refund already {refund.status}"
    refund.provider_status = provider_status
    if provider_status == "succeeded":
        booking = Booking.objects.select_for_update().get(pk=refund.booking_id)
        class_held = booking.status == BookingStatus.COMPLETED
        booking.status = BookingStatus.REFUNDED
        booking.save(update_fields=["status", "updated_at"])
        ledger.record_refund(booking=booking, refund=refund, class_held=class_held)
        refund.status = RefundStatus.SUCCEEDED
        refund.settled_at = timezone.now()
    elif provider_status in ("failed", "canceled"):
        refund.status = RefundStatus.FAILED
        refund.failure_reason = failure_reason[:200] or provider_status
        refund.settled_at = timezone.now()
    refund.save()
    return f"refund {refund.status}"
