"""Reads of the marketplace: a tutor's availability and free slots, reviews."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from marketplace.models import Availability, AvailabilityException, Review, WeeklyHours
from marketplace.schedule import Hours, Schedule, available_spans, covers, free_starts
from tutoring.models import Booking
from tutoring.selectors import tutor_check


@dataclass(frozen=True)
class Slot:
    start_time: datetime
    end_time: datetime


def minutes_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _hours(row: WeeklyHours | AvailabilityException) -> Hours:
    return Hours(row.start_minute, row.end_minute)


def schedule_for_tutor(*, tutor_id: Any, start: date | None = None, end: date | None = None) -> Schedule | None:
    """The tutor's hours, with the exceptions dated between `start` and `end` (all without them); None if
    the tutor has not set any."""
    availability = Availability.objects.filter(tutor_id=tutor_id).first()
    if availability is None:
        return None
    weekly: dict[int, list[Hours]] = {}
    for row in availability.weekly.all():
        weekly.setdefault(row.weekday, []).append(_hours(row))
    exceptions: dict[date, list[Hours]] = {}
    rows = availability.exceptions.all()
    if start is not None and end is not None:
        rows = rows.filter(date__gte=start, date__lte=end)
    for row in rows:
        exceptions.setdefault(row.date, [])
        if row.start_minute is not None:
            exceptions[row.date].append(_hours(row))
    return Schedule(tz=ZoneInfo(availability.timezone), weekly=weekly, exceptions=exceptions)


def _schedule_around(tutor_id: Any, start: datetime, end: datetime) -> Schedule | None:
    # Two days of margin either side: every time zone's date is within a day of UTC's.
    return schedule_for_tutor(
        tutor_id=tutor_id, start=start.date() - timedelta(days=2), end=end.date() + timedelta(days=2)
    )


def availability_is_set(*, tutor_id: Any) -> bool:
    return Availability.objects.filter(tutor_id=tutor_id).exists()


def availability_get(*, tutor_id: Any) -> dict[str, Any]:
    """`{timezone, weekly, exceptions}`; a tutor who has not set any has `timezone` null and no hours."""
    tutor_check(tutor_id=tutor_id)
    availability = Availability.objects.filter(tutor_id=tutor_id).prefetch_related("weekly", "exceptions").first()
    if availability is None:
        return {"timezone": None, "weekly": [], "exceptions": []}
    return {
        "timezone": availability.timezone,
        "weekly": [
            {"weekday": row.weekday, "start": minutes_text(row.start_minute), "end": minutes_text(row.end_minute)}
            for row in availability.weekly.all()
        ],
        "exceptions": [
            {"date": row.date}
            if row.start_minute is None
            else {"date": row.date, "start": minutes_text(row.start_minute), "end": minutes_text(row.end_minute)}
            for row in availability.exceptions.all()
        ],
    }


def booking_fits_availability(*, tutor_id: Any, start: datetime, end: datetime) -> bool:
    """Whether a class from `start` to `end` lies inside the tutor's hours (always, if they set none)."""
    schedule = _schedule_around(tutor_id, start, end)
    return schedule is None or covers(available_spans(schedule, start, end), start, end)


def slots_for_tutor(
    *, tutor_id: Any, start: datetime, end: datetime, duration_minutes: int, now: datetime
) -> list[Slot]:
    """Free starts of a class of `duration_minutes` in [start, end): inside the tutor's hours, later than
    `now`, and clear of every booking that holds the tutor's time at `now` (an unpaid booking past its
    payment window holds nothing, whether or not the expiry job has run). No hours set: no slots."""
    tutor_check(tutor_id=tutor_id)
    duration = timedelta(minutes=duration_minutes)
    schedule = _schedule_around(tutor_id, start, end + duration)
    if schedule is None:
        return []
    spans = available_spans(schedule, start, end + duration)
    if not spans:
        return []
    busy = (
        Booking.objects.blocking(now=now)
        .overlapping(tutor_id=tutor_id, start=spans[0][0], end=spans[-1][1])
        .values_list("start_time", "end_time")
    )
    starts = free_starts(spans, busy, duration=duration, start=start, end=end, after=now)
    return [Slot(moment, moment + duration) for moment in starts]


def review_for_booking(*, booking: Booking) -> Review | None:
    return Review.objects.filter(booking=booking).first()


def review_list_for_tutor(*, tutor_id: Any) -> QuerySet[Review]:
    tutor_check(tutor_id=tutor_id)
    return Review.objects.filter(tutor_id=tutor_id).select_related("student")
