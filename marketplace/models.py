"""A tutor's availability (weekly hours in their own time zone, and dated exceptions) and the students'
reviews of held classes (docs/marketplace.md)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

MINUTES_PER_DAY = 24 * 60


class Availability(models.Model):
    """Set once the tutor has said when they teach; from then on bookings outside it are refused."""

    tutor = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="availability"
    )
    timezone = models.CharField(max_length=64, help_text="IANA time zone name, e.g. Europe/Berlin.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "availabilities"

    def __str__(self) -> str:
        return f"Availability of {self.tutor_id} ({self.timezone})"


class _Hours(models.Model):
    """Local wall-clock hours [start, end) in minutes after midnight; end 1440 is the next midnight."""

    start_minute = models.PositiveSmallIntegerField()
    end_minute = models.PositiveSmallIntegerField()

    class Meta:
        abstract = True


def _hours_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(
            condition=Q(start_minute__lt=F("end_minute"), end_minute__lte=MINUTES_PER_DAY),
            name=f"{prefix}_hours_in_day",
        ),
    ]


class WeeklyHours(_Hours):
    availability = models.ForeignKey(Availability, on_delete=models.CASCADE, related_name="weekly")
    weekday = models.PositiveSmallIntegerField(help_text="Monday = 0 … Sunday = 6.")

    class Meta:
        ordering = ["weekday", "start_minute"]
        constraints = [
            *_hours_constraints("weekly"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="weekly_weekday_range"),
        ]

    def __str__(self) -> str:
        return f"weekday {self.weekday} {self.start_minute}–{self.end_minute}"


class AvailabilityException(models.Model):
    """A date on which the weekly hours do not apply: a day off (no hours) or other hours that day."""

    availability = models.ForeignKey(Availability, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField()
    start_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    end_minute = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["date", "start_minute"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_minute__isnull=True, end_minute__isnull=True)
                | Q(start_minute__lt=F("end_minute"), end_minute__lte=MINUTES_PER_DAY),
                name="exception_day_off_or_hours",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.start_minute}–{self.end_minute}"


class Review(models.Model):
    """A student's rating of a held class: one per booking."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.OneToOneField("tutoring.Booking", on_delete=models.PROTECT, related_name="review")
    tutor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews_received")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews_given")
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tutor", "-created_at"], name="review_tutor_created")]
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1, rating__lte=5), name="review_rating_range"),
        ]

    def __str__(self) -> str:
        return f"Review {self.rating}/5 of booking {self.booking_id}"
