"""Reads of payments and the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, Sum, Value
from django.db.models.functions import Coalesce

from payments.models import Account, EntryKind, LedgerBalance, Payment, Refund
from tutoring.access import check_booking_access
from tutoring.errors import NotFound
from tutoring.models import User


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


def _total(account: str, kind: str | None = None):
    condition = Q(account=account) if kind is None else Q(account=account, kind=kind)
    return Coalesce(Sum("total", filter=condition), Value(0))


def _count(account: str, kind: str):
    return Coalesce(Sum("entries", filter=Q(account=account, kind=kind)), Value(0))


def tutor_earnings(*, tutor_id) -> Earnings:
    """A tutor's figures (docs/money.md "Earnings and withdrawals"): one aggregate query over the ledger's
    running totals (a handful of rows per tutor, whatever the length of the history)."""
    row = LedgerBalance.objects.filter(tutor_id=tutor_id).aggregate(
        earned=_total(Account.EARNED),
        pending=_total(Account.PENDING),
        held=_total(Account.HELD),
        withdrawn=_total(Account.WITHDRAWN),
        payments=_count(Account.PENDING, EntryKind.PAYMENT),
        paid=_count(Account.WITHDRAWN, EntryKind.WITHDRAWAL_PAID),
        reversed=_count(Account.WITHDRAWN, EntryKind.WITHDRAWAL_REVERSED),
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
    check_booking_access(refund and refund.booking, user, staff_allowed=True, not_found="Refund not found.")
    return refund


def payment_get_for_student(*, provider_id: str, user: User) -> Payment:
    payment = Payment.objects.select_related("booking").filter(provider_id=provider_id).first()
    if payment is None or payment.booking.student_id != user.pk:
        raise NotFound("Payment intent not found.")
    return payment
