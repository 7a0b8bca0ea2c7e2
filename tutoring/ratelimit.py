"""Rate limits counted in the shared cache (django-ratelimit), so they hold across every process.

The API's throttles (`tutoring.api.ratelimit`) and the chat service (`live.services`) count here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext
from django_ratelimit.core import get_usage

from tutoring.errors import RateLimited


def check_rate(request: Any, *, group: str, rate: str, key: str | Callable[[str, Any], str] = "user_or_ip") -> None:
    """Count one hit for `group` and raise `RateLimited` when over `rate` (e.g. "100/m").

    `key` is a django-ratelimit key: "user_or_ip" for a request, or a callable for callers without one.
    """
    usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    if usage is not None and usage["should_limit"]:
        limit = rate.replace("/", " per ")
        raise RateLimited(gettext("Rate limit exceeded: %(limit)s.") % {"limit": limit}, retry_after=usage["time_left"])
