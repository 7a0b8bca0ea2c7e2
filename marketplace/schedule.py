"""A tutor's hours as real time: the pure arithmetic behind slots and the availability rule.

The tutor says when they teach in wall-clock hours of their own time zone. A moment is inside their
hours when the tutor's clock, at that moment, reads a time inside the hours of that day (the weekly
hours of its weekday, or the exception of its date). So each day's hours are the span of real time
from the first moment the clock reads the start to the first moment it reads the end, and across a
daylight-saving change:

- when clocks jump forward, the skipped wall times are no moments at all (no slot starts then), and
  the day's span is an hour shorter;
- when clocks fall back, the repeated hour is two different hours of real time, both inside the span
  (the tutor is at their desk for both): each is offered once, as its own instant.

Spans of adjacent days or overlapping hours are merged, so a class may run over midnight when the
tutor teaches on both sides of it. Everything returned is in UTC.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

QUARTER = timedelta(minutes=15)
Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Hours:
    """[start, end) in minutes after local midnight; end may be 1440 (the next midnight)."""

    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    weekly: Mapping[int, Sequence[Hours]] = field(default_factory=dict)  # Monday = 0
    # A date listed here replaces its weekday's hours; an empty list is a day off.
    exceptions: Mapping[date, Sequence[Hours]] = field(default_factory=dict)

    def hours_on(self, day: date) -> Sequence[Hours]:
        if day in self.exceptions:
            return self.exceptions[day]
        return self.weekly.get(day.weekday(), ())


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def first_reading(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """The first moment (UTC) at which the clock of `tz` reads `minute` after midnight of `day`, or later.

    A wall time that happens twice gives its first occurrence; one that never happens (clocks jumped
    over it) gives the moment of the jump.
    """
    local = datetime.combine(day, time()) + timedelta(minutes=minute)
    readings = [
        instant
        for instant in (local.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
        if _wall(instant, tz) == local
    ]
    if readings:
        return min(readings)
    # In a gap, fold=1 reads earlier than `local` and fold=0 later (PEP 495): find the jump between.
    low = int(local.replace(tzinfo=tz, fold=1).timestamp())
    high = int(local.replace(tzinfo=tz, fold=0).timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), tz) >= local:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint spans covering the same moments; touching spans become one."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def available_spans(schedule: Schedule, start: datetime, end: datetime) -> list[Span]:
    """The tutor's hours between `start` and `end` (aware datetimes) as merged UTC spans.

    Spans are whole: one that begins before `start` or ends after `end` is returned entire, so a class
    is inside the hours exactly when it lies inside one span.
    """
    first = _wall(start, schedule.tz).date() - timedelta(days=1)
    last = _wall(end, schedule.tz).date() + timedelta(days=1)
    spans = []
    day = first
    while day <= last:
        for hours in schedule.hours_on(day):
            spans.append((first_reading(day, hours.start, schedule.tz), first_reading(day, hours.end, schedule.tz)))
        day += timedelta(days=1)
    return [span for span in merge(spans) if span[1] > start and span[0] < end]


def covers(spans: Sequence[Span], start: datetime, end: datetime) -> bool:
    return any(span_start <= start and end <= span_end for span_start, span_end in spans)


def _ceil_quarter(moment: datetime) -> datetime:
    # Every time zone in use is offset from UTC by a whole number of quarter hours, so a quarter hour
    # in UTC is a quarter hour on the tutor's clock too.
    floor = moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)
    return floor if floor == moment else floor + QUARTER


def free_starts(
    spans: Sequence[Span],
    busy: Iterable[Span],
    *,
    duration: timedelta,
    start: datetime,
    end: datetime,
    after: datetime,
) -> list[datetime]:
    """Every quarter-hour start in [start, end), later than `after`, of a class of `duration` that lies
    inside one span and overlaps nothing `busy`."""
    taken = merge(busy)
    taken_ends = [span_end for _, span_end in taken]
    starts = []
    for span_start, span_end in spans:
        moment = _ceil_quarter(max(span_start, start))
        while moment < end and moment + duration <= span_end:
            if moment > after:
                # The first taken span that ends after this start; it is in the way if it begins
                # before the class would end.
                i = bisect.bisect_right(taken_ends, moment)
                if i == len(taken) or taken[i][0] >= moment + duration:
                    starts.append(moment)
            moment += QUARTER
    return starts
