"""Users, tutor profiles and bookings (docs/api.md "Accounts and auth", "Tutors and bookings"; the booking's
statuses and time rules: docs/money.md "Bookings")."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone


class Role(models.TextChoices):
    TUTOR = "tutor", "Tutor"
    STUDENT = "student", "Student"
    STAFF = "staff", "Staff"


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("role", Role.STUDENT)
        extra.setdefault("is_staff", extra["role"] == Role.STAFF)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(role=Role.STAFF, is_staff=True, is_superuser=True)
        extra.setdefault("name", "Staff")
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STUDENT)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can log into the admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    # The language emails are written in (one of LANGUAGES): set at registration from the request and
    # by the pages' language switcher; empty means the site's default.
    language = models.CharField(max_length=16, blank=True, default="")

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        constraints = [
            # Staff accounts and admin access go together; register can never produce either.
            models.CheckConstraint(
                condition=Q(role=Role.STAFF) | Q(is_staff=False, is_superuser=False),
                name="user_only_staff_role_is_staff",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class TutorProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="tutor_profile"
    )
    hourly_rate = models.PositiveIntegerField(null=True, blank=True, help_text="Minor units (cents) per hour.")
    currency = models.CharField(max_length=3, default="usd")
    bio = models.TextField(blank=True, max_length=5000)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Reviews, kept in the review's transaction so lists and sorting read them without a join:
    # rating = round_half_up(rating_total / reviews_count, 1 decimal), null without reviews.
    rating = models.DecimalField(max_digits=2, decimal_places=1, null=True, blank=True, editable=False)
    reviews_count = models.PositiveIntegerField(default=0, editable=False)
    rating_total = models.PositiveIntegerField(default=0, editable=False)
    # Full-text search over name, subjects and bio (PostgreSQL): written by database triggers on
    # every change of any of the three, whatever writes it (migration 0004); unused on SQLite. The
    # list's orders (`?sort=`) have their indexes there too (NULLS LAST, which SQLite cannot index).
    search_vector = SearchVectorField(null=True, editable=False)

    def __str__(self) -> str:
        return f"Tutor {self.user.name}"


class TutorSubject(models.Model):
    """A tutor's subjects as rows (not a JSON list) so `?subject=` filters the same way on every database."""

    tutor = models.ForeignKey(TutorProfile, on_delete=models.CASCADE, related_name="subjects")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(Lower("name"), "tutor", name="tutor_subject_unique")]
        indexes = [models.Index(Lower("name"), name="tutor_subject_name")]

    def __str__(self) -> str:
        return self.name


class BookingStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    PAID = "paid", "Paid"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"
    EXPIRED = "expired", "Expired (not paid in time)"
    MISSED = "missed", "Missed (class not held)"


# Bookings in these statuses no longer hold the tutor's time (the exclusion constraint of migration 0003
# lists the same three).
FREE_STATUSES = (BookingStatus.CANCELLED, BookingStatus.EXPIRED, BookingStatus.REFUNDED)


def payment_window() -> timedelta:
    return timedelta(minutes=settings.BOOKING_PAYMENT_TTL_MINUTES)


class BookingQuerySet(models.QuerySet):
    def blocking(self, *, now: datetime) -> BookingQuerySet:
        """Bookings that hold their tutor's time at `now`: not free, and not unpaid past the payment window
        (those are expired from that moment, whether or not a job has marked them yet)."""
        unpaid_too_long = Q(status=BookingStatus.PENDING_PAYMENT, created_at__lte=now - payment_window())
        return self.exclude(status__in=FREE_STATUSES).exclude(unpaid_too_long)

    def overlapping(self, *, tutor_id, start: datetime, end: datetime) -> BookingQuerySet:
        return self.filter(tutor_id=tutor_id, start_time__lt=end, end_time__gt=start)


class Booking(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tutor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings_as_tutor")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings_as_student")
    subject = models.CharField(max_length=100, blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField()
    price = models.PositiveIntegerField(help_text="Minor units, fixed when booked.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=BookingStatus.choices, default=BookingStatus.PENDING_PAYMENT)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # When the class was held (its session ended): the earnings hold runs from here.
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the tutor's share moved from pending to earned (withdrawable).
    earnings_released_at = models.DateTimeField(null=True, blank=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["tutor", "-created_at"], name="booking_tutor_created"),
            models.Index(fields=["student", "-created_at"], name="booking_student_created"),
            models.Index(fields=["tutor", "start_time"], name="booking_tutor_start"),
            # The jobs' scans: unpaid by creation, paid by end, held by completion.
            models.Index(fields=["status", "created_at"], name="booking_status_created"),
            models.Index(fields=["status", "end_time"], name="booking_status_end"),
            models.Index(fields=["status", "completed_at"], name="booking_status_completed"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="booking_end_after_start"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=15, duration_minutes__lte=240), name="booking_duration_range"
            ),
            # The no-overlap rule itself is a PostgreSQL exclusion constraint (migration 0002).
        ]

    def __str__(self) -> str:
        return f"Booking {self.id} ({self.status})"

    def is_party(self, user) -> bool:
        return user.pk in (self.tutor_id, self.student_id)

    @property
    def payment_due_by(self) -> datetime:
        return self.created_at + payment_window()

    def current_status(self, *, now: datetime | None = None) -> str:
        """The status as of `now`: an unpaid booking past its payment window is `expired` from that moment,
        before any job has written it down."""
        if self.status == BookingStatus.PENDING_PAYMENT and (now or timezone.now()) >= self.payment_due_by:
            return BookingStatus.EXPIRED
        return self.status
