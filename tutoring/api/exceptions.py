"""DRF's exception handler: every exception raised in an API view becomes the contract's error body."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tutoring.api.errors import REASONS, error_body, request_error
from tutoring.errors import ApplicationError, ProviderError, RetryLater, as_outage

logger = logging.getLogger("tutoring.api")


def _field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error tree as the body's flat `errors`: field name → messages. A nested object's fields are
    named by their path (`items.amount`); a list's item errors stay under the list's field, each message
    saying which item (`subjects`: ["0: This field may not be blank."]). Errors not about one field are
    `nonFieldErrors`."""
    name = prefix or "nonFieldErrors"
    if isinstance(detail, dict) and prefix and detail and all(str(key).isdigit() for key in detail):
        messages = []
        for index, item in detail.items():
            for field, texts in _field_errors(item).items():
                label = str(index) if field == "nonFieldErrors" else f"{index}.{field}"
                messages += [f"{label}: {text}" for text in texts]
        return {prefix: messages}
    if isinstance(detail, dict):
        errors: dict[str, list[str]] = {}
        for key, value in detail.items():
            key = "nonFieldErrors" if key == "non_field_errors" else str(key)
            errors.update(_field_errors(value, f"{prefix}.{key}" if prefix and key != "nonFieldErrors" else key))
        return errors
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {name: [str(item) for item in detail]}
        # A list of objects: DRF leaves an empty entry for every item without errors.
        return _field_errors({index: item for index, item in enumerate(detail) if item}, prefix)
    return {name: [str(detail)]}


def _first_message(errors: dict[str, list[str]]) -> str:
    for key, messages in errors.items():
        text = messages[0] if messages else ""
        return text if key == "nonFieldErrors" else f"{key}: {text}"
    return ""


def validation_errors(detail: Any) -> dict[str, list[str]]:
    return _field_errors(detail)


def exception_handler(exc: Exception, context: dict) -> Response:
    request = context.get("request")
    path = request.path if request is not None else ""
    method = request.method if request is not None else ""
    headers: dict[str, str] = {}
    errors = None
    exc = as_outage(exc) or exc

    if isinstance(exc, ApplicationError):
        status_code, message, errors = exc.status_code, exc.message, exc.errors
        if isinstance(exc, RetryLater):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, ProviderError):
            logger.warning("provider %s failed on %s %s", exc.provider, method, path, exc_info=exc.__cause__)
    elif (refused := request_error(exc)) is not None:
        status_code, message = refused
    elif isinstance(exc, drf_exceptions.ValidationError):
        status_code = 400
        errors = validation_errors(exc.detail)
        message = gettext("Invalid input. %(problem)s") % {"problem": _first_message(errors)}
    elif isinstance(exc, (drf_exceptions.APIException, Http404, DjangoPermissionDenied)):
        response = drf_exception_handler(exc, context)
        status_code = response.status_code
        detail = getattr(exc, "detail", None)
        if isinstance(exc, Http404):
            message = REASONS[404]
        elif isinstance(exc, DjangoPermissionDenied):
            message = REASONS[403]
        elif isinstance(detail, dict) and "detail" in detail:
            # simplejwt's token errors: {"detail", "code", "messages"} is one message, not field errors.
            message = str(detail["detail"])
        elif isinstance(detail, (dict, list)):
            errors = validation_errors(detail)
            message = _first_message(errors)
        else:
            message = str(detail) if detail else REASONS.get(status_code, gettext("Error."))
        headers.update({k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")})
    else:
        logger.error("unhandled error on %s %s", method, path, exc_info=exc)
        status_code, message = 500, REASONS[500]

    body = error_body(status_code=status_code, message=message, path=path, method=method, errors=errors)
    return Response(body, status=status_code, headers=headers)
