"""Production settings refuse guessable keys and pass `check --deploy`; the shipped deployment trusts
only what the proxy itself says and listens only where the proxy reaches."""

import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest
from django.core.management.utils import get_random_secret_key
from django.test import Client
from stripe import WebhookSignature
from twilio.request_validator import RequestValidator

from live.tests.factories import SessionFactory
from tutoring.keys import key_problem
from tutoring.tests.servers import ROOT

GOOD_KEY = secrets.token_urlsafe(50)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def shipped_example_key() -> str:
    lines = (ROOT / "deploy" / "env.example").read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith("DJANGO_SECRET_KEY="))


@pytest.mark.parametrize(
    "key",
    [
        None,
        "dev-insecure-only-for-local-runs",
        "django-insecure-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijk",
        "change-me-" + "x" * 60,
        "short",
        "k" * 50,
        "abcd" * 20,
    ],
    ids=["unset", "dev", "django-insecure", "change-me", "short", "one-char", "repeated"],
)
def test_production_refuses_a_guessable_secret_key(key):
    result = manage("check", DJANGO_DEBUG="0", **({"DJANGO_SECRET_KEY": key} if key is not None else {}))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr  # says how to make a good one


def test_the_shipped_example_secret_is_refused():
    assert key_problem(shipped_example_key()) is not None
    result = manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=shipped_example_key())
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_a_guessable_jwt_signing_key_is_refused_too():
    result = manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY, JWT_SIGNING_KEY="change-me-jwt-key")
    assert result.returncode != 0 and "JWT_SIGNING_KEY" in result.stderr
    assert manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY, JWT_SIGNING_KEY=GOOD_KEY[::-1]).returncode == 0


@pytest.mark.parametrize("key", [GOOD_KEY, get_random_secret_key(), secrets.token_hex(32)])
def test_random_keys_pass(key):
    assert key_problem(key) is None


def test_debug_runs_with_the_development_key():
    assert manage("check", DJANGO_DEBUG="1").returncode == 0


def test_production_defaults_pass_check_deploy_without_a_warning():
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "WARNINGS" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "switch,warnings",
    [
        ("DJANGO_SECURE_SSL_REDIRECT", {"security.W008"}),
        ("DJANGO_SECURE_COOKIES", {"security.W012", "security.W016"}),
        ("DJANGO_SECURE_HSTS_SECONDS", {"security.W004"}),
    ],
)
def test_each_https_setting_can_be_turned_off_for_plain_http(switch, warnings):
    result = manage("check", "--deploy", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=GOOD_KEY, **{switch: "0"})
    found = {word.strip("():") for word in (result.stderr + result.stdout).split() if word.startswith("(security.")}
    assert found == warnings


@pytest.fixture
def https_only(settings):
    """The production HTTPS settings behind deploy/'s proxy (DJANGO_SECURE_PROXY_SSL=1)."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True


@pytest.mark.django_db
def test_plain_http_is_redirected_and_https_gets_hsts(https_only):
    client = Client()
    redirected = client.get("/api/tutors")
    assert redirected.status_code == 301 and redirected["Location"].startswith("https://")
    assert client.get("/healthz").status_code == 200  # the load balancer probes over plain HTTP
    secure = client.get("/api/tutors", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 401
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.django_db
def test_webhooks_work_behind_the_redirect_when_the_proxy_says_https(https_only, settings):
    client = Client()
    payload = json.dumps(
        {"id": "evt_sec_1", "type": "ping.unknown", "created": int(time.time()), "data": {"object": {}}}
    )
    signature = WebhookSignature.generate_signature_header(payload, settings.STRIPE_WEBHOOK_SECRET)
    stripe = client.post(
        "/api/webhooks/stripe",
        payload,
        content_type="application/json",
        headers={"Stripe-Signature": signature, "X-Forwarded-Proto": "https"},
    )
    assert stripe.status_code == 200, stripe.content
    assert stripe.json()["data"]["received"] is True

    settings.SITE_URL = "https://testserver"
    session = SessionFactory()
    params = {"RoomSid": session.room_sid, "RoomName": session.room_name, "StatusCallbackEvent": "room-created"}
    twilio_signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(
        "https://testserver/api/webhooks/twilio/video", params
    )
    twilio = client.post(
        "/api/webhooks/twilio/video",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": twilio_signature, "X-Forwarded-Proto": "https"},
    )
    assert twilio.status_code == 200, twilio.content


def procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: shlex.split(command) for name, command in (line.split(":", 1) for line in lines if line.strip())}


def test_shipped_servers_listen_only_where_the_proxy_reaches():
    processes = procfile()
    web, realtime = processes["web"], processes["realtime"]
    assert web[web.index("--bind") + 1].startswith("${WEB_BIND:-127.0.0.1:")
    assert realtime[realtime.index("--bind") + 1] == "${REALTIME_BIND_HOST:-127.0.0.1}"
    assert "0.0.0.0" not in (ROOT / "Procfile").read_text()


def test_the_proxy_overwrites_the_client_address_headers():
    """daphne --proxy-headers takes the first X-Forwarded-For entry and the app reads X-Real-IP: the
    proxy must send only its own view of the client, never append to what the client sent."""
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "proxy_add_x_forwarded_for" not in conf
    assert "proxy_set_header X-Forwarded-For   $remote_addr;" in conf
    assert "proxy_set_header X-Real-IP         $remote_addr;" in conf
    assert "--proxy-headers" in procfile()["realtime"]
