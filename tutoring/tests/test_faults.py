"""A bad day, with real server processes: Redis stopped, frozen and back; payment and video providers
answering 500 or hanging. Marked `fault` (docs/operations.md "Fault tests"); they need PostgreSQL (the
servers share the test database) and start their own Redis: the shared one is never touched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import redis
import requests

from live.models import Participant, Session
from live.tests import twilio_stub
from live.tests.conftest import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN
from live.tests.factories import PaidBookingFactory
from payments.models import Payment
from payments.tests.stripe_stub import Failure, StripeStub
from tutoring.models import BookingStatus
from tutoring.tests.factories import BookingFactory, StudentFactory
from tutoring.tests.servers import free_port, server
from tutoring.tests.utils import bearer

pytestmark = [pytest.mark.fault, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ME = "/api/auth/me"
# The cache client's socket timeout is 0.5 s: an answer within a second, with room for a busy machine.
OUTAGE_ANSWER_SECONDS = 2


class OwnRedis:
    """A redis-server of this test alone, on a free port, to stop, freeze and start again."""

    def __init__(self, directory):
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path):
    instance = OwnRedis(tmp_path)
    instance.start()
    yield instance
    if instance.proc is not None:
        instance.thaw()
    instance.stop()


def timed_get(url: str, **kwargs) -> tuple[requests.Response, float]:
    start = time.monotonic()
    response = requests.get(url, timeout=15, **kwargs)
    return response, time.monotonic() - start


def assert_unavailable(response, elapsed, path=ME):
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["statusCode"] == 503 and body["path"] == path and body["message"]
    assert int(response.headers["Retry-After"]) >= 1
    assert elapsed < OUTAGE_ANSWER_SECONDS, elapsed


def eventually_status(url: str, status: int, timeout: float = 15, **kwargs) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, timeout=15, **kwargs)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def outage_env(database_url: str, own_redis: OwnRedis) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": own_redis.url,
        "CACHE_KEY_PREFIX": f"f-{uuid.uuid4().hex[:8]}",
        "CACHE_SOCKET_TIMEOUT": "0.5",  # the production default, which the test servers otherwise relax
    }


def test_redis_stopped_then_started_503_meanwhile_and_recovery_without_a_restart(database_url, own_redis):
    headers = {"Authorization": bearer(StudentFactory())}
    with server("gunicorn", env=outage_env(database_url, own_redis)) as base:
        assert requests.get(base + ME, headers=headers, timeout=10).status_code == 200

        own_redis.stop()
        response, elapsed = timed_get(base + ME, headers=headers)
        assert_unavailable(response, elapsed)
        health = requests.get(base + "/healthz", timeout=15)
        assert health.status_code == 503
        assert health.json()["cache"] == "down" and health.json()["database"] == "ok"

        own_redis.start()  # the same port: as after a restart of the Redis service
        assert eventually_status(base + ME, 200, headers=headers).status_code == 200
        assert eventually_status(base + "/healthz", 200).json()["status"] == "ok"


def test_redis_frozen_is_503_within_a_second_and_healthz_says_so(database_url, own_redis):
    headers = {"Authorization": bearer(StudentFactory())}
    with server("gunicorn", env=outage_env(database_url, own_redis)) as base:
        assert requests.get(base + ME, headers=headers, timeout=10).status_code == 200
        own_redis.freeze()  # accepts connections, answers nothing: the worst kind of down
        try:
            for _ in range(2):
                response, elapsed = timed_get(base + ME, headers=headers)
                assert_unavailable(response, elapsed)
            health = requests.get(base + "/healthz", timeout=15)
            assert health.status_code == 503 and health.json()["cache"] == "down"
        finally:
            own_redis.thaw()
        assert eventually_status(base + ME, 200, headers=headers).status_code == 200


@pytest.fixture
def stubs():
    twilio = twilio_stub.TwilioStub(account_sid=ACCOUNT_SID)
    twilio_server = twilio_stub.start(twilio)
    with StripeStub() as stripe:
        yield stripe, twilio
    twilio_server.shutdown()
    twilio_server.server_close()


def provider_env(database_url, stripe, twilio) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "STRIPE_SECRET_KEY": "sk_test_fault",
        "STRIPE_WEBHOOK_SECRET": "whsec_fault",
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_TIMEOUT_SECONDS": "1",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_API_KEY_SID": API_KEY_SID,
        "TWILIO_API_KEY_SECRET": API_KEY_SECRET,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_VIDEO_BASE_URL": twilio.url,
        "TWILIO_TIMEOUT_SECONDS": "1",
    }


def assert_provider_failed(response, path):
    assert response.status_code == 502, response.content
    body = response.json()
    assert body["statusCode"] == 502 and body["path"] == path
    assert "sk_test" not in response.text and API_KEY_SECRET not in response.text


@pytest.mark.parametrize("mode", ["500", "hanging"])
def test_providers_failing_or_hanging_are_502_and_nothing_is_half_written(database_url, stubs, mode):
    stripe, twilio = stubs
    unpaid = BookingFactory()
    paid = PaidBookingFactory()
    if mode == "500":
        stripe.fail("POST", "/v1/payment_intents", Failure(status=500))
        twilio.fail_next(500)
        twilio.fail_next(500)
    else:
        stripe.fail("POST", "/v1/payment_intents", Failure(status=200, delay=3))
        twilio.hang(3)
    with server("gunicorn", env=provider_env(database_url, stripe, twilio)) as base:
        intent = requests.post(
            f"{base}/api/payments/intents",
            json={"bookingId": str(unpaid.pk)},
            headers={"Authorization": bearer(unpaid.student)},
            timeout=30,
        )
        assert_provider_failed(intent, "/api/payments/intents")
        session = requests.post(
            f"{base}/api/live/sessions",
            json={"bookingId": str(paid.pk)},
            headers={"Authorization": bearer(paid.student)},
            timeout=30,
        )
        assert_provider_failed(session, "/api/live/sessions")
    assert not Payment.objects.filter(booking=unpaid).exists()
    unpaid.refresh_from_db()
    assert unpaid.status == BookingStatus.PENDING_PAYMENT
    assert not Session.objects.exists() and not Participant.objects.exists()
