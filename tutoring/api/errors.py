"""The one error path of the API (CONTRACT §1).

Services raise `ApplicationError` (or a subclass); DRF views hand every exception to
`tutoring.api.handlers.exception_handler`; `ApiErrorMiddleware` covers what happens outside DRF under
`/api/`. All produce the same body: `{statusCode, message, timestamp, path, method}` (+ `errors` for validation).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from rest_framework import status

REASONS = {
    400: "Bad request.",
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    413: "Request body too large.",
    415: "Unsupported media type.",
    429: "Too many requests.",
    500: "Internal server error.",
    502: "A payment or video provider failed; nothing was changed. Try again later.",
    503: "Service unavailable.",
}


class ApplicationError(Exception):
    """A failure a client can act on, raised by services with the HTTP status it maps to."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, status_code: int | None = None, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.errors = errors


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND


class Forbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT


class RateLimited(ApplicationError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, message: str = "Rate limit exceeded.", *, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class ProviderError(ApplicationError):
    """A provider (Stripe, Twilio) failed. The message is safe to show; the cause goes to the log.

    `refused` is True only when the provider answered that it will not do it (a 4xx about the request
    itself), so nothing was created there; timeouts, 5xx and lost connections leave the outcome
    unknown, and callers must then keep the money where it is and retry with the same idempotency key.
    """

    status_code = status.HTTP_502_BAD_GATEWAY

    def __init__(
        self, message: str = REASONS[502], *, provider: str = "provider", refused: bool = False, reason: str = ""
    ):
        super().__init__(message)
        self.provider = provider
        self.refused = refused
        self.reason = reason


def error_body(*, status_code: int, message: str, path: str, method: str, errors: dict | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "statusCode": status_code,
        "message": message,
        "timestamp": timezone.now().isoformat(timespec="seconds"),
        "path": path,
        "method": method,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def error_response(request: HttpRequest, status_code: int, message: str | None = None, **kw: Any) -> JsonResponse:
    """A plain Django response with the error body, for code outside DRF (middleware, handlers, webhooks)."""
    body = error_body(
        status_code=status_code,
        message=message or REASONS.get(status_code, "Error."),
        path=request.path,
        method=request.method or "GET",
        errors=kw.pop("errors", None),
    )
    response = JsonResponse(body, status=status_code, json_dumps_params={"ensure_ascii": False})
    for header, value in kw.pop("headers", {}).items():
        response[header] = value
    return response
