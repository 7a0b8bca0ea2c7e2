"""Money stays in the currency it was earned in (docs/money.md "Amounts"): a tutor's stats, withdrawals
and transfers are in the tutor's currency; payout events never make a later account update look stale."""

import json

import pytest
from stripe import WebhookSignature

from payments.stripe.sandbox import account_snapshot, signed_event
from payments.webhooks import webhook_receive
from tutoring.tests.utils import assert_error, data
from withdrawals.models import ConnectedAccount, Withdrawal
from withdrawals.tests.factories import tutor_with_balance

pytestmark = pytest.mark.django_db

URL = "/api/withdrawals"


def test_a_second_currency_tutor_stays_in_that_currency(client_for, staff, stripe_stub):
    tutor = tutor_with_balance(profile__currency="gbp")  # 180 min at 6000/h → 15300 earned, in pence
    client = client_for(tutor)
    stats = data(client.get(f"{URL}/stats"))
    assert (stats["currency"], stats["totalEarnings"], stats["balance"]) == ("gbp", 15300, 15300)
    created = data(client.post(URL, {"amount": 5000}), 201)
    assert created["currency"] == "gbp"
    data(client_for(staff).post(f"{URL}/{created['id']}/approve", {}))
    (call,) = stripe_stub.calls("POST", "/v1/transfers")
    assert (call.form["amount"], call.form["currency"]) == ("5000", "gbp")
    assert data(client.get(f"{URL}/stats"))["totalWithdrawn"] == 5000
    # The currency cannot move under the money.
    assert_error(client.patch("/api/tutors/me", {"currency": "usd"}), 409)


def test_zero_decimal_tutor_withdraws_whole_yen(client_for):
    tutor = tutor_with_balance(profile__currency="jpy", profile__hourly_rate=4000)  # ¥12,000 → ¥10,200 earned
    client = client_for(tutor)
    assert data(client.get(f"{URL}/stats"))["balance"] == 10200
    assert data(client.post(URL, {"amount": 10200}), 201)["currency"] == "jpy"
    assert Withdrawal.objects.get().amount == 10200


def test_three_decimal_amounts_move_in_steps_of_ten(client_for):
    tutor = tutor_with_balance(profile__currency="kwd")
    client = client_for(tutor)
    body = assert_error(client.post(URL, {"amount": 5005}), 400, URL, "POST")
    assert "amount" in body["errors"]
    assert data(client.post(URL, {"amount": 5000}), 201)["currency"] == "kwd"


def test_payout_events_and_account_updates_are_ordered_apart(client_for, tutor):
    """A payout event newer than an account update must not make that update look old."""
    account_id = data(client_for(tutor).post("/api/withdrawals/accounts"), 201)["accountId"]
    payload, _ = signed_event("payout.paid", {"id": "po_1", "object": "payout", "status": "paid"}, created=5_000)
    event = json.loads(payload)
    event["account"] = account_id
    raw = json.dumps(event)
    header = WebhookSignature.generate_signature_header(raw, "whsec_sandbox")
    assert webhook_receive(payload=raw.encode(), signature=header)[1] == "payout paid"
    rejected = account_snapshot(account_id, verified=False)
    rejected["requirements"]["disabled_reason"] = "rejected.fraud"
    payload, signature = signed_event("account.updated", rejected, created=4_000)
    assert webhook_receive(payload=payload, signature=signature)[1] == "account rejected"
    account = ConnectedAccount.objects.get()
    assert (account.status, account.last_payout_status) == ("rejected", "paid")
