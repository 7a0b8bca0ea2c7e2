"""The site's Content Security Policy and its two languages, over every page."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from live.tests.factories import SessionFactory
from tutoring.tests.factories import StudentFactory
from tutoring.tests.utils import csp
from withdrawals.tests.factories import tutor_with_balance

pytestmark = pytest.mark.django_db

SITE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "media-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def pages():
    """(client, path) of every page, each signed in as someone who may see it."""
    session = SessionFactory()
    booking = session.booking
    tutor = tutor_with_balance()
    student, tutor_client, anonymous = Client(), Client(), Client()
    student.force_login(booking.student)
    tutor_client.force_login(tutor)
    return [
        (anonymous, "/"),
        (anonymous, f"/tutors/{booking.tutor_id}"),
        (anonymous, "/login"),
        (anonymous, "/register"),
        (student, "/bookings"),
        (student, f"/bookings/{booking.pk}"),
        (student, f"/classroom/{session.pk}"),
        (tutor_client, "/earnings"),
        (tutor_client, "/availability"),
        (student, f"/bookings/{booking.pk}/receipt"),
        (anonymous, "/password-reset"),
        (
            anonymous,
            f"/password-reset/{urlsafe_base64_encode(force_bytes(tutor.pk))}/{default_token_generator.make_token(tutor)}",
        ),
    ]


class InlineCode(HTMLParser):
    """Everything the policy would refuse in a page: inline scripts, style attributes, event handlers."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and "src" not in names and names.get("type") != "application/json":
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag}[{name}]" for name in names if name == "style" or name.startswith("on")]


def test_every_page_has_the_site_policy_and_nothing_inline_it_would_refuse(pages):
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = csp(response)
        if path.startswith("/classroom/"):
            assert policy["connect-src"] == ["'self'", "ws://testserver", "wss://testserver"]
            policy = {**policy, "connect-src": ["'self'"], "media-src": ["'self'"]}
        assert policy == SITE_POLICY, path
        parser = InlineCode()
        parser.feed(response.content.decode())
        assert parser.found == [], (path, parser.found)


def test_with_real_stripe_keys_the_earnings_form_may_go_to_stripe_onboarding(settings):
    settings.STRIPE_SANDBOX = False
    client = Client()
    client.force_login(tutor_with_balance())
    assert csp(client.get("/earnings"))["form-action"] == ["'self'", "https://connect.stripe.com"]


def test_pages_follow_accept_language(pages):
    for client, path in pages:
        english = client.get(path, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
        chinese = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
        assert english["Content-Language"] == "en" and chinese["Content-Language"] == "zh-hans", path
        assert b'<html lang="zh-hans">' in chinese.content
        title = re.search(r"<title>(.*?)</title>", chinese.content.decode()).group(1)
        assert CJK.search(title), (path, title)
        assert not CJK.search(re.search(r"<title>(.*?)</title>", english.content.decode()).group(1))


def test_the_language_switcher_remembers_the_choice():
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login"})
    assert response.status_code == 302 and response["Location"] == "/login"
    page = client.get("/login", HTTP_ACCEPT_LANGUAGE="en")
    assert page["Content-Language"] == "zh-hans" and "登录".encode() in page.content
    client.post("/i18n/setlang/", {"language": "en", "next": "/login"})
    assert client.get("/login", HTTP_ACCEPT_LANGUAGE="zh-CN")["Content-Language"] == "en"


def test_service_messages_on_pages_are_translated_too():
    client = Client()
    StudentFactory(email="someone@example.test")
    response = client.post(
        "/register",
        {"name": "X", "email": "someone@example.test", "password": "a-long-pass-314", "role": "student"},
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    )
    assert [CJK.search(str(m)) is not None for m in response.context["messages"]] == [True]


def test_api_messages_follow_accept_language(api):
    english = api.post("/api/auth/token", {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    chinese = api.post("/api/auth/token", {}, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert english.json()["errors"]["email"] == ["This field is required."]
    assert chinese.json()["errors"]["email"] == ["该字段是必填项。"]
    assert CJK.search(chinese.json()["message"])


def test_every_translatable_string_is_translated_and_compiled():
    call_command("translations", check=True)


def test_service_and_permission_messages_in_the_api_follow_accept_language(client_for, student, tutor):
    api = client_for(student)
    body = {"tutorId": str(tutor.pk), "startTime": "2020-01-01T10:00:00+00:00", "durationMinutes": 60}
    english = api.post("/api/bookings", body, format="json")
    chinese = api.post("/api/bookings", body, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert english.json()["message"] == "startTime must be in the future."
    assert chinese.json()["message"] == "startTime 必须是将来的时间。"
    assert chinese.json()["errors"] == {"startTime": ["必须是将来的时间。"]}
    forbidden = api.get("/api/withdrawals/stats", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert forbidden.status_code == 403 and forbidden.json()["message"] == "只有导师可以执行此操作。"
    missing = api.get("/api/nothing-here", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert missing.status_code == 404 and missing.json()["message"] == "未找到。"
