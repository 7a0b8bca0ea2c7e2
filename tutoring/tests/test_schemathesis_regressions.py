"""What the schemathesis run (test_schemathesis.py, derandomized) found, as plain tests."""

import pytest

from tutoring.tests.factories import TutorFactory
from tutoring.tests.utils import assert_error

pytestmark = pytest.mark.django_db


def test_nested_validation_errors_are_flat_lists_of_strings(client_for):
    """PATCH /api/tutors/me with a subjects list of mixed junk gave `errors: {"subjects": {"3": [...]}}`,
    not the documented field → messages (each message now names its item)."""
    body = {"hourlyRate": 100, "currency": "usd", "subjects": ["0", 0, "00", False, None, [None, None]], "bio": ""}
    response = client_for(TutorFactory()).patch("/api/tutors/me", body, format="json")
    errors = assert_error(response, 400, "/api/tutors/me", "PATCH")["errors"]
    assert errors and all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in errors.values())
    assert set(errors) == {"subjects"}, errors
    assert any(message.startswith("4: ") for message in errors["subjects"])  # the null


def test_an_invalid_refresh_token_is_one_message_not_field_errors(api):
    """POST /api/auth/token/refresh {"refresh": 0} gave `errors: {"detail": "Token is invalid", ...}`."""
    response = api.post("/api/auth/token/refresh", {"refresh": 0}, format="json")
    body = assert_error(response, 401, "/api/auth/token/refresh", "POST")
    assert "errors" not in body
    assert body["message"] == "Token is invalid"


def test_a_forged_access_token_is_one_message_too(api):
    response = api.get("/api/auth/me", HTTP_AUTHORIZATION="Bearer not.a.token")
    body = assert_error(response, 401, "/api/auth/me", "GET")
    assert "errors" not in body
