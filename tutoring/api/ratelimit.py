"""HTTP rate limits, counted before authentication (docs/operations.md "Rate limits").

Views declare what they are limited by, as DRF throttles: `ApiRateLimit` is every API view's default
(RATE_LIMIT_API), `PAYMENT_THROTTLES` adds the payment group (RATE_LIMIT_PAYMENTS: the unsafe requests
of every payment action share one budget; a viewset names it in `throttles` per action), and
`throttle_classes = ()` (provider webhooks) means not limited. `RateLimitMiddleware` reads those
declarations once the URL is resolved and counts the request before the view runs, so a request
refused with 401 or 403 is counted too.

A GET the viewset lists in `pure_reads` (it only reads) is counted the same way, but the answer is
read once the view is done, so Redis and the database work at the same time; when refused, the read's
result is replaced by the same 429.

Who is counted: the user of a validly signed, unexpired access token (checked without the database),
else the client IP. A token that fails the check counts against its IP, like no token at all.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from django.conf import settings
from rest_framework.throttling import BaseThrottle
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from tutoring.api.errors import error_response
from tutoring.errors import RetryLater
from tutoring.ratelimit import Bucket, PendingCheck, rate, rate_check


class _Declared(BaseThrottle):
    """A limit a view is under; the middleware counts it before the view runs, so DRF lets it pass."""

    group = ""
    setting = ""
    methods: frozenset[str] | None = None

    def allow_request(self, request, view) -> bool:
        return True

    @classmethod
    def applies_to(cls, method: str) -> bool:
        return cls.methods is None or method in cls.methods


class ApiRateLimit(_Declared):
    group = "api"
    setting = "RATE_LIMIT_API"


class PaymentRateLimit(_Declared):
    """The payment group: only requests that ask to move money count (POST/PUT/PATCH/DELETE)."""

    group = "payments"
    setting = "RATE_LIMIT_PAYMENTS"
    methods = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# For the views of the payment group: the general limit and the payment limit together.
PAYMENT_THROTTLES = (ApiRateLimit, PaymentRateLimit)


class PasswordResetRateLimit(_Declared):
    """Asking for password reset emails (RATE_LIMIT_PASSWORD_RESET), per client (IP, or user); the
    address asked for has its own budget (`reset_address_rate_check`)."""

    group = "password-reset"
    setting = "RATE_LIMIT_PASSWORD_RESET"
    methods = frozenset({"POST"})


def reset_address_rate_check(email: str) -> None:
    """Reset emails to one address (RATE_LIMIT_PASSWORD_RESET), whoever asks: nobody can flood an inbox
    from many clients. Every address is counted alike, known or not; the API and the page count together."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    rate_check([Bucket(key=f"password-reset-email:{digest}", rate=rate(settings.RATE_LIMIT_PASSWORD_RESET))])


def _ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def client_ip(request: Any) -> str | None:
    """The client address: the proxy's header named by RATELIMIT_IP_META_KEY, else the peer address
    (None when neither is an address, e.g. a request made up by Django's test client's login).

    Also django-axes's client IP, so lockouts and rate limits agree on who the client is.
    """
    meta = request.META
    return _ip(meta.get(settings.RATELIMIT_IP_META_KEY)) or _ip(meta.get("REMOTE_ADDR"))


def access_token(request: Any) -> AccessToken | None:
    """The request's bearer access token if its signature, expiry and type check out (no database).

    Remembered on the request, so authentication (`tutoring.api.auth`) does not verify it twice.
    """
    if hasattr(request, "_checked_access_token"):
        return request._checked_access_token
    token = None
    parts = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(parts) == 2 and parts[0] in api_settings.AUTH_HEADER_TYPES:
        try:
            token = AccessToken(parts[1])
        except TokenError:
            token = None
    request._checked_access_token = token
    return token


def who(request: Any) -> str:
    token = access_token(request)
    user_id = token.get(api_settings.USER_ID_CLAIM) if token is not None else None
    if isinstance(user_id, (str, int)) and str(user_id).isprintable() and " " not in str(user_id):
        return f"user:{str(user_id)[:64]}"
    return f"ip:{client_ip(request) or 'unknown'}"


def declared_limits(view_func: Any, method: str) -> tuple[type[_Declared], ...]:
    """The limits a resolved view declares for `method`: a viewset action's own `throttles` entry, else
    the view's `throttle_classes` (the REST_FRAMEWORK default unless it sets them)."""
    cls = getattr(view_func, "cls", None)
    if cls is None:  # a plain Django view under /api/
        return (ApiRateLimit,)
    action = (getattr(view_func, "actions", None) or {}).get(method.lower())
    per_action = getattr(cls, "throttles", None) or {}
    if action in per_action:
        classes = per_action[action]
    else:
        classes = (getattr(view_func, "initkwargs", None) or {}).get("throttle_classes", cls.throttle_classes)
    return tuple(c for c in classes if isinstance(c, type) and issubclass(c, _Declared))


def _buckets(request: Any, limits: tuple[type[_Declared], ...]) -> list[Bucket]:
    counted = who(request)
    return [Bucket(key=f"{limit.group}:{counted}", rate=rate(getattr(settings, limit.setting))) for limit in limits]


def request_rate_check(request: Any, *, limits: tuple[type[_Declared], ...] = (ApiRateLimit,)) -> None:
    """Count one request against `limits` for whoever sends it; `RateLimited` (429) or
    `ServiceUnavailable` (503) when it may not go on. Pages count their form posts here too."""
    rate_check(_buckets(request, limits))


def _is_pure_read(view_func: Any, method: str) -> bool:
    """A GET of an action its viewset lists in `pure_reads` (`tutoring.api.viewsets.ApiViewSet`)."""
    if method != "GET":
        return False
    action = (getattr(view_func, "actions", None) or {}).get("get")
    return action in getattr(getattr(view_func, "cls", None), "pure_reads", ())


def _refused(request: Any, exc: RetryLater):
    return error_response(request, exc.status_code, exc.message, headers={"Retry-After": str(exc.retry_after)})


def finish_deferred_check(request: Any):
    """The refusal (429/503 response) of a pure read's deferred count, or None once it passed.

    Called by the view as it finishes (`ApiViewSet.finalize_response`), so the refusal goes back out
    through every middleware as one returned by `process_view` would; the middleware calls it for a
    view that never got that far.
    """
    pending = request.__dict__.pop("_pending_rate_check", None)
    if pending is None:
        return None
    try:
        pending.finish()
    except RetryLater as exc:
        return _refused(request, exc)
    return None


class RateLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            response = self.get_response(request)
        except BaseException:
            if (pending := request.__dict__.pop("_pending_rate_check", None)) is not None:
                pending.cancel()
            raise
        return finish_deferred_check(request) or response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.path.startswith("/api/"):
            return None
        limits = tuple(c for c in declared_limits(view_func, request.method) if c.applies_to(request.method))
        if not limits:
            return None
        try:
            if _is_pure_read(view_func, request.method):
                # Counted all the same, but the answer is read when the view is done: Redis and the
                # database work at once. A refused read's result is thrown away; it changed nothing.
                request._pending_rate_check = PendingCheck(_buckets(request, limits))
            else:
                request_rate_check(request, limits=limits)
        except RetryLater as exc:
            return _refused(request, exc)
        return None
