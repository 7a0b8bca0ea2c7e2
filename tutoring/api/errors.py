"""The error body of the HTTP API (docs/api.md "Errors"): `{statusCode, message, timestamp, path, method}`
(+ `errors` for validation).

Services raise `tutoring.errors.ApplicationError` and its kinds; DRF views hand every exception to
`tutoring.api.exceptions.exception_handler`; `ApiErrorMiddleware` covers what happens outside DRF under
`/api/`. All of them build the body here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from tutoring.errors import PROVIDER_FAILED

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
    502: PROVIDER_FAILED,
    503: "Service unavailable.",
}


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
