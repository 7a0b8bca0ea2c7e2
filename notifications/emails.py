"""What each email of the outbox says, in its recipient's language (docs/notifications.md).

Rendered when it is sent, from the event's data and the current rows (names, links), under
`translation.override` of the recipient's stored language. Bodies are plain-text templates in
`templates/emails/`; a paid booking carries its class as an `.ics` calendar event.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from notifications.calendar import booking_event
from notifications.models import Notification, NotificationKind
from tutoring.models import Booking, Role, User
from tutoring.money import THREE_DECIMAL, ZERO_DECIMAL


def language_of(user: User | None) -> str:
    languages = {code for code, _name in settings.LANGUAGES}
    return user.language if user is not None and user.language in languages else settings.LANGUAGE_CODE


def _zone(user: User) -> ZoneInfo:
    """Where the recipient's clock is, as far as we know: a tutor's availability says; else UTC."""
    name = getattr(getattr(user, "availability", None), "timezone", None) if user.role == Role.TUTOR else None
    return ZoneInfo(name) if name else ZoneInfo("UTC")


def when(moment: datetime, user: User) -> str:
    zone = _zone(user)
    local = moment.astimezone(zone)
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} ({zone.key})"


def money(amount: int, currency: str) -> str:
    digits = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    return f"{Decimal(amount).scaleb(-digits):,.{digits}f} {currency.upper()}"


def link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _booking_context(booking: Booking, user: User) -> dict[str, Any]:
    other = booking.tutor if user.pk == booking.student_id else booking.student
    return {
        "booking": booking,
        "other": other,
        "tutor": booking.tutor,
        "start": when(booking.start_time, user),
        "price": money(booking.price, booking.currency),
        "booking_url": link(f"/bookings/{booking.pk}"),
    }


def _subject(kind: str, context: dict[str, Any]) -> str:
    subjects = {
        NotificationKind.BOOKING_PAID: _("Booked: your class with %(other)s"),
        NotificationKind.REMINDER_24H: _("Tomorrow: your class with %(other)s"),
        NotificationKind.REMINDER_15M: _("In 15 minutes: your class with %(other)s"),
        NotificationKind.CLASS_ENDED: _("How was your class with %(other)s?"),
        NotificationKind.REFUND_DECIDED: _("A decision on your refund"),
        NotificationKind.WITHDRAWAL_DECIDED: _("A decision on your withdrawal"),
        NotificationKind.BOOKING_EXPIRED: _("Your booking with %(other)s expired"),
        NotificationKind.BOOKING_MISSED: _("Your class with %(other)s did not take place"),
        NotificationKind.PASSWORD_RESET: _("Reset your password"),
    }
    other = context.get("other")
    return subjects[kind] % {"other": other.name if other is not None else ""}


def _password_reset(row: Notification) -> tuple[User, dict[str, Any]] | None:
    user = User.objects.filter(email__iexact=row.email, is_active=True).first()
    if user is None or not user.has_usable_password():
        return None
    # The token is made now, not stored: it is only ever in the email, and a new password or a sign-in
    # since makes it invalid.
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    return user, {"reset_url": link(f"/password-reset/{uid}/{token}"), "valid_hours": hours}


def render(row: Notification) -> EmailMessage | None:
    """The email of an outbox row, or None if there is nothing to send."""
    if row.kind == NotificationKind.PASSWORD_RESET:
        found = _password_reset(row)
        if found is None:
            return None
        user, context = found
    else:
        user, context = row.user, {}
    with translation.override(language_of(user)):
        if row.booking_id is not None:
            booking = Booking.objects.select_related("tutor", "student").get(pk=row.booking_id)
            context = _booking_context(booking, user)
        context = {**context, "user": user, "data": row.data, "site_url": settings.SITE_URL}
        if "amount" in row.data:
            context["amount"] = money(row.data["amount"], row.data["currency"])
        message = EmailMessage(
            subject=_subject(row.kind, context),
            body=render_to_string(f"emails/{row.kind}.txt", context),
            to=[user.email],
        )
        if row.kind == NotificationKind.BOOKING_PAID:
            message.attach("class.ics", booking_event(context["booking"], user=user), "text/calendar")
    return message
