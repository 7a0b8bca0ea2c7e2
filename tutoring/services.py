"""Every write of the core domain: accounts, tutor profiles, bookings and their time rules (docs/money.md
"Bookings").

Jobs (`tutoring.tasks`) call the `bookings_*_due` functions on a schedule; each booking they touch is
locked and its condition checked again under the lock, so a job run twice, or two runs at once, acts on
each booking once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.http import urlsafe_base64_decode
from django.utils.translation import gettext, gettext_lazy
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from marketplace.selectors import booking_fits_availability
from notifications import services as notifications
from notifications.models import NotificationKind
from payments import services as payments
from payments.models import CANCELLABLE_INTENT_STATUSES, RefundOrigin
from tutoring.access import check_booking_access, require_role
from tutoring.errors import ApplicationError, Conflict, invalid_input
from tutoring.models import (
    Booking,
    BookingStatus,
    Role,
    TutorProfile,
    TutorSubject,
    User,
    payment_window,
)
from tutoring.money import is_supported_currency, round_half_up_div, to_step

logger = logging.getLogger(__name__)

# PostgreSQL's exclusion constraint of migration 0003 (see booking_create).
BOOKING_OVERLAP_CONSTRAINT = "booking_no_overlap"
# Bookings end before this moment (a far future start is a typo or a probe, and dates must stay printable).
LATEST_BOOKABLE = datetime(2101, 1, 1, tzinfo=UTC)
CLASS_NOT_HELD = "class not held"


def booking_price(*, hourly_rate: int, duration_minutes: int, currency: str = "usd") -> int:
    """round_half_up(rate × minutes / 60), in the currency's steps (docs/money.md "Amounts")."""
    return to_step(round_half_up_div(hourly_rate * duration_minutes, 60), currency)


def _check_password(password: str, user: User) -> None:
    """Django's password validators (AUTH_PASSWORD_VALIDATORS), as a 400 with every reason."""
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise invalid_input({"password": list(exc.messages)}) from exc


def user_register(*, email: str, password: str, name: str, role: str, language: str = "") -> User:
    """Create a tutor or student account. Staff accounts are never made here (createsuperuser only).

    `language` (the request's) is the account's language for emails until the user picks another.
    """
    if role not in (Role.TUTOR, Role.STUDENT):
        raise ApplicationError(
            gettext("role must be tutor or student."), errors={"role": [gettext("Must be tutor or student.")]}
        )
    email = User.objects.normalize_email(email).lower()
    _check_password(password, User(email=email, name=name, role=role))
    language = language if language in {code for code, _name in settings.LANGUAGES} else ""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name, role=role, language=language)
            if role == Role.TUTOR:
                TutorProfile.objects.create(user=user)
    except IntegrityError as exc:
        raise Conflict(gettext("An account with this email already exists.")) from exc
    return user


def user_language_set(*, user: User, language: str) -> None:
    """The language the user's emails are written in (the pages' language switcher sets it)."""
    if language not in {code for code, _name in settings.LANGUAGES}:
        raise invalid_input({"language": [gettext("Not a language of this site.")]})
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language


def password_reset_request(*, email: str) -> None:
    """Email a reset link to the account with this address, if there is one. The same work is done either
    way (the outbox finds the account when it sends), so neither the answer nor its timing tells."""
    notifications.password_reset_queue(email=User.objects.normalize_email(email).lower())


INVALID_RESET_LINK = gettext_lazy("This password reset link is invalid or has expired.")


def password_reset_confirm(*, uid: str, token: str, password: str) -> User:
    """Set a new password from a reset link; the link then stops working (its token signs the old
    password hash). Every refresh token of the user is blacklisted, and every session ends: a Django
    session keeps a hash of the password it was opened with and is dropped once that no longer matches.

    The user's row is locked, so two uses of one link at once cannot both succeed.
    """
    invalid = ApplicationError(str(INVALID_RESET_LINK), errors={"token": [str(INVALID_RESET_LINK)]})
    try:
        user_id = uuid.UUID(urlsafe_base64_decode(uid).decode())
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise invalid from exc
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None or not default_token_generator.check_token(user, token):
            raise invalid
        _check_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
        outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
        BlacklistedToken.objects.bulk_create((BlacklistedToken(token=t) for t in outstanding), ignore_conflicts=True)
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
    """Change the named `fields` of the tutor's profile (a PATCH: absent fields stay as they are).

    The currency is one Stripe supports, and it is frozen once the tutor has a booking: prices, earnings
    and withdrawals of a tutor are all in one currency.
    """
    require_role(user, Role.TUTOR, gettext("Only tutors have a tutor profile."))
    code = currency.lower() if isinstance(currency, str) else None
    if "currency" in fields and currency is not None and not is_supported_currency(code):
        message = gettext("Not a currency Stripe supports (a lowercase ISO 4217 code such as usd, eur, jpy).")
        raise ApplicationError(
            gettext("Invalid input. %(problem)s") % {"problem": f"currency: {message}"}, errors={"currency": [message]}
        )
    with transaction.atomic():
        profile, _ = TutorProfile.objects.select_for_update().get_or_create(user=user)
        if "currency" in fields and code is not None and code != profile.currency:
            if Booking.objects.filter(tutor=user).exists():
                raise Conflict(gettext("The currency cannot change once the tutor has bookings."))
            profile.currency = code
        if "hourly_rate" in fields:
            profile.hourly_rate = hourly_rate
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
    """Book a tutor. The price is fixed now from the tutor's rate, in the tutor's currency.

    Overlaps are refused twice over: inside the transaction the tutor's profile row is locked, so
    bookings of one tutor are serialised and the overlap query sees every committed booking; and on
    PostgreSQL an exclusion constraint makes an overlapping pair impossible whatever code writes it.
    An unpaid booking past its payment window no longer holds the time: the ones in the way are
    written down as `expired` here, so the constraint (which cannot know the time) agrees.
    """
    require_role(student, Role.STUDENT, gettext("Only students can book a tutor."))
    if start_time.tzinfo is None:
        raise ApplicationError(
            gettext("startTime needs a UTC offset."), errors={"startTime": [gettext("Include a UTC offset.")]}
        )
    now = timezone.now()
    if start_time <= now:
        raise ApplicationError(
            gettext("startTime must be in the future."), errors={"startTime": [gettext("Must be in the future.")]}
        )
    if start_time >= LATEST_BOOKABLE - timedelta(minutes=duration_minutes):
        raise ApplicationError(
            gettext("startTime is too far ahead."), errors={"startTime": [gettext("Must be before 2101.")]}
        )
    end_time = start_time + timedelta(minutes=duration_minutes)
    try:
        with transaction.atomic():
            profile = (
                TutorProfile.objects.select_for_update()
                .filter(user_id=tutor_id, user__role=Role.TUTOR, user__is_active=True)
                .first()
            )
            if profile is None:
                raise ApplicationError(
                    gettext("Tutor not found."), errors={"tutorId": [gettext("No tutor with this id.")]}
                )
            if profile.hourly_rate is None:
                raise ApplicationError(
                    gettext("This tutor has no hourly rate yet and cannot be booked."),
                    errors={"tutorId": [gettext("Tutor has no hourly rate.")]},
                )
            if not booking_fits_availability(tutor_id=tutor_id, start=start_time, end=end_time):
                raise Conflict(gettext("That time is outside the tutor's availability."))
            in_the_way = Booking.objects.overlapping(tutor_id=tutor_id, start=start_time, end=end_time)
            stale = in_the_way.filter(status=BookingStatus.PENDING_PAYMENT, created_at__lte=now - payment_window())
            # Locked and checked again (a payment may have just arrived), then written down one by one so
            # the student hears of it.
            for expired in stale.select_for_update(of=("self",)).select_related("student", "tutor"):
                expired.status = BookingStatus.EXPIRED
                expired.save(update_fields=["status", "updated_at"])
                notifications.notify_booking(kind=NotificationKind.BOOKING_EXPIRED, booking=expired)
            if in_the_way.blocking(now=now).exists():
                raise Conflict(gettext("The tutor already has a booking at that time."))
            return Booking.objects.create(
                tutor_id=tutor_id,
                student=student,
                subject=subject,
                start_time=start_time,
                end_time=end_time,
                duration_minutes=duration_minutes,
                price=booking_price(
                    hourly_rate=profile.hourly_rate, duration_minutes=duration_minutes, currency=profile.currency
                ),
                currency=profile.currency,
                created_at=now,
            )
    except IntegrityError as exc:
        if BOOKING_OVERLAP_CONSTRAINT in str(exc):
            raise Conflict(gettext("The tutor already has a booking at that time.")) from exc
        raise


def booking_cancel(*, booking_id, user: User) -> Booking:
    """A party cancels (docs/money.md "Cancellation").

    Unpaid: the PaymentIntent is cancelled at Stripe first (a provider failure changes nothing), so it
    can never be paid afterwards. Paid: the student may cancel until FREE_CANCELLATION_HOURS before the
    class, the tutor until it starts; the full price is refunded at once without staff review, and the
    booking becomes `refunded` when Stripe confirms. Later, the refund request is the way (409).
    """
    with transaction.atomic():
        booking = check_booking_access(Booking.objects.select_for_update().filter(pk=booking_id).first(), user)
        now = timezone.now()
        status = booking.current_status(now=now)
        if status == BookingStatus.PENDING_PAYMENT:
            payments.payment_intent_cancel_for_booking(booking=booking)
        elif status == BookingStatus.PAID:
            if now >= booking.start_time:
                raise Conflict(gettext("The class has started; ask for a refund instead."))
            free_until = booking.start_time - timedelta(hours=settings.FREE_CANCELLATION_HOURS)
            if user.pk == booking.student_id and now > free_until:
                raise Conflict(
                    gettext("Free cancellation ends %(hours)s hours before the class; ask for a refund instead.")
                    % {"hours": settings.FREE_CANCELLATION_HOURS}
                )
        else:
            raise Conflict(gettext("This booking is %(status)s; it cannot be cancelled.") % {"status": status})
        booking.status = BookingStatus.CANCELLED
        booking.save(update_fields=["status", "updated_at"])
        if status == BookingStatus.PAID:
            who = "student" if user.pk == booking.student_id else "tutor"
            payments.refund_automatic(
                booking=booking, origin=RefundOrigin.CANCELLATION, reason=f"cancelled by the {who}"
            )
    return booking


def booking_complete(*, booking_id, at: datetime | None = None) -> Booking:
    """The class was held: `paid` → `completed` at `at` (now). The tutor's share stays pending until
    EARNINGS_HOLD_HOURS after that (`payments.services.earnings_release`).

    Runs in the caller's transaction when there is one (ending a session); the booking row is locked
    so a refund settling at the same moment sees either the paid or the completed booking, not both.
    A booking already refunded stays refunded, and the class ending must still be possible.
    """
    with transaction.atomic():
        booking = Booking.objects.select_for_update().get(pk=booking_id)
        if booking.status in (BookingStatus.COMPLETED, BookingStatus.REFUNDED):
            return booking
        if booking.status != BookingStatus.PAID:
            raise Conflict(
                gettext("Only a paid booking can be completed (this one is %(status)s).") % {"status": booking.status}
            )
        booking.status = BookingStatus.COMPLETED
        booking.completed_at = at or timezone.now()
        booking.save(update_fields=["status", "completed_at", "updated_at"])
        notifications.notify_booking(kind=NotificationKind.CLASS_ENDED, booking=booking)
    return booking


# --- the jobs -------------------------------------------------------------------------------------------


def booking_expire(*, booking_id, now: datetime) -> bool:
    """An unpaid booking past its payment window becomes `expired`; then its PaymentIntent is cancelled at
    Stripe, so the student cannot pay for time that is free again. True if it expired now.

    The time rule does not wait for Stripe: if Stripe fails (the next run tries again) or says the intent
    already succeeded (its event settles it: a late payment is refunded), the booking expires anyway.
    """
    with transaction.atomic():
        booking = Booking.objects.select_for_update().filter(pk=booking_id).first()
        if booking is None:
            return False
        newly = (
            booking.status == BookingStatus.PENDING_PAYMENT and booking.current_status(now=now) == BookingStatus.EXPIRED
        )
        if newly:
            booking.status = BookingStatus.EXPIRED
            booking.save(update_fields=["status", "updated_at"])
            notifications.notify_booking(kind=NotificationKind.BOOKING_EXPIRED, booking=booking)
        if booking.status == BookingStatus.EXPIRED:
            try:
                with transaction.atomic():
                    payments.payment_intent_cancel_for_booking(booking=booking)
            except ApplicationError as exc:
                logger.warning("expired booking %s: its intent was not cancelled: %s", booking_id, exc.message)
    return newly


def bookings_expire_due(*, now: datetime, limit: int = 500) -> int:
    """Expire the unpaid bookings past their window, and cancel the intents of expired ones still open."""
    due = Booking.objects.filter(status=BookingStatus.PENDING_PAYMENT, created_at__lte=now - payment_window())
    open_intents = Booking.objects.filter(status=BookingStatus.EXPIRED, payment__status__in=CANCELLABLE_INTENT_STATUSES)
    ids = [*due.values_list("pk", flat=True)[:limit], *open_intents.values_list("pk", flat=True)[:limit]]
    return sum(booking_expire(booking_id=pk, now=now) for pk in dict.fromkeys(ids))


def booking_mark_missed(*, booking_id, now: datetime, student_attended: bool | None = None) -> bool:
    """A paid booking whose class was not held becomes `missed`, and a refund request for the full price
    is opened for staff (reason "class not held"); its tutor earns nothing. True if it did now.

    Not held means: the class ended without the student ever present (`student_attended=False`, said by
    the classroom when the session ends: live.services.session_complete), or EARNINGS_HOLD_HOURS past
    the booking's end the class never started (the missed-class job says nothing of attendance).
    """
    with transaction.atomic():
        booking = Booking.objects.select_for_update().filter(pk=booking_id).first()
        if booking is None or booking.status != BookingStatus.PAID:
            return False
        held_without_student = student_attended is False
        never_started = booking.end_time + timedelta(hours=settings.EARNINGS_HOLD_HOURS) <= now and not _class_started(
            booking
        )
        if not (held_without_student or never_started):
            return False
        booking.status = BookingStatus.MISSED
        booking.save(update_fields=["status", "updated_at"])
        payments.refund_open_for_review(booking=booking, reason=CLASS_NOT_HELD)
        notifications.notify_booking(kind=NotificationKind.BOOKING_MISSED, booking=booking)
    return True


def bookings_mark_missed_due(*, now: datetime, limit: int = 500) -> int:
    due = Booking.objects.filter(
        status=BookingStatus.PAID, end_time__lte=now - timedelta(hours=settings.EARNINGS_HOLD_HOURS)
    ).exclude(live_session__actual_start_time__isnull=False)
    return sum(booking_mark_missed(booking_id=pk, now=now) for pk in due.values_list("pk", flat=True)[:limit])


def _class_started(booking: Booking) -> bool:
    session = getattr(booking, "live_session", None)
    return session is not None and session.actual_start_time is not None
