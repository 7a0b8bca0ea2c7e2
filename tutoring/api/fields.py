from datetime import UTC

from rest_framework import serializers


class DateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC with an explicit `+00:00` offset (CONTRACT §1), as in the error body's timestamp."""

    def to_representation(self, value):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
