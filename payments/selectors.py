"""Reads of payments and the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date

from django.db.models import F, FilteredRelation, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils.translation import gettext

from payments.models import Account, EntryKind, LedgerEntry, Payment, PaymentStatus, Refund, RefundStatus
from tutoring.access import check_booking_access
from tutoring.errors import NotFound
from tutoring.models import Booking, User


@dataclass(frozen=True)
class Earnings:
    currency: str
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
    condition = Q(b__account=account) if kind is None else Q(b__account=account, b__kind=kind)
    return Coalesce(Sum("b__total", filter=condition), Value(0))


def _count(account: str, kind: str):
    return Coalesce(Sum("b__entries", filter=Q(b__account=account, b__kind=kind)), Value(0))


def tutor_earnings(*, tutor_id) -> Earnings:
    """A tutor's figures (docs/money.md "Earnings and withdrawals") in the tutor's currency: one query
    over the ledger's running totals of that currency (a handful of rows, whatever the length of the
    history), joined to the profile that names the currency."""
    balances = FilteredRelation("ledger_balances", condition=Q(ledger_balances__currency=F("tutor_profile__currency")))
    row = (
        User.objects.filter(pk=tutor_id)
        .annotate(b=balances)
        .values(currency=F("tutor_profile__currency"))
        .annotate(
            earned=_total(Account.EARNED),
            pending=_total(Account.PENDING),
            held=_total(Account.HELD),
            withdrawn=_total(Account.WITHDRAWN),
            payments=_count(Account.PENDING, EntryKind.PAYMENT),
            paid=_count(Account.WITHDRAWN, EntryKind.WITHDRAWAL_PAID),
            reversed=_count(Account.WITHDRAWN, EntryKind.WITHDRAWAL_REVERSED),
        )
        .order_by()
    )
    row = next(iter(row), None)
    if row is None or row["currency"] is None:
        raise NotFound(gettext("Tutor not found."))
    return Earnings(
        currency=row["currency"],
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
    check_booking_access(refund and refund.booking, user, staff_allowed=True, not_found=gettext("Refund not found."))
    return refund


def payment_get_for_student(*, provider_id: str, user: User) -> Payment:
    payment = Payment.objects.select_related("booking").filter(provider_id=provider_id).first()
    if payment is None or payment.booking.student_id != user.pk:
        raise NotFound(gettext("Payment intent not found."))
    return payment


def payment_for_booking(*, booking: Booking) -> Payment | None:
    """The booking's one PaymentIntent record, if it has been created."""
    return Payment.objects.filter(booking=booking).first()


def refund_list_for_booking(*, booking: Booking) -> QuerySet[Refund]:
    return Refund.objects.filter(booking=booking).order_by("-created_at")


@dataclass(frozen=True)
class Receipt:
    booking: Booking
    payment: Payment
    refunds: list[Refund]
    refunded: int  # what came back to the card (succeeded refunds)

    @property
    def net(self) -> int:
        return self.payment.amount - self.refunded


def receipt_for_student(*, booking_id, user: User) -> Receipt:
    """The receipt of a paid booking, for its student only: anyone else, and a booking never paid, is
    404 (a receipt shows what the student paid, and to nobody else)."""
    booking = Booking.objects.select_related("tutor", "student").filter(pk=booking_id).first()
    payment = Payment.objects.filter(booking=booking, status=PaymentStatus.SUCCEEDED).first() if booking else None
    if booking is None or booking.student_id != getattr(user, "pk", None) or payment is None:
        raise NotFound(gettext("Receipt not found."))
    refunds = list(Refund.objects.filter(booking=booking).order_by("created_at"))
    refunded = sum(r.amount for r in refunds if r.status == RefundStatus.SUCCEEDED)
    return Receipt(booking=booking, payment=payment, refunds=refunds, refunded=refunded)


def earnings_history(*, tutor_id, currency: str) -> list[tuple[date, int, int]]:
    """A tutor's earnings over time in one currency, from the ledger: (day, earned, withdrawn) running
    totals at the end of each day with a movement, oldest first — `tutor_earnings`' figures as they grew."""
    rows = (
        LedgerEntry.objects.filter(
            tutor_id=tutor_id, currency=currency, account__in=(Account.EARNED, Account.WITHDRAWN)
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "account")
        .annotate(total=Sum("amount"))
        .order_by("day")
    )
    earned = withdrawn = 0
    days: dict[date, tuple[int, int]] = {}
    for row in rows:
        if row["account"] == Account.EARNED:
            earned += row["total"]
        else:
            withdrawn += row["total"]
        days[row["day"]] = (earned, withdrawn)
    return [(day, e, w) for day, (e, w) in days.items()]
