from datetime import UTC

from rest_framework import serializers


class DateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC with an explicit `+00:00` offset (docs/api.md "Conventions"), like the error body's."""

    def to_representation(self, value):
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
