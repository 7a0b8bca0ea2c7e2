"""The error body of the HTTP API (docs/api.md "Errors"): `{statusCode, message, timestamp, path, method}`
(+ `errors` for validation).

Services raise `tutoring.errors.ApplicationError` and its kinds; DRF views hand every exception to
`tutoring.api.exceptions.exception_handler`; `ApiErrorMiddleware` covers what happens outside DRF under
`/api/`. All of them build the body here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tutoring.errors import PROVIDER_FAILED

REASONS = {
    400: gettext_lazy("Bad request."),
    401: gettext_lazy("Authentication credentials were not provided or are invalid."),
    403: gettext_lazy("You do not have permission to perform this action."),
    404: gettext_lazy("Not found."),
    405: gettext_lazy("Method not allowed."),
    409: gettext_lazy("Conflict."),
    413: gettext_lazy("Request body too large."),
    415: gettext_lazy("Unsupported media type."),
    429: gettext_lazy("Too many requests."),
    500: gettext_lazy("Internal server error."),
    502: PROVIDER_FAILED,
    503: gettext_lazy("Service unavailable."),
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
        message=str(message or REASONS.get(status_code, gettext_lazy("Error."))),
        path=request.path,
        method=request.method or "GET",
        errors=kw.pop("errors", None),
    )
    response = JsonResponse(body, status=status_code, json_dumps_params={"ensure_ascii": False})
    for header, value in kw.pop("headers", {}).items():
        response[header] = value
    return response


def too_large_message() -> str:
    return f"Request body too large (at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)."


def request_error(exc: BaseException) -> tuple[int, str] | None:
    """Django's refusals of a malformed request (oversized or broken body, too many fields) as
    (status, message); they are the client's fault, never a 500."""
    if isinstance(exc, RequestDataTooBig):
        return 413, too_large_message()
    if isinstance(exc, (BadRequest, SuspiciousOperation, MultiPartParserError)):
        return 400, "Malformed request body or parameters."
    return None
