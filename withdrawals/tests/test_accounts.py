import json
import re
from urllib.parse import urlsplit

import pytest
from django.core import signing
from stripe import WebhookSignature

from payments.stripe.sandbox import account_snapshot, deliver, signed_event
from payments.webhooks import webhook_receive
from tutoring.tests.utils import assert_error, data
from withdrawals.models import ConnectedAccount

pytestmark = pytest.mark.django_db

ACCOUNTS = "/api/withdrawals/accounts"
LINKS = "/api/withdrawals/accounts/links"


def test_create_once_then_existing(client_for, tutor):
    client = client_for(tutor)
    assert_error(client.get(ACCOUNTS), 404, ACCOUNTS, "GET")
    created = data(client.post(ACCOUNTS), 201)
    assert re.fullmatch(r"acct_[A-Za-z0-9]{16}", created["accountId"])
    assert created["status"] == "pending_verification"
    assert data(client.post(ACCOUNTS), 200) == created
    assert data(client.get(ACCOUNTS)) == {**created, "payoutsEnabled": False}
    assert ConnectedAccount.objects.count() == 1


def test_only_tutors(client_for, student, staff):
    for user in (student, staff):
        assert_error(client_for(user).post(ACCOUNTS), 403, ACCOUNTS, "POST")
        assert_error(client_for(user).get(ACCOUNTS), 403)
        assert_error(client_for(user).post(LINKS, {"returnUrl": "http://testserver/x"}), 403)


def test_sandbox_onboarding_verifies_through_the_webhook(client_for, tutor, client):
    api = client_for(tutor)
    account = data(api.post(ACCOUNTS), 201)
    url = data(api.post(LINKS, {"returnUrl": "http://testserver/earnings?done=1"}))["url"]
    assert url.startswith("http://127.0.0.1:8000/withdrawals/sandbox/onboarding/")
    path = urlsplit(url).path
    page = client.get(path)
    assert page.status_code == 200 and account["accountId"] in page.content.decode()
    done = client.post(path)
    assert done.status_code == 302 and done["Location"] == "http://testserver/earnings?done=1"
    assert data(api.get(ACCOUNTS)) == {"accountId": account["accountId"], "status": "verified", "payoutsEnabled": True}


def test_links_are_fresh_and_onboarding_tokens_are_signed(client_for, tutor, client):
    api = client_for(tutor)
    data(api.post(ACCOUNTS), 201)
    first = data(api.post(LINKS, {"returnUrl": "http://testserver/a"}))["url"]
    second = data(api.post(LINKS, {"returnUrl": "http://testserver/a"}))["url"]
    assert first != second
    forged = signing.dumps({"account": "acct_x", "return": "https://evil.test"}, salt="not-the-salt")
    assert client.get(f"/withdrawals/sandbox/onboarding/{forged}").status_code == 404
    assert client.get("/withdrawals/onboarding/refresh/garbage").status_code == 404


def test_link_without_account_is_404(client_for, tutor):
    assert_error(client_for(tutor).post(LINKS, {"returnUrl": "http://testserver/x"}), 404, LINKS, "POST")


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/return",
        "javascript:alert(1)",
        "/relative/path",
        "relative",
        "//evil.example/x",
        "ftp://testserver/x",
        "http://testserver.evil.example/x",
        "http://evil.example?http://testserver/",
        "http://testserver@evil.example/",
        "http://evil.example\\@testserver/",
        "http:/\\evil.example",
        "https:///evil.example",
        "data:text/html,hi",
        "",
    ],
)
def test_return_url_must_be_this_site_or_allowed(client_for, tutor, url):
    client = client_for(tutor)
    data(client.post(ACCOUNTS), 201)
    body = assert_error(client.post(LINKS, {"returnUrl": url}), 400, LINKS, "POST")
    assert "returnUrl" in body["errors"]


@pytest.mark.parametrize(
    "url",
    ["http://testserver/x", "https://testserver:8443/y", "http://127.0.0.1:8000/z", "https://app.example.com/done"],
)
def test_allowed_return_urls(client_for, tutor, settings, url):
    settings.RETURN_URL_HOSTS = ["app.example.com"]
    client = client_for(tutor)
    data(client.post(ACCOUNTS), 201)
    assert data(client.post(LINKS, {"returnUrl": url}))["url"]


def test_refresh_url_makes_a_new_link(client_for, tutor, client):
    from withdrawals.services import REFRESH_SALT

    account = data(client_for(tutor).post(ACCOUNTS), 201)
    token = signing.dumps({"account": account["accountId"], "return": "http://testserver/r"}, salt=REFRESH_SALT)
    response = client.get(f"/withdrawals/onboarding/refresh/{token}")
    assert response.status_code == 302
    assert "/withdrawals/sandbox/onboarding/" in response["Location"]


def test_account_updated_keeps_status_in_sync(client_for, tutor):
    api = client_for(tutor)
    account_id = data(api.post(ACCOUNTS), 201)["accountId"]

    def send(snapshot, created):
        payload, signature = signed_event("account.updated", snapshot, created=created)
        return webhook_receive(payload=payload, signature=signature)[1]

    assert send(account_snapshot(account_id, verified=True), 2_000) == "account verified"
    assert send(account_snapshot(account_id, verified=False), 1_000) == "ignored: older snapshot"
    assert data(api.get(ACCOUNTS))["status"] == "verified"
    rejected = account_snapshot(account_id, verified=False)
    rejected["requirements"]["disabled_reason"] = "rejected.fraud"
    assert send(rejected, 3_000) == "account rejected"
    assert data(api.get(ACCOUNTS)) == {"accountId": account_id, "status": "rejected", "payoutsEnabled": False}
    more_info = account_snapshot(account_id, verified=False)
    more_info["requirements"]["disabled_reason"] = "requirements.past_due"
    assert send(more_info, 4_000) == "account pending_verification"
    deliver("account.updated", account_snapshot("acct_unknown", verified=True))


def test_payout_events_recorded_on_the_account(client_for, tutor):
    account_id = data(client_for(tutor).post(ACCOUNTS), 201)["accountId"]
    payout = {"id": "po_1", "object": "payout", "status": "failed", "failure_code": "account_closed"}
    payload, _ = signed_event("payout.failed", payout)
    event = json.loads(payload)
    event["account"] = account_id  # Connect events name the connected account
    raw = json.dumps(event)
    header = WebhookSignature.generate_signature_header(raw, "whsec_sandbox")
    assert webhook_receive(payload=raw.encode(), signature=header)[1] == "payout failed"
    account = ConnectedAccount.objects.get()
    assert (account.last_payout_id, account.last_payout_failure) == ("po_1", "account_closed")
