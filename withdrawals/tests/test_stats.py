"""Every rule of docs/money.md "Earnings and withdrawals", through the real flows, exact figures (fee 15%)."""

import pytest

from payments import ledger
from payments.tests.factories import after_the_hold, ledger_history, paid_booking
from tutoring.services import booking_complete
from tutoring.tests.factories import BookingFactory, TutorFactory
from tutoring.tests.utils import assert_error, data
from withdrawals.tests.factories import verified_account

pytestmark = pytest.mark.django_db

STATS = "/api/withdrawals/stats"


def stats(client_for, tutor):
    return data(client_for(tutor).get(STATS))


def refund(client_for, staff, booking, amount, django_capture_on_commit_callbacks):
    r = data(
        client_for(booking.student).post("/api/payments/refunds", {"bookingId": str(booking.pk), "reason": "r"}), 201
    )
    with django_capture_on_commit_callbacks(execute=True):
        data(client_for(staff).post(f"/api/payments/refunds/{r['id']}/approve", {"amount": amount}))


def test_empty(client_for, tutor):
    assert stats(client_for, tutor) == {
        "currency": "usd",
        "totalEarnings": 0,
        "totalWithdrawn": 0,
        "balance": 0,
        "paymentsCount": 0,
        "withdrawalsCount": 0,
        "pendingEarnings": 0,
    }


def test_the_whole_story(client_for, staff, django_capture_on_commit_callbacks):
    tutor = TutorFactory(profile__hourly_rate=6000)
    verified_account(tutor)
    BookingFactory(tutor=tutor)  # unpaid: counts nowhere
    a = paid_booking(tutor=tutor, duration_minutes=60)  # 6000 → share 5100
    b = paid_booking(tutor=tutor, duration_minutes=90)  # 9000 → share 7650
    c = paid_booking(tutor=tutor, duration_minutes=30)  # 3000 → share 2550
    d = paid_booking(tutor=tutor, duration_minutes=120)  # 12000 → share 10200
    s = stats(client_for, tutor)
    assert (s["pendingEarnings"], s["totalEarnings"], s["paymentsCount"]) == (5100 + 7650 + 2550 + 10200, 0, 4)

    booking_complete(booking_id=a.pk)
    booking_complete(booking_id=b.pk)
    s = stats(client_for, tutor)
    # Held, but inside the earnings hold: still pending, not withdrawable.
    assert (s["totalEarnings"], s["pendingEarnings"], s["balance"]) == (0, 25500, 0)

    # Refund during the hold after the class, partial: b's 7650 leaves pending; 7650 − share(2000)=1700 → 5950.
    refund(client_for, staff, b, 2000, django_capture_on_commit_callbacks)
    # Refund before the class, partial: c's 2550 leaves pending; 2550 − share(1000)=850 → 1700 earned.
    refund(client_for, staff, c, 1000, django_capture_on_commit_callbacks)
    # Full refund before the class: d's 10200 leaves pending, nothing earned.
    refund(client_for, staff, d, 12000, django_capture_on_commit_callbacks)
    s = stats(client_for, tutor)
    assert (s["totalEarnings"], s["pendingEarnings"]) == (5950 + 1700, 5100)
    # The hold of a passes: its 5100 becomes earned.
    assert after_the_hold(tutor_id=tutor.pk) == 1
    s = stats(client_for, tutor)
    earned = 5100 + 7650 - 1700 + 1700
    assert s == {
        "currency": "usd",
        "totalEarnings": earned,
        "pendingEarnings": 0,
        "balance": earned,
        "paymentsCount": 4,
        "totalWithdrawn": 0,
        "withdrawalsCount": 0,
    }

    client = client_for(tutor)
    w1 = data(client.post("/api/withdrawals", {"amount": 3000}), 201)
    w2 = data(client.post("/api/withdrawals", {"amount": 2000}), 201)
    w3 = data(client.post("/api/withdrawals", {"amount": 1000}), 201)
    data(client_for(staff).post(f"/api/withdrawals/{w1['id']}/approve", {}))
    data(client_for(staff).post(f"/api/withdrawals/{w2['id']}/reject", {"note": "no"}))
    s = stats(client_for, tutor)
    # balance = earned − paid (3000) − still pending (1000); the rejected 2000 is back.
    assert s == {
        "currency": "usd",
        "totalEarnings": earned,
        "pendingEarnings": 0,
        "balance": earned - 3000 - 1000,
        "paymentsCount": 4,
        "totalWithdrawn": 3000,
        "withdrawalsCount": 1,
    }
    assert w3["status"] == "pending"
    assert ledger.verify_balances() == []  # the running totals equal the sums of the entries


def test_stats_are_per_tutor(client_for):
    mine, other = TutorFactory(), TutorFactory()
    booking = paid_booking(tutor=other)
    booking_complete(booking_id=booking.pk)
    after_the_hold()
    assert stats(client_for, mine)["totalEarnings"] == 0
    assert stats(client_for, other)["totalEarnings"] == 5100


def test_only_tutors(client_for, student):
    assert_error(client_for(student).get(STATS), 403, STATS, "GET")


def test_query_count_is_constant_with_10000_payments(client_for, django_assert_num_queries):
    tutor = TutorFactory()
    ledger_history(tutor, payments=10, withdrawals=2)
    with django_assert_num_queries(2):  # the JWT's user, then one aggregate
        small = stats(client_for, tutor)
    busy = TutorFactory()
    ledger_history(busy, payments=10_000, withdrawals=1_000)
    client = client_for(busy)
    with django_assert_num_queries(2):
        big = data(client.get(STATS))
    assert small["paymentsCount"] == 10
    assert big == {
        "currency": "usd",
        "totalEarnings": 51_000_000,
        "pendingEarnings": 0,
        "totalWithdrawn": 2_000_000,
        "balance": 49_000_000,
        "paymentsCount": 10_000,
        "withdrawalsCount": 1_000,
    }
