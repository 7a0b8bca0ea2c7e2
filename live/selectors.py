"""Reads of the live classroom, with who may see what.

Over HTTP a session is visible to its booking's two parties (and to staff where a view allows it);
anyone else gets 404, as for bookings, so session ids do not leak. Staff can see every booking, so
for them a party-only action is 403. Realtime (docs/realtime.md) answers 403 to every non-party instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy

from live.models import Message, Participant, ParticipantRole, Session
from tutoring.access import PARTIES_ONLY, check_booking_access
from tutoring.errors import Forbidden, NotFound
from tutoring.models import User

NOT_FOUND = gettext_lazy("Session not found.")


def session_uuid(session_id: Any) -> uuid.UUID | None:
    """The session id as a UUID, or None if it cannot be one (then it is as unknown as any other)."""
    try:
        return uuid.UUID(str(session_id))
    except ValueError:
        return None


def _session_get(*, session_id: Any, queryset: QuerySet[Session] | None = None) -> Session:
    pk = session_uuid(session_id)
    if pk is None:
        raise NotFound(NOT_FOUND)
    qs = Session.objects.all() if queryset is None else queryset
    session = qs.select_related("booking").filter(pk=pk).first()
    if session is None:
        raise NotFound(NOT_FOUND)
    return session


def party_role(*, session: Session, user: User) -> str | None:
    """The role (tutor or student) of `user` in the session's booking, or None for anyone else."""
    if user.pk == session.booking.tutor_id:
        return ParticipantRole.TUTOR
    if user.pk == session.booking.student_id:
        return ParticipantRole.STUDENT
    return None


def session_get_for_user(
    *, session_id: Any, user: User, staff_allowed: bool = False, queryset: QuerySet[Session] | None = None
) -> Session:
    """The session for an HTTP request by `user`: 404 for strangers, 403 for staff unless `staff_allowed`."""
    session = _session_get(session_id=session_id, queryset=queryset)
    check_booking_access(session.booking, user, staff_allowed=staff_allowed, not_found=NOT_FOUND)
    return session


def session_get_for_party(*, session_id: Any, user: User) -> Session:
    """The session for a realtime action by `user`: 404 if unknown, 403 for anyone but the two parties."""
    session = _session_get(session_id=session_id)
    if party_role(session=session, user=user) is None:
        raise Forbidden(PARTIES_ONLY)
    return session


def participant_list(*, session: Session) -> list[Participant]:
    """Both parties, tutor first, with their users, in one query."""
    rows = list(Participant.objects.filter(session=session).select_related("user"))
    return sorted(rows, key=lambda p: p.role != ParticipantRole.TUTOR)


def message_list(*, session: Session) -> QuerySet[Message]:
    return Message.objects.filter(session=session)


def session_for_booking(*, booking) -> Session | None:
    """The classroom of a booking, if either party has opened it."""
    return Session.objects.filter(booking=booking).first()
