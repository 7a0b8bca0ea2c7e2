"""Keeps the contract's error body for every failure under `/api/` that DRF never sees.

`ApiErrorMiddleware` turns unknown `/api/` paths, Django's own 4xx/5xx (also with DEBUG on, where
Django would render its technical pages) and exceptions raised outside views into the error body:
a body too large is 413, other malformed requests (bad multipart, too many fields) 400, Redis down
503 with `Retry-After`, anything else 500.

`ApiGuardMiddleware` refuses, before a view runs, what no view should have to handle: a body larger
than DATA_UPLOAD_MAX_MEMORY_SIZE (413, without reading it) and query parameters holding NUL
characters, which PostgreSQL cannot store or compare (400).
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404

from tutoring.api.errors import error_response, request_error, too_large_message
from tutoring.errors import as_outage

logger = logging.getLogger("tutoring.api")

NUL_IN_QUERY = "Query parameters cannot contain NUL characters."


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            _is_api(request)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            headers = {h: response[h] for h in ("Allow", "Retry-After") if response.has_header(h)}
            return error_response(request, response.status_code, headers=headers)
        return response

    def process_exception(self, request, exception):
        if not _is_api(request):
            return None
        if isinstance(exception, Http404):
            return error_response(request, 404)
        if isinstance(exception, PermissionDenied):
            return error_response(request, 403)
        if (refused := request_error(exception)) is not None:
            return error_response(request, *refused)
        if (outage := as_outage(exception)) is not None:
            logger.warning("backing service unavailable on %s %s: %s", request.method, request.path, exception)
            return error_response(
                request, outage.status_code, outage.message, headers={"Retry-After": str(outage.retry_after)}
            )
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return error_response(request, 500)


class ApiGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not _is_api(request):
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(request, 400, "Invalid Content-Length.")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and length > limit:
            return error_response(request, 413, too_large_message())
        query = request.META.get("QUERY_STRING", "")
        if "%00" not in query and "\x00" not in query:
            return None  # no NUL can come out of it: the query is not parsed for nothing
        bad = sorted({key for key, values in request.GET.lists() if "\x00" in key or any("\x00" in v for v in values)})
        if bad:
            return error_response(
                request,
                400,
                f"Invalid input. {NUL_IN_QUERY}",
                errors={key.replace("\x00", ""): [NUL_IN_QUERY] for key in bad},
            )
        return None
