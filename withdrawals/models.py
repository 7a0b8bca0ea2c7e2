"""Connected (payout) accounts and withdrawal requests of tutors (docs/money.md "Earnings and withdrawals")."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AccountStatus(models.TextChoices):
    PENDING_VERIFICATION = "pending_verification"
    VERIFIED = "verified"
    REJECTED = "rejected"


class ConnectedAccount(models.Model):
    """A tutor's Stripe Connect account, kept in sync from `account.updated`."""

    tutor = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, primary_key=True, related_name="connected_account"
    )
    provider_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=24, choices=AccountStatus.choices, default=AccountStatus.PENDING_VERIFICATION)
    payouts_enabled = models.BooleanField(default=False)
    transfers_active = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=100, blank=True)
    last_payout_id = models.CharField(max_length=255, blank=True)
    last_payout_status = models.CharField(max_length=32, blank=True)
    last_payout_failure = models.CharField(max_length=200, blank=True)
    # Each kind of Stripe object keeps its own ordering: the account's snapshots and its payouts' events
    # are different objects, and a payout event must never make a later account update look stale.
    last_event_created = models.BigIntegerField(default=0)
    last_payout_event_created = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider_id} ({self.status})"


class WithdrawalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    PAID = "paid"
    FAILED = "failed"
    REJECTED = "rejected"


class Withdrawal(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tutor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawals")
    account = models.ForeignKey(ConnectedAccount, on_delete=models.PROTECT, related_name="withdrawals")
    amount = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=WithdrawalStatus.choices, default=WithdrawalStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, max_length=2000)
    transfer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    last_event_created = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["tutor", "-created_at"], name="withdrawal_tutor_created"),
            models.Index(fields=["status", "-created_at"], name="withdrawal_status_created"),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="withdrawal_amount_positive")]

    def __str__(self) -> str:
        return f"Withdrawal {self.id} {self.amount} {self.currency} ({self.status})"
