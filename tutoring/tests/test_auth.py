import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tutoring.models import Role, TutorProfile, User
from tutoring.tests.factories import PASSWORD, StudentFactory
from tutoring.tests.utils import assert_error, run_concurrently

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register"


def register(api, **overrides):
    body = {"email": "new@example.test", "password": "a-Strong-passw0rd", "name": "New Person", "role": "student"}
    body.update(overrides)
    return api.post(REGISTER, body, format="json")


class TestRegister:
    def test_student_gets_user_and_tokens(self, api):
        response = register(api, email="Mixed.Case@Example.TEST")
        assert response.status_code == 201
        data = response.json()["data"]
        assert data["user"]["email"] == "mixed.case@example.test"
        assert data["user"]["role"] == "student"
        assert data["user"]["name"] == "New Person"
        assert set(data) == {"user", "access", "refresh"}
        me = api.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {data['access']}")
        assert me.json() == {"data": data["user"]}

    def test_tutor_gets_an_empty_profile(self, api):
        response = register(api, role="tutor")
        assert response.status_code == 201
        user = User.objects.get(pk=response.json()["data"]["user"]["id"])
        assert TutorProfile.objects.get(user=user).hourly_rate is None

    def test_duplicate_email_is_409(self, api):
        assert register(api).status_code == 201
        response = register(api, email="NEW@example.test")
        assert_error(response, 409, REGISTER, "POST")
        assert User.objects.count() == 1

    @pytest.mark.parametrize("password", ["short", "password123", "12345678901", "new@example.test"])
    def test_weak_password_is_400_with_errors(self, api, password):
        response = register(api, password=password)
        body = assert_error(response, 400, REGISTER, "POST")
        assert body["errors"]["password"]
        assert not User.objects.exists()

    def test_missing_and_invalid_fields(self, api):
        response = api.post(REGISTER, {"email": "not-an-email"}, format="json")
        body = assert_error(response, 400, REGISTER, "POST")
        assert set(body["errors"]) == {"email", "password", "name", "role"}

    @pytest.mark.parametrize("extra", [{"role": "staff"}, {"role": "admin"}])
    def test_register_never_creates_staff(self, api, extra):
        response = register(api, **extra)
        assert_error(response, 400, REGISTER, "POST")
        assert not User.objects.exists()

    def test_staff_flags_in_the_body_are_ignored(self, api):
        response = register(api, is_staff=True, is_superuser=True, isStaff=True)
        assert response.status_code == 201
        user = User.objects.get()
        assert (user.role, user.is_staff, user.is_superuser) == (Role.STUDENT, False, False)


class TestToken:
    def test_obtain_and_refresh_rotates(self, api, student):
        response = api.post("/api/auth/token", {"email": student.email, "password": PASSWORD}, format="json")
        assert response.status_code == 200
        pair = response.json()["data"]
        assert set(pair) == {"access", "refresh"}
        assert AccessToken(pair["access"])["user_id"] == str(student.pk)

        refreshed = api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
        assert refreshed.status_code == 200
        new_pair = refreshed.json()["data"]
        assert set(new_pair) == {"access", "refresh"}
        assert new_pair["refresh"] != pair["refresh"]

        # The rotated-out refresh token is blacklisted.
        again = api.post("/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
        assert_error(again, 401, "/api/auth/token/refresh", "POST")

    def test_access_token_lifetime_is_15_minutes(self, api, student):
        token = AccessToken.for_user(student)
        assert token["exp"] - token["iat"] == 15 * 60

    def test_wrong_password_is_401(self, api, student):
        response = api.post("/api/auth/token", {"email": student.email, "password": "nope-nope-nope"}, format="json")
        assert_error(response, 401, "/api/auth/token", "POST")

    def test_unknown_email_is_401(self, api):
        response = api.post("/api/auth/token", {"email": "ghost@example.test", "password": "x" * 12}, format="json")
        assert_error(response, 401, "/api/auth/token", "POST")


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


class TestForgedTokens:
    def claims(self, user):
        token = AccessToken.for_user(user)
        return dict(token.payload)

    def forged(self, user):
        claims = self.claims(user)
        good = str(AccessToken.for_user(user))
        header, payload, signature = good.split(".")
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        other = StudentFactory()
        return {
            "garbage": "not.a.jwt",
            "random": "abc",
            "wrong_key": jwt.encode(claims, "some-other-secret-key-of-enough-length", algorithm="HS256"),
            "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
            "alg_none_signed": jwt.encode(claims, None, algorithm="none"),
            "tampered_signature": f"{header}.{payload}.{flipped}",
            "tampered_payload": f"{header}.{_b64({**claims, 'user_id': str(other.pk)})}.{signature}",
            "refresh_as_access": str(RefreshToken.for_user(user)),
            "expired": self._expired(user),
            "hs512_same_key": jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512"),
        }

    def _expired(self, user):
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=-timedelta(seconds=1))
        return str(token)

    def test_every_forgery_is_401(self, api, student):
        assert api.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(student)}").status_code == 200
        for name, token in self.forged(student).items():
            response = api.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
            assert response.status_code == 401, name
            assert_error(response, 401, "/api/auth/me", "GET")

    def test_missing_header_and_wrong_scheme(self, api, student):
        assert_error(api.get("/api/auth/me"), 401, "/api/auth/me", "GET")
        token = AccessToken.for_user(student)
        assert_error(api.get("/api/auth/me", HTTP_AUTHORIZATION=f"Token {token}"), 401, "/api/auth/me", "GET")

    def test_token_of_deactivated_user_is_401(self, api, student):
        token = AccessToken.for_user(student)
        student.is_active = False
        student.save()
        assert_error(api.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}"), 401, "/api/auth/me", "GET")


REFRESH = "/api/auth/token/refresh"


class TestRefreshRotation:
    def test_a_refresh_token_of_a_deleted_user_is_401(self, api):
        user = StudentFactory()
        refresh = str(RefreshToken.for_user(user))
        user.delete()
        assert_error(api.post(REFRESH, {"refresh": refresh}, format="json"), 401, REFRESH, "POST")

    def test_a_refresh_token_of_a_deactivated_user_is_401(self, api, student):
        refresh = str(RefreshToken.for_user(student))
        student.is_active = False
        student.save()
        assert_error(api.post(REFRESH, {"refresh": refresh}, format="json"), 401, REFRESH, "POST")

    def test_a_validly_signed_token_whose_user_id_is_not_a_uuid_is_401(self, api, student):
        for claim in ("not-a-uuid", 12345, ["x"], {"id": 1}):
            access = AccessToken.for_user(student)
            access["user_id"] = claim
            response = api.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}")
            assert_error(response, 401, "/api/auth/me", "GET")
            refresh = RefreshToken.for_user(student)
            refresh["user_id"] = claim
            assert_error(api.post(REFRESH, {"refresh": str(refresh)}, format="json"), 401, REFRESH, "POST")

    def test_the_rotated_pair_carries_on_the_chain(self, api, student):
        first = api.post(REFRESH, {"refresh": str(RefreshToken.for_user(student))}, format="json").json()["data"]
        second = api.post(REFRESH, {"refresh": first["refresh"]}, format="json")
        assert second.status_code == 200
        me = api.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {second.json()['data']['access']}")
        assert me.json()["data"]["id"] == str(student.pk)

    @pytest.mark.postgres
    @pytest.mark.django_db(transaction=True)
    def test_eight_concurrent_uses_of_one_refresh_token_give_exactly_one_new_pair(self):
        """It gave 4 successes, each a new valid chain: rotation must be atomic."""
        student = StudentFactory()
        refresh = str(RefreshToken.for_user(student))

        def use(i):
            client = APIClient()
            return client.post(REFRESH, {"refresh": refresh}, format="json", REMOTE_ADDR=f"10.9.0.{i + 1}")

        responses = run_concurrently(use, 8)
        assert sorted(r.status_code for r in responses) == [200] + [401] * 7
        for response in responses:
            if response.status_code == 401:
                assert_error(response, 401, REFRESH, "POST")
        (winner,) = [r.json()["data"] for r in responses if r.status_code == 200]
        again = APIClient().post(REFRESH, {"refresh": winner["refresh"]}, format="json")
        assert again.status_code == 200  # the one new chain goes on
