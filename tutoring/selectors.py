"""Reads of the core domain."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext

from tutoring.access import check_booking_access, has_role
from tutoring.api.pagination import NEWEST_FIRST, Key
from tutoring.errors import NotFound
from tutoring.models import Booking, Role, TutorProfile, TutorSubject, User

# The orders of the tutor list (`?sort=`), each ending in the newest-first tie-break so it is total.
# Tutors without a rate or a rating come last either way.
TUTOR_SORTS: dict[str, Sequence[Key]] = {
    "newest": NEWEST_FIRST,
    "price": (Key("hourly_rate", ascending=True, nulls_last=True), *NEWEST_FIRST),
    "-price": (Key("hourly_rate", nulls_last=True), *NEWEST_FIRST),
    "rating": (Key("rating", nulls_last=True), Key("reviews_count"), *NEWEST_FIRST),
}
BY_RELEVANCE = (Key("rank"), *NEWEST_FIRST)
SEARCH_CONFIG = "english"


def _active_tutors() -> QuerySet[TutorProfile]:
    # The search vector is the database's, for matching: never read back.
    return (
        TutorProfile.objects.filter(user__role=Role.TUTOR, user__is_active=True)
        .select_related("user")
        .defer("search_vector")
    )


def tutor_list(
    *,
    subject: str | None = None,
    q: str | None = None,
    min_rate: int | None = None,
    max_rate: int | None = None,
    sort: str | None = None,
) -> tuple[QuerySet[TutorProfile], Sequence[Key]]:
    """Active tutors matching the filters, and the order to list them in.

    `q` searches name, subjects and bio: on PostgreSQL with full-text search over the indexed vector the
    database keeps (every word must match, as a word or a word's beginning: `math` finds Mathematics),
    ranked by relevance (name above subjects above bio) unless `sort` says otherwise; elsewhere every
    word must appear, case-insensitively, in one of the three.
    """
    qs = _active_tutors()
    if subject:
        # Lower(name) = lower(subject) rather than iexact, so the functional index is usable.
        matching = TutorSubject.objects.alias(key=Lower("name")).filter(key=subject.strip().lower())
        qs = qs.filter(user_id__in=matching.values("tutor_id"))
    if min_rate is not None:
        qs = qs.filter(hourly_rate__gte=min_rate)
    if max_rate is not None:
        qs = qs.filter(hourly_rate__lte=max_rate)
    order = TUTOR_SORTS[sort or "newest"]
    words = re.findall(r"\w+", q or "")
    if words and connection.vendor == "postgresql":
        query = SearchQuery(" & ".join(f"{word}:*" for word in words), search_type="raw", config=SEARCH_CONFIG)
        qs = qs.filter(search_vector=query)
        if not sort:
            qs, order = qs.annotate(rank=SearchRank(F("search_vector"), query)), BY_RELEVANCE
    for word in words if connection.vendor != "postgresql" else ():
        in_subjects = TutorSubject.objects.filter(tutor=OuterRef("pk"), name__icontains=word)
        qs = qs.filter(Q(user__name__icontains=word) | Q(bio__icontains=word) | Exists(in_subjects))
    return qs.prefetch_related("subjects"), order


def tutor_get(*, tutor_id: str) -> TutorProfile:
    profile = _active_tutors().prefetch_related("subjects").filter(user_id=tutor_id).first()
    if profile is None:
        raise NotFound(gettext("Tutor not found."))
    return profile


def tutor_check(*, tutor_id: str) -> None:
    """404 unless `tutor_id` is an active tutor, as `tutor_get`, without reading the profile and subjects
    (for reads of what belongs to a tutor)."""
    if not _active_tutors().filter(user_id=tutor_id).exists():
        raise NotFound(gettext("Tutor not found."))


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
