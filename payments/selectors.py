"""Reads of payments and the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce

from payments.models import Account, EntryKind, LedgerEntry, Payment, Refund
from tutoring.api.errors import NotFound
from tutoring.models import Role, User


@dataclass(frozen=True)
class Earnings:
    total_earnings: int
    pending_earnings: int
    total_withdrawn: int
    held: int
    payments_count: int
    withdrawals_count: int

    @property
    def balance(self) -> int:
        return self.total_earnings - self.total_withdrawn - self.held


def _sum(account: str):
    return Coalesce(Sum("amount", filter=Q(account=account)), Value(0))


def tutor_earnings(*, tutor_id) -> Earnings:
    """A tutor's figures of CONTRACT §6 "Stats" in one aggregate query over the ledger."""
    row = LedgerEntry.objects.filter(tutor_id=tutor_id).aggregate(
        earned=_sum(Account.EARNED),
        pending=_sum(Account.PENDING),
        held=_sum(Account.HELD),
        withdrawn=_sum(Account.WITHDRAWN),
        payments=Count("id", filter=Q(kind=EntryKind.PAYMENT)),
        paid=Count("id", filter=Q(kind=EntryKind.WITHDRAWAL_PAID, account=Account.WITHDRAWN)),
        reversed=Count("id", filter=Q(kind=EntryKind.WITHDRAWAL_REVERSED)),
    )
    return Earnings(
        total_earnings=row["earned"],
        pending_earnings=row["pending"],
        total_withdrawn=row["withdrawn"],
        held=row["held"],
        payments_count=row["payments"],
        withdrawals_count=row["paid"] - row["reversed"],
    )


def refund_get_for_user(*, refund_id, user: User) -> Refund:
    """A refund for the booking's parties and staff; 404 for anyone else."""
    refund = Refund.objects.select_related("booking").filter(pk=refund_id).first()
    if refund is None or not (refund.booking.is_party(user) or user.role == Role.STAFF):
        raise NotFound("Refund not found.")
    return refund


def payment_get_for_student(*, provider_id: str, user: User) -> Payment:
    payment = Payment.objects.select_related("booking").filter(provider_id=provider_id).first()
    if payment is None or payment.booking.student_id != user.pk:
        raise NotFound("Payment intent not found.")
    return payment
