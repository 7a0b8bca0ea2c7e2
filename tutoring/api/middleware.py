"""Keeps the contract's error body for every failure under `/api/` that DRF never sees.

Unknown `/api/` paths, Django's own 404/405/500 (also with DEBUG on, where Django would render its
technical pages) and exceptions raised outside views all leave here as the error body.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404

from tutoring.api.errors import error_response

logger = logging.getLogger("tutoring.api")


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
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return error_response(request, 500)
