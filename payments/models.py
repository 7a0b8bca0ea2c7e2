"""Payment intents, Stripe webhook events, refunds and the ledger of what tutors earn (docs/money.md)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PaymentStatus(models.TextChoices):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


# A PaymentIntent in these states can still be paid, so it can (and must) be cancelled.
CANCELLABLE_INTENT_STATUSES = (
    PaymentStatus.REQUIRES_PAYMENT_METHOD,
    PaymentStatus.REQUIRES_CONFIRMATION,
    PaymentStatus.REQUIRES_ACTION,
    PaymentStatus.FAILED,
)


class Payment(models.Model):
    """Our record of the one Stripe PaymentIntent of a booking."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.OneToOneField("tutoring.Booking", on_delete=models.PROTECT, related_name="payment")
    provider_id = models.CharField(max_length=255, unique=True)
    client_secret = models.CharField(max_length=255)
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=32, choices=PaymentStatus.choices, default=PaymentStatus.REQUIRES_PAYMENT_METHOD
    )
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    # `created` of the newest event applied to this intent: older snapshots are ignored.
    last_event_created = models.BigIntegerField(default=0)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider_id} ({self.status})"


class WebhookEvent(models.Model):
    """Every verified Stripe event, stored once: the unique id makes processing at-most-once."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    created = models.BigIntegerField(help_text="Stripe's `created` (Unix seconds).")
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    payload = models.JSONField()
    outcome = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class RefundStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"


OPEN_REFUND_STATUSES = (RefundStatus.PENDING, RefundStatus.APPROVED)


class RefundOrigin(models.TextChoices):
    """Why a refund exists: a student's request for staff to decide, or one the rules open themselves."""

    REQUEST = "request", "Requested by the student"
    CANCELLATION = "cancellation", "Cancellation (automatic)"
    LATE_PAYMENT = "late_payment", "Payment for an expired or cancelled booking (automatic)"
    MISSED = "missed", "Class not held (for staff review)"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey("tutoring.Booking", on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.TextField(max_length=1000)
    status = models.CharField(max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    origin = models.CharField(max_length=16, choices=RefundOrigin.choices, default=RefundOrigin.REQUEST)
    # The student, or nobody when the rules opened it (cancellation, late payment, missed class).
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, max_length=2000)
    provider_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    provider_status = models.CharField(max_length=32, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    last_event_created = models.BigIntegerField(default=0)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-created_at"], name="refund_status_created")]
        constraints = [
            # At most one refund per booking that is open or went through; a failed or rejected one
            # leaves room for another request.
            models.UniqueConstraint(
                fields=["booking"],
                condition=Q(status__in=["pending", "approved", "succeeded"]),
                name="refund_one_active_per_booking",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.id} ({self.status})"


class Account(models.TextChoices):
    """The ledger's accounts, per tutor. See `payments.ledger` for how money moves between them."""

    PENDING = "pending", "Pending (class not held yet)"
    EARNED = "earned", "Earned"
    HELD = "held", "Held by open withdrawals"
    WITHDRAWN = "withdrawn", "Withdrawn"


class EntryKind(models.TextChoices):
    PAYMENT = "payment"
    FEE = "fee"
    RELEASE = "release"
    REFUND = "refund"
    WITHDRAWAL_REQUEST = "withdrawal_request"
    WITHDRAWAL_PAID = "withdrawal_paid"
    WITHDRAWAL_RELEASE = "withdrawal_release"
    WITHDRAWAL_REVERSED = "withdrawal_reversed"


class LedgerEntry(models.Model):
    """One signed movement of a tutor's money in one account. Append-only: never updated or deleted.

    `key` names the business event and account (e.g. `payment:<booking>:pending`), so recording the same
    event twice — a retried webhook, a concurrent request — is refused by the database.
    """

    id = models.BigAutoField(primary_key=True)
    tutor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_entries")
    account = models.CharField(max_length=16, choices=Account.choices)
    kind = models.CharField(max_length=24, choices=EntryKind.choices)
    amount = models.BigIntegerField(help_text="Signed, minor units.")
    currency = models.CharField(max_length=3)
    key = models.CharField(max_length=200, unique=True)
    booking = models.ForeignKey("tutoring.Booking", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    withdrawal_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        # Stats aggregate one tutor's entries; the covering index keeps that to an index scan.
        indexes = [models.Index(fields=["tutor", "account", "kind"], name="ledger_tutor_account_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.account} {self.amount:+d} {self.currency}"


class LedgerBalance(models.Model):
    """Running totals of the ledger per (tutor, currency, account, kind), kept in the same transaction as
    the entries. Money of two currencies is never added together.

    The entries stay the record; these rows are their sums, so a tutor's stats read a handful of rows
    however long the history (a sum over 40,000 entries costs ~15 ms, these rows well under one).
    `payments.ledger.verify_balances` recomputes them from the entries.
    """

    tutor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ledger_balances")
    currency = models.CharField(max_length=3)
    account = models.CharField(max_length=16, choices=Account.choices)
    kind = models.CharField(max_length=24, choices=EntryKind.choices)
    total = models.BigIntegerField(default=0)
    entries = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tutor", "currency", "account", "kind"], name="ledger_balance_unique")
        ]

    def __str__(self) -> str:
        return f"{self.account}/{self.kind}: {self.total} {self.currency} ({self.entries})"
