"""What every page view shares (docs/pages.md): sign-in and role checks, calling one service with its
error shown on the page, the DRF serializers of the API as the pages' input validation, and the
Content Security Policy sources a page adds to the site's policy.

Pages are the third door to the services, beside the JSON API and the realtime transports: they
validate with the same serializers, call the same services and selectors, and show the same
`ApplicationError` messages, so no rule has a second code path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.serializers import Serializer

from tutoring.access import has_role
from tutoring.api.exceptions import validation_errors
from tutoring.api.pagination import NEWEST_FIRST, Key, paginate
from tutoring.errors import ApplicationError, Forbidden, NotFound

T = TypeVar("T")

# Sources a page adds to the site's policy (settings.CONTENT_SECURITY_POLICY), only where it loads them.
STRIPE_JS = {
    "script-src": ["https://js.stripe.com", "https://*.js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
}
# Stripe's hosted onboarding: the earnings page's form redirects there.
STRIPE_ONBOARDING = {"form-action": ["https://connect.stripe.com"]}
# twilio-video's signalling (its README's policy); media tracks are MediaStreams.
TWILIO_VIDEO = {"connect-src": ["wss://global.vss.twilio.com", "wss://sdkgw.us1.twilio.com"]}


def realtime_sources(request: HttpRequest) -> dict[str, list[str]]:
    """The site's own socket.io origin (ws/wss) and the camera preview's media."""
    host = request.get_host()
    return {"connect-src": [f"ws://{host}", f"wss://{host}"], "media-src": ["blob:", "mediastream:"]}


def csp_allow(response: HttpResponse, *sources: dict[str, list[str]]) -> HttpResponse:
    """Add `sources` to the policy of this response only (django-csp's per-response update)."""
    update: dict[str, list[str]] = dict(getattr(response, "_csp_update", None) or {})
    for part in sources:
        for directive, values in part.items():
            update[directive] = [*update.get(directive, []), *values]
    response._csp_update = update
    return response


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context of every page (a context processor)."""
    user = getattr(request, "user", None)
    return {
        "sandbox_payments": settings.STRIPE_SANDBOX,
        "sandbox_video": settings.TWILIO_SANDBOX,
        "is_tutor": has_role(user, "tutor"),
        "is_student": has_role(user, "student"),
    }


def page(*, role: str | None = None, signed_in: bool = True) -> Callable:
    """A page view for signed-in users (sent to the login page otherwise), optionally of one role (403)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if signed_in and not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if role is not None and not has_role(request.user, role):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def json_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A JSON endpoint of the pages' scripts (outside /api/, session and CSRF): 401 when signed out and
    every `ApplicationError` as the error body `{statusCode, message}`."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"statusCode": 401, "message": str(_("Sign in first."))}, status=401)
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            return JsonResponse(exc.body(), status=exc.status_code)

    return wrapped


class Outcome:
    """The result of `attempt`: `ok` and the service's return value, or the error already shown."""

    def __init__(self, value: Any = None, error: ApplicationError | None = None):
        self.value = value
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """The refusal's messages per form field, as `validate` gives them."""
        problems = self.error.errors if self.error is not None else None
        return {key: field_messages(value) for key, value in (problems or {}).items()}


def attempt(request: HttpRequest, service: Callable[..., T], /, **kwargs: Any) -> Outcome:
    """Call one service; an `ApplicationError` it raises becomes an error message on the next page,
    except "not found", which is the 404 page (there is no page of it to go back to)."""
    try:
        return Outcome(service(**kwargs))
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return Outcome(error=exc)


def validate(serializer_class: type[Serializer], data: dict[str, Any]) -> tuple[dict[str, Any] | None, dict]:
    """The API's serializer checks a page's form: (values, {}) or (None, {field: [messages]})."""
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return serializer.validated_data, {}
    return None, {key: field_messages(value) for key, value in validation_errors(serializer.errors).items()}


def field_messages(problems: Any) -> list[str]:
    """A field's messages as one flat list, also where a list's items have their own (`{0: [...]}`)."""
    if isinstance(problems, dict):
        return [message for value in problems.values() for message in field_messages(value)]
    if isinstance(problems, list):
        return [message for value in problems for message in field_messages(value)]
    return [str(problems)]


def found(selector: Callable[..., T], /, **kwargs: Any) -> T:
    """What a selector returns; its 404 and 403 become the pages' own."""
    try:
        return selector(**kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from exc


def page_of(queryset: QuerySet, request: HttpRequest, order: Sequence[Key] = NEWEST_FIRST) -> tuple[list, str | None]:
    """One page of a list in `order` (newest first), as the API pages it (`?cursor=`); a mangled cursor
    shows the first."""
    try:
        rows, next_cursor = paginate(queryset, request.GET, order=order)
    except (ApplicationError, ValidationError):
        rows, next_cursor = paginate(queryset, {}, order=order)
    return list(rows), next_cursor
