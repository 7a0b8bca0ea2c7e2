import random
import uuid

import pytest
import requests

from tutoring.tests.factories import StudentFactory
from tutoring.tests.servers import server
from tutoring.tests.utils import assert_error, bearer, data, fresh_window_key, fresh_window_user

ME = "/api/auth/me"


def assert_429(response, path=None):
    assert_error(response, 429, path)
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


@pytest.mark.django_db
def test_101st_request_in_a_minute_is_429_and_others_unaffected(client_for):
    client = client_for(fresh_window_user(StudentFactory))
    for _ in range(100):
        assert client.get(ME).status_code == 200
    assert_429(client.get(ME), ME)
    assert_429(client.get("/api/tutors"))  # one budget for every /api/ endpoint
    assert data(client_for(StudentFactory()).get(ME))["role"] == "student"


@pytest.mark.django_db
def test_anonymous_requests_are_limited_per_ip(api):
    body = {"email": "ghost@example.test", "password": "wrong-password-1"}
    ip = fresh_window_key(lambda: f"10.0.{random.randrange(256)}.{random.randrange(1, 255)}")
    for _ in range(100):
        assert api.post("/api/auth/token", body, REMOTE_ADDR=ip).status_code == 401
    assert_429(api.post("/api/auth/token", body, REMOTE_ADDR=ip))
    assert api.post("/api/auth/token", body, REMOTE_ADDR="10.1.0.2").status_code == 401


@pytest.mark.django_db
def test_limits_come_from_settings(client_for, settings):
    settings.RATE_LIMIT_API = "3/m"
    client = client_for(fresh_window_user(StudentFactory))
    for _ in range(3):
        assert client.get(ME).status_code == 200
    assert_429(client.get(ME))


@pytest.mark.django_db
@pytest.mark.urls("tutoring.tests.urls_ratelimit")
def test_payment_group_is_20_per_minute_across_its_endpoints(client_for):
    client = client_for(fresh_window_user(StudentFactory))
    for i in range(20):
        assert client.post("/api/_test/pay-a" if i % 2 else "/api/_test/pay-b").status_code == 201
    assert client.get("/api/_test/pay-a").status_code == 200  # reads do not spend the payment budget
    assert_429(client.post("/api/_test/pay-a"), "/api/_test/pay-a")
    assert_429(client.post("/api/_test/pay-b"))
    assert client.get(ME).status_code == 200  # the general budget is separate
    assert client_for(StudentFactory()).post("/api/_test/pay-a").status_code == 201


@pytest.mark.redis
@pytest.mark.postgres  # the server processes need a database they can share with the test
@pytest.mark.django_db(transaction=True)
def test_the_count_holds_across_two_server_processes(database_url, settings):
    """Two gunicorn processes sharing Redis: 50 + 50 requests pass, the 101st fails on either."""
    user, other = fresh_window_user(StudentFactory), StudentFactory()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": f"test-xproc-{uuid.uuid4().hex[:8]}",
    }
    headers = {"Authorization": bearer(user)}
    with server("gunicorn", env=env) as a, server("gunicorn", env=env) as b:
        for base in (a, b):
            for _ in range(50):
                assert requests.get(base + ME, headers=headers, timeout=10).status_code == 200
        for base in (a, b):
            response = requests.get(base + ME, headers=headers, timeout=10)
            assert response.status_code == 429
            assert response.json()["statusCode"] == 429
            assert int(response.headers["Retry-After"]) >= 1
        assert requests.get(b + ME, headers={"Authorization": bearer(other)}, timeout=10).status_code == 200
