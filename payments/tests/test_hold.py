"""The earnings hold (docs/money.md "The time rules"): a held class's share becomes withdrawable only
EARNINGS_HOLD_HOURS after it ended and never with a refund request open; refunds can be asked for until
then, so no balance ever goes below zero."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from payments import ledger, services
from payments.models import LedgerEntry, Payment, PaymentStatus, Refund, RefundStatus
from payments.selectors import tutor_earnings
from payments.tests.factories import paid_booking
from tutoring.models import BookingStatus
from tutoring.services import booking_complete, booking_mark_missed
from tutoring.tests.factories import BookingFactory
from tutoring.tests.utils import assert_error, data
from withdrawals.tests.factories import verified_account

pytestmark = pytest.mark.django_db

HOLD = timedelta(hours=24)
REFUNDS = "/api/payments/refunds"


def figures(booking):
    e = tutor_earnings(tutor_id=booking.tutor_id)
    return e.pending_earnings, e.total_earnings, e.balance


def held_now():
    """A class (6000, share 5100) held and ended just now."""
    booking = paid_booking()
    booking_complete(booking_id=booking.pk)
    booking.refresh_from_db()
    return booking


def ask_refund(client_for, booking):
    return client_for(booking.student).post(REFUNDS, {"bookingId": str(booking.pk), "reason": "no show"})


def test_the_share_stays_pending_until_the_hold_is_over():
    booking = held_now()
    ended = booking.completed_at
    assert figures(booking) == (5100, 0, 0)
    assert services.earnings_release_due(now=ended + HOLD - timedelta(seconds=1)) == 0
    assert figures(booking) == (5100, 0, 0)
    assert services.earnings_release_due(now=ended + HOLD) == 1
    assert figures(booking) == (0, 5100, 5100)
    booking.refresh_from_db()
    assert booking.earnings_released_at == ended + HOLD


def test_the_hold_comes_from_settings(settings):
    settings.EARNINGS_HOLD_HOURS = 1
    booking = held_now()
    assert services.earnings_release_due(now=booking.completed_at + timedelta(hours=1)) == 1


def test_a_withdrawal_never_takes_money_still_held(client_for):
    booking = held_now()
    verified_account(booking.tutor)
    response = client_for(booking.tutor).post("/api/withdrawals", {"amount": 1000})
    assert_error(response, 400, "/api/withdrawals", "POST")
    with time_machine.travel(booking.completed_at + HOLD + timedelta(seconds=1)):
        # Released on the way, whether or not the job has run.
        assert data(client_for(booking.tutor).post("/api/withdrawals", {"amount": 5100}), 201)["amount"] == 5100


def test_a_pending_refund_keeps_the_share_pending(client_for, staff, django_capture_on_commit_callbacks):
    booking = held_now()
    refund = data(ask_refund(client_for, booking), 201)
    later = booking.completed_at + HOLD + timedelta(hours=1)
    assert services.earnings_release_due(now=later) == 0
    assert figures(booking) == (5100, 0, 0)
    # Staff reject it: the share is due, and the next run releases it.
    data(client_for(staff).post(f"{REFUNDS}/{refund['id']}/reject", {"note": "The class was held."}))
    assert services.earnings_release_due(now=later) == 1
    assert figures(booking) == (0, 5100, 5100)


def test_a_refund_can_be_asked_for_until_the_hold_ends_then_409(client_for):
    early, late = held_now(), held_now()
    with time_machine.travel(early.completed_at + HOLD - timedelta(seconds=5)):
        data(ask_refund(client_for, early), 201)
    with time_machine.travel(late.completed_at + HOLD + timedelta(seconds=1)):
        assert_error(ask_refund(client_for, late), 409, REFUNDS, "POST")
    assert list(Refund.objects.values_list("booking_id", flat=True)) == [early.pk]


def test_a_refund_inside_the_hold_takes_the_share_from_pending(client_for, staff, django_capture_on_commit_callbacks):
    booking = held_now()
    refund = data(ask_refund(client_for, booking), 201)
    with django_capture_on_commit_callbacks(execute=True):
        data(client_for(staff).post(f"{REFUNDS}/{refund['id']}/approve", {}))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.REFUNDED
    assert figures(booking) == (0, 0, 0)
    assert services.earnings_release_due(now=booking.completed_at + HOLD) == 0
    assert ledger.audit() == []


def test_no_balance_goes_below_zero_whatever_the_order(client_for, staff, django_capture_on_commit_callbacks):
    """The story of the issue: withdraw, then a refund is approved. The refund cannot be asked for any
    more once the money is withdrawable, so the tutor's balance never drops below zero."""
    booking = held_now()
    verified_account(booking.tutor)
    with time_machine.travel(booking.completed_at + HOLD + timedelta(minutes=1)):
        data(client_for(booking.tutor).post("/api/withdrawals", {"amount": 5100}), 201)
        assert_error(ask_refund(client_for, booking), 409)
    assert figures(booking) == (0, 5100, 0)
    assert ledger.audit() == []


def test_a_missed_class_is_released_only_if_staff_reject_its_refund(client_for, staff):
    booking = paid_booking(start_time=timezone.now() + timedelta(days=1))
    due = booking.end_time + HOLD
    assert booking_mark_missed(booking_id=booking.pk, now=due)
    assert services.earnings_release_due(now=due) == 0
    refund = Refund.objects.get(booking=booking)
    data(client_for(staff).post(f"{REFUNDS}/{refund.pk}/reject", {"note": "The student did not come."}))
    assert services.earnings_release_due(now=due) == 1
    assert figures(booking) == (0, 5100, 5100)


class TestStrictAmounts:
    @pytest.mark.parametrize("amount", ["4000", 4000.0, True, None, [4000]])
    def test_staff_refund_amount_must_be_an_integer(self, client_for, staff, amount):
        booking = paid_booking()
        refund = data(ask_refund(client_for, booking), 201)
        url = f"{REFUNDS}/{refund['id']}/approve"
        body = assert_error(client_for(staff).post(url, {"amount": amount}), 400, url, "POST")
        assert "amount" in body["errors"]
        assert Refund.objects.get().status == RefundStatus.PENDING

    def test_the_hourly_rate_must_be_an_integer(self, client_for, tutor):
        response = client_for(tutor).patch("/api/tutors/me", {"hourlyRate": "4000"})
        assert "hourlyRate" in assert_error(response, 400)["errors"]


class TestLedgerCheck:
    def test_finds_a_negative_balance(self):
        booking = paid_booking()
        call_command("ledger_check")
        LedgerEntry.objects.create(
            tutor=booking.tutor, account="withdrawn", kind="withdrawal_paid", amount=1, currency="usd", key="x"
        )
        ledger.rebuild_balances()
        with pytest.raises(CommandError, match="below zero"):
            call_command("ledger_check")

    def test_finds_an_entry_in_another_currency(self):
        booking = paid_booking()
        LedgerEntry.objects.filter(booking=booking).update(currency="eur")
        ledger.rebuild_balances()
        with pytest.raises(CommandError, match="currency"):
            call_command("ledger_check")

    def test_finds_a_succeeded_payment_neither_in_the_ledger_nor_refunded(self):
        booking = BookingFactory()
        Payment.objects.create(
            booking=booking, provider_id="pi_x", client_secret="s", amount=1, currency="usd", status="succeeded"
        )
        with pytest.raises(CommandError, match="pi_x"):
            call_command("ledger_check")

    def test_a_late_payment_refunded_automatically_is_accounted_for(self, django_capture_on_commit_callbacks):
        from payments.stripe.sandbox import deliver, payment_intent_snapshot
        from payments.tests.factories import intent_for

        booking = BookingFactory()
        payment = intent_for(booking)
        with time_machine.travel(booking.payment_due_by), django_capture_on_commit_callbacks(execute=True):
            deliver("payment_intent.succeeded", payment_intent_snapshot(payment, status="succeeded"))
        assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
        call_command("ledger_check")
