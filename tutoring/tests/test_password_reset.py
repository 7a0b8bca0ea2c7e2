"""Password reset by email (docs/api.md "Accounts and auth"): the same answer whether or not the address
has an account, a link that works once, and a reset that ends every refresh token and every session."""

import re

import pytest
from django.contrib.auth import get_user
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone

from notifications.models import Notification, NotificationStatus
from notifications.services import notifications_send_due
from notifications.tests.smtp import body_of
from tutoring.models import User
from tutoring.tests.factories import PASSWORD, StudentFactory
from tutoring.tests.utils import assert_error, data, run_concurrently

pytestmark = pytest.mark.django_db

RESET = "/api/auth/password/reset"
CONFIRM = "/api/auth/password/reset/confirm"
NEW_PASSWORD = "a-new-Secret-4711"
LINK = re.compile(r"http://127\.0\.0\.1:8000/password-reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)")


def send() -> int:
    return notifications_send_due(now=timezone.now())


def reset_link(inbox, user) -> dict:
    [message] = inbox.to(user.email)
    return LINK.search(body_of(message)).groupdict()


def tokens(api, email, password=PASSWORD):
    return api.post("/api/auth/token", {"email": email, "password": password})


def refresh(api, token):
    return api.post("/api/auth/token/refresh", {"refresh": token})


def session_user(session_key):
    request = HttpRequest()
    request.session = SessionStore(session_key)
    return get_user(request)


class TestRequest:
    def test_known_and_unknown_addresses_get_the_same_answer(self, api, smtp):
        user = StudentFactory()
        known = api.post(RESET, {"email": user.email.upper()})
        unknown = api.post(RESET, {"email": "nobody@example.test"})
        assert known.status_code == unknown.status_code == 202
        assert known.content == unknown.content
        assert sorted(known.headers.items()) == sorted(unknown.headers.items())
        assert Notification.objects.count() == 2  # the same work done for both
        assert send() == 1
        assert [m["X-Envelope-To"] for m in smtp.messages] == [user.email]
        assert smtp.messages[0]["Subject"] == "Reset your password"
        assert set(Notification.objects.values_list("status", flat=True)) == {
            NotificationStatus.SENT,
            NotificationStatus.SKIPPED,
        }

    @pytest.mark.parametrize("body", [{}, {"email": "not-an-address"}, {"email": ""}])
    def test_bad_addresses_are_400(self, api, body):
        assert "email" in assert_error(api.post(RESET, body), 400, RESET, "POST")["errors"]
        assert not Notification.objects.exists()

    def test_limited_per_address_and_per_client(self, api, settings):
        settings.RATE_LIMIT_PASSWORD_RESET = "2/h"
        user = StudentFactory()
        for ip in ("10.0.0.1", "10.0.0.2"):
            assert api.post(RESET, {"email": user.email}, REMOTE_ADDR=ip).status_code == 202
        limited = api.post(RESET, {"email": user.email}, REMOTE_ADDR="10.0.0.3")
        assert_error(limited, 429, RESET, "POST")
        assert int(limited["Retry-After"]) > 0
        for email in ("a@example.test", "b@example.test"):
            assert api.post(RESET, {"email": email}, REMOTE_ADDR="10.0.0.9").status_code == 202
        assert_error(api.post(RESET, {"email": "c@example.test"}, REMOTE_ADDR="10.0.0.9"), 429)
        assert Notification.objects.count() == 4

    def test_in_the_accounts_language(self, api, smtp):
        user = StudentFactory(language="zh-hans")
        api.post(RESET, {"email": user.email})
        send()
        [message] = smtp.messages
        assert message["Subject"] == "重置您的密码"
        assert "该链接仅可使用一次" in body_of(message)

    def test_registration_keeps_the_requests_language(self, api):
        body = {"email": "li@example.test", "password": PASSWORD, "name": "Li", "role": "student"}
        data(api.post("/api/auth/register", body, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5"), 201)
        assert User.objects.get(email="li@example.test").language == "zh-hans"
        body = {**body, "email": "ann@example.test"}
        data(api.post("/api/auth/register", body, HTTP_ACCEPT_LANGUAGE="fr-FR"), 201)
        assert User.objects.get(email="ann@example.test").language == "en"


class TestConfirm:
    def test_the_link_works_once_and_ends_every_session_and_refresh_token(self, api, smtp):
        user = StudentFactory()
        first = data(tokens(api, user.email))
        rotated = data(refresh(api, first["refresh"]))
        other_device = data(tokens(api, user.email))
        browser = Client()
        browser.force_login(user)
        session_key = browser.session.session_key
        assert session_user(session_key) == user

        api.post(RESET, {"email": user.email})
        send()
        link = reset_link(smtp, user)
        done = data(api.post(CONFIRM, {**link, "password": NEW_PASSWORD}))
        assert done["id"] == str(user.pk)

        for token in (rotated["refresh"], other_device["refresh"]):
            assert_error(refresh(api, token), 401)
        assert session_user(session_key).is_anonymous
        assert_error(tokens(api, user.email), 401)
        assert data(tokens(api, user.email, NEW_PASSWORD))["access"]
        again = assert_error(api.post(CONFIRM, {**link, "password": "another-Secret-0815"}), 400, CONFIRM, "POST")
        assert "token" in again["errors"]
        assert data(tokens(api, user.email, NEW_PASSWORD))

    def test_a_weak_password_is_400_and_keeps_the_link(self, api, smtp):
        user = StudentFactory()
        api.post(RESET, {"email": user.email})
        send()
        link = reset_link(smtp, user)
        for weak in ("short", "12345678901", user.email):
            body = assert_error(api.post(CONFIRM, {**link, "password": weak}), 400, CONFIRM, "POST")
            assert "password" in body["errors"]
        assert data(tokens(api, user.email))  # the old password still works
        data(api.post(CONFIRM, {**link, "password": NEW_PASSWORD}))

    def test_forged_links_are_400(self, api, smtp):
        user, other = StudentFactory(), StudentFactory()
        api.post(RESET, {"email": user.email})
        send()
        link = reset_link(smtp, user)
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        forged = [
            {**link, "token": link["token"][:-2] + "xx"},
            {**link, "uid": urlsafe_base64_encode(force_bytes(other.pk))},
            {**link, "uid": "!!!"},
            {**link, "uid": urlsafe_base64_encode(b"not-a-uuid")},
            {"uid": link["uid"]},
        ]
        for body in forged:
            assert_error(api.post(CONFIRM, {"password": NEW_PASSWORD, **body}), 400, CONFIRM, "POST")
        assert data(tokens(api, user.email)) and data(tokens(api, other.email))

    def test_signing_in_after_asking_ends_the_link(self, api, smtp):
        user = StudentFactory()
        api.post(RESET, {"email": user.email})
        send()
        link = reset_link(smtp, user)
        Client().force_login(user)  # signing in changes last_login
        assert_error(api.post(CONFIRM, {**link, "password": NEW_PASSWORD}), 400)

    @pytest.mark.postgres
    @pytest.mark.django_db(transaction=True)
    def test_one_link_used_twice_at_once_works_once(self, smtp):
        from rest_framework.test import APIClient

        user = StudentFactory()
        APIClient().post(RESET, {"email": user.email})
        # The kick after the commit already sent it (tests run tasks in-process).
        link = reset_link(smtp, user)
        passwords = [f"{NEW_PASSWORD}-{i}" for i in range(4)]
        statuses = run_concurrently(
            lambda i: APIClient().post(CONFIRM, {**link, "password": passwords[i]}, format="json").status_code, 4
        )
        assert sorted(statuses) == [200, 400, 400, 400]
        winner = passwords[statuses.index(200)]
        assert User.objects.get(pk=user.pk).check_password(winner)
