"""Every write of the core domain: accounts, tutor profiles, bookings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments import ledger
from payments.services import payment_intent_cancel_for_booking
from tutoring.access import check_booking_access, require_role
from tutoring.errors import ApplicationError, Conflict
from tutoring.models import (
    Booking,
    BookingStatus,
    Role,
    TutorProfile,
    TutorSubject,
    User,
)
from tutoring.money import round_half_up_div

# PostgreSQL's exclusion constraint of migration 0002 (see booking_create).
BOOKING_OVERLAP_CONSTRAINT = "booking_no_overlap"


def booking_price(*, hourly_rate: int, duration_minutes: int) -> int:
    return round_half_up_div(hourly_rate * duration_minutes, 60)


def user_register(*, email: str, password: str, name: str, role: str) -> User:
    """Create a tutor or student account. Staff accounts are never made here (createsuperuser only)."""
    if role not in (Role.TUTOR, Role.STUDENT):
        raise ApplicationError("role must be tutor or student.", errors={"role": ["Must be tutor or student."]})
    email = User.objects.normalize_email(email).lower()
    candidate = User(email=email, name=name, role=role)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ApplicationError(
            f"Invalid input. password: {exc.messages[0]}", errors={"password": list(exc.messages)}
        ) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name, role=role)
            if role == Role.TUTOR:
                TutorProfile.objects.create(user=user)
    except IntegrityError as exc:
        raise Conflict("An account with this email already exists.") from exc
    return user


def tutor_profile_update(
    *,
    user: User,
    hourly_rate: int | None = None,
    currency: str | None = None,
    subjects: Iterable[str] | None = None,
    bio: str | None = None,
    fields: set[str],
) -> TutorProfile:
    """Change the named `fields` of the tutor's profile (a PATCH: absent fields stay as they are)."""
    require_role(user, Role.TUTOR, "Only tutors have a tutor profile.")
    with transaction.atomic():
        profile, _ = TutorProfile.objects.select_for_update().get_or_create(user=user)
        if "hourly_rate" in fields:
            profile.hourly_rate = hourly_rate
        if "currency" in fields and currency is not None:
            profile.currency = currency.lower()
        if "bio" in fields and bio is not None:
            profile.bio = bio
        profile.save()
        if "subjects" in fields and subjects is not None:
            profile.subjects.all().delete()
            TutorSubject.objects.bulk_create(
                TutorSubject(tutor=profile, name=name, position=i) for i, name in enumerate(subjects)
            )
    return profile


def booking_create(
    *, student: User, tutor_id: str, start_time: datetime, duration_minutes: int, subject: str = ""
) -> Booking:
    """Book a tutor. The price is fixed now from the tutor's rate.

    Overlaps are refused twice over: inside the transaction the tutor's profile row is locked, so
    bookings of one tutor are serialised and the overlap query sees every committed booking; and on
    PostgreSQL an exclusion constraint makes an overlapping pair impossible whatever code writes it.
    """
    require_role(student, Role.STUDENT, "Only students can book a tutor.")
    if start_time <= timezone.now():
        raise ApplicationError("startTime must be in the future.", errors={"startTime": ["Must be in the future."]})
    end_time = start_time + timedelta(minutes=duration_minutes)
    try:
        with transaction.atomic():
            profile = (
                TutorProfile.objects.select_for_update()
                .filter(user_id=tutor_id, user__role=Role.TUTOR, user__is_active=True)
                .first()
            )
            if profile is None:
                raise ApplicationError("Tutor not found.", errors={"tutorId": ["No tutor with this id."]})
            if profile.hourly_rate is None:
                raise ApplicationError(
                    "This tutor has no hourly rate yet and cannot be booked.",
                    errors={"tutorId": ["Tutor has no hourly rate."]},
                )
            overlapping = (
                Booking.objects.filter(tutor_id=tutor_id, start_time__lt=end_time, end_time__gt=start_time)
                .exclude(status=BookingStatus.CANCELLED)
                .exists()
            )
            if overlapping:
                raise Conflict("The tutor already has a booking at that time.")
            return Booking.objects.create(
                tutor_id=tutor_id,
                student=student,
                subject=subject,
                start_time=start_time,
                end_time=end_time,
                duration_minutes=duration_minutes,
                price=booking_price(hourly_rate=profile.hourly_rate, duration_minutes=duration_minutes),
                currency=profile.currency,
            )
    except IntegrityError as exc:
        if BOOKING_OVERLAP_CONSTRAINT in str(exc):
            raise Conflict("The tutor already has a booking at that time.") from exc
        raise


def booking_cancel(*, booking_id: str, user: User) -> Booking:
    with transaction.atomic():
        booking = check_booking_access(Booking.objects.select_for_update().filter(pk=booking_id).first(), user)
        if booking.status != BookingStatus.PENDING_PAYMENT:
            raise Conflict(f"Only a booking pending payment can be cancelled (this one is {booking.status}).")
        # A cancelled booking must not be payable afterwards: cancel its PaymentIntent at Stripe first
        # (a provider failure leaves the booking as it was).
        payment_intent_cancel_for_booking(booking=booking)
        booking.status = BookingStatus.CANCELLED
        booking.save(update_fields=["status", "updated_at"])
    return booking


def booking_complete(*, booking_id) -> Booking:
    """The class was held: `paid` → `completed`, and the tutor's share moves from pending to earned.

    Runs in the caller's transaction when there is one (ending a session); the booking row is locked
    so a refund settling at the same moment sees either the paid or the completed booking, not both.
    A booking already refunded stays refunded: the refund settled the tutor's share, and the class
    ending must still be possible.
    """
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        if booking.status in (BookingStatus.COMPLETED, BookingStatus.REFUNDED):
            return booking
        if booking.status != BookingStatus.PAID:
            raise Conflict(f"Only a paid booking can be completed (this one is {booking.status}).")
        booking.status = BookingStatus.COMPLETED
        booking.save(update_fields=["status", "updated_at"])
        ledger.record_class_held(booking=booking)
    return booking
