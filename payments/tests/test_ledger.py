"""The ledger rules of docs/money.md "The ledger", with exact figures (15% fee by default)."""

import pytest

from payments import ledger
from payments.models import LedgerEntry, Refund
from payments.selectors import tutor_earnings
from payments.tests.factories import after_the_hold, paid_booking
from tutoring.services import booking_complete

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "amount,fee,share",
    [(6000, 900, 5100), (1000, 150, 850), (1003, 150, 853), (1010, 152, 858), (10, 2, 8), (1, 0, 1), (0, 0, 0)],
)
def test_fee_and_share_round_half_up(amount, fee, share):
    # 1010 × 15% = 151.5 → 152: the half rounds up.
    assert ledger.platform_fee(amount) == fee
    assert ledger.tutor_share(amount) == share


def test_fee_percent_from_settings(settings):
    settings.PLATFORM_FEE_PERCENT = 20
    assert ledger.tutor_share(6000) == 4800


def figures(tutor):
    e = tutor_earnings(tutor_id=tutor.pk)
    return {
        "earned": e.total_earnings,
        "pending": e.pending_earnings,
        "balance": e.balance,
        "payments": e.payments_count,
    }


def test_paid_then_held_then_released():
    booking = paid_booking()  # 60 min at 6000
    assert figures(booking.tutor) == {"earned": 0, "pending": 5100, "balance": 0, "payments": 1}
    booking_complete(booking_id=booking.pk)
    assert figures(booking.tutor) == {"earned": 0, "pending": 5100, "balance": 0, "payments": 1}
    booking_complete(booking_id=booking.pk)  # idempotent
    assert after_the_hold() == 1
    assert figures(booking.tutor) == {"earned": 5100, "pending": 0, "balance": 5100, "payments": 1}
    assert after_the_hold() == 0  # released once


def refund_of(booking, amount):
    return Refund.objects.create(
        booking=booking,
        payment=booking.payment,
        amount=amount,
        currency="usd",
        reason="r",
        requested_by=booking.student,
        status="succeeded",
    )


@pytest.mark.parametrize(
    "released,refund,earned,pending",
    [
        (True, 6000, 0, 0),  # a full refund of a released share takes all of it back
        (True, 2000, 5100 - 1700, 0),  # share(2000) = 1700
        (False, 6000, 0, 0),  # not released: pending leaves, nothing is earned
        (False, 2000, 5100 - 1700, 0),  # what a partial refund leaves the tutor becomes earned
        (False, 1, 5100 - 1, 0),
    ],
)
def test_refund_rules(released, refund, earned, pending):
    booking = paid_booking()
    if released:
        ledger.record_release(booking=booking)
    r = refund_of(booking, refund)
    assert ledger.record_refund(booking=booking, refund=r, released=released)
    assert figures(booking.tutor) == {"earned": earned, "pending": pending, "balance": earned, "payments": 1}


def test_an_event_is_recorded_once():
    booking = paid_booking()
    before = LedgerEntry.objects.count()
    assert ledger.record_payment(booking=booking, amount=booking.price) is False
    assert ledger.record_release(booking=booking) is True
    assert ledger.record_release(booking=booking) is False
    assert LedgerEntry.objects.count() == before + 2
    assert figures(booking.tutor)["earned"] == 5100


def test_stats_are_one_query(django_assert_num_queries):
    booking = paid_booking()
    for _ in range(5):
        paid_booking(tutor=booking.tutor)
    with django_assert_num_queries(1):
        assert tutor_earnings(tutor_id=booking.tutor.pk).payments_count == 6


def test_running_totals_match_entries_and_the_check_finds_drift():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from payments.models import LedgerBalance

    booking = paid_booking()
    booking_complete(booking_id=booking.pk)
    after_the_hold()
    assert ledger.verify_balances() == []
    call_command("ledger_check")
    LedgerBalance.objects.filter(account="earned").update(total=1)
    with pytest.raises(CommandError, match="running total"):
        call_command("ledger_check")
    call_command("ledger_check", "--rebuild")
    assert figures(booking.tutor)["earned"] == 5100
