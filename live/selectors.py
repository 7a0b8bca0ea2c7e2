"""Reads of the live classroom, with who may see what.

Over HTTP a session is visible to its booking's two parties (and to staff where a view allows it);
anyone else gets 404, as for bookings, so session ids do not leak. Staff can see every booking, so
for them a party-only action is 403. Realtime (docs/realtime.md) answers 403 to every non-party instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy

from live.models import (
    EventType,
    Message,
    Participant,
    ParticipantRole,
    Recording,
    RecordingStatus,
    Session,
    SessionEvent,
)
from tutoring.access import PARTIES_ONLY, check_booking_access
from tutoring.db import prepared_cursor
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
    audio_muted: bool
    video_muted: bool
    removed: bool


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
    with prepared_cursor() as cursor:
        cursor.execute(sql, [ids.get(p, p) if isinstance(p, (str, uuid.UUID)) else p for p in marked])
        rows = cursor.fetchall()
    if not rows:
        raise NotFound(NOT_FOUND)
    *_, tutor_id, student_id, viewer_role = rows[0]
    if viewer_role is not None and (confirm := getattr(type(user), "confirm", None)) is not None:
        confirm(user, is_active=True, role=viewer_role)  # a PendingUser: no read of its own
    check_booking_access(_Parties(_as_uuid(tutor_id), _as_uuid(student_id)), user, not_found=NOT_FOUND)
    participants = [
        ParticipantRow(_as_uuid(row[0]), row[1], row[2], *(bool(flag) for flag in row[3 : len(ParticipantRow._fields)]))
        for row in rows
    ]
    return sorted(participants, key=lambda p: p.role != ParticipantRole.TUTOR)


def message_list(*, session: Session) -> QuerySet[Message]:
    return Message.objects.filter(session=session)


def session_for_booking(*, booking) -> Session | None:
    """The classroom of a booking, if either party has opened it."""
    return Session.objects.filter(booking=booking).first()


# --- the record and its figures (docs/classroom.md "The record") ---------------------------------------------


def event_list(*, session: Session) -> QuerySet[SessionEvent]:
    return SessionEvent.objects.filter(session=session).select_related(None)


OPENS = {EventType.JOIN: "realtime", EventType.VIDEO_CONNECTED: "video"}
CLOSES = {EventType.LEAVE: "realtime", EventType.VIDEO_DISCONNECTED: "video"}


@dataclass(frozen=True)
class Presence:
    """A party's attendance: when they first came, when they last left (None while still there or
    never there) and the seconds they were there while the class was active."""

    first_joined_at: datetime | None
    last_left_at: datetime | None
    present_seconds: int
    present: bool  # there at some moment of the active class (even for less than a second)


def _intervals(events: list[SessionEvent], end: datetime | None) -> list[tuple[datetime, datetime | None]]:
    """One user's presence intervals: each realtime connection (join → leave) and each video
    connection (Twilio participant sid: connected → disconnected) on its own. Still open at the end of
    a finished class: closed by that end; still open in an active class: open (None)."""
    opened: dict[tuple[str, str], datetime] = {}
    intervals: list[tuple[datetime, datetime | None]] = []
    for event in events:
        via = OPENS.get(event.type) or CLOSES.get(event.type)
        key = (via, str(event.data.get("connection", "")))
        if event.type in OPENS:
            opened.setdefault(key, event.timestamp)
        elif key in opened:
            start = opened.pop(key)
            intervals.append((start, max(start, event.timestamp)))
    intervals += [(start, end) for start in opened.values()]
    return intervals


def _presence(intervals: list[tuple[datetime, datetime | None]], window: tuple[datetime, datetime] | None) -> Presence:
    if not intervals:
        return Presence(None, None, 0, False)
    first = min(start for start, _ in intervals)
    ends = [stop for _, stop in intervals]
    last = None if any(stop is None for stop in ends) else max(ends)
    total, present = 0.0, False
    if window is not None:
        # Overlapping intervals (two tabs, video and chat at once) count once: merge, then add up.
        clipped = sorted(
            (max(start, window[0]), min(stop or window[1], window[1]))
            for start, stop in intervals
            if start <= window[1] and (stop is None or stop >= window[0])
        )
        merged: list[list[datetime]] = []
        for start, stop in clipped:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        total = sum((stop - start).total_seconds() for start, stop in merged)
        present = bool(merged)
    return Presence(first, last, int(total), present)


def presence_events() -> QuerySet[SessionEvent]:
    """The events attendance is computed from, in order (also for prefetching many sessions' at once)."""
    return SessionEvent.objects.filter(type__in=[*OPENS, *CLOSES]).order_by("timestamp", "seq")


def session_attendance(
    *, session: Session, now: datetime | None = None, events: list[SessionEvent] | None = None
) -> dict[str, Presence]:
    """Each party's presence ("tutor", "student"), by realtime connection or video, whichever they had.
    `events`: the session's `presence_events()` when the caller has them already."""
    if events is None:
        events = list(presence_events().filter(session=session))
    window = None
    if session.actual_start_time is not None:
        window = (session.actual_start_time, session.actual_end_time or now or timezone.now())
    by_role = {ParticipantRole.TUTOR: session.booking.tutor_id, ParticipantRole.STUDENT: session.booking.student_id}
    return {
        role: _presence(_intervals([e for e in events if e.actor_id == user_id], session.actual_end_time), window)
        for role, user_id in by_role.items()
    }


def session_stats(*, session: Session) -> dict[str, Any]:
    now = timezone.now()
    duration = 0
    if session.actual_start_time is not None:
        duration = int(((session.actual_end_time or now) - session.actual_start_time).total_seconds())
    messages = Message.objects.filter(session=OuterRef("pk"))
    hands = SessionEvent.objects.filter(session=OuterRef("pk"), type=EventType.HAND_RAISE)
    messages_count, hand_raises_count = Session.objects.filter(pk=session.pk).values_list(
        _count(messages), _count(hands)
    )[0]  # both counts in one round trip
    return {
        "duration_seconds": duration,
        "messages_count": messages_count,
        "hand_raises_count": hand_raises_count,
        "attendance": session_attendance(session=session, now=now),
    }


def _count(queryset: QuerySet) -> Coalesce:
    counted = queryset.order_by().values("session").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)  # no rows: no group, so null


def attendance_summary(*, session: Session | None, events: list[SessionEvent] | None = None) -> str:
    """One line for staff: who was present for how long (the refund queue shows it beside each request)."""
    if session is None:
        return "no classroom opened"
    if session.actual_start_time is None:
        return "class never started"
    attendance = session_attendance(session=session, events=events)
    parts = []
    for role in (ParticipantRole.STUDENT, ParticipantRole.TUTOR):
        presence = attendance[role]
        parts.append(f"{role} {presence.present_seconds} s" if presence.present else f"{role} never present")
    return ", ".join(parts)


# --- recording (docs/classroom.md "Recording") ---------------------------------------------------------------

RECORDING_SALT = "live.recording"


def recording_get(*, session: Session) -> Recording:
    """The session's recording; an unsaved `idle` one if nothing was ever recorded."""
    return Recording.objects.filter(session=session).first() or Recording(session=session)


def recording_link(*, recording: Recording) -> str | None:
    """A short-lived signed link to the ready recording's file on this site (null before it is ready).
    Only the parties and staff are given it (the recording's readers); it opens for
    RECORDING_LINK_TTL_SECONDS and only for that composition."""
    if recording.status != RecordingStatus.READY or not recording.composition_sid:
        return None
    token = signing.TimestampSigner(salt=RECORDING_SALT).sign(recording.composition_sid)
    return f"/api/live/sessions/{recording.session_id}/recording/media?{urlencode({'token': token})}"


def recording_by_link(*, session_id: Any, token: str) -> Recording:
    """The ready recording a signed link opens; Forbidden if the link is forged, expired or not this session's."""
    try:
        composition_sid = signing.TimestampSigner(salt=RECORDING_SALT).unsign(
            token, max_age=settings.RECORDING_LINK_TTL_SECONDS
        )
    except signing.BadSignature:
        raise Forbidden(LINK_INVALID) from None
    recording = Recording.objects.filter(
        session_id=session_uuid(session_id), composition_sid=composition_sid, status=RecordingStatus.READY
    ).first()
    if recording is None:
        raise Forbidden(LINK_INVALID)
    return recording


LINK_INVALID = gettext_lazy("This recording link is invalid or has expired.")
RECORDING_GONE = gettext_lazy("The recording's file is not available.")
