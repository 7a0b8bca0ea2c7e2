"""Tutors with earnings and payout accounts, reached through the real services and sandbox events."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from payments.services import earnings_release
from payments.stripe.sandbox import account_snapshot, deliver
from payments.tests.factories import paid_booking
from tutoring.models import User
from tutoring.services import booking_complete
from tutoring.tests.factories import TutorFactory
from withdrawals import services
from withdrawals.models import ConnectedAccount


def held_class(tutor: User, minutes: int = 60):
    """A booking of `tutor` paid, held two days ago and past its earnings hold: its share (price − 15%)
    is earned."""
    start = timezone.now() - timedelta(days=2)
    booking = paid_booking(tutor=tutor, duration_minutes=minutes, start_time=start)
    booking_complete(booking_id=booking.pk, at=booking.end_time)
    assert earnings_release(booking_id=booking.pk, now=timezone.now())
    return booking


def verified_account(tutor: User) -> ConnectedAccount:
    account, _ = services.account_create(user=tutor)
    deliver("account.updated", account_snapshot(account.provider_id, verified=True))
    account.refresh_from_db()
    assert account.status == "verified"
    return account


def tutor_with_balance(minutes: int = 180, **kwargs) -> User:
    """A tutor with a verified account and one held class; 180 min at 6000/h → 18000 → 15300 earned."""
    tutor = TutorFactory(**kwargs)
    held_class(tutor, minutes)
    verified_account(tutor)
    return tutor
