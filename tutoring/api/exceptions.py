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

from tutoring.api.errors import REASONS, error_body
from tutoring.errors import ApplicationError, ProviderError, RateLimited

logger = logging.getLogger("tutoring.api")


def _flatten(detail: Any) -> Any:
    """DRF ErrorDetail trees → plain strings, keeping the field structure."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _first_message(errors: Any, prefix: str = "") -> str:
    if isinstance(errors, dict):
        for key, value in errors.items():
            label = key if key != "nonFieldErrors" else ""
            return _first_message(value, f"{prefix}.{label}".strip(".") if prefix else label)
    if isinstance(errors, list) and errors:
        return _first_message(errors[0], prefix)
    return f"{prefix}: {errors}" if prefix else str(errors)


def validation_errors(detail: Any) -> dict[str, Any]:
    errors = _flatten(detail)
    if not isinstance(errors, dict):
        errors = {"nonFieldErrors": errors if isinstance(errors, list) else [errors]}
    if "non_field_errors" in errors:
        errors["nonFieldErrors"] = errors.pop("non_field_errors")
    return errors


def exception_handler(exc: Exception, context: dict) -> Response:
    request = context.get("request")
    path = request.path if request is not None else ""
    method = request.method if request is not None else ""
    headers: dict[str, str] = {}
    errors = None

    if isinstance(exc, ApplicationError):
        status_code, message, errors = exc.status_code, exc.message, exc.errors
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, ProviderError):
            logger.warning("provider %s failed on %s %s", exc.provider, method, path, exc_info=exc.__cause__)
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
