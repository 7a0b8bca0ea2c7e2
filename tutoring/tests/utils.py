"""Assertions and helpers shared by the tests of every app."""

import threading
from datetime import datetime

from django.db import connections
from rest_framework_simplejwt.tokens import AccessToken


def bearer(user) -> str:
    return f"Bearer {AccessToken.for_user(user)}"


def assert_error(response, status: int, path: str | None = None, method: str | None = None) -> dict:
    """The response is the contract's error body with `status` (docs/api.md "Conventions")."""
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


def run_concurrently(fn, n: int) -> list:
    """Call fn(0..n-1) on n threads released together; each thread has (and closes) its own connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn(i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def csp(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy header as {directive: sources}."""
    parts = (part.split() for part in response["Content-Security-Policy"].split(";") if part.strip())
    return {name: sources for name, *sources in parts}
