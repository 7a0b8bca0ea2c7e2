"""The error body on every failure under /api/ (docs/api.md "Conventions"), with DEBUG on or off."""

import pytest

from tutoring.tests.utils import assert_error

pytestmark = pytest.mark.django_db

SECRET_BITS = ("SELECT", "sk_live", "vault", "RuntimeError", "Traceback", 'File "')


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.urls("tutoring.tests.urls_failing")
@pytest.mark.parametrize("path", ["/api/_test/drf-500", "/api/_test/django-500"])
def test_500_reveals_nothing(api, debug, path):
    api.raise_request_exception = False
    response = api.get(path)
    body = assert_error(response, 500, path, "GET")
    text = response.content.decode()
    assert not any(bit in text for bit in SECRET_BITS), text
    assert body["message"] == "Internal server error."


@pytest.mark.urls("tutoring.tests.urls_failing")
def test_non_json_error_under_api_becomes_error_body(api):
    assert_error(api.get("/api/_test/html-error"), 502, "/api/_test/html-error", "GET")


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_api_path_is_404(api, debug, method):
    assert_error(getattr(api, method)("/api/does/not/exist"), 404, "/api/does/not/exist", method.upper())


def test_non_api_paths_keep_django_pages(api, settings):
    settings.DEBUG = False
    response = api.get("/definitely-not-here")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_405_with_allow_header(client_for, student):
    response = client_for(student).delete("/api/auth/me")
    assert_error(response, 405, "/api/auth/me", "DELETE")
    assert "GET" in response["Allow"]


def test_malformed_json_is_400(api):
    response = api.generic("POST", "/api/auth/register", "{not json", content_type="application/json")
    assert_error(response, 400, "/api/auth/register", "POST")


def test_unsupported_media_type_is_415_error_body(api):
    response = api.post("/api/auth/register", "email=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "/api/auth/register", "POST")


def test_validation_error_lists_fields(api):
    response = api.post("/api/auth/register", {"email": "x", "role": "pirate"}, format="json")
    body = assert_error(response, 400)
    assert body["errors"]["email"] and body["errors"]["role"] and body["errors"]["password"]
    assert all(isinstance(m, str) for messages in body["errors"].values() for m in messages)
    assert body["message"].startswith("Invalid input.")
