import pytest

from payments.stripe.sandbox import deliver
from payments.tests.stripe_stub import Failure
from tutoring.tests.factories import TutorFactory
from tutoring.tests.utils import assert_error, data
from withdrawals.models import Withdrawal, WithdrawalStatus
from withdrawals.tests.factories import held_class, tutor_with_balance, verified_account

pytestmark = pytest.mark.django_db

URL = "/api/withdrawals"
STATS = "/api/withdrawals/stats"


def stats(client):
    return data(client.get(STATS))


class TestRequest:
    def test_holds_the_amount(self, client_for):
        tutor = tutor_with_balance()
        client = client_for(tutor)
        created = data(client.post(URL, {"amount": 5000}), 201)
        assert set(created) == {"id", "status", "amount", "currency", "createdAt", "decidedAt"}
        assert (created["status"], created["amount"], created["currency"]) == ("pending", 5000, "usd")
        assert stats(client) == {
            "currency": "usd",
            "totalEarnings": 15300,
            "totalWithdrawn": 0,
            "balance": 10300,
            "paymentsCount": 1,
            "withdrawalsCount": 0,
            "pendingEarnings": 0,
        }
        listed = data(client.get(URL))
        assert listed == {"withdrawals": [created], "next": None}

    @pytest.mark.parametrize(
        "amount,field",
        [
            (999, "amount"),
            (15301, "amount"),
            (0, "amount"),
            (-5, "amount"),
            ("2000", "amount"),
            (2000.5, "amount"),
            (None, "amount"),
            (True, "amount"),
        ],
    )
    def test_amount_rules(self, client_for, amount, field):
        tutor = tutor_with_balance()
        body = assert_error(client_for(tutor).post(URL, {"amount": amount}), 400, URL, "POST")
        assert field in body["errors"]
        assert not Withdrawal.objects.exists()

    def test_min_from_settings(self, client_for, settings):
        settings.MIN_WITHDRAWAL_AMOUNT = 5000
        tutor = tutor_with_balance()
        assert_error(client_for(tutor).post(URL, {"amount": 4999}), 400)
        data(client_for(tutor).post(URL, {"amount": 5000}), 201)

    def test_exact_balance_is_allowed(self, client_for):
        tutor = tutor_with_balance()
        data(client_for(tutor).post(URL, {"amount": 15300}), 201)
        assert stats(client_for(tutor))["balance"] == 0
        assert_error(client_for(tutor).post(URL, {"amount": 1000}), 400)

    def test_needs_a_verified_account(self, client_for):
        tutor = TutorFactory()
        held_class(tutor, 180)
        assert_error(client_for(tutor).post(URL, {"amount": 2000}), 409, URL, "POST")
        data(client_for(tutor).post("/api/withdrawals/accounts"), 201)  # pending verification
        assert_error(client_for(tutor).post(URL, {"amount": 2000}), 409)

    def test_only_tutors(self, client_for, student, staff):
        for user in (student, staff):
            assert_error(client_for(user).post(URL, {"amount": 2000}), 403)
            assert_error(client_for(user).get(URL), 403)
            assert_error(client_for(user).get(STATS), 403)

    def test_counts_in_the_payment_rate_group(self, client_for):
        tutor = TutorFactory()
        held_class(tutor, 240)
        verified_account(tutor)
        client = client_for(tutor)
        for _ in range(10):
            assert client.post(URL, {"amount": 1000}).status_code == 201
        for _ in range(10):
            assert client.post(URL, {"amount": 1}).status_code == 400
        assert_error(client.post(URL, {"amount": 1000}), 429)
        assert client.get(URL).status_code == 200  # listing is not a payment request
        assert Withdrawal.objects.count() == 10


class TestDecisions:
    def test_approve_transfers_and_marks_paid(self, client_for, staff):
        tutor = tutor_with_balance()
        w = data(client_for(tutor).post(URL, {"amount": 5000}), 201)
        paid = data(client_for(staff).post(f"{URL}/{w['id']}/approve", {"note": "ok"}))
        assert paid["status"] == "paid" and paid["decidedAt"]
        stored = Withdrawal.objects.get()
        assert stored.transfer_id.startswith("tr_") and (stored.decided_by, stored.decision_note) == (staff, "ok")
        assert stats(client_for(tutor)) == {
            "currency": "usd",
            "totalEarnings": 15300,
            "totalWithdrawn": 5000,
            "balance": 10300,
            "paymentsCount": 1,
            "withdrawalsCount": 1,
            "pendingEarnings": 0,
        }
        assert_error(client_for(staff).post(f"{URL}/{w['id']}/approve", {}), 409)
        assert_error(client_for(staff).post(f"{URL}/{w['id']}/reject", {"note": "late"}), 409)

    def test_reject_releases_with_a_note(self, client_for, staff):
        tutor = tutor_with_balance()
        w = data(client_for(tutor).post(URL, {"amount": 5000}), 201)
        assert "note" in assert_error(client_for(staff).post(f"{URL}/{w['id']}/reject", {}), 400)["errors"]
        rejected = data(client_for(staff).post(f"{URL}/{w['id']}/reject", {"note": "Documents missing."}))
        assert rejected["status"] == "rejected"
        assert stats(client_for(tutor))["balance"] == 15300
        assert_error(client_for(staff).post(f"{URL}/{w['id']}/reject", {"note": "again"}), 409)
        assert Withdrawal.objects.get().decision_note == "Documents missing."

    def test_only_staff_decide(self, client_for):
        tutor = tutor_with_balance()
        w = data(client_for(tutor).post(URL, {"amount": 5000}), 201)
        assert_error(client_for(tutor).post(f"{URL}/{w['id']}/approve", {}), 403)
        assert_error(client_for(TutorFactory()).post(f"{URL}/{w['id']}/reject", {"note": "x"}), 403)
        assert Withdrawal.objects.get().status == "pending"

    def test_transfer_reversed_fails_it_and_returns_the_money(self, client_for, staff):
        tutor = tutor_with_balance()
        w = data(client_for(tutor).post(URL, {"amount": 5000}), 201)
        data(client_for(staff).post(f"{URL}/{w['id']}/approve", {}))
        transfer_id = Withdrawal.objects.get().transfer_id
        deliver(
            "transfer.reversed",
            {"id": transfer_id, "object": "transfer", "amount": 5000, "amount_reversed": 5000, "reversed": True},
        )
        stored = Withdrawal.objects.get()
        assert (stored.status, stored.failure_reason) == (WithdrawalStatus.FAILED, "transfer reversed")
        assert stats(client_for(tutor)) == {
            "currency": "usd",
            "totalEarnings": 15300,
            "totalWithdrawn": 0,
            "balance": 15300,
            "paymentsCount": 1,
            "withdrawalsCount": 0,
            "pendingEarnings": 0,
        }
        # The same reversal again changes nothing.
        deliver("transfer.reversed", {"id": transfer_id, "object": "transfer", "amount": 5000, "amount_reversed": 5000})
        assert stats(client_for(tutor))["balance"] == 15300


class TestRealProvider:
    def test_transfer_request_as_sent(self, client_for, staff, stripe_stub):
        tutor = tutor_with_balance()  # its account was made in the sandbox; transfers go to the stub
        account_id = tutor.connected_account.provider_id
        w = data(client_for(tutor).post(URL, {"amount": 4000}), 201)
        assert data(client_for(staff).post(f"{URL}/{w['id']}/approve", {}))["status"] == "paid"
        (call,) = stripe_stub.calls("POST", "/v1/transfers")
        assert call.headers["Idempotency-Key"] == f"withdrawal-{w['id']}"
        assert call.form == {
            "amount": "4000",
            "currency": "usd",
            "destination": account_id,
            "transfer_group": f"withdrawal_{w['id']}",
            "metadata[withdrawal_id]": w["id"],
            "metadata[tutor_id]": str(tutor.pk),
        }
        transfer_id = Withdrawal.objects.get().transfer_id
        assert stripe_stub.objects[transfer_id]["destination"] == account_id

    def test_refused_transfer_fails_and_releases(self, client_for, staff, stripe_stub):
        tutor = tutor_with_balance()
        w = data(client_for(tutor).post(URL, {"amount": 4000}), 201)
        stripe_stub.fail(
            "POST",
            "/v1/transfers",
            Failure(
                status=400,
                error={
                    "type": "invalid_request_error",
                    "code": "balance_insufficient",
                    "message": "Insufficient funds.",
                },
            ),
        )
        failed = data(client_for(staff).post(f"{URL}/{w['id']}/approve", {"note": "go"}))
        assert failed["status"] == "failed"
        stored = Withdrawal.objects.get()
        assert (stored.failure_reason, stored.transfer_id, stored.decided_by) == ("balance_insufficient", None, staff)
        assert stats(client_for(tutor))["balance"] == 15300

    @pytest.mark.parametrize("failure", [Failure(status=500), Failure(status=200, delay=1.5)], ids=["500", "timeout"])
    def test_unknown_outcome_keeps_it_pending_and_held(self, client_for, staff, stripe_stub, failure):
        tutor = tutor_with_balance()
        w = data(client_for(tutor).post(URL, {"amount": 4000}), 201)
        failure.times = 1
        stripe_stub.fail("POST", "/v1/transfers", failure)
        url = f"{URL}/{w['id']}/approve"
        assert_error(client_for(staff).post(url, {}), 502, url, "POST")
        stored = Withdrawal.objects.get()
        assert (stored.status, stored.decided_by, stored.transfer_id) == ("pending", None, None)
        assert stats(client_for(tutor))["balance"] == 11300
        # Approving again repeats the same idempotent request: at most one transfer exists at Stripe.
        assert data(client_for(staff).post(url, {}))["status"] == "paid"
        keys = {c.headers["Idempotency-Key"] for c in stripe_stub.calls("POST", "/v1/transfers")}
        assert keys == {f"withdrawal-{w['id']}"}

    def test_account_and_link_requests_as_sent(self, client_for, stripe_stub):
        tutor = TutorFactory()
        client = client_for(tutor)
        created = data(client.post("/api/withdrawals/accounts"), 201)
        (call,) = stripe_stub.calls("POST", "/v1/accounts")
        assert call.headers["Idempotency-Key"] == f"account-create-{tutor.pk}"
        assert call.form == {
            "controller[stripe_dashboard][type]": "express",
            "controller[fees][payer]": "application",
            "controller[losses][payments]": "application",
            "controller[requirement_collection]": "stripe",
            "capabilities[transfers][requested]": "true",
            "email": tutor.email,
            "metadata[tutor_id]": str(tutor.pk),
        }
        assert created["status"] == "pending_verification"
        url = data(client.post("/api/withdrawals/accounts/links", {"returnUrl": "http://testserver/back"}))["url"]
        (link,) = stripe_stub.calls("POST", "/v1/account_links")
        assert url.startswith("https://connect.stripe.test/setup/")
        assert link.form["account"] == created["accountId"]
        assert link.form["type"] == "account_onboarding"
        assert link.form["return_url"] == "http://testserver/back"
        assert link.form["refresh_url"].startswith("http://127.0.0.1:8000/withdrawals/onboarding/refresh/")
        stripe_stub.fail("POST", "/v1/account_links", Failure(status=500))
        assert_error(client.post("/api/withdrawals/accounts/links", {"returnUrl": "http://testserver/back"}), 502)

    def test_account_creation_failure_writes_nothing(self, client_for, stripe_stub):
        from withdrawals.models import ConnectedAccount

        tutor = TutorFactory()
        stripe_stub.fail("POST", "/v1/accounts", Failure(status=500))
        assert_error(client_for(tutor).post("/api/withdrawals/accounts"), 502)
        assert not ConnectedAccount.objects.exists()


class TestAdminQueue:
    def test_actions(self, client, client_for, staff):
        tutor = tutor_with_balance()
        a = data(client_for(tutor).post(URL, {"amount": 2000}), 201)["id"]
        b = data(client_for(tutor).post(URL, {"amount": 3000}), 201)["id"]
        client.force_login(staff)
        assert client.get("/admin/withdrawals/withdrawal/")["Location"].endswith("?status__exact=pending")
        queue = "/admin/withdrawals/withdrawal/?status__exact=pending"
        client.post(queue, {"action": "approve_withdrawals", "_selected_action": [a], "apply": "1", "note": ""})
        client.post(queue, {"action": "reject_withdrawals", "_selected_action": [b], "apply": "1", "note": "dup"})
        assert dict(Withdrawal.objects.values_list("id", "status")) == {
            Withdrawal.objects.get(pk=a).pk: "paid",
            Withdrawal.objects.get(pk=b).pk: "rejected",
        }
        assert stats(client_for(tutor))["balance"] == 15300 - 2000
        page = client.get(f"/admin/withdrawals/withdrawal/{a}/change/").content.decode()
        assert 'name="amount"' not in page and 'name="status"' not in page
