"""Every write of payments: intents, the payment outcome, refunds and their review, and the release of
a held class's earnings (docs/money.md).

Locks are taken in one order everywhere: the booking, then its payment, then its refund. Provider calls
happen inside the transaction that holds the lock on what they change, so concurrent requests make one
provider call; a provider failure raises before anything is written, and the idempotency keys (derived
from our ids) make a retry after an unknown outcome return the same Stripe object instead of a second.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from notifications import services as notifications
from notifications.models import NotificationKind
from payments import ledger
from payments.models import (
    CANCELLABLE_INTENT_STATUSES,
    OPEN_REFUND_STATUSES,
    Payment,
    PaymentStatus,
    Refund,
    RefundOrigin,
    RefundStatus,
)
from payments.snapshots import Ignored, lock_for_snapshot
from payments.stripe import get_provider
from tutoring.access import check_booking_access
from tutoring.decisions import decide, lock_pending, rejection_note
from tutoring.errors import ApplicationError, Conflict, Forbidden
from tutoring.models import Booking, BookingStatus, User
from tutoring.money import amount_step

logger = logging.getLogger(__name__)

STUDENT_ONLY = gettext_lazy("Only the booking's student can do this.")


def _booking_for_student(booking_id, user: User) -> Booking:
    """The booking, row-locked, if `user` is its student: 404 for strangers, 403 for its tutor and staff."""
    booking = check_booking_access(
        Booking.objects.select_for_update().filter(pk=booking_id).first(), user, forbidden=STUDENT_ONLY
    )
    if booking.student_id != user.pk:
        raise Forbidden(STUDENT_ONLY)
    return booking


def _hold() -> timedelta:
    return timedelta(hours=settings.EARNINGS_HOLD_HOURS)


# --- payments --------------------------------------------------------------------------------------


def payment_intent_create(*, booking_id, user: User) -> Payment:
    """The booking's one PaymentIntent: created on the first call, returned as it is on every other."""
    with transaction.atomic():
        booking = _booking_for_student(booking_id, user)
        status = booking.current_status()
        if status != BookingStatus.PENDING_PAYMENT:
            raise Conflict(
                gettext("This booking is %(status)s; only a booking pending payment can be paid.") % {"status": status}
            )
        existing = Payment.objects.filter(booking=booking).first()
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
    """Called with the booking locked while it stops being payable: the customer must not pay later.

    If Stripe says the intent already succeeded, this is refused (409): the money is in, and its event
    settles the booking (paid, or refunded in full if the booking is gone by then).
    """
    payment = Payment.objects.select_for_update().filter(booking=booking).first()
    if payment is None or payment.status not in CANCELLABLE_INTENT_STATUSES:
        if payment is not None and payment.status == PaymentStatus.SUCCEEDED:
            raise Conflict(gettext("This booking is already paid; ask for a refund instead."))
        return
    status = get_provider().cancel_payment_intent(
        payment_intent_id=payment.provider_id, idempotency_key=f"pi-cancel-{booking.pk}"
    )
    if status != PaymentStatus.CANCELED:
        raise Conflict(gettext("The payment for this booking went through; ask for a refund instead."))
    payment.status = PaymentStatus.CANCELED
    payment.save(update_fields=["status", "updated_at"])


def payment_apply_snapshot(*, intent: dict, event_created: int, succeeded: bool) -> str:
    """Apply a verified `payment_intent.succeeded`/`payment_failed` snapshot. Returns what happened.

    The booking becomes `paid` only if the intent is ours for that booking, the amount and currency
    match the price fixed at booking time, and Stripe took the money (the event's `created`) within the
    booking's payment window. Money that arrives for a booking that expired or was cancelled first is
    refunded in full at once.
    """
    booking_id = Payment.objects.filter(provider_id=intent["id"]).values_list("booking_id", flat=True).first()
    if booking_id is None:
        raise Ignored("ignored: unknown payment intent")
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
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
        # When Stripe took the money (a late delivery of an on-time payment still counts), never later than now.
        paid_at = min(event_created, timezone.now().timestamp())
        in_time = paid_at < booking.payment_due_by.timestamp()
        if booking.status == BookingStatus.PENDING_PAYMENT and in_time:
            booking.status = BookingStatus.PAID
            booking.save(update_fields=["status", "updated_at"])
            ledger.record_payment(booking=booking, amount=payment.amount)
            notifications.notify_booking(kind=NotificationKind.BOOKING_PAID, booking=booking, tutor=True)
            return "booking paid"
        if booking.status == BookingStatus.PENDING_PAYMENT:
            booking.status = BookingStatus.EXPIRED
            booking.save(update_fields=["status", "updated_at"])
            notifications.notify_booking(kind=NotificationKind.BOOKING_EXPIRED, booking=booking)
        logger.warning("payment %s came for %s booking %s: refunding", payment.provider_id, booking.status, booking.pk)
        refund = refund_automatic(
            booking=booking, origin=RefundOrigin.LATE_PAYMENT, reason=f"paid after the booking was {booking.status}"
        )
        return f"booking {booking.status}: payment refunded ({refund.status})"


# --- refunds -------------------------------------------------------------------------------------


def refund_request(*, booking_id, user: User, reason: str) -> Refund:
    """The student asks for their money back; staff decide. The full price unless staff approve less.

    Possible while the booking is paid, and after the class until its earnings are released
    (EARNINGS_HOLD_HOURS after it ended): money a tutor may have withdrawn is never taken back.
    """
    reason = reason.strip()
    if not 1 <= len(reason) <= 1000:
        raise ApplicationError(
            gettext("reason must be 1–1000 characters."), errors={"reason": [gettext("1–1000 characters.")]}
        )
    with transaction.atomic():
        booking = _booking_for_student(booking_id, user)
        status = booking.current_status()
        if status == BookingStatus.COMPLETED and not _refundable_after_class(booking, timezone.now()):
            raise Conflict(
                gettext("Refunds can be asked for until %(hours)s hours after the class ended.")
                % {"hours": settings.EARNINGS_HOLD_HOURS}
            )
        if status not in (BookingStatus.PAID, BookingStatus.COMPLETED):
            raise Conflict(
                gettext("Only a paid or completed booking can be refunded (this one is %(status)s).")
                % {"status": status}
            )
        if Refund.objects.filter(booking=booking, status__in=(*OPEN_REFUND_STATUSES, RefundStatus.SUCCEEDED)).exists():
            raise Conflict(gettext("This booking already has an open or completed refund."))
        payment = Payment.objects.filter(booking=booking, status=PaymentStatus.SUCCEEDED).first()
        if payment is None:
            raise Conflict(gettext("This booking has no card payment to refund."))
        return Refund.objects.create(
            booking=booking,
            payment=payment,
            amount=booking.price,
            currency=booking.currency,
            reason=reason,
            requested_by=user,
        )


def _refundable_after_class(booking: Booking, now: datetime) -> bool:
    return booking.earnings_released_at is None and (
        booking.completed_at is None or now < booking.completed_at + _hold()
    )


def refund_open_for_review(*, booking: Booking, reason: str) -> Refund | None:
    """Open a pending refund request for the full price on the rules' behalf (a missed class), for staff
    to decide. The caller holds the booking's lock. None if there is no card payment to refund."""
    payment = Payment.objects.filter(booking=booking, status=PaymentStatus.SUCCEEDED).first()
    if payment is None:
        logger.error("booking %s has no card payment to refund (%s)", booking.pk, reason)
        return None
    existing = Refund.objects.filter(booking=booking, status__in=(*OPEN_REFUND_STATUSES, RefundStatus.SUCCEEDED))
    if existing.exists():
        return existing.first()
    return Refund.objects.create(
        booking=booking,
        payment=payment,
        amount=payment.amount,
        currency=payment.currency,
        reason=reason,
        origin=RefundOrigin.MISSED,
    )


def refund_automatic(*, booking: Booking, origin: str, reason: str) -> Refund:
    """Refund the booking's payment in full now, without staff review: a cancellation, or a payment that
    came after the booking expired or was cancelled (`origin`). The caller holds the booking's lock.

    A pending request of the student's is taken over rather than left beside it. A new refund's
    idempotency key names the payment, so a retry after an unknown outcome (the transaction rolled back,
    the refund row with it) finds Stripe's refund instead of making a second one.
    """
    payment = Payment.objects.select_for_update().filter(booking=booking, status=PaymentStatus.SUCCEEDED).first()
    if payment is None:
        raise Conflict(gettext("This booking has no card payment to refund."))
    refund = Refund.objects.select_for_update().filter(booking=booking, status__in=OPEN_REFUND_STATUSES).first()
    if refund is not None and refund.status == RefundStatus.APPROVED:
        raise Conflict(gettext("A refund of this booking is already under way."))
    if refund is None:
        refund = Refund(booking=booking, payment=payment, currency=payment.currency, reason=reason)
        key = f"refund-payment-{payment.pk}"
    else:
        key = f"refund-{refund.pk}"
    refund.amount, refund.origin = payment.amount, origin
    refund.status, refund.decided_at = RefundStatus.APPROVED, timezone.now()
    refund.decision_note = f"automatic: {reason}"
    refund.save()
    _refund_at_stripe(refund, payment=payment, booking=booking, idempotency_key=key)
    _notify_decided(refund, booking, note="")
    return refund


def _notify_decided(refund: Refund, booking: Booking, *, note: str) -> None:
    """The student hears of the decision on their refund (staff's or the rules'), once per refund."""
    notifications.notify(
        kind=NotificationKind.REFUND_DECIDED,
        recipients=[booking.student],
        subject_id=refund.pk,
        booking=booking,
        data={"status": refund.status, "amount": refund.amount, "currency": refund.currency, "note": note},
    )


def _refund_at_stripe(refund: Refund, *, payment: Payment, booking: Booking, idempotency_key: str) -> None:
    result = get_provider().create_refund(
        payment_intent_id=payment.provider_id,
        amount=refund.amount,
        metadata={"refund_id": str(refund.pk), "booking_id": str(booking.pk)},
        idempotency_key=idempotency_key,
    )
    refund.provider_id = result.id
    refund.save()
    _refund_apply_status(refund, booking, result.status, result.failure_reason)


def _lock_booking_of(refund_id) -> Booking | None:
    """The booking of a refund, row-locked: a refund is always locked after its booking."""
    booking_id = Refund.objects.filter(pk=refund_id).values_list("booking_id", flat=True).first()
    return Booking.objects.select_for_update().filter(pk=booking_id).first() if booking_id else None


def refund_approve(*, refund_id, staff: User, amount: int | None = None, note: str = "") -> Refund:
    """Approve and ask Stripe for the refund; the status Stripe returns is applied at once.

    The idempotency key is the refund's id alone, so a retry after a lost answer — even with another
    amount — can never create a second refund at Stripe.
    """
    with transaction.atomic():
        booking = _lock_booking_of(refund_id)
        refund = lock_pending(
            Refund.objects.select_related("payment", "booking"), refund_id, staff=staff, what="refund"
        )
        if amount is not None:
            step, most = amount_step(refund.currency), refund.payment.amount
            if not 0 < amount <= most or amount % step:
                if step > 1:
                    message = gettext("Between 1 and %(most)s, in steps of %(step)s.") % {"most": most, "step": step}
                else:
                    message = gettext("Between 1 and %(most)s.") % {"most": most}
                raise ApplicationError(
                    gettext("Invalid input. %(problem)s") % {"problem": f"amount: {message}"},
                    errors={"amount": [message]},
                )
            refund.amount = amount
        decide(refund, staff=staff, status=RefundStatus.APPROVED, note=note)
        refund.save()
        _refund_at_stripe(refund, payment=refund.payment, booking=booking, idempotency_key=f"refund-{refund.pk}")
        _notify_decided(refund, booking, note=note)
    return refund


def refund_reject(*, refund_id, staff: User, note: str) -> Refund:
    note = rejection_note(note, what="refund")
    with transaction.atomic():
        booking = _lock_booking_of(refund_id)
        refund = lock_pending(Refund.objects, refund_id, staff=staff, what="refund")
        decide(refund, staff=staff, status=RefundStatus.REJECTED, note=note)
        refund.save()
        _notify_decided(refund, booking, note=note)
    return refund


def refund_apply_snapshot(*, refund_object: dict, event_created: int) -> str:
    """Apply a verified refund snapshot (`refund.updated`, `refund.failed`, or one inside `charge.refunded`)."""
    # Match by our id in the metadata first: an event racing the approval that created the refund at
    # Stripe then waits for that approval's lock instead of missing the not-yet-committed Stripe id.
    ours = (refund_object.get("metadata") or {}).get("refund_id")
    ours = ours if ours and _is_uuid(ours) else None
    provider_id = refund_object.get("id")
    refund_id = ours or Refund.objects.filter(provider_id=provider_id).values_list("pk", flat=True).first()
    with transaction.atomic():
        booking = _lock_booking_of(refund_id) if refund_id else None
        if ours and booking is None:
            # Our own refund, whose creating transaction has not committed yet: Stripe retries a 503.
            raise ApplicationError(gettext("This refund is not recorded yet; try again."), status_code=503)
        lookups = [Q(pk=ours, provider_id=provider_id)] if ours else []
        refund = lock_for_snapshot(
            Refund.objects, [*lookups, Q(provider_id=provider_id)], created=event_created, what="refund"
        )
        if booking is None or booking.pk != refund.booking_id:
            booking = Booking.objects.select_for_update().get(pk=refund.booking_id)
        refund.save(update_fields=["last_event_created", "updated_at"])
        return _refund_apply_status(
            refund, booking, refund_object.get("status") or "", refund_object.get("failure_reason") or ""
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _refund_apply_status(refund: Refund, booking: Booking, provider_status: str, failure_reason: str = "") -> str:
    """Settle a refund from Stripe's status. Succeeded and failed are final; anything else waits.

    A succeeded refund marks the booking `refunded` and takes the tutor's share back out of what is
    pending (or earned, had it been released) — except a late payment's, which was never the tutor's
    and leaves the expired or cancelled booking as it is.
    """
    if refund.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
        return f"ignored: refund already {refund.status}"
    refund.provider_status = provider_status
    if provider_status == "succeeded":
        if refund.origin != RefundOrigin.LATE_PAYMENT:
            booking.status = BookingStatus.REFUNDED
            booking.save(update_fields=["status", "updated_at"])
            ledger.record_refund(booking=booking, refund=refund, released=booking.earnings_released_at is not None)
        refund.status = RefundStatus.SUCCEEDED
        refund.settled_at = timezone.now()
    elif provider_status in ("failed", "canceled"):
        refund.status = RefundStatus.FAILED
        refund.failure_reason = failure_reason[:200] or provider_status
        refund.settled_at = timezone.now()
    refund.save()
    return f"refund {refund.status}"


# --- the earnings hold -------------------------------------------------------------------------------


def earnings_release(*, booking_id, now: datetime) -> bool:
    """Move a held class's share from pending to earned (withdrawable), once it is due. True if it moved.

    Due: EARNINGS_HOLD_HOURS after the class ended, with no refund request open; a missed class's
    share only once staff rejected its refund. Under the booking's lock, like every refund change.
    """
    with transaction.atomic():
        booking = Booking.objects.select_for_update().filter(pk=booking_id).first()
        if booking is None or booking.earnings_released_at is not None:
            return False
        refunds = Refund.objects.filter(booking=booking)
        if refunds.filter(status__in=OPEN_REFUND_STATUSES).exists():
            return False
        if booking.status == BookingStatus.COMPLETED:
            due = booking.completed_at is not None and booking.completed_at + _hold() <= now
        else:
            due = booking.status == BookingStatus.MISSED and refunds.filter(status=RefundStatus.REJECTED).exists()
        if not due:
            return False
        ledger.record_release(booking=booking)
        booking.earnings_released_at = now
        booking.save(update_fields=["earnings_released_at", "updated_at"])
    return True


def earnings_release_due(*, now: datetime, tutor_id=None, limit: int = 500) -> int:
    """Release every share that is due (of one tutor when `tutor_id` is given)."""
    open_refund = Refund.objects.filter(booking=OuterRef("pk"), status__in=OPEN_REFUND_STATUSES)
    due = (
        Booking.objects.filter(earnings_released_at__isnull=True)
        .filter(Q(status=BookingStatus.COMPLETED, completed_at__lte=now - _hold()) | Q(status=BookingStatus.MISSED))
        .exclude(Exists(open_refund))
    )
    if tutor_id is not None:
        due = due.filter(tutor_id=tutor_id)
    return sum(earnings_release(booking_id=pk, now=now) for pk in due.values_list("pk", flat=True)[:limit])
