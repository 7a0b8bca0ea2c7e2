"""The pages of the marketplace (docs/pages.md): a tutor's availability, and a student's review of a class.

The availability form is plain text a person can type — one line of hours per weekday
("09:00–12:00, 14:00–18:00") and one line per exception ("2026-12-24" for a day off,
"2026-12-31 10:00–12:00" for other hours) — turned into the API's body, checked by the API's
serializer and saved by the service the API calls.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from marketplace import selectors, services
from marketplace.serializers import AvailabilityIn, ReviewIn
from marketplace.services import WEEKDAYS, time_zone_names
from tutoring.models import Role
from tutoring.web import attempt, field_messages, page, validate

RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*[-–—~]\s*(\d{1,2}):(\d{2})$")
DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s+(.*))?$")


def _clock(hours: str, minutes: str) -> str:
    return f"{int(hours):02d}:{minutes}"


def _ranges(text: str) -> list[tuple[str, str]] | None:
    """ "09:00-12:00, 14:00-18:00" → [("09:00", "12:00"), ("14:00", "18:00")]; None if unreadable."""
    ranges = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;，、]", text))):
        match = RANGE.match(part)
        if match is None:
            return None
        ranges.append((_clock(*match.group(1, 2)), _clock(*match.group(3, 4))))
    return ranges


def parse_form(data: Any) -> tuple[dict, dict[str, list[str]]]:
    """The page's form as the API's body `{timezone, weekly, exceptions}`, and what could not be read."""
    errors: dict[str, list[str]] = {}
    weekly = []
    for weekday in range(7):
        ranges = _ranges(data.get(f"day-{weekday}", ""))
        if ranges is None:
            errors[f"day-{weekday}"] = [_("Write hours as 09:00–12:00, several separated by commas.")]
            continue
        weekly += [{"weekday": weekday, "start": start, "end": end} for start, end in ranges]
    exceptions = []
    for number, line in enumerate(data.get("exceptions", "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = DATE.match(line)
        ranges = _ranges(match.group(2) or "") if match else None
        if match is None or ranges is None:
            problem = _("Line %(number)s: write a date (2026-12-24), then its hours or nothing for a day off.")
            errors.setdefault("exceptions", []).append(problem % {"number": number})
            continue
        day = match.group(1)
        exceptions += [{"date": day, "start": start, "end": end} for start, end in ranges] or [{"date": day}]
    return {"timezone": data.get("timezone", ""), "weekly": weekly, "exceptions": exceptions}, errors


def _form_of(availability: dict) -> dict[str, str]:
    """The stored availability as the page's text fields."""
    form = {"timezone": availability["timezone"] or ""}
    for weekday in range(7):
        form[f"day-{weekday}"] = ", ".join(
            f"{row['start']}–{row['end']}" for row in availability["weekly"] if row["weekday"] == weekday
        )
    lines: dict[str, list[str]] = {}
    for row in availability["exceptions"]:
        hours = lines.setdefault(row["date"].isoformat(), [])
        if "start" in row:
            hours.append(f"{row['start']}–{row['end']}")
    form["exceptions"] = "\n".join(f"{day} {', '.join(hours)}".strip() for day, hours in lines.items())
    return form


@page(role=Role.TUTOR)
def availability(request: HttpRequest) -> HttpResponse:
    current = selectors.availability_get(tutor_id=request.user.pk)
    form, errors, status = _form_of(current), {}, 200
    if request.method == "POST":
        form = request.POST
        body, errors = parse_form(form)
        if not errors:
            values, errors = validate(AvailabilityIn, body)
            if values is not None:
                outcome = attempt(
                    request,
                    services.availability_set,
                    user=request.user,
                    timezone_name=values["timezone"],
                    weekly=values["weekly"],
                    exceptions=values["exceptions"],
                )
                if outcome.ok:
                    messages.success(request, _("Your availability is saved."))
                    return redirect("availability")
                errors = outcome.field_errors
        status = 400
    context = {
        "form": form,
        "errors": errors,
        "days": [
            {
                "field": f"day-{weekday}",
                "name": name,
                "value": form.get(f"day-{weekday}", ""),
                "errors": errors.get(f"day-{weekday}"),
            }
            for weekday, name in enumerate(WEEKDAYS)
        ],
        "time_zones": sorted(time_zone_names()),
        "is_set": current["timezone"] is not None,
    }
    return render(request, "pages/availability.html", context, status=status)


@require_POST
@page(role=Role.STUDENT)
def booking_review(request: HttpRequest, booking_id) -> HttpResponse:
    """The student rates a held class (`review_create`, as POST /api/bookings/{id}/review)."""
    rating = request.POST.get("rating", "")
    body = {"rating": int(rating) if rating.isdigit() else rating, "comment": request.POST.get("comment", "")}
    values, errors = validate(ReviewIn, body)
    if values is None:
        for problem in field_messages(errors):
            messages.error(request, problem)
    elif attempt(request, services.review_create, booking_id=booking_id, user=request.user, **values).ok:
        messages.success(request, _("Thank you for your review."))
    return redirect("booking", booking_id=booking_id)


urlpatterns = [
    path("availability", availability, name="availability"),
    path("bookings/<uuid:booking_id>/review", booking_review, name="booking-review"),
]
