"""Bookings in payment states, reached through the real services and the sandbox's signed webhooks."""

from __future__ import annotations

from payments import services
from payments.models import Payment
from payments.stripe.sandbox import deliver, payment_intent_snapshot
from tutoring.models import Booking
from tutoring.tests.factories import BookingFactory


def intent_for(booking: Booking) -> Payment:
    return services.payment_intent_create(booking_id=booking.pk, user=booking.student)


def paid_booking(**kwargs) -> Booking:
    """A booking paid the way production pays it: intent, then a signed `payment_intent.succeeded`."""
    booking = BookingFactory(**kwargs)
    payment = intent_for(booking)
    deliver("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
    booking.refresh_from_db()
    assert booking.status == "paid"
    return booking


def after_the_hold(*, tutor_id=None) -> int:
    """The earnings hold of every class held so far has passed, and the release job runs."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    later = timezone.now() + timedelta(hours=settings.EARNINGS_HOLD_HOURS, seconds=1)
    return services.earnings_release_due(now=later, tutor_id=tutor_id)


def ledger_history(tutor, *, payments: int, withdrawals: int) -> None:
    """A long history written straight into the ledger: per payment of 6000 its payment, fee and
    release entries (5100 earned); per withdrawal of 2000 its request and paid entries. Then the
    running totals are rebuilt from the entries, as `ledger_check --rebuild` would."""
    from django.utils import timezone

    from payments import ledger
    from payments.models import Account, EntryKind, LedgerEntry

    now, t = timezone.now(), tutor.pk
    per_payment = [
        (Account.PENDING, EntryKind.PAYMENT, 6000),
        (Account.PENDING, EntryKind.FEE, -900),
        (Account.PENDING, EntryKind.RELEASE, -5100),
        (Account.EARNED, EntryKind.RELEASE, 5100),
    ]
    per_withdrawal = [
        (Account.HELD, EntryKind.WITHDRAWAL_REQUEST, 2000),
        (Account.HELD, EntryKind.WITHDRAWAL_PAID, -2000),
        (Account.WITHDRAWN, EntryKind.WITHDRAWAL_PAID, 2000),
    ]
    rows = [
        LedgerEntry(
            tutor=tutor,
            account=account,
            kind=kind,
            amount=amount,
            currency="usd",
            key=f"{t}:history:{label}{i}:{account}:{kind}",
            created_at=now,
        )
        for label, count, shape in (("p", payments, per_payment), ("w", withdrawals, per_withdrawal))
        for i in range(count)
        for account, kind, amount in shape
    ]
    LedgerEntry.objects.bulk_create(rows, batch_size=5000)
    ledger.rebuild_balances(tutor_id=tutor.pk)
