"""Brute force on passwords (django-axes): an account and an address are locked after
LOGIN_FAILURE_LIMIT failures, on the API and on the admin login, until the lockout passes or staff
unlock them."""

import random

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tutoring.tests.factories import PASSWORD, StaffFactory, StudentFactory
from tutoring.tests.utils import assert_error

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token"


def random_ip() -> str:
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def login(api, email, password, ip):
    return api.post(TOKEN, {"email": email, "password": password}, format="json", REMOTE_ADDR=ip)


def assert_locked(response, path=TOKEN):
    body = assert_error(response, 429, path, "POST")
    assert int(response["Retry-After"]) == 15 * 60
    assert "failed logins" in body["message"]


def test_an_account_is_locked_after_five_wrong_passwords_even_with_the_right_one(api, settings):
    student = StudentFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert_error(login(api, student.email, "wrong-password-0", random_ip()), 401, TOKEN, "POST")
    assert_locked(login(api, student.email, "wrong-password-0", random_ip()))  # the 5th locks it
    # From any address, even with the right password: per account.
    assert_locked(login(api, student.email, PASSWORD, random_ip()))
    # Other accounts are untouched.
    other = StudentFactory()
    assert login(api, other.email, PASSWORD, random_ip()).status_code == 200


def test_an_address_is_locked_after_five_failures_across_accounts(api, settings):
    ip = random_ip()
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(api, f"nobody{i}@example.test", "wrong-password-0", ip).status_code == 401
    assert_locked(login(api, "nobody-last@example.test", "wrong-password-0", ip))
    student = StudentFactory()
    assert_locked(login(api, student.email, PASSWORD, ip))  # per address, whoever it names
    assert login(api, student.email, PASSWORD, random_ip()).status_code == 200


def test_a_success_resets_the_count(api, settings):
    student = StudentFactory()
    ip = random_ip()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(api, student.email, "wrong-password-0", ip)
    assert login(api, student.email, PASSWORD, ip).status_code == 200
    assert login(api, student.email, "wrong-password-0", ip).status_code == 401  # counting afresh


def test_the_admin_login_is_locked_too(settings):
    staff = StaffFactory()
    client = Client(REMOTE_ADDR=random_ip())
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": staff.email, "password": "wrong-password-0"})
    response = client.post("/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session  # not logged in


def test_staff_unlock_an_account_in_the_admin(api, settings):
    student = StudentFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(api, student.email, "wrong-password-0", random_ip())
    assert_locked(login(api, student.email, PASSWORD, random_ip()))

    admin = Client()
    admin.force_login(StaffFactory())
    attempts = list(AccessAttempt.objects.filter(username=student.email).values_list("pk", flat=True))
    assert attempts
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200 and student.email.encode() in page.content
    response = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert response.status_code == 302
    assert login(api, student.email, PASSWORD, random_ip()).status_code == 200
