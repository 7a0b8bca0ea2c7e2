"""Shared fixtures: API clients, users of each role, per-test isolation of the shared cache."""

import os
import uuid
from pathlib import Path

import environ
import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from tutoring.tests.asgi_server import start_threaded_server, stop_threaded_server
from tutoring.tests.browser.chromium import browser_missing
from tutoring.tests.factories import StaffFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import bearer


def pytest_configure(config):
    # whitenoise serves STATIC_ROOT as collected in production; tests serve from the finders, and an
    # empty STATIC_ROOT keeps whitenoise from warning that it is missing.
    Path(django_settings.STATIC_ROOT).mkdir(exist_ok=True)
    # The pages' bundles are built by `make`; an empty folder keeps the static finders quiet without them.
    for folder in django_settings.STATICFILES_DIRS:
        Path(folder).mkdir(parents=True, exist_ok=True)
    # Tasks sent from the test process (the outbox's kick after a commit) run in it, at once, instead of
    # waiting in the project's broker folder for a worker; tests of a real worker start one themselves.
    from tutoring.celery import app

    app.conf.task_always_eager = True


def pytest_collection_modifyitems(config, items):
    on_postgres = django_settings.DATABASES["default"]["ENGINE"] == "tutoring.db.postgresql"
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    skip_redis = pytest.mark.skip(reason="needs Redis (set REDIS_URL)")
    # Without a browser the browser tests skip, saying why; CI sets REQUIRE_BROWSER=1 so they fail instead.
    no_browser = None if os.environ.get("REQUIRE_BROWSER") == "1" else browser_missing()
    for item in items:
        if no_browser and "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=no_browser))
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not django_settings.REDIS_URL:
            item.add_marker(skip_redis)


TEST_CACHE_SOCKET_TIMEOUT = 5


@pytest.fixture(autouse=True)
def _recordings_dir(settings, tmp_path_factory):
    """The sandbox's composed recordings go to the run's temporary directory, not the project."""
    settings.RECORDINGS_DIR = str(tmp_path_factory.getbasetemp() / "recordings")


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """A fresh cache namespace per test, so rate-limit counters never leak between tests (or runs)."""
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex[:12]}"
    if "OPTIONS" in caches["default"] and "SOCKET_TIMEOUT" in caches["default"]["OPTIONS"]:
        # The suite checks behaviour on a machine that may be saturated; the 0.5 s outage timeout is
        # the fault tests' business (tutoring/tests/test_faults.py), not every concurrent test's.
        caches["default"]["OPTIONS"] = {**caches["default"]["OPTIONS"], "SOCKET_TIMEOUT": TEST_CACHE_SOCKET_TIMEOUT}
    settings.CACHES = caches


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def client_for():
    """client_for(user) → an APIClient sending that user's access token."""

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return client

    return make


@pytest.fixture
def tutor(db):
    return TutorFactory()


@pytest.fixture
def student(db):
    return StudentFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def database_url() -> str:
    """The test database as a URL, for server processes a test starts itself."""
    s = connection.settings_dict
    if s["ENGINE"] != "tutoring.db.postgresql":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def stripe_stub(settings):
    """The real Stripe provider (official SDK) pointed at a local stub of the Stripe API."""
    from payments.tests.stripe_stub import StripeStub

    with StripeStub() as stub:
        settings.STRIPE_SECRET_KEY = "sk_test_stub_key"
        settings.STRIPE_API_BASE = stub.url
        settings.STRIPE_TIMEOUT_SECONDS = 0.5
        yield stub


@pytest.fixture(scope="session")
def threaded_server(django_db_setup, django_db_blocker):
    """The run's one ASGI server on a free port (`tutoring.tests.asgi_server`), for realtime and browser tests."""
    server = start_threaded_server()
    yield server
    with django_db_blocker.unblock():
        stop_threaded_server(server)


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free local port that keeps what it receives."""
    from notifications.tests.smtp import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp(settings, smtp_server):
    """Outgoing mail through the real SMTP backend to `smtp_server` (EMAIL_URL parsed as the settings
    parse it); yields the server's inbox."""
    for name, value in environ.Env.email_url_config(smtp_server.url).items():
        if value is not None:
            setattr(settings, name, value)
    return smtp_server.inbox
