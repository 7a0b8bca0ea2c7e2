from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy
from rest_framework import serializers

LAST_YEAR = 2100


def iso_utc(value: datetime) -> str:
    """A time as the API shows it: ISO 8601 in UTC, milliseconds, explicit `+00:00` offset."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


class DateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC with an explicit `+00:00` offset (docs/api.md "Conventions"), like the error body's.

    Input must carry its offset (`Z` or `+01:00`): a time without one is ambiguous, and taking it as UTC
    would book the wrong hour for anyone elsewhere. Years after 2100 are refused.
    """

    default_error_messages = {
        "naive": gettext_lazy("Include a UTC offset, e.g. 2026-12-01T10:00:00+01:00 or 2026-12-01T09:00:00Z."),
        "too_far": format_lazy(gettext_lazy("Must be in {year} or before."), year=LAST_YEAR),
    }

    def to_internal_value(self, value):
        parsed = super().to_internal_value(value)
        if isinstance(value, str) and not _has_offset(value):
            self.fail("naive")
        if parsed.year > LAST_YEAR:
            self.fail("too_far")
        return parsed

    def to_representation(self, value):
        if value is None:
            return None
        return iso_utc(value)


def _has_offset(text: str) -> bool:
    try:
        parsed = parse_datetime(text.strip())
    except ValueError:
        return False
    return parsed is not None and parsed.tzinfo is not None


class StrictIntField(serializers.IntegerField):
    """A JSON integer: `4`, never `"4"`, `4.0` or `true`."""

    default_error_messages = {"strict": gettext_lazy("Must be an integer.")}

    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("strict")
        return super().to_internal_value(data)


class StrictIntegerField(StrictIntField):
    """An integer amount in minor units: `4000`, never `"4000"`, `4000.0` or `true`."""

    default_error_messages = {"strict": gettext_lazy("Must be an integer amount in minor units.")}
