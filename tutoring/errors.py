"""The domain's errors: what services raise when a request cannot be done (docs/api.md "Errors").

Each carries the HTTP status it maps to, so every caller renders it the same way: the REST API as the
error body (`tutoring.api.exceptions`), the realtime transports as an error ack (`live.realtime.events`),
the admin as a message. Nothing here knows about HTTP requests.
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.translation import gettext, gettext_lazy
from redis import exceptions as redis_exceptions

PROVIDER_FAILED = gettext_lazy("A payment or video provider failed; nothing was changed. Try again later.")


class ApplicationError(Exception):
    """A failure a client can act on, raised by services with the HTTP status it maps to."""

    status_code = 400

    def __init__(self, message: str, *, status_code: int | None = None, errors: dict | None = None):
        # Messages are translated (gettext) in the language of the request being served; a lazy one is
        # resolved now, so the error carries plain text whatever renders it (JSON, socket.io, a page).
        message = str(message)
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """`{statusCode, message}` (+ `errors`): the part of the error body the error itself knows."""
        body: dict[str, Any] = {"statusCode": self.status_code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def invalid_input(errors: dict[str, list]) -> ApplicationError:
    """A 400 for bad fields (`{field: [messages]}`), its message naming the first, as validation's do."""
    field, messages = next(iter(errors.items()))
    problem = f"{field}: {messages[0]}"
    return ApplicationError(gettext("Invalid input. %(problem)s") % {"problem": problem}, errors=errors)


class Unauthorized(ApplicationError):
    status_code = 401


class Forbidden(ApplicationError):
    status_code = 403


class NotFound(ApplicationError):
    status_code = 404


class Conflict(ApplicationError):
    status_code = 409


class RetryLater(ApplicationError):
    """A refusal that passes with time: the body and the `Retry-After` header say how many seconds."""

    def __init__(self, message: str, *, retry_after: float = 60):
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))

    def body(self) -> dict[str, Any]:
        return {**super().body(), "retryAfter": self.retry_after}


class RateLimited(RetryLater):
    status_code = 429

    def __init__(self, message: str = gettext_lazy("Rate limit exceeded."), *, retry_after: float = 60):
        super().__init__(message, retry_after=retry_after)


SERVICE_UNAVAILABLE = gettext_lazy("A backing service is unavailable; nothing was changed. Try again shortly.")
# Seconds a client is asked to wait while Redis is unreachable: long enough not to hammer it, short
# enough that a restart is noticed at once.
OUTAGE_RETRY_AFTER = 5


class ServiceUnavailable(RetryLater):
    """Redis (cache, rate limits, channel layer) cannot be reached: 503, try again later."""

    status_code = 503

    def __init__(self, message: str = SERVICE_UNAVAILABLE, *, retry_after: float = OUTAGE_RETRY_AFTER):
        super().__init__(message, retry_after=retry_after)


def as_outage(exc: BaseException) -> ServiceUnavailable | None:
    """`exc` as a 503 when it means Redis is down or frozen (refused, reset, timed out), else None."""
    if isinstance(exc, ServiceUnavailable):
        return exc
    if isinstance(exc, (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError)):
        return ServiceUnavailable()
    return None


class ProviderError(ApplicationError):
    """A provider (Stripe, Twilio) failed. The message is safe to show; the cause goes to the log.

    `refused` is True only when the provider answered that it will not do it (a 4xx about the request
    itself), so nothing was created there; timeouts, 5xx and lost connections leave the outcome
    unknown, and callers must then keep the money where it is and retry with the same idempotency key.
    """

    status_code = 502

    def __init__(
        self, message: str = PROVIDER_FAILED, *, provider: str = "provider", refused: bool = False, reason: str = ""
    ):
        super().__init__(message)
        self.provider = provider
        self.refused = refused
        self.reason = reason
