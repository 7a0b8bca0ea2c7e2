"""Input validation and output shapes of availability, slots and reviews (docs/api.md "Marketplace")."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from marketplace.models import MINUTES_PER_DAY
from marketplace.services import HoursIn
from tutoring.api.fields import DateTimeField, StrictIntField
from tutoring.serializers import validate_duration

HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")
MAX_RANGE = timedelta(days=31)


class ClockField(serializers.CharField):
    """ "HH:MM" on the tutor's clock as minutes after midnight; "24:00" is the end of the day."""

    default_error_messages = {"format": gettext_lazy('A time of day as "HH:MM" (00:00–24:00).')}

    def to_internal_value(self, data) -> int:
        text = super().to_internal_value(data)
        if not HHMM.match(text):
            self.fail("format")
        hours, minutes = map(int, text.split(":"))
        return hours * 60 + minutes


def _check_hours(attrs: dict, *, required: bool) -> dict:
    start, end = attrs.get("start"), attrs.get("end")
    if (start is None) != (end is None):
        missing = "end" if end is None else "start"
        raise serializers.ValidationError({missing: [gettext("Give both start and end, or neither (a day off).")]})
    if required and start is None:
        raise serializers.ValidationError({"start": [gettext("This field is required.")]})
    if start is not None:
        if start >= MINUTES_PER_DAY:
            raise serializers.ValidationError({"start": [gettext("The day ends at 24:00.")]})
        if end <= start:
            raise serializers.ValidationError({"end": [gettext("Must be after start.")]})
    return attrs


class WeeklyIn(serializers.Serializer):
    weekday = StrictIntField(min_value=0, max_value=6, help_text="Monday = 0 … Sunday = 6.")
    start = ClockField()
    end = ClockField()

    def validate(self, attrs: dict) -> HoursIn:
        _check_hours(attrs, required=True)
        return HoursIn(start=attrs["start"], end=attrs["end"], weekday=attrs["weekday"])


class ExceptionIn(serializers.Serializer):
    date = serializers.DateField(input_formats=["%Y-%m-%d"])
    start = ClockField(required=False)
    end = ClockField(required=False)

    def validate(self, attrs: dict) -> HoursIn:
        if attrs["date"].year > 2100:
            raise serializers.ValidationError({"date": [gettext("Must be in 2100 or before.")]})
        _check_hours(attrs, required=False)
        return HoursIn(start=attrs.get("start"), end=attrs.get("end"), date=attrs["date"])


class AvailabilityIn(serializers.Serializer):
    timezone = serializers.CharField(max_length=64, help_text="IANA time zone name, e.g. Europe/Berlin.")
    weekly = serializers.ListField(child=WeeklyIn(), max_length=100)
    exceptions = serializers.ListField(child=ExceptionIn(), max_length=500, required=False, default=list)


class WeeklyOut(serializers.Serializer):
    weekday = serializers.IntegerField()
    start = serializers.CharField()
    end = serializers.CharField()


class ExceptionOut(serializers.Serializer):
    date = serializers.DateField()
    start = serializers.CharField(required=False)
    end = serializers.CharField(required=False)


class AvailabilityOut(serializers.Serializer):
    timezone = serializers.CharField(allow_null=True)
    weekly = WeeklyOut(many=True)
    exceptions = ExceptionOut(many=True)


class SlotsIn(serializers.Serializer):
    """`?from=&to=&durationMinutes=`; `from` is a Python keyword, so the field is added by name."""

    to = DateTimeField()
    durationMinutes = serializers.IntegerField(min_value=15, max_value=240, validators=[validate_duration])

    def get_fields(self):
        return {"from": DateTimeField(), **super().get_fields()}

    def validate(self, attrs: dict) -> dict:
        if attrs["to"] <= attrs["from"]:
            raise serializers.ValidationError({"to": [gettext("Must be after from.")]})
        if attrs["to"] - attrs["from"] > MAX_RANGE:
            raise serializers.ValidationError({"to": [gettext("At most 31 days after from.")]})
        return attrs


class SlotOut(serializers.Serializer):
    startTime = DateTimeField(source="start_time")
    endTime = DateTimeField(source="end_time")


@extend_schema_serializer(many=False)
class SlotListOut(serializers.Serializer):
    slots = SlotOut(many=True)


class ReviewIn(serializers.Serializer):
    rating = StrictIntField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReviewOut(serializers.Serializer):
    id = serializers.UUIDField()
    bookingId = serializers.UUIDField(source="booking_id")
    rating = serializers.IntegerField()
    comment = serializers.CharField()
    studentName = serializers.CharField(source="student.name")
    createdAt = DateTimeField(source="created_at")


@extend_schema_serializer(many=False)
class ReviewListOut(serializers.Serializer):
    reviews = ReviewOut(many=True)
    next = serializers.CharField(allow_null=True)
