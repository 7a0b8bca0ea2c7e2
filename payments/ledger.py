"""The ledger: the one source of every tutor balance (docs/money.md "The ledger").

Money moves between four accounts per tutor, always as integer minor units:

    payment succeeded (price P)   pending  +P          (payment)
                                  pending  −fee(P)     (fee)
    held class released           pending  −share(P)   earned +share(P)               (release)
    refund r, share released      earned   −share(r)                                   (refund)
    refund r, share not released  pending  −share(P)   earned +share(P) − share(r)     (refund)
    withdrawal requested a        held     +a                                          (withdrawal_request)
    withdrawal paid               held     −a          withdrawn +a                    (withdrawal_paid)
    withdrawal rejected / failed  held     −a                                          (withdrawal_release)
    paid withdrawal reversed      withdrawn −a                                         (withdrawal_reversed)

so that totalEarnings = Σ earned, pendingEarnings = Σ pending, totalWithdrawn = Σ withdrawn and
balance = Σ earned − Σ held − Σ withdrawn, each per currency: money of two currencies is never added.
Every entry carries a unique key naming its event, so an event recorded twice fails in the database
instead of counting twice. Callers hold the transaction and the lock on the object that moves
(booking, refund, withdrawal); these functions only append. A share is released only after the
earnings hold and never with a refund open, so a refund never meets released money in practice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Subquery, Sum

from payments.models import Account, EntryKind, LedgerBalance, LedgerEntry
from tutoring.models import Booking
from tutoring.money import round_half_up_div


def platform_fee(amount: int) -> int:
    return round_half_up_div(amount * settings.PLATFORM_FEE_PERCENT, 100)


def tutor_share(amount: int) -> int:
    """What the tutor keeps of `amount`: amount − round_half_up(amount × fee% / 100)."""
    return amount - platform_fee(amount)


def _append(entries: list[LedgerEntry]) -> bool:
    """Append entries and add them to the running totals, atomically.

    False (and nothing written) if this event was already recorded.
    """
    entries = [e for e in entries if e.amount != 0]
    if not entries:
        return True
    try:
        with transaction.atomic():
            LedgerEntry.objects.bulk_create(entries)
            _add_to_balances(entries)
    except IntegrityError:
        if LedgerEntry.objects.filter(key__in=[e.key for e in entries]).exists():
            return False
        raise
    return True


def _add_to_balances(entries: list[LedgerEntry]) -> None:
    sums: dict[tuple, list[int]] = {}
    for e in entries:
        total = sums.setdefault((str(e.tutor_id), e.currency, e.account, e.kind), [0, 0])
        total[0] += e.amount
        total[1] += 1
    table = connection.ops.quote_name(LedgerBalance._meta.db_table)
    # One upsert per row, always in the same order, so concurrent writers cannot deadlock on them.
    with connection.cursor() as cursor:
        for (tutor_id, currency, account, kind), (total, count) in sorted(sums.items()):
            cursor.execute(
                f"INSERT INTO {table} (tutor_id, currency, account, kind, total, entries) "
                f"VALUES (%s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (tutor_id, currency, account, kind) DO UPDATE "
                f"SET total = {table}.total + EXCLUDED.total, entries = {table}.entries + EXCLUDED.entries",
                [_db_uuid(tutor_id), currency, account, kind, total, count],
            )


BALANCE_KEY = ("tutor_id", "currency", "account", "kind")


def _db_uuid(value: str):
    return LedgerBalance._meta.get_field("tutor").target_field.get_db_prep_value(value, connection)


def rebuild_balances(*, tutor_id=None) -> None:
    """Recompute the running totals from the entries (after a bulk import, or to repair)."""
    entries = LedgerEntry.objects.all() if tutor_id is None else LedgerEntry.objects.filter(tutor_id=tutor_id)
    with transaction.atomic():
        (LedgerBalance.objects.all() if tutor_id is None else LedgerBalance.objects.filter(tutor_id=tutor_id)).delete()
        LedgerBalance.objects.bulk_create(
            LedgerBalance(**row)
            for row in entries.values(*BALANCE_KEY).annotate(total=Sum("amount"), entries=Count("id")).order_by()
        )


def verify_balances(*, tutor_id=None) -> list[str]:
    """Recompute the running totals from the entries; returns the (tutor, account, kind) that differ."""
    entries = LedgerEntry.objects.all()
    balances = LedgerBalance.objects.all()
    if tutor_id is not None:
        entries, balances = entries.filter(tutor_id=tutor_id), balances.filter(tutor_id=tutor_id)
    expected = {
        tuple(row[k] for k in BALANCE_KEY): (row["total"], row["n"])
        for row in entries.values(*BALANCE_KEY).annotate(total=Sum("amount"), n=Count("id")).order_by()
    }
    actual = {tuple(getattr(b, k) for k in BALANCE_KEY): (b.total, b.entries) for b in balances if b.entries}
    return [
        f"{key}: {actual.get(key)} != {expected.get(key)}"
        for key in expected.keys() | actual.keys()
        if expected.get(key) != actual.get(key)
    ]


def _entry(*, ref, tutor_id, currency: str, account: str, kind: str, amount: int, **links) -> LedgerEntry:
    """One entry of the `kind` event about `ref` (a booking, refund or withdrawal). The key is derived
    from those three and the account, so recording one event twice fails on the unique key."""
    return LedgerEntry(
        tutor_id=tutor_id,
        account=account,
        kind=kind,
        amount=amount,
        currency=currency,
        key=f"{kind}:{ref.pk}:{account}",
        **links,
    )


def _booking_entry(booking: Booking, account: str, kind: str, amount: int, *, refund=None) -> LedgerEntry:
    return _entry(
        ref=refund or booking,
        tutor_id=booking.tutor_id,
        currency=booking.currency,
        account=account,
        kind=kind,
        amount=amount,
        booking=booking,
        refund=refund,
    )


def _withdrawal_entry(withdrawal, account: str, kind: str, amount: int) -> LedgerEntry:
    return _entry(
        ref=withdrawal,
        tutor_id=withdrawal.tutor_id,
        currency=withdrawal.currency,
        account=account,
        kind=kind,
        amount=amount,
        withdrawal_id=withdrawal.pk,
    )


def record_payment(*, booking: Booking, amount: int) -> bool:
    """A payment of `amount` for `booking` succeeded: the tutor's share is pending until the class."""
    return _append(
        [
            _booking_entry(booking, Account.PENDING, EntryKind.PAYMENT, amount),
            _booking_entry(booking, Account.PENDING, EntryKind.FEE, -platform_fee(amount)),
        ]
    )


def record_release(*, booking: Booking) -> bool:
    """A held class's earnings hold is over: the booking's share moves from pending to earned."""
    share = tutor_share(booking.price)
    return _append(
        [
            _booking_entry(booking, Account.PENDING, EntryKind.RELEASE, -share),
            _booking_entry(booking, Account.EARNED, EntryKind.RELEASE, share),
        ]
    )


def record_refund(*, booking: Booking, refund, released: bool) -> bool:
    """A refund of `refund.amount` succeeded; take the tutor's share of it back (docs/money.md "The ledger"),
    out of what is pending, or out of what is earned if the share was `released`."""
    if released:
        return _append(
            [_booking_entry(booking, Account.EARNED, EntryKind.REFUND, -tutor_share(refund.amount), refund=refund)]
        )
    share = tutor_share(booking.price)
    return _append(
        [
            _booking_entry(booking, Account.PENDING, EntryKind.REFUND, -share, refund=refund),
            _booking_entry(
                booking, Account.EARNED, EntryKind.REFUND, share - tutor_share(refund.amount), refund=refund
            ),
        ]
    )


def record_withdrawal_requested(*, withdrawal) -> bool:
    """The amount is held out of the balance from the request until it is paid or released."""
    return _append([_withdrawal_entry(withdrawal, Account.HELD, EntryKind.WITHDRAWAL_REQUEST, withdrawal.amount)])


def record_withdrawal_paid(*, withdrawal) -> bool:
    a = withdrawal.amount
    return _append(
        [
            _withdrawal_entry(withdrawal, Account.HELD, EntryKind.WITHDRAWAL_PAID, -a),
            _withdrawal_entry(withdrawal, Account.WITHDRAWN, EntryKind.WITHDRAWAL_PAID, a),
        ]
    )


def record_withdrawal_released(*, withdrawal) -> bool:
    """Rejected, or the transfer was refused: the held amount returns to the balance."""
    return _append([_withdrawal_entry(withdrawal, Account.HELD, EntryKind.WITHDRAWAL_RELEASE, -withdrawal.amount)])


def record_withdrawal_reversed(*, withdrawal) -> bool:
    """A paid transfer was reversed: the money is back on the platform, so back in the balance."""
    return _append(
        [_withdrawal_entry(withdrawal, Account.WITHDRAWN, EntryKind.WITHDRAWAL_REVERSED, -withdrawal.amount)]
    )


def audit() -> list[str]:
    """What `ledger_check` proves beyond the running totals (docs/money.md "Checking the books"): no
    balance below zero, no entry in another currency than the booking or withdrawal it moves, and no
    succeeded payment that is neither in the ledger nor refunded automatically. Returns the problems."""
    from payments.models import Payment, PaymentStatus, Refund, RefundOrigin, RefundStatus
    from withdrawals.models import Withdrawal

    problems: list[str] = []
    sums: dict[tuple, dict[str, int]] = {}
    for row in LedgerEntry.objects.values("tutor_id", "currency", "account").annotate(total=Sum("amount")).order_by():
        sums.setdefault((row["tutor_id"], row["currency"]), {})[row["account"]] = row["total"]
    for (tutor_id, currency), totals in sorted(sums.items(), key=str):
        negative = {account: total for account, total in totals.items() if total < 0}
        balance = totals.get(Account.EARNED, 0) - totals.get(Account.HELD, 0) - totals.get(Account.WITHDRAWN, 0)
        if balance < 0:
            negative["balance"] = balance
        if negative:
            problems.append(f"tutor {tutor_id} {currency}: below zero {negative}")
    for what, subject in (("booking", "booking__currency"), ("refund", "refund__currency")):
        wrong = LedgerEntry.objects.filter(**{f"{what}__isnull": False}).exclude(currency=F(subject))
        problems += [f"entry {key}: not in its {what}'s currency" for key in wrong.values_list("key", flat=True)]
    withdrawal_currency = Withdrawal.objects.filter(pk=OuterRef("withdrawal_id")).values("currency")
    wrong = LedgerEntry.objects.filter(withdrawal_id__isnull=False).exclude(currency=Subquery(withdrawal_currency))
    problems += [f"entry {key}: not in its withdrawal's currency" for key in wrong.values_list("key", flat=True)]
    recorded = LedgerEntry.objects.filter(booking=OuterRef("booking_id"), kind=EntryKind.PAYMENT)
    refunded = Refund.objects.filter(
        payment=OuterRef("pk"),
        origin=RefundOrigin.LATE_PAYMENT,
        status__in=(RefundStatus.APPROVED, RefundStatus.SUCCEEDED),
    )
    unaccounted = (
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED).exclude(Exists(recorded)).exclude(Exists(refunded))
    )
    problems += [
        f"payment {pid}: succeeded, but neither in the ledger nor refunded"
        for pid in unaccounted.values_list("provider_id", flat=True)
    ]
    return problems
