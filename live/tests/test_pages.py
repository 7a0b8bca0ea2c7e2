"""The classroom page: who may enter, what its script is given (no credentials in the page), and the
policy that lets it reach its own realtime origin and, with real keys, Twilio's signalling."""

import json

import pytest
from django.test import Client

from live.tests.factories import SessionFactory
from tutoring.tests.factories import StaffFactory, StudentFactory
from tutoring.tests.utils import csp as policy

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="classroom-data" type="application/json">') + len(
        '<script id="classroom-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_parties_enter_with_their_role():
    session = SessionFactory()
    tutor_page = signed_in(session.booking.tutor).get(f"/classroom/{session.pk}")
    student_page = signed_in(session.booking.student).get(f"/classroom/{session.pk}")
    assert tutor_page.status_code == student_page.status_code == 200
    assert b'id="start-class"' in tutor_page.content and b'id="start-class"' not in student_page.content
    data = page_data(student_page)
    assert data["sessionId"] == str(session.pk) and data["userId"] == str(session.booking.student_id)
    assert data["role"] == "student" and data["status"] == "created" and data["sandboxVideo"] is True
    assert data["tokenUrl"] == "/access-token" and data["apiBase"] == f"/api/live/sessions/{session.pk}"
    assert set(data["strings"]) >= {"raiseHand", "handRaised", "statusActive", "sendFailed"}
    # No credential of any kind travels in the page: the script asks for a token with the session.
    assert "token" not in {k.lower() for k in data} and b"eyJ" not in student_page.content


def test_strangers_get_404_and_staff_403_as_from_the_api():
    session = SessionFactory()
    assert signed_in(StudentFactory()).get(f"/classroom/{session.pk}").status_code == 404
    assert signed_in(StaffFactory()).get(f"/classroom/{session.pk}").status_code == 403
    assert Client().get(f"/classroom/{session.pk}")["Location"] == f"/login?next=/classroom/{session.pk}"


def test_the_policy_allows_the_sites_own_socket_and_the_camera_only_here():
    session = SessionFactory()
    classroom = policy(signed_in(session.booking.student).get(f"/classroom/{session.pk}"))
    assert classroom["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
    assert classroom["media-src"] == ["'self'", "blob:", "mediastream:"]
    assert classroom["script-src"] == ["'self'"] and classroom["style-src"] == ["'self'"]
    home = policy(signed_in(session.booking.student).get("/"))
    assert home["connect-src"] == ["'self'"] and home["media-src"] == ["'self'"]


def test_with_real_twilio_keys_the_classroom_may_reach_twilio_signalling(settings):
    settings.TWILIO_SANDBOX = False
    session = SessionFactory()
    response = signed_in(session.booking.tutor).get(f"/classroom/{session.pk}")
    assert page_data(response)["sandboxVideo"] is False
    assert policy(response)["connect-src"] == [
        "'self'",
        "ws://testserver",
        "wss://testserver",
        "wss://global.vss.twilio.com",
        "wss://sdkgw.us1.twilio.com",
    ]
    assert b'class="sandbox-note">Sandbox video' not in response.content
