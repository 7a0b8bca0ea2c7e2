"""Writes of the marketplace: a tutor's availability and a student's review (docs/marketplace.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from itertools import pairwise
from zoneinfo import available_timezones

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from marketplace.models import Availability, AvailabilityException, Review, WeeklyHours
from tutoring.access import check_booking_access, require_role
from tutoring.errors import Conflict, Forbidden, invalid_input
from tutoring.models import Booking, BookingStatus, Role, TutorProfile, User

WEEKDAYS = (
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
)


@dataclass(frozen=True)
class HoursIn:
    """Hours as minutes after local midnight, for `weekday` (weekly) or `date` (an exception; no minutes
    means a day off)."""

    start: int | None
    end: int | None
    weekday: int | None = None
    date: date | None = None


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _overlap_errors(rows: Sequence[HoursIn], label) -> list[str]:
    errors = []
    by_day: dict = {}
    for row in rows:
        by_day.setdefault(label(row), []).append(row)
    for day, group in by_day.items():
        off = [row for row in group if row.start is None]
        if off and len(group) > 1:
            errors.append(gettext("%(day)s: a day off cannot also have hours.") % {"day": day})
            continue
        timed = sorted((row.start, row.end) for row in group if row.start is not None)
        if any(later[0] < earlier[1] for earlier, later in pairwise(timed)):
            errors.append(gettext("%(day)s: hours overlap.") % {"day": day})
    return errors


def availability_set(
    *, user: User, timezone_name: str, weekly: Sequence[HoursIn], exceptions: Sequence[HoursIn]
) -> Availability:
    """Replace the tutor's availability. From then on, bookings outside it are refused.

    Under the tutor's row lock, like booking: a booking being made sees either the old hours or the new.
    """
    require_role(user, Role.TUTOR, gettext("Only tutors have availability."))
    errors: dict[str, list[str]] = {}
    if timezone_name not in time_zone_names():
        errors["timezone"] = [gettext("Not an IANA time zone name (e.g. Europe/Berlin, Asia/Shanghai).")]
    if problems := _overlap_errors(weekly, lambda row: WEEKDAYS[row.weekday]):
        errors["weekly"] = problems
    if problems := _overlap_errors(exceptions, lambda row: row.date.isoformat()):
        errors["exceptions"] = problems
    if errors:
        raise invalid_input(errors)
    with transaction.atomic():
        TutorProfile.objects.select_for_update().get(user=user)
        availability, _ = Availability.objects.update_or_create(tutor=user, defaults={"timezone": timezone_name})
        availability.weekly.all().delete()
        availability.exceptions.all().delete()
        WeeklyHours.objects.bulk_create(
            WeeklyHours(availability=availability, weekday=row.weekday, start_minute=row.start, end_minute=row.end)
            for row in weekly
        )
        AvailabilityException.objects.bulk_create(
            AvailabilityException(availability=availability, date=row.date, start_minute=row.start, end_minute=row.end)
            for row in exceptions
        )
    return availability


def rating_of(total: int, count: int) -> Decimal | None:
    """The average to one decimal, half up (4.25 → 4.3); None without reviews."""
    if not count:
        return None
    return (Decimal(total) / Decimal(count)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


ALREADY_REVIEWED = gettext_lazy("This class has already been reviewed.")


def review_create(*, booking_id, user: User, rating: int, comment: str = "") -> Review:
    """The booking's student rates a held class, once. The tutor's average and count change in the same
    transaction, under the tutor's row lock (then the booking's: the one lock order)."""
    if not 1 <= rating <= 5:
        raise invalid_input({"rating": [gettext("An integer from 1 to 5.")]})
    comment = comment.strip()
    if len(comment) > 2000:
        raise invalid_input({"comment": [gettext("At most 2000 characters.")]})
    tutor_id = Booking.objects.filter(pk=booking_id).values_list("tutor_id", flat=True).first()
    try:
        with transaction.atomic():
            profile = TutorProfile.objects.select_for_update().filter(user_id=tutor_id).first()
            booking = check_booking_access(Booking.objects.select_for_update().filter(pk=booking_id).first(), user)
            if booking.student_id != user.pk:
                raise Forbidden(gettext("Only the booking's student can review it."))
            if booking.current_status() != BookingStatus.COMPLETED:
                raise Conflict(gettext("Only a completed class can be reviewed."))
            if Review.objects.filter(booking=booking).exists():
                raise Conflict(ALREADY_REVIEWED)
            review = Review.objects.create(
                booking=booking,
                tutor_id=booking.tutor_id,
                student=user,
                rating=rating,
                comment=comment,
                created_at=timezone.now(),
            )
            profile.rating_total += rating
            profile.reviews_count += 1
            profile.rating = rating_of(profile.rating_total, profile.reviews_count)
            profile.save(update_fields=["rating_total", "reviews_count", "rating"])
    except IntegrityError as exc:
        # The unique booking of a review: a concurrent second review of the same class.
        raise Conflict(ALREADY_REVIEWED) from exc
    return review
