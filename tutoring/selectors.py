"""Reads of the core domain."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext

from tutoring.access import check_booking_access, has_role
from tutoring.errors import NotFound
from tutoring.models import Booking, Role, TutorProfile, TutorSubject, User


def tutor_list(*, subject: str | None = None) -> QuerySet[TutorProfile]:
    qs = TutorProfile.objects.filter(user__role=Role.TUTOR, user__is_active=True).select_related("user")
    if subject:
        # Lower(name) = lower(subject) rather than iexact, so the functional index is usable.
        matching = TutorSubject.objects.alias(key=Lower("name")).filter(key=subject.strip().lower())
        qs = qs.filter(user_id__in=matching.values("tutor_id"))
    return qs.prefetch_related("subjects")


def tutor_get(*, tutor_id: str) -> TutorProfile:
    profile = tutor_list().filter(user_id=tutor_id).first()
    if profile is None:
        raise NotFound(gettext("Tutor not found."))
    return profile


def booking_list_for_user(*, user: User) -> QuerySet[Booking]:
    if has_role(user, Role.STAFF):
        return Booking.objects.all()
    return Booking.objects.filter(Q(tutor=user) | Q(student=user))


def booking_get_for_user(*, booking_id: str, user: User) -> Booking:
    """A booking its parties (and staff) may see; anyone else gets 404, not 403, so ids do not leak."""
    return check_booking_access(Booking.objects.filter(pk=booking_id).first(), user, staff_allowed=True)


def subject_list() -> list[str]:
    """Every subject some active tutor teaches, once each (case-insensitively), for the search page."""
    names = (
        TutorSubject.objects.filter(tutor__user__role=Role.TUTOR, tutor__user__is_active=True)
        .order_by("name")
        .values_list("name", flat=True)
    )
    unique: dict[str, str] = {}
    for name in names:
        unique.setdefault(name.lower(), name)
    return sorted(unique.values(), key=str.lower)
