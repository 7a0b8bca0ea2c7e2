import asyncio
import random
import socket
import time
import uuid

import pytest
import requests
from asgiref.sync import sync_to_async
from django.core.cache import caches
from django_redis import get_redis_connection
from redis.connection import AbstractConnection

from tutoring import ratelimit
from tutoring.errors import ServiceUnavailable
from tutoring.ratelimit import Bucket, Rate, rate_take
from tutoring.tests.factories import StudentFactory
from tutoring.tests.servers import free_port, server
from tutoring.tests.utils import assert_error, bearer, data

ME = "/api/auth/me"


def assert_429(response, path=None):
    assert_error(response, 429, path)
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def random_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.mark.django_db
def test_101st_request_in_a_minute_is_429_and_others_unaffected(client_for):
    client = client_for(StudentFactory())
    for _ in range(100):
        assert client.get(ME).status_code == 200
    assert_429(client.get(ME), ME)
    assert_429(client.get("/api/tutors"))  # one budget for every /api/ endpoint
    assert data(client_for(StudentFactory()).get(ME))["role"] == "student"


@pytest.mark.django_db
def test_anonymous_requests_are_limited_per_ip(api):
    body = {"email": "ghost@example.test", "password": "wrong-password-1"}
    ip = random_ip()
    for _ in range(100):
        assert api.get("/api/tutors", REMOTE_ADDR=ip).status_code == 401
    assert_429(api.post("/api/auth/token", body, REMOTE_ADDR=ip))
    assert api.post("/api/auth/token", body, REMOTE_ADDR=random_ip()).status_code == 401


@pytest.mark.django_db
def test_limits_come_from_settings(client_for, settings):
    settings.RATE_LIMIT_API = "3/m"
    client = client_for(StudentFactory())
    for _ in range(3):
        assert client.get(ME).status_code == 200
    assert_429(client.get(ME))


@pytest.mark.django_db
def test_the_window_slides_so_no_burst_fits_across_an_edge(client_for, settings):
    """At most 5 in ANY 2 seconds. A fixed 2-second window has an edge somewhere in the 2 seconds after
    the burst, and lets the requests after it through; a sliding one refuses them all."""
    settings.RATE_LIMIT_API = "5/2s"
    client = client_for(StudentFactory())
    start = time.monotonic()
    assert [client.get(ME).status_code for _ in range(5)] == [200] * 5
    late = []
    while time.monotonic() - start < 1.7:
        time.sleep(0.15)
        late.append(client.get(ME).status_code)
    assert set(late) == {429}, late
    time.sleep(max(0.0, start + 2.2 - time.monotonic()))
    assert client.get(ME).status_code == 200  # the burst has left the window


@pytest.mark.django_db
def test_refused_requests_are_counted_before_authentication(api, client_for, settings):
    """401s (no or a forged token) count against the IP; 403s (a valid token, not allowed) against the user."""
    settings.RATE_LIMIT_API = "3/m"
    ip = random_ip()
    forged = {"HTTP_AUTHORIZATION": "Bearer not.a.token", "REMOTE_ADDR": ip}
    assert [api.get(ME, **forged).status_code for _ in range(2)] == [401, 401]
    assert api.get(ME, REMOTE_ADDR=ip).status_code == 401
    assert_429(api.get(ME, **forged))
    assert_429(api.post("/api/auth/token", {"email": "x@example.test", "password": "y"}, REMOTE_ADDR=ip))

    student = StudentFactory()
    client = client_for(student)
    for _ in range(3):
        assert_error(client.patch("/api/tutors/me", {"bio": "x"}, format="json", REMOTE_ADDR=ip), 403)
    assert_429(client.get(ME, REMOTE_ADDR=ip))
    # Counted per user: another user from the same address has its own budget.
    assert client_for(StudentFactory()).get(ME, REMOTE_ADDR=ip).status_code == 200


@pytest.mark.django_db
def test_provider_webhooks_are_never_limited(api, settings):
    settings.RATE_LIMIT_API = "2/m"
    ip = random_ip()
    for _ in range(5):
        assert_error(api.post("/api/webhooks/stripe", b"{}", content_type="application/json", REMOTE_ADDR=ip), 400)


@pytest.mark.django_db
@pytest.mark.urls("tutoring.tests.urls_ratelimit")
def test_payment_group_is_20_per_minute_across_its_endpoints(client_for):
    client = client_for(StudentFactory())
    for i in range(20):
        assert client.post("/api/_test/pay-a" if i % 2 else "/api/_test/pay-b").status_code == 201
    assert client.get("/api/_test/pay-a").status_code == 200  # reads do not spend the payment budget
    assert_429(client.post("/api/_test/pay-a"), "/api/_test/pay-a")
    assert_429(client.post("/api/_test/pay-b"))
    assert client.get(ME).status_code == 200  # the general budget is separate
    assert client_for(StudentFactory()).post("/api/_test/pay-a").status_code == 201


def test_a_batch_takes_what_fits_for_each_key():
    """The chat writer's call: several keys with several hits each; each gets what fits, in order."""
    rate = Rate.parse("3/m")
    a, b = f"t:{uuid.uuid4()}", f"t:{uuid.uuid4()}"
    first = rate_take([Bucket(a, rate, 2), Bucket(b, rate, 5)])
    assert [t.allowed for t in first] == [2, 3]
    assert first[0].retry_after == 0 and 55 <= first[1].retry_after <= 60
    second = rate_take([Bucket(a, rate, 2), Bucket(b, rate, 1)])
    assert [t.allowed for t in second] == [1, 0]


@pytest.mark.redis
def test_a_batch_of_200_is_one_redis_round_trip(monkeypatch):
    """What goes over the wire: one write holding one EVALSHA, one reply read."""
    sent, replies = [], []
    send, read = AbstractConnection.send_packed_command, AbstractConnection.read_response

    def counting_send(self, command, *args, **kwargs):
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return send(self, command, *args, **kwargs)

    def counting_read(self, *args, **kwargs):
        replies.append(1)
        return read(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
    monkeypatch.setattr(AbstractConnection, "read_response", counting_read)
    rate = Rate.parse("60/m")
    buckets = [Bucket(f"t:{uuid.uuid4()}", rate, cost) for cost in [1] * 150 + [50]]
    rate_take(buckets)  # the script is loaded once per server, on its first use
    sent.clear(), replies.clear()
    taken = rate_take(buckets)
    assert len(sent) == 1 and len(replies) == 1
    assert sent[0].startswith(b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + 151 + 2 + 3 * 151))
    assert [t.allowed for t in taken] == [1] * 150 + [10]


@pytest.mark.redis
def test_a_script_redis_forgot_is_loaded_again():
    """After a Redis restart (SCRIPT FLUSH here) the EVALSHA fails once with NOSCRIPT: the script is
    sent again and the count still happens, once."""
    rate = Rate.parse("2/m")
    bucket = Bucket(f"t:{uuid.uuid4()}", rate, 1)
    rate_take([bucket])
    get_redis_connection("default").script_flush()
    assert [t.allowed for t in rate_take([bucket])] == [1]
    assert [t.allowed for t in rate_take([bucket])] == [0]


@pytest.mark.django_db
def test_redis_unreachable_is_503_with_retry_after_in_the_error_body(client_for, settings):
    """Nothing listens on the cache's port: the API answers 503 at once, in the error body."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    response = client_for(StudentFactory()).get(ME)
    body = assert_error(response, 503, ME, "GET")
    assert int(response["Retry-After"]) >= 1
    assert "unavailable" in body["message"]


@pytest.mark.redis
@pytest.mark.postgres  # the server processes need a database they can share with the test
@pytest.mark.django_db(transaction=True)
def test_the_count_holds_across_two_server_processes(database_url, settings):
    """Two gunicorn processes sharing Redis: 50 + 50 requests pass, the 101st fails on either."""
    user, other = StudentFactory(), StudentFactory()
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


def participants_path(session) -> str:
    return f"/api/live/sessions/{session.pk}/participants"


@pytest.mark.django_db
def test_a_pure_read_is_counted_and_refused_like_any_other(client_for, settings):
    """The participants read (a `pure_read`: its count runs while it reads) shares the one budget and is
    refused with the same 429, whichever endpoint spent the budget."""
    from live.tests.factories import SessionFactory

    settings.RATE_LIMIT_API = "3/m"
    session = SessionFactory()
    client = client_for(session.booking.student)
    path = participants_path(session)
    assert client.get(ME).status_code == 200
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    refused = client.get(path)
    assert_429(refused, path)
    assert_429(client.get(ME), ME)
    assert refused.json()["message"] == client.get(ME).json()["message"]


@pytest.mark.django_db
def test_a_refused_pure_read_of_a_gone_user_is_429_as_before_authentication(client_for, settings):
    from live.tests.factories import SessionFactory

    settings.RATE_LIMIT_API = "1/m"
    session = SessionFactory()
    stranger = StudentFactory()
    client = client_for(stranger)
    assert client.get(ME).status_code == 200
    stranger.delete()
    assert_429(client.get(participants_path(session)))


@pytest.fixture
def read_once(client_for):
    """A party's client and the participants path, read once already: the limiter's script is loaded
    and this thread keeps its Redis connection."""
    from live.tests.factories import SessionFactory

    session = SessionFactory()
    client = client_for(session.booking.student)
    path = participants_path(session)
    assert client.get(path).status_code == 200
    return client, path


@pytest.mark.redis
@pytest.mark.django_db
def test_a_pure_read_is_one_evalsha_sent_before_its_query(read_once, monkeypatch):
    from django.db import connection

    from tutoring.ratelimit import PendingCheck

    client, path = read_once
    events = []
    init, finish = PendingCheck.__init__, PendingCheck.finish
    monkeypatch.setattr(PendingCheck, "__init__", lambda self, b: (events.append("sent"), init(self, b))[1])
    monkeypatch.setattr(PendingCheck, "finish", lambda self: (events.append("answer read"), finish(self))[1])
    monkeypatch.setattr(ratelimit, "rate_check", lambda buckets: events.append("checked at once"))
    with connection.execute_wrapper(lambda execute, *args: (events.append("query"), execute(*args))[1]):
        assert client.get(path).status_code == 200
    assert events == ["sent", "query", "answer read"]


@pytest.mark.redis
@pytest.mark.django_db
def test_pure_reads_count_on_the_thread_s_kept_connection_not_the_pool(read_once, monkeypatch):
    client, path = read_once
    kept = ratelimit._kept.conn
    checkouts = []
    pool = ratelimit._cache().client.get_client(write=True).connection_pool
    get = pool.get_connection
    monkeypatch.setattr(pool, "get_connection", lambda *a, **kw: (checkouts.append(1), get(*a, **kw))[1])
    for _ in range(3):
        assert client.get(path).status_code == 200
    assert ratelimit._kept.conn is kept and not ratelimit._kept.busy
    assert checkouts == []


@pytest.mark.redis
@pytest.mark.django_db
def test_a_kept_connection_redis_dropped_costs_no_request_and_no_extra_count(read_once, settings):
    client, path = read_once  # one counted
    settings.RATE_LIMIT_API = "3/m"
    kept = ratelimit._kept.conn
    kept.send_command("CLIENT", "ID")
    get_redis_connection("default").execute_command("CLIENT", "KILL", "ID", kept.read_response())
    assert client.get(path).status_code == 200  # answered on a fresh connection
    assert client.get(path).status_code == 200  # the kept one connected again
    assert_429(client.get(path), path)  # three counted: the dropped attempt was not


@pytest.mark.django_db
def test_redis_unreachable_is_503_for_a_pure_read_too(client_for, settings):
    from live.tests.factories import SessionFactory

    session = SessionFactory()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    path = participants_path(session)
    response = client_for(session.booking.student).get(path)
    assert_error(response, 503, path, "GET")
    assert int(response["Retry-After"]) >= 1


@pytest.mark.redis
def test_every_task_counts_through_one_redis_client():
    """Under ASGI Django's `caches` are local to each task: counting through them gave every realtime
    connection a cache backend and a Redis client of its own (~13 KB each, for its whole life)."""

    def take() -> tuple[object, object]:
        rate_take([Bucket(f"t:{uuid.uuid4()}", Rate.parse("5/m"), 1)])
        return caches["default"], ratelimit._cache().client.get_client(write=True)

    async def connections() -> list[tuple[object, object]]:
        return await asyncio.gather(*(asyncio.create_task(sync_to_async(take)()) for _ in range(3)))

    seen = asyncio.run(connections())
    assert len({id(backend) for backend, _ in seen}) == 3  # what each task's `caches` hands out
    assert len({id(client) for _, client in seen}) == 1  # what the limiter counts through


@pytest.mark.redis
def test_the_async_counter_counts_as_rate_take_does_and_reloads_a_forgotten_script():
    """The realtime chat writer's count on its event loop: the same script and keys, so both agree."""
    rate = Rate.parse("3/m")
    a, b = f"t:{uuid.uuid4()}", f"t:{uuid.uuid4()}"

    async def scenario():
        counter = ratelimit.AsyncCounter()
        try:
            first = await counter.take([Bucket(a, rate, 2), Bucket(b, rate, 5)])
            get_redis_connection("default").script_flush()  # as after a Redis restart
            second = await counter.take([Bucket(a, rate, 2)])
            return first, second
        finally:
            await counter.close()

    first, second = asyncio.run(scenario())
    assert ratelimit.AsyncCounter.available()
    assert [t.allowed for t in first] == [2, 3] and 55 <= first[1].retry_after <= 60
    assert [t.allowed for t in second] == [1]
    assert [t.allowed for t in rate_take([Bucket(a, rate, 1), Bucket(b, rate, 1)])] == [0, 0]


@pytest.mark.redis
def test_the_async_counter_s_connection_redis_dropped_costs_no_count_twice():
    rate = Rate.parse("3/m")
    key = f"t:{uuid.uuid4()}"

    async def scenario():
        counter = ratelimit.AsyncCounter()
        try:
            allowed = [(await counter.take([Bucket(key, rate, 1)]))[0].allowed]
            await counter._kept.conn.send_command("CLIENT", "ID")
            get_redis_connection("default").execute_command(
                "CLIENT", "KILL", "ID", await counter._kept.conn.read_response()
            )
            allowed += [(await counter.take([Bucket(key, rate, 1)]))[0].allowed for _ in range(3)]
            return allowed
        finally:
            await counter.close()

    assert asyncio.run(scenario()) == [1, 1, 1, 0]  # the attempt on the dropped connection was not counted


@pytest.mark.parametrize("redis", ["unreachable", "frozen"])
def test_the_async_counter_is_503_within_its_timeouts_when_redis_is_down(settings, redis):
    """Nothing listens on the cache's port, or a server accepts the connection and never answers (Redis
    stopped with SIGSTOP, say)."""
    with socket.create_server(("127.0.0.1", 0)) as frozen:
        port = frozen.getsockname()[1] if redis == "frozen" else free_port()
        settings.CACHES = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
            }
        }

        async def scenario():
            counter = ratelimit.AsyncCounter()
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable):
                await counter.take([Bucket(f"t:{uuid.uuid4()}", Rate.parse("3/m"), 1)])
            return time.monotonic() - started, counter._kept.conn

        waited, conn = asyncio.run(scenario())
    assert waited < 2 and conn is None  # a connection with an unread reply is not kept
    assert redis == "unreachable" or waited >= 0.5  # a frozen one is given its socket timeout
