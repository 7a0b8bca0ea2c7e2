import asyncio
import subprocess
import sys

import pytest
import yaml

from tutoring import health
from tutoring.tests.servers import ROOT

pytestmark = pytest.mark.django_db


def test_healthz_checks_everything(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok", "channelLayer": "ok"}


def test_healthz_names_what_is_down(api, monkeypatch):
    def broken():
        raise ConnectionError("redis is gone")

    monkeypatch.setitem(health.CHECKS, "cache", broken)
    response = api.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "ok", "cache": "down", "channelLayer": "ok"}


def test_healthz_exercises_the_channel_layer_on_one_lasting_loop(api, monkeypatch):
    loops = []

    class Layer:
        async def group_send(self, group, message):
            loops.append(asyncio.get_running_loop())
            if len(loops) == 3:
                raise ConnectionError("redis is gone")

    monkeypatch.setattr(health, "get_channel_layer", Layer)
    assert api.get("/healthz").json()["channelLayer"] == "ok"
    assert api.get("/healthz").json()["channelLayer"] == "ok"
    response = api.get("/healthz")
    assert response.status_code == 503
    assert response.json()["channelLayer"] == "down"
    # The layer keeps its connection per event loop: every probe runs on the same one.
    assert loops[0] is loops[1] is loops[2] and loops[0].is_running()


DOCUMENTED_PATHS = [
    "/api/auth/register",
    "/api/auth/token",
    "/api/auth/token/refresh",
    "/api/auth/me",
    "/api/auth/password/reset",
    "/api/auth/password/reset/confirm",
    "/api/tutors",
    "/api/tutors/{tutor_id}",
    "/api/tutors/me",
    "/api/tutors/me/availability",
    "/api/tutors/{tutor_id}/availability",
    "/api/tutors/{tutor_id}/slots",
    "/api/tutors/{tutor_id}/reviews",
    "/api/bookings",
    "/api/bookings/{booking_id}",
    "/api/bookings/{booking_id}/cancel",
    "/api/bookings/{booking_id}/review",
    "/api/live/sessions",
    "/api/live/sessions/{session_id}",
    "/api/live/sessions/{session_id}/token",
    "/api/live/sessions/{session_id}/start",
    "/api/live/sessions/{session_id}/end",
    "/api/live/sessions/{session_id}/participants",
    "/api/live/sessions/{session_id}/messages",
    "/api/live/sessions/{session_id}/participants/{user_id}/mute",
    "/api/live/sessions/{session_id}/participants/{user_id}/remove",
    "/api/live/sessions/{session_id}/participants/{user_id}/admit",
    "/api/live/sessions/{session_id}/events",
    "/api/live/sessions/{session_id}/stats",
    "/api/live/sessions/{session_id}/recording",
    "/api/live/sessions/{session_id}/recording/start",
    "/api/live/sessions/{session_id}/recording/stop",
    "/api/live/sessions/{session_id}/recording/media",
    "/api/payments/intents",
    "/api/payments/refunds",
    "/api/payments/refunds/{refund_id}",
    "/api/payments/refunds/{refund_id}/approve",
    "/api/payments/refunds/{refund_id}/reject",
    "/api/payments/sandbox/confirm",
    "/api/withdrawals/accounts",
    "/api/withdrawals/accounts/links",
    "/api/withdrawals",
    "/api/withdrawals/{withdrawal_id}/approve",
    "/api/withdrawals/{withdrawal_id}/reject",
    "/api/withdrawals/stats",
    "/api/webhooks/stripe",
    "/api/webhooks/twilio/video",
    "/api/webhooks/twilio/composition",
]


def test_schema_documents_the_contract(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for path in DOCUMENTED_PATHS:
        assert path in paths, path
    error = schema["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"statusCode", "message", "timestamp", "path", "method"}
    created = paths["/api/bookings"]["post"]["responses"]
    assert created["201"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert created["4XX"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/ErrorBody"
    assert "Retry-After" in created["429"]["headers"]
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"


def test_swagger_ui_is_served_offline(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "//cdn" not in html and "unpkg" not in html
    asset = api.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_schema_generates_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_home_page_links_the_api_docs_and_staff_the_admin(client, staff):
    page = client.get("/").content.decode()
    assert 'href="/api/docs/"' in page and 'href="/admin/"' not in page
    client.force_login(staff)
    assert 'href="/admin/"' in client.get("/").content.decode()
