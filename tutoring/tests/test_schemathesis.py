"""schemathesis over the OpenAPI document (`/api/schema/`): generated requests to every operation, valid
and invalid, against the WSGI application in this process, with a real access token.

What must hold for every one of them: never a 5xx (502 aside, which is a provider's failure and never
happens in the offline sandbox), every error in the error body with its status, every response as
documented. The run is bounded and reproducible (derandomized, a fixed number of examples per
operation); whatever it finds becomes a plain regression test in test_schemathesis_regressions.py.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tutoring.tests.factories import StaffFactory, StudentFactory, TutorFactory
from tutoring.tests.utils import bearer
from tutoring.wsgi import application

# Enough to reach every operation's validation and views with valid and invalid input, small enough to
# add about a minute to the suite.
EXAMPLES_PER_OPERATION = 25
ERROR_KEYS = {"statusCode", "message", "timestamp", "path", "method"}


@pytest.fixture(autouse=True)
def every_request_reaches_the_view(settings):
    # Limits are tested elsewhere; here every generated request must reach the view.
    settings.RATE_LIMIT_API = settings.RATE_LIMIT_PAYMENTS = "1000000/m"
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def keep_the_test_transaction():
    """Requests go straight to the WSGI application, not through Django's test client, which is what
    otherwise keeps Django from closing the test's database connection at the end of each request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db):
    return {"student": bearer(StudentFactory()), "tutor": bearer(TutorFactory()), "staff": bearer(StaffFactory())}


def role_for(path: str) -> str:
    """Whose token reaches an operation's view rather than stopping at its permission check."""
    if path.startswith(("/api/withdrawals", "/api/tutors/me", "/api/live/sessions/{session_id}/start")):
        return "tutor"
    if path.endswith(("/approve", "/reject")):
        return "staff"
    return "student"


def error_body_check(ctx, response, case):
    """Every 4xx/5xx is the error body, naming its own status, path and method."""
    if response.status_code < 400 or not case.path.startswith("/api/"):
        return None
    body = response.json()
    assert set(body) >= ERROR_KEYS, f"not the error body: {body}"
    assert body["statusCode"] == response.status_code, body
    assert body["method"] == case.method.upper(), body
    return None


def no_server_error(ctx, response, case):
    if response.status_code == 502:  # a provider's failure: never in the sandbox, but documented
        raise AssertionError("a provider failed in the offline sandbox")
    return not_a_server_error(ctx, response, case)


# Loaded at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_every_operation_answers_as_documented(case, tokens):
    case.call_and_validate(
        headers={"Authorization": tokens[role_for(case.path)]},
        checks=[
            no_server_error,
            error_body_check,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
