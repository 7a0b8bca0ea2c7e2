"""Rate limits counted in the shared cache (django-ratelimit), so they hold across processes.

`ApiRateLimit` is on every API view by default (RATE_LIMIT_API). `PaymentRateLimit` is the payment
group (RATE_LIMIT_PAYMENTS): add it to a view's `throttle_classes` and its unsafe requests count in one
bucket with every other payment request of the same user. Both key on the user when authenticated,
else the client IP, and answer 429 with `Retry-After` through the one error path.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from tutoring.ratelimit import check_rate


class _RateLimit(BaseThrottle):
    group = ""
    setting = ""
    methods: frozenset[str] | None = None

    def allow_request(self, request, view) -> bool:
        if self.methods is None or request.method in self.methods:
            check_rate(request, group=self.group, rate=getattr(settings, self.setting))
        return True


class ApiRateLimit(_RateLimit):
    group = "api"
    setting = "RATE_LIMIT_API"


class PaymentRateLimit(_RateLimit):
    """The payment group: only requests that ask to move money count (POST/PUT/PATCH/DELETE)."""

    group = "payments"
    setting = "RATE_LIMIT_PAYMENTS"
    methods = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# For the views of the payment group: the general limit and the payment limit together.
PAYMENT_THROTTLES = (ApiRateLimit, PaymentRateLimit)
