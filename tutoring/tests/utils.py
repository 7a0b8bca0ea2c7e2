"""Assertions shared by the API tests of every app."""

from datetime import datetime

from rest_framework_simplejwt.tokens import AccessToken


def bearer(user) -> str:
    return f"Bearer {AccessToken.for_user(user)}"


def assert_error(response, status: int, path: str | None = None, method: str | None = None) -> dict:
    """The response is the contract's error body with `status` (CONTRACT §1)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert {"statusCode", "message", "timestamp", "path", "method"} <= set(body), body
    assert body["statusCode"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert datetime.fromisoformat(body["timestamp"]).utcoffset().total_seconds() == 0
    assert body["timestamp"].endswith("+00:00")
    if path is not None:
        assert body["path"] == path
    if method is not None:
        assert body["method"] == method
    assert "Traceback" not in response.content.decode()
    return body


def data(response, status: int = 200):
    """The `data` of a success envelope, after checking the status."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"data"}, body
    return body["data"]
