"""Authentication of the API: JWTs (simplejwt) made strict, and brute-force lockout (django-axes).

- `JWTAuthentication`: a validly signed token whose `user_id` cannot name a user is a 401, not a 500,
  and a token already verified by the rate limiter is not verified twice.
- `PendingUser`: for the reads that declare it (`ApiViewSet.pure_reads`), the user is not
  read on its own: the action's one query reads the data and checks the user together (exists, active,
  its role), and only when that query cannot say (nothing found) is the user read as usual. A deleted or
  deactivated user is refused with simplejwt's own 401, as by a separate read.
- `TokenRefreshSerializer`: rotation cannot fork. The used refresh token is blacklisted by one INSERT
  under a unique constraint, so of concurrent uses of one token exactly one wins and the others are
  401; a token whose user was deleted or deactivated is 401.
- `TokenObtainPairSerializer`: after LOGIN_FAILURE_LIMIT failures for an account or from an address, the
  next attempts are refused with 429 (`Retry-After`: the lockout time) until it passes or staff unlock
  it (admin "Access attempts"). /admin/login/ is locked the same way by the axes middleware.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework import exceptions, serializers
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from tutoring.api.errors import error_response
from tutoring.errors import RateLimited

NO_USER = "Token contained no recognizable user identification."
REFRESH_USED = "The refresh token has already been used or is invalid."
NO_ACCOUNT = "No active account found for the given token."
LOCKED_OUT = gettext_lazy("Too many failed logins for this account or address; try again later.")


def lockout_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def _user_for_claim(user_id: Any):
    """The user a token's `user_id` names, or None if it names nobody (or could not name anyone)."""
    user_model = get_user_model()
    try:
        return user_model.objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    except (DjangoValidationError, ValueError, TypeError, OverflowError):
        return None


class PendingUser:
    """The user a valid access token names, before (or instead of) reading their row.

    Its id is known; `confirm` records what the action's own query found (the user exists and is active,
    with the fields it read); anything else asked of it reads the user as simplejwt would (`load`), which
    refuses a deleted or deactivated user with 401. `ApiViewSet.finalize_response` loads a user no query
    confirmed, so no response leaves without the user checked one way or the other.
    """

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user_id: uuid.UUID, load: Callable[[], Any]) -> None:
        self.__dict__.update(pk=user_id, id=user_id, _load=load, _user=None, _known={}, checked=False)

    def confirm(self, **fields: Any) -> None:
        self._known.update(fields)
        self.__dict__["checked"] = True

    def user(self):
        """The user's row (read once), or `AuthenticationFailed` as simplejwt refuses it."""
        if self._user is None:
            self.__dict__["_user"] = self._load()
            self.__dict__["checked"] = True
        return self._user

    def __getattr__(self, name: str) -> Any:  # only for what is not set on the instance itself
        if name.startswith("__"):
            raise AttributeError(name)
        known = self.__dict__["_known"]
        if name in known:
            return known[name]
        return getattr(self.user(), name)

    def __eq__(self, other: object) -> bool:
        return getattr(other, "pk", None) == self.pk and getattr(other, "_meta", None) is get_user_model()._meta

    def __hash__(self) -> int:
        return hash(self.pk)

    def __str__(self) -> str:
        return str(self.user())


def _wants_pending_user(request) -> bool:
    # With CHECK_REVOKE_TOKEN the user's password hash is part of the check: only a full read can say.
    if request.method != "GET" or api_settings.CHECK_REVOKE_TOKEN:
        return False
    view = (request.parser_context or {}).get("view")
    return getattr(view, "action", None) in getattr(view, "pure_reads", ())


class JWTAuthentication(authentication.JWTAuthentication):
    def authenticate(self, request):
        # The rate limiter checked this very header already (signature, expiry, type; no database).
        validated = getattr(request._request, "_checked_access_token", None)
        if validated is None:
            header = self.get_header(request)
            raw = self.get_raw_token(header) if header is not None else None
            if raw is None:
                return None
            validated = self.get_validated_token(raw)
        if _wants_pending_user(request):
            try:
                user_id = uuid.UUID(str(validated[api_settings.USER_ID_CLAIM]))
            except (KeyError, ValueError):
                pass  # the ordinary read says what is wrong with it
            else:
                return PendingUser(user_id, lambda: self.get_user(validated)), validated
        return self.get_user(validated), validated

    def get_user(self, validated_token):
        try:
            return super().get_user(validated_token)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise InvalidToken(NO_USER) from None


class TokenRefreshSerializer(serializers.Serializer):  # simplejwt's name: the same OpenAPI component
    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            refresh = RefreshToken(attrs["refresh"])
        except TokenError as exc:
            raise InvalidToken(str(exc)) from None
        user = _user_for_claim(refresh.payload.get(api_settings.USER_ID_CLAIM))
        if user is None or not user.is_active:
            raise AuthenticationFailed(NO_ACCOUNT, "no_active_account")
        jti = refresh.payload[api_settings.JTI_CLAIM]
        with transaction.atomic():
            outstanding, _ = OutstandingToken.objects.get_or_create(
                jti=jti,
                defaults={
                    "user": user,
                    "token": str(refresh),
                    "created_at": refresh.current_time,
                    "expires_at": datetime_from_epoch(refresh.payload["exp"]),
                },
            )
            try:
                # The one arbiter between concurrent uses: a blacklist row per token (unique).
                with transaction.atomic():
                    BlacklistedToken.objects.create(token=outstanding)
            except IntegrityError:
                raise AuthenticationFailed(REFRESH_USED, "token_not_valid") from None
            data = {"access": str(refresh.access_token)}
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            refresh.outstand()
            data["refresh"] = str(refresh)
        return data


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        request = self.context["request"]
        try:
            data = super().validate(attrs)
        except exceptions.AuthenticationFailed:
            # django-axes counted the failure on this request (or refused a locked-out one).
            if getattr(request, "axes_locked_out", False):
                raise RateLimited(LOCKED_OUT, retry_after=lockout_seconds()) from None
            raise
        # A token is a login without Django's session: tell axes, so a success clears the failures.
        AxesProxyHandler.user_logged_in(sender=type(self), request=request, user=self.user)
        return data


def login_username(request: Any, credentials: dict | None) -> str | None:
    """The account a login attempt names, for django-axes: the API sends `email`, the admin `username`."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if value is None and hasattr(request, "POST"):
        value = request.POST.get("username")
    return value.strip().lower() if isinstance(value, str) else None


def lockout_response(request: Any, original_response: Any = None, credentials: dict | None = None) -> HttpResponse:
    """What django-axes answers a locked-out login: the error body under /api/, a page elsewhere."""
    headers = {"Retry-After": str(lockout_seconds())}
    if request.path.startswith("/api/"):
        return error_response(request, 429, LOCKED_OUT, headers=headers)
    minutes = max(1, lockout_seconds() // 60)
    page = render_to_string("admin/locked_out.html", {"minutes": minutes}, request=request)
    return HttpResponse(page, status=429, headers=headers)


class JWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of `JWTAuthentication` (bearer JWT), as drf-spectacular gives simplejwt's."""

    target_class = JWTAuthentication
    name = "jwtAuth"
