"""Reads of the live classroom, with who may see what.

Over HTTP a session is visible to its booking's two parties (and to staff where a view allows it);
anyone else gets 404, as for bookings, so session ids do not leak. Staff can see every booking, so
for them a party-only action is 403. Realtime (docs/realtime.md) answers 403 to every non-party instead.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import QuerySet, Subquery
from django.utils.translation import gettext_lazy

from live.models import Message, Participant, ParticipantRole, Session
from tutoring.access import PARTIES_ONLY, check_booking_access
from tutoring.errors import Forbidden, NotFound
from tutoring.models import Booking, User

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


class ParticipantRow(NamedTuple):
    """A participant as the participants read shows it (`live.serializers.participant_out`)."""

    user_id: uuid.UUID
    name: str
    role: str
    is_audio_enabled: bool
    is_video_enabled: bool
    is_screen_sharing: bool
    hand_raised: bool
    is_connected: bool


# The columns of the one query of `participant_list_for_user`: a `ParticipantRow`, then the booking's
# parties and the signed-in user's role (null unless that user exists and is active).
_PARTICIPANT_COLUMNS = (
    "user_id",
    "user__name",
    *ParticipantRow._fields[2:],
    "session__booking__tutor_id",
    "session__booking__student_id",
    "viewer_role",
)
_SESSION_MARK, _VIEWER_MARK = uuid.UUID(int=1), uuid.UUID(int=2)


@lru_cache(maxsize=1)
def _participants_sql() -> tuple[str, tuple[Any, ...]]:
    """The participants read, compiled by the ORM once per process with marks where the ids go.

    Compiling a query costs more than PostgreSQL takes to run it (profiled: about 1 ms of Python against
    0.1–0.3 ms in the database), and this read is the classroom's most frequent one.
    """
    viewer = User.objects.filter(pk=_VIEWER_MARK, is_active=True).values("role")
    query = (
        Participant.objects.filter(session_id=_SESSION_MARK)
        .annotate(viewer_role=Subquery(viewer))
        .values_list(*_PARTICIPANT_COLUMNS)
    )
    sql, params = query.query.sql_with_params()
    return sql, tuple(params)


class _Parties(NamedTuple):
    """What `check_booking_access` asks of a booking, without building one (a Booking's defaults cost)."""

    tutor_id: uuid.UUID
    student_id: uuid.UUID

    def is_party(self, user: User) -> bool:
        return Booking.is_party(self, user)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def participant_list_for_user(*, session_id: Any, user: User) -> list[ParticipantRow]:
    """The participants of the session `session_id`, tutor first, for an HTTP request by `user`, in one
    query, reading only what the response shows.

    The query also reads the signed-in user (`tutoring.api.auth.PendingUser`): present and active, it
    needs no read of its own. The access rule is `session_get_for_user`'s: 404 for strangers, 403 for
    staff.
    """
    pk = session_uuid(session_id)
    if pk is None:
        raise NotFound(NOT_FOUND)
    sql, marked = _participants_sql()
    ids = {_SESSION_MARK: pk, _VIEWER_MARK: user.pk, _SESSION_MARK.hex: pk.hex, _VIEWER_MARK.hex: user.pk.hex}
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids.get(p, p) if isinstance(p, (str, uuid.UUID)) else p for p in marked])
        rows = cursor.fetchall()
    if not rows:
        raise NotFound(NOT_FOUND)
    *_, tutor_id, student_id, viewer_role = rows[0]
    if viewer_role is not None and (confirm := getattr(type(user), "confirm", None)) is not None:
        confirm(user, is_active=True, role=viewer_role)  # a PendingUser: no read of its own
    check_booking_access(_Parties(_as_uuid(tutor_id), _as_uuid(student_id)), user, not_found=NOT_FOUND)
    participants = [
        ParticipantRow(_as_uuid(row[0]), row[1], row[2], *(bool(flag) for flag in row[3:8])) for row in rows
    ]
    return sorted(participants, key=lambda p: p.role != ParticipantRole.TUTOR)


def message_list(*, session: Session) -> QuerySet[Message]:
    return Message.objects.filter(session=session)


def session_for_booking(*, booking) -> Session | None:
    """The classroom of a booking, if either party has opened it."""
    return Session.objects.filter(booking=booking).first()
