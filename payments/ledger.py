"""The ledger: the one source of every tutor balance (docs/money.md "The ledger").

Money moves between four accounts per tutor, always as integer minor units:

    payment succeeded (price P)   pending  +P          (payment)
                                  pending  −fee(P)     (fee)
    class held                    pending  −share(P)   earned +share(P)               (release)
    refund r, class held          earned   −share(r)                                   (refund)
    refund r, class not held      pending  −share(P)   earned +share(P) − share(r)     (refund)
    withdrawal requested a        held     +a                                          (withdrawal_request)
    withdrawal paid               held     −a          withdrawn +a                    (withdrawal_paid)
    withdrawal rejected / failed  held     −a                                          (withdrawal_release)
    paid withdrawal reversed      withdrawn −a                                         (withdrawal_reversed)

so that totalEarnings = Σ earned, pendingEarnings = Σ pending, totalWithdrawn = Σ withdrawn and
balance = Σ earned − Σ held − Σ withdrawn. Every entry carries a unique key naming its event, so an
event recorded twice fails in the database instead of counting twice. Callers hold the transaction
and the lock on the object that moves (booking, refund, withdrawal); these functions only append.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Sum

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
        total = sums.setdefault((str(e.tutor_id), e.account, e.kind), [0, 0])
        total[0] += e.amount
        total[1] += 1
    table = connection.ops.quote_name(LedgerBalance._meta.db_table)
    # One upsert per row, always in the same order, so concurrent writers cannot deadlock on them.
    with connection.cursor() as cursor:
        for (tutor_id, account, kind), (total, count) in sorted(sums.items()):
            cursor.execute(
                f"INSERT INTO {table} (tutor_id, account, kind, total, entries) VALUES (%s, %s, %s, %s, %s) "
                f"ON CONFLICT (tutor_id, account, kind) DO UPDATE "
                f"SET total = {table}.total + EXCLUDED.total, entries = {table}.entries + EXCLUDED.entries",
                [_db_uuid(tutor_id), account, kind, total, count],
            )


def _db_uuid(value: str):
    return LedgerBalance._meta.get_field("tutor").target_field.get_db_prep_value(value, connection)


def rebuild_balances(*, tutor_id=None) -> None:
    """Recompute the running totals from the entries (after a bulk import, or to repair)."""
    entries = LedgerEntry.objects.all() if tutor_id is None else LedgerEntry.objects.filter(tutor_id=tutor_id)
    with transaction.atomic():
        (LedgerBalance.objects.all() if tutor_id is None else LedgerBalance.objects.filter(tutor_id=tutor_id)).delete()
        LedgerBalance.objects.bulk_create(
            LedgerBalance(
                tutor_id=row["tutor_id"], account=row["account"], kind=row["kind"], total=row["total"], entries=row["n"]
            )
            for row in entries.values("tutor_id", "account", "kind").annotate(total=Sum("amount"), n=Count("id"))
        )


def verify_balances(*, tutor_id=None) -> list[str]:
    """Recompute the running totals from the entries; returns the (tutor, account, kind) that differ."""
    entries = LedgerEntry.objects.all()
    balances = LedgerBalance.objects.all()
    if tutor_id is not None:
        entries, balances = entries.filter(tutor_id=tutor_id), balances.filter(tutor_id=tutor_id)
    expected = {
        (row["tutor_id"], row["account"], row["kind"]): (row["total"], row["n"])
        for row in entries.values("tutor_id", "account", "kind").annotate(total=Sum("amount"), n=Count("id"))
    }
    actual = {(b.tutor_id, b.account, b.kind): (b.total, b.entries) for b in balances if b.entries}
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


def record_class_held(*, booking: Booking) -> bool:
    """The class was held: the booking's share moves from pending to earned."""
    share = tutor_share(booking.price)
    return _append(
        [
            _booking_entry(booking, Account.PENDING, EntryKind.RELEASE, -share),
            _booking_entry(booking, Account.EARNED, EntryKind.RELEASE, share),
        ]
    )


def record_refund(*, booking: Booking, refund, class_held: bool) -> bool:
    """A refund of `refund.amount` succeeded; take the tutor's share of it back (docs/money.md "The ledger")."""
    if class_held:
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
