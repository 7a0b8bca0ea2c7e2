"""The earnings page: the figures of the stats endpoint, the ledger chart, payout account onboarding
and withdrawals, each through the service the API calls."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payments.selectors import tutor_earnings
from payments.services import earnings_release
from payments.tests.factories import paid_booking
from tutoring.services import booking_complete
from tutoring.tests.factories import StudentFactory, TutorFactory
from withdrawals.models import ConnectedAccount, Withdrawal
from withdrawals.tests.factories import held_class, tutor_with_balance, verified_account

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_page_shows_the_stats_figures_and_the_chart_of_the_ledger():
    tutor = tutor_with_balance()
    response = signed_in(tutor).get("/earnings")
    assert response.status_code == 200
    stats = response.context["stats"]
    assert stats == tutor_earnings(tutor_id=tutor.pk)
    assert stats.total_earnings == stats.balance == 15300
    html = response.content.decode()
    assert 'data-figure="balance">$153.00<' in html and 'data-figure="paymentsCount">1<' in html
    chart = response.context["chart"]
    assert chart["days"] == [timezone.now().date().isoformat()]
    assert chart["earned"] == [153.0] and chart["withdrawn"] == [0.0] and chart["currency"] == "USD"
    assert '"labels": {"earned": "Total earned"' in html


def test_the_chart_is_a_running_total_per_day():
    tutor = tutor_with_balance(minutes=60)
    # A second class, held the day before the first (one tutor's classes never overlap).
    second = paid_booking(tutor=tutor, duration_minutes=120, start_time=timezone.now() - timedelta(days=3))
    booking_complete(booking_id=second.pk, at=second.end_time)
    assert earnings_release(booking_id=second.pk, now=timezone.now())
    chart = signed_in(tutor).get("/earnings").context["chart"]
    assert chart["earned"] == [153.0]  # 5100 + 10200 on the same day
    signed_in(tutor).post("/earnings/withdraw", {"amount": "20"})
    # Held money is not withdrawn yet: the chart follows what the stats call withdrawn.
    assert signed_in(tutor).get("/earnings").context["chart"]["withdrawn"] == [0.0]


def test_only_tutors_have_the_page():
    assert signed_in(StudentFactory()).get("/earnings").status_code == 403
    assert Client().get("/earnings")["Location"] == "/login?next=/earnings"


def test_payout_account_onboarding_goes_through_the_sandbox_page_and_back():
    tutor = TutorFactory()
    client = signed_in(tutor)
    assert client.get("/earnings").context["account"] is None
    created = client.post("/earnings/account", follow=True)
    account = ConnectedAccount.objects.get(tutor=tutor)
    assert account.status == "pending_verification" and created.context["account"] == account
    link = client.post("/earnings/account/onboarding")
    assert link.status_code == 302 and "/withdrawals/sandbox/onboarding/" in link["Location"]
    done = client.post(link["Location"])
    assert done["Location"] == "http://testserver/earnings"
    account.refresh_from_db()
    assert account.status == "verified"


def test_withdrawal_in_major_units_becomes_a_held_request_in_minor_units():
    tutor = tutor_with_balance()
    client = signed_in(tutor)
    response = client.post("/earnings/withdraw", {"amount": "12.50"}, follow=True)
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.amount == 1250 and withdrawal.status == "pending" and withdrawal.tutor == tutor
    assert messages_of(response) == ["Withdrawal requested. Staff will review it."]
    assert response.context["withdrawals"] == [withdrawal]
    assert response.context["stats"].balance == 15300 - 1250


@pytest.mark.parametrize("typed", ["", "abc", "12.345", "-5", "NaN"])
def test_withdrawal_amounts_that_are_not_money_change_nothing(typed):
    tutor = tutor_with_balance()
    response = signed_in(tutor).post("/earnings/withdraw", {"amount": typed}, follow=True)
    assert messages_of(response) == ["Enter an amount such as 25.00."]
    assert not Withdrawal.objects.exists()


def test_withdrawal_shows_the_services_refusal():
    tutor = tutor_with_balance()
    client = signed_in(tutor)
    too_much = client.post("/earnings/withdraw", {"amount": "1000"}, follow=True)
    assert messages_of(too_much) == ["amount exceeds the available balance (15300)."]
    no_account = TutorFactory()
    held_class(no_account)
    refused = signed_in(no_account).post("/earnings/withdraw", {"amount": "20"}, follow=True)
    assert messages_of(refused) == ["A verified payout account is required before withdrawing."]
    assert not Withdrawal.objects.exists()


def test_the_page_has_no_withdraw_form_without_a_verified_account():
    tutor = TutorFactory()
    assert b'id="amount"' not in signed_in(tutor).get("/earnings").content
    verified_account(tutor)
    assert b'id="amount"' in signed_in(tutor).get("/earnings").content


def test_chart_data_travels_as_json_not_script():
    tutor = tutor_with_balance()
    html = signed_in(tutor).get("/earnings").content.decode()
    start = html.index('<script id="chart-data" type="application/json">')
    data = json.loads(html[start:].split(">", 1)[1].split("</script>", 1)[0])
    assert data["earned"] == [153.0]
