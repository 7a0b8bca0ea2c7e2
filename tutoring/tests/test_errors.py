"""The error body on every failure under /api/ (docs/api.md "Conventions"), with DEBUG on or off."""

import pytest
import requests

from tutoring.tests.servers import server
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


# --- bad input is a 4xx in the error body, never a 500 ----------------------------------------------


def test_a_body_over_the_limit_is_413(api, settings):
    body = b'{"email": "' + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'
    response = api.generic("POST", "/api/auth/register", body, content_type="application/json")
    assert_error(response, 413, "/api/auth/register", "POST")


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_json_nested_too_deeply_is_400(api, depth):
    body = "[" * depth + "]" * depth
    response = api.generic("POST", "/api/auth/register", body, content_type="application/json")
    assert_error(response, 400, "/api/auth/register", "POST")


@pytest.mark.parametrize("query", ["subject=a%00b", "sub%00ject=x", "limit=1&cursor=%00"])
def test_nul_in_query_parameters_is_400(client_for, student, query):
    response = client_for(student).get(f"/api/tutors?{query}")
    body = assert_error(response, 400, "/api/tutors", "GET")
    assert body["errors"]


@pytest.mark.parametrize("pk", ["not-a-uuid", 7, None, "1" * 200])
def test_a_cursor_whose_id_is_not_a_uuid_is_400(client_for, student, pk):
    from django.utils import timezone

    from tutoring.api.pagination import NEWEST_FIRST, encode_cursor

    cursor = encode_cursor(NEWEST_FIRST, [timezone.now(), pk])
    for path in ("/api/tutors", "/api/bookings"):
        body = assert_error(client_for(student).get(path, {"cursor": cursor}), 400, path, "GET")
        assert body["errors"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=xx"]
)
def test_a_malformed_multipart_body_gets_the_error_body(api, content_type):
    body = b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\nb'
    response = api.generic("POST", "/api/auth/register", body, content_type=content_type)
    assert response.status_code in (400, 415)
    assert_error(response, response.status_code, "/api/auth/register", "POST")


@pytest.mark.django_db(transaction=True)
def test_a_malformed_multipart_body_gets_the_error_body_from_daphne_too(tmp_path):
    """Twisted (under daphne) parsed multipart bodies itself and answered a bad one with a bare 400."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}", "REDIS_URL": "", "DJANGO_DEBUG": "1"}
    with server("daphne", env=env) as base:
        for content_type in ("multipart/form-data", "multipart/form-data; boundary=xx"):
            response = requests.post(
                f"{base}/api/auth/register",
                data=b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\nb',
                headers={"Content-Type": content_type},
                timeout=10,
            )
            assert response.status_code in (400, 415), response.content
            body = response.json()
            assert body["statusCode"] == response.status_code and body["path"] == "/api/auth/register"
