"""The `.ics` attachment of a booked class (RFC 5545), made with the icalendar library: it folds long lines,
escapes text and writes UTC times as calendars expect, which hand-built text easily gets wrong."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from tutoring.models import Booking, User


def _host() -> str:
    return settings.SITE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]


def booking_event(booking: Booking, *, user: User) -> str:
    """One event for the class, the same UID for both parties (calendars merge re-sent copies)."""
    other = booking.tutor if user.pk == booking.student_id else booking.student
    calendar = Calendar()
    calendar.add("prodid", "-//Tutoring marketplace//Bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"booking-{booking.pk}@{_host()}")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", booking.start_time)
    event.add("dtend", booking.end_time)
    title = _("Class with %(name)s") % {"name": other.name}
    summary = _("%(title)s: %(subject)s") % {"title": title, "subject": booking.subject}
    event.add("summary", summary if booking.subject else title)
    url = f"{settings.SITE_URL}/bookings/{booking.pk}"
    event.add("description", _("Join the class from your booking: %(url)s") % {"url": url})
    event.add("url", url)
    event.add("status", "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical().decode()
