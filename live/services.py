"""Every write of the live classroom: sessions, participant state and chat (docs/api.md "Live classroom",
docs/realtime.md).

Views, webhook handlers, admin actions and the realtime transports all call these. Each change that
clients should see is published on the bus (`live.realtime.broadcast`) once its transaction commits.

Provider calls never leave half a change behind: a room is created before the session row that names
it (its unique name comes from the booking, so a retry finds the same room), and a session is ended
at the provider inside the transaction that completes it, so a provider failure (502) rolls it all back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext, gettext_lazy

from live import selectors
from live.models import (
    Connection,
    EventType,
    Message,
    Participant,
    ParticipantRole,
    Presence,
    Recording,
    RecordingStatus,
    Session,
    SessionEvent,
    SessionStatus,
)
from live.realtime import broadcast, broadcast_many
from live.serializers import recording_event, session_event
from live.video import AccessGrant, get_video_provider
from tutoring.access import PARTIES_ONLY, check_booking_access, has_role
from tutoring.api.errors import REASONS
from tutoring.errors import ApplicationError, Conflict, Forbidden, NotFound, RateLimited, Unauthorized
from tutoring.models import Booking, BookingStatus, Role, User
from tutoring.ratelimit import Bucket, Taken, rate, rate_check, rate_limited, rate_take
from tutoring.services import booking_complete, booking_mark_missed

logger = logging.getLogger(__name__)

SESSION_UPDATED = "session_updated"
PARTICIPANT_UPDATED = "participant_updated"
MESSAGE = "message"
MUTED = "muted"
REMOVED = "removed"
RECORDING_UPDATED = "recording_updated"
# A bus event for one user's connections only (`muted`, `removed`): the transports hand its inner
# event to that user's connections in the session and to no one else (live.realtime.events.direct).
DIRECT = "live.direct"

# Participant state by its contract name: what clients may set, and what the provider reports too.
CLIENT_STATE = {
    "isAudioEnabled": "is_audio_enabled",
    "isVideoEnabled": "is_video_enabled",
    "isScreenSharing": "is_screen_sharing",
    "handRaised": "hand_raised",
}
STATE = {**CLIENT_STATE, "isConnected": "is_connected"}

MESSAGE_MAX_LENGTH = 2000

# The record's event for a participant state turned on / off.
STATE_EVENTS = {
    "handRaised": (EventType.HAND_RAISE, EventType.HAND_LOWER),
    "isAudioEnabled": (EventType.AUDIO_ON, EventType.AUDIO_OFF),
    "isVideoEnabled": (EventType.VIDEO_ON, EventType.VIDEO_OFF),
    "isScreenSharing": (EventType.SCREEN_SHARE_START, EventType.SCREEN_SHARE_STOP),
}


def room_name_for(booking: Booking) -> str:
    """The provider room's unique name: derived from the booking, so creating it twice finds one room."""
    return f"booking-{booking.pk}"


# --- sessions ---------------------------------------------------------------------------------------


def session_create(*, booking_id: Any, user: User) -> tuple[Session, bool]:
    """Open the classroom of a paid booking, or return the one already open: (session, created).

    Either party may come first, and both may come at once: the provider room is created first (the
    same room for both), then the booking row is locked and the session written only if it is still
    missing; the unique booking column settles whatever a lock cannot (SQLite has no row locks).
    """
    booking = check_booking_access(
        Booking.objects.filter(pk=booking_id).first(),
        user,
        forbidden="Only the booking's tutor and student can join its class.",
    )
    existing = Session.objects.select_related("booking").filter(booking=booking).first()
    if existing is not None:
        return existing, False
    if booking.status != BookingStatus.PAID:
        raise Conflict(
            gettext("Only a paid booking has a class (this one is %(status)s).") % {"status": booking.status}
        )

    room = get_video_provider().room_create(unique_name=room_name_for(booking))
    try:
        with transaction.atomic():
            booking = Booking.objects.select_for_update().get(pk=booking.pk)
            existing = Session.objects.select_related("booking").filter(booking=booking).first()
            if existing is not None:
                return existing, False
            if booking.status != BookingStatus.PAID:
                raise Conflict(
                    gettext("Only a paid booking has a class (this one is %(status)s).") % {"status": booking.status}
                )
            session = Session.objects.create(booking=booking, room_name=room_name_for(booking), room_sid=room.sid)
            Participant.objects.bulk_create(session.new_participants())
    except IntegrityError:
        existing = Session.objects.select_related("booking").filter(booking_id=booking.pk).first()
        if existing is None:
            raise
        return existing, False
    return session, True


def session_token_issue(*, session: Session, user: User) -> AccessGrant:
    """The caller's own provider token for the session's room; never another party's (docs/api.md "Live classroom")."""
    if selectors.party_role(session=session, user=user) is None:
        raise Forbidden(PARTIES_ONLY)
    _check_not_removed(session=session, user=user)
    return get_video_provider().access_token(identity=str(user.pk), room_name=session.room_name)


def session_start(*, session_id: Any, user: User) -> Session:
    """The tutor starts the class: `created` → `active`, within the class window (docs/money.md "Class
    window": from CLASS_START_EARLY_MINUTES before the booking's start until its end) of a paid booking.

    The provider room is asked for again (the same unique name, so normally the same room): a room
    nobody joined for an hour has been closed by the provider, and the class needs a live one.
    """
    with transaction.atomic():
        session = selectors.session_get_for_user(
            session_id=session_id, user=user, queryset=Session.objects.select_for_update(of=("self",))
        )
        if user.pk != session.booking.tutor_id:
            raise Forbidden(gettext("Only the tutor can start the class."))
        if session.status != SessionStatus.CREATED:
            raise Conflict(
                gettext("Only a class that has not started can be started (this one is %(status)s).")
                % {"status": session.status}
            )
        # Locked after the session, as ending does: a cancellation cannot slip in between.
        booking = Booking.objects.select_for_update().get(pk=session.booking_id)
        if booking.status != BookingStatus.PAID:
            raise Conflict(gettext("This booking is %(status)s; its class cannot start.") % {"status": booking.status})
        now = timezone.now()
        early = timedelta(minutes=settings.CLASS_START_EARLY_MINUTES)
        if now < booking.start_time - early:
            raise Conflict(
                gettext("The class can start from %(minutes)s minutes before its start time.")
                % {"minutes": settings.CLASS_START_EARLY_MINUTES}
            )
        if now >= booking.end_time:
            raise Conflict(gettext("The class's time is over; it can no longer start."))
        room = get_video_provider().room_create(unique_name=session.room_name)
        session.room_sid = room.sid
        session.status = SessionStatus.ACTIVE
        session.actual_start_time = now
        session.save(update_fields=["room_sid", "status", "actual_start_time", "updated_at"])
        event_record(session_id=session.pk, type=EventType.START, actor_id=user.pk, timestamp=now)
        broadcast(session.pk, SESSION_UPDATED, session_event(session))
    return session


def session_end(*, session_id: Any, user: User) -> Session:
    """The tutor (or staff) ends the class: the provider room is completed and the booking too."""
    session = selectors.session_get_for_user(session_id=session_id, user=user, staff_allowed=True)
    if user.pk != session.booking.tutor_id and not has_role(user, Role.STAFF):
        raise Forbidden(gettext("Only the tutor or staff can end the class."))
    return session_complete(session_id=session.pk, complete_room=True, actor_id=user.pk)


def session_complete(*, session_id: Any, complete_room: bool, actor_id: Any = None) -> Session:
    """`active` → `completed`, and the booking `completed` if the student was present at some moment of
    the class (its tutor's share is released once the earnings hold has passed:
    `payments.services.earnings_release`), else `missed` with a refund request for staff.

    The session row stays locked while the provider completes the room, so two enders cannot both
    succeed; if the provider fails the transaction rolls back and the session stays active. With
    `complete_room=False` (the provider reported the room ended) the provider is not asked.
    """
    with transaction.atomic():
        session = Session.objects.select_for_update(of=("self",)).select_related("booking").get(pk=session_id)
        if session.status != SessionStatus.ACTIVE:
            raise Conflict(
                gettext("Only an active class can be ended (this one is %(status)s).") % {"status": session.status}
            )
        if complete_room:
            get_video_provider().room_complete(room_sid=session.room_sid)
        session.status = SessionStatus.COMPLETED
        session.actual_end_time = timezone.now()
        session.save(update_fields=["status", "actual_end_time", "updated_at"])
        event_record(session_id=session.pk, type=EventType.END, actor_id=actor_id, timestamp=session.actual_end_time)
        _recording_finish(session)
        try:
            attendance = selectors.session_attendance(session=session)
            if attendance[ParticipantRole.STUDENT].present:
                session.booking = booking_complete(booking_id=session.booking_id, at=session.actual_end_time)
            else:
                # Nobody to teach: the class counts as not held (missed), never as earned.
                booking_mark_missed(booking_id=session.booking_id, now=session.actual_end_time, student_attended=False)
                session.booking.refresh_from_db()
        except Conflict:
            # Refunded or cancelled while the class ran: the class is over, but it earns nothing.
            logger.warning("session %s ended; booking %s left as it is", session.pk, session.booking_id)
        broadcast(session.pk, SESSION_UPDATED, session_event(session))
    return session


# --- participants -----------------------------------------------------------------------------------


def _participant_apply(
    *,
    session_id: Any,
    user_id: Any,
    updates: Mapping[str, bool],
    via: str = "realtime",
    timestamp: Any = None,
    unmute: bool = False,
) -> Participant | None:
    """Store `updates` (contract names → booleans), record and publish what actually changed.

    With `unmute` (the participant's own update) turning a muted track on lifts the tutor's mute and
    restores its forwarding at the provider.
    """
    with transaction.atomic():
        participant = (
            Participant.objects.select_for_update(of=("self",))
            .select_related("session__booking")
            .filter(session_id=session_id, user_id=user_id)
            .first()
        )
        if participant is None:
            return None
        changed: dict[str, bool] = {
            key: value for key, value in updates.items() if getattr(participant, STATE[key]) != value
        }
        fields = [STATE[key] for key in changed]
        if unmute:
            lifted = {
                name: False
                for name, field, key in (
                    ("audioMuted", "audio_muted", "isAudioEnabled"),
                    ("videoMuted", "video_muted", "isVideoEnabled"),
                )
                if updates.get(key) is True and getattr(participant, field)
            }
            for name in lifted:
                setattr(participant, MUTE_FIELDS[name], False)
                fields.append(MUTE_FIELDS[name])
            changed.update(lifted)
        if changed:
            for key, value in changed.items():
                if key in STATE:
                    setattr(participant, STATE[key], value)
            participant.save(update_fields=[*fields, "updated_at"])
            if unmute and ("audioMuted" in changed or "videoMuted" in changed):
                _forwarding_apply(participant.session, participant)
            events = [
                SessionEvent(
                    session_id=session_id,
                    type=STATE_EVENTS[key][0 if value else 1],
                    actor_id=user_id,
                    data={"via": via},
                    timestamp=timestamp or timezone.now(),
                )
                for key, value in changed.items()
                if key in STATE_EVENTS
            ]
            SessionEvent.objects.bulk_create(events)
            broadcast(session_id, PARTICIPANT_UPDATED, {"participantId": str(user_id), "updates": changed})
    return participant


def participant_update(*, session_id: Any, user: User, updates: Any) -> Participant:
    """A party changes their own state (realtime `participant_update`, docs/realtime.md)."""
    if (
        not isinstance(updates, Mapping)
        or not updates
        or not set(updates) <= set(CLIENT_STATE)
        or not all(isinstance(value, bool) for value in updates.values())
    ):
        names = ", ".join(CLIENT_STATE)
        message = gettext("updates must map some of %(names)s to booleans.") % {"names": names}
        raise ApplicationError(
            gettext("Invalid input. %(problem)s") % {"problem": message}, errors={"updates": [message]}
        )
    rate_check([Bucket(key=f"rt-update:user:{user.pk}", rate=rate(settings.RATE_LIMIT_REALTIME_UPDATE))])
    session = selectors.session_get_for_party(session_id=session_id, user=user)
    if session.status == SessionStatus.COMPLETED:
        raise Conflict(gettext("The class has ended."))
    return _participant_apply(session_id=session.pk, user_id=user.pk, updates=updates, unmute=True)


# --- moderation (docs/classroom.md "Moderation") ------------------------------------------------------------

MUTE_FIELDS = {"audioMuted": "audio_muted", "videoMuted": "video_muted"}
REMOVED_MESSAGE = gettext_lazy("You were removed from this class; the tutor can admit you again.")


def _direct(session_id: Any, user_id: Any, event: str, data: dict) -> None:
    """Publish `event` to `user_id`'s connections in the session only."""
    payload = {"sessionId": str(session_id), "userId": str(user_id), "event": event, "data": data}
    broadcast(session_id, DIRECT, payload)


def _forwarding_apply(session: Session, student: Participant) -> None:
    """Tell the provider which of the student's tracks the tutor may receive (the muted ones not)."""
    kinds = [kind for kind, muted in (("audio", student.audio_muted), ("video", student.video_muted)) if muted]
    get_video_provider().subscriptions_set(
        room_sid=session.room_sid,
        subscriber=str(session.booking.tutor_id),
        publisher=str(student.user_id),
        excluded_kinds=kinds,
    )


def _moderation_target(
    *, session_id: Any, user: User, participant_id: Any, only_student: str
) -> tuple[Session, Participant]:
    """The session (locked) and the participant the tutor acts on; the tutor never acts on themselves."""
    session = selectors.session_get_for_user(
        session_id=session_id, user=user, queryset=Session.objects.select_for_update(of=("self",))
    )
    if user.pk != session.booking.tutor_id:
        raise Forbidden(gettext("Only the tutor can moderate the class."))
    if session.status == SessionStatus.COMPLETED:
        raise Conflict(gettext("The class has ended."))
    try:
        participant_uuid = uuid.UUID(str(participant_id))
    except ValueError:
        participant_uuid = None
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(session=session, user_id=participant_uuid)
        .first()
        if participant_uuid is not None
        else None
    )
    if participant is None:
        raise NotFound(gettext("Participant not found."))
    if participant.role != ParticipantRole.STUDENT:
        message = only_student
        raise ApplicationError(
            gettext("Invalid input. %(problem)s") % {"problem": message}, errors={"participantId": [message]}
        )
    participant.session = session
    return session, participant


def _moderated(
    session: Session, participant: Participant, tutor: User, event_type: str, updates: dict, **data: Any
) -> None:
    """What every moderation that changed something does: the record, and the room told what changed."""
    participant_id = str(participant.user_id)
    event_record(
        session_id=session.pk, type=event_type, actor_id=tutor.pk, data={"participantId": participant_id, **data}
    )
    broadcast(session.pk, PARTICIPANT_UPDATED, {"participantId": participant_id, "updates": updates})


def _flag(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    message = gettext("%(name)s must be a boolean.") % {"name": name}
    raise ApplicationError(gettext("Invalid input. %(problem)s") % {"problem": message}, errors={name: [message]})


def participant_mute(
    *, session_id: Any, user: User, participant_id: Any, audio: Any = None, video: Any = None
) -> Participant:
    """The tutor mutes (or, with `false`, unmutes) the student's audio and/or video; audio when neither
    is given. The provider stops forwarding the muted tracks to the tutor; the student's muted track
    is marked off, the room is told (`participant_updated`) and so is the student (`muted`)."""
    audio, video = _flag(audio, "audio"), _flag(video, "video")
    if audio is None and video is None:
        audio = True
    with transaction.atomic():
        session, participant = _moderation_target(
            session_id=session_id,
            user=user,
            participant_id=participant_id,
            only_student=gettext("Only the student can be muted."),
        )
        changed: dict[str, bool] = {}
        for name, value, state in (("audioMuted", audio, "isAudioEnabled"), ("videoMuted", video, "isVideoEnabled")):
            if value is None or getattr(participant, MUTE_FIELDS[name]) == value:
                continue
            changed[name] = value
            setattr(participant, MUTE_FIELDS[name], value)
            if value and getattr(participant, STATE[state]):
                changed[state] = False
                setattr(participant, STATE[state], False)
        if changed:
            participant.save(update_fields=[MUTE_FIELDS.get(key) or STATE[key] for key in changed] + ["updated_at"])
            _forwarding_apply(session, participant)
            _moderated(
                session,
                participant,
                user,
                EventType.MUTE,
                changed,
                audio=participant.audio_muted,
                video=participant.video_muted,
            )
            _direct(
                session.pk,
                participant.user_id,
                MUTED,
                {"sessionId": str(session.pk), "audio": participant.audio_muted, "video": participant.video_muted},
            )
    return participant


def participant_remove(*, session_id: Any, user: User, participant_id: Any) -> Participant:
    """The tutor removes the student: disconnected at the provider, out of the realtime room (their
    connections receive `removed`), and refused tokens, joins and video until admitted."""
    with transaction.atomic():
        session, participant = _moderation_target(
            session_id=session_id,
            user=user,
            participant_id=participant_id,
            only_student=gettext("Only the student can be removed."),
        )
        if participant.removed:
            return participant
        get_video_provider().participant_disconnect(room_sid=session.room_sid, identity=str(participant.user_id))
        participant.removed = True
        participant.save(update_fields=["removed", "updated_at"])
        _moderated(session, participant, user, EventType.REMOVE, {"removed": True})
        _direct(session.pk, participant.user_id, REMOVED, {"sessionId": str(session.pk)})
        # Their connections leave the room now, as far as presence goes; the transports drop the
        # subscriptions when the `removed` event reaches them.
        presences = Presence.objects.filter(session=session, connection__user_id=participant.user_id)
        _presences_end(list(presences.values_list("connection_id", "session_id", "connection__user_id")))
        presences.delete()
    _presence_settle([(session.pk, participant.user_id)])
    participant.refresh_from_db()
    return participant


def participant_admit(*, session_id: Any, user: User, participant_id: Any) -> Participant:
    """The tutor lets a removed student back in."""
    with transaction.atomic():
        session, participant = _moderation_target(
            session_id=session_id,
            user=user,
            participant_id=participant_id,
            only_student=gettext("Only the student can be admitted."),
        )
        if participant.removed:
            participant.removed = False
            participant.save(update_fields=["removed", "updated_at"])
            _moderated(session, participant, user, EventType.ADMIT, {"removed": False})
    return participant


def _check_not_removed(*, session: Session, user: User) -> None:
    if Participant.objects.filter(session=session, user=user, removed=True).exists():
        raise Forbidden(REMOVED_MESSAGE)


# --- recording (docs/classroom.md "Recording") ------------------------------------------------------------


def _recording_locked(session: Session) -> Recording:
    Recording.objects.get_or_create(session=session)
    return Recording.objects.select_for_update().get(session=session)


def _recording_publish(recording: Recording) -> None:
    broadcast(recording.session_id, RECORDING_UPDATED, recording_event(recording))


ONLY_TUTOR_RECORDS = gettext_lazy("Only the tutor can record the class.")


def _tutor_session(*, session_id: Any, user: User, message: str) -> Session:
    session = selectors.session_get_for_user(
        session_id=session_id, user=user, queryset=Session.objects.select_for_update(of=("self",))
    )
    if user.pk != session.booking.tutor_id:
        raise Forbidden(message)
    return session


def recording_start(*, session_id: Any, user: User) -> Recording:
    """The tutor starts recording an active class: Twilio records every track from now on."""
    with transaction.atomic():
        session = _tutor_session(
            session_id=session_id, user=user, message=gettext("Only the tutor can record the class.")
        )
        if session.status != SessionStatus.ACTIVE:
            raise Conflict(gettext("Only an active class can be recorded."))
        recording = _recording_locked(session)
        if recording.status == RecordingStatus.RECORDING:
            raise Conflict(gettext("The class is being recorded already."))
        get_video_provider().recording_set(room_sid=session.room_sid, on=True)
        now = timezone.now()
        recording.status = RecordingStatus.RECORDING
        recording.started_at = recording.started_at or now
        recording.stopped_at = None
        recording.save()
        event_record(session_id=session.pk, type=EventType.RECORDING_START, actor_id=user.pk, timestamp=now)
        _recording_publish(recording)
    return recording


def _recording_off(session: Session, recording: Recording, *, actor_id: Any, now: Any, tell_provider: bool) -> None:
    if tell_provider:
        get_video_provider().recording_set(room_sid=session.room_sid, on=False)
    recording.status = RecordingStatus.PROCESSING
    recording.stopped_at = now
    recording.save()
    event_record(session_id=session.pk, type=EventType.RECORDING_STOP, actor_id=actor_id, timestamp=now)


def recording_stop(*, session_id: Any, user: User) -> Recording:
    """The tutor stops recording: nothing more is recorded; what was is composed when the class ends."""
    with transaction.atomic():
        session = _tutor_session(
            session_id=session_id, user=user, message=gettext("Only the tutor can record the class.")
        )
        recording = _recording_locked(session)
        if recording.status != RecordingStatus.RECORDING:
            raise Conflict(gettext("The class is not being recorded."))
        _recording_off(session, recording, actor_id=user.pk, now=timezone.now(), tell_provider=True)
        _recording_publish(recording)
    return recording


def _recording_finish(session: Session) -> None:
    """The class ended (in the caller's transaction): recording stops with the room, and once the end is
    committed one composition of both parties is asked for."""
    recording = Recording.objects.select_for_update().filter(session=session).first()
    if recording is None or recording.status not in (RecordingStatus.RECORDING, RecordingStatus.PROCESSING):
        return
    if recording.status == RecordingStatus.RECORDING:
        # The room is completed: it records nothing more, and Twilio need not be told.
        _recording_off(session, recording, actor_id=None, now=session.actual_end_time, tell_provider=False)
    _recording_publish(recording)
    transaction.on_commit(lambda: recording_compose(session_id=session.pk))


def recording_compose(*, session_id: Any) -> Recording:
    """Ask the provider for the composition (after the class ended). A provider failure leaves the
    recording `failed` (logged): ending the class never waits on it."""
    with transaction.atomic():
        locked = Recording.objects.select_for_update(of=("self",))
        recording = locked.select_related("session").get(session_id=session_id)
        if recording.status != RecordingStatus.PROCESSING or recording.composition_sid:
            return recording
        try:
            recording.composition_sid = get_video_provider().composition_create(room_sid=recording.session.room_sid)
        except ApplicationError:
            logger.exception("session %s: the composition of its recording could not be requested", session_id)
            recording.status = RecordingStatus.FAILED
            _recording_publish(recording)
        recording.save()
    return recording


def composition_callback_handle(*, params: Mapping[str, str]) -> str:
    """Apply one verified composition callback: available → `ready` (with its duration), failed → `failed`."""
    event = params.get("StatusCallbackEvent", "")
    status = {"composition-available": RecordingStatus.READY, "composition-failed": RecordingStatus.FAILED}.get(event)
    if status is None:
        return f"ignored {event}"
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update().filter(composition_sid=params.get("CompositionSid", "")).first()
        )
        if recording is None:
            return f"ignored {event}: unknown composition"
        if recording.status != RecordingStatus.PROCESSING:
            return f"ignored {event}: recording is {recording.status}"
        recording.status = status
        try:
            recording.duration_seconds = int(params.get("Duration", "")) if status == RecordingStatus.READY else None
        except ValueError:
            recording.duration_seconds = None
        recording.save()
        _recording_publish(recording)
    return f"{event}: recording {status}"


# --- the record (docs/classroom.md "The record") ---------------------------------------------------------------


def event_record(
    *,
    session_id: Any,
    type: str,
    actor_id: Any = None,
    data: dict | None = None,
    timestamp: Any = None,
    dedup_key: str | None = None,
) -> SessionEvent | None:
    """Append one event to the session's record; None if an event of `dedup_key` is there already."""
    event = SessionEvent(
        session_id=session_id,
        type=type,
        actor_id=actor_id,
        data=data or {},
        timestamp=timestamp or timezone.now(),
        dedup_key=dedup_key,
    )
    if dedup_key is None:
        event.save(force_insert=True)
        return event
    try:
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:
        return None
    return event


def _presences_end(triples: Iterable[tuple[Any, Any, Any]]) -> None:
    """Record `leave` for each (connection, session, user) whose presence ends now."""
    now = timezone.now()
    SessionEvent.objects.bulk_create(
        SessionEvent(
            session_id=session_id,
            type=EventType.LEAVE,
            actor_id=user_id,
            data={"via": "realtime", "connection": str(connection_id)},
            timestamp=now,
        )
        for connection_id, session_id, user_id in triples
    )


# --- chat -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageDraft:
    session_id: Any
    sender: User
    content: Any


NOT_STORABLE = gettext_lazy("content cannot contain NUL characters or unpaired surrogates.")
DEACTIVATED = gettext_lazy("This account is deactivated.")


def _storable(text: str) -> bool:
    """What PostgreSQL can keep in a text column: no NUL, and valid UTF-8 (no lone surrogates)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def chat_buckets(drafts: Sequence[MessageDraft]) -> tuple[list[Bucket], list[list[int]]]:
    """The chat limit's bucket of each sender in `drafts`, costing one hit per draft, and the indices
    of each sender's drafts in the same order."""
    chat_rate = rate(settings.RATE_LIMIT_CHAT)
    by_sender: dict[Any, list[int]] = {}
    for i, draft in enumerate(drafts):
        by_sender.setdefault(draft.sender.pk, []).append(i)
    buckets = [Bucket(key=f"chat:user:{pk}", rate=chat_rate, cost=len(indices)) for pk, indices in by_sender.items()]
    return buckets, list(by_sender.values())


def chat_refusals(buckets: list[Bucket], taken: list[Taken], indices: list[list[int]]) -> dict[int, RateLimited]:
    """The drafts of each sender past what the count let through (the latest ones), with their 429."""
    refused: dict[int, RateLimited] = {}
    for bucket, took, drafts_of_sender in zip(buckets, taken, indices, strict=True):
        for i in drafts_of_sender[took.allowed :]:
            refused[i] = rate_limited(bucket, took)
    return refused


def _insert(messages: dict[int, Message], results: list) -> None:
    """One INSERT for the batch; if it fails, each message on its own, so a bad one fails alone."""
    try:
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            # One statement, atomic on its own: bulk_create would wrap it in BEGIN … COMMIT, two more
            # round trips per batch (SQLite may need several statements for one batch: bulk_create).
            Message._base_manager._insert(list(messages.values()), fields=Message._meta.concrete_fields)
        else:
            with transaction.atomic():
                Message.objects.bulk_create(messages.values())
        return
    except (DatabaseError, ValueError):
        logger.warning("chat batch of %d failed as one insert; storing them one by one", len(messages))
    for i, message in messages.items():
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except (DatabaseError, ValueError):
            logger.exception("chat message from %s could not be stored", message.sender_id)
            results[i] = ApplicationError(REASONS[500], status_code=500)


@functools.cache
def insert_allowed_sql() -> str:
    """The chat batch's checked INSERT (`_insert_allowed`), in psycopg's placeholders.

    The checks are a LATERAL subquery per message rather than joins to the batch: PostgreSQL expects
    100 rows of any `json_to_recordset`, and for that many it joined the sessions and bookings by
    reading both tables whole (1,500 classrooms: 0.85 of the statement's 1.2 ms, growing with them).
    Per message, each is one lookup by key."""
    fields = {f.name: f.column for f in Message._meta.concrete_fields}
    quote = connection.ops.quote_name
    booking = Booking._meta
    return (
        f"INSERT INTO {quote(Message._meta.db_table)} "
        f"({', '.join(quote(fields[name]) for name in ('id', 'session', 'sender', 'content', 'created_at'))}) "
        "SELECT d.id, d.session_id, d.sender_id, d.content, d.created_at "
        "FROM json_to_recordset(%s::json) "
        "AS d(id uuid, session_id uuid, sender_id uuid, content text, created_at timestamptz) "
        "CROSS JOIN LATERAL (SELECT 1 "
        f"FROM {quote(Session._meta.db_table)} s "
        f"JOIN {quote(booking.db_table)} b ON b.{quote(booking.pk.column)} "
        f"= s.{quote(Session._meta.get_field('booking').column)} "
        f"JOIN {quote(User._meta.db_table)} u ON u.{quote(User._meta.pk.column)} = d.sender_id "
        f"AND u.{quote(User._meta.get_field('is_active').column)} "
        f"WHERE s.{quote(Session._meta.pk.column)} = d.session_id "
        f"AND s.{quote(Session._meta.get_field('status').column)} <> %s "
        f"AND d.sender_id IN (b.{quote(booking.get_field('tutor').column)}, "
        f"b.{quote(booking.get_field('student').column)}) "
        "LIMIT 1) allowed "
        f"RETURNING {quote(fields['id'])}"
    )


def insert_allowed_params(messages: dict[int, Message]) -> tuple[list[Any], dict[uuid.UUID, int]]:
    """`insert_allowed_sql()`'s parameters for `messages`, and the key of each message by its id.

    The batch goes as one JSON text rather than five arrays: psycopg adapts a list element by element
    in Python, which cost the event loop ~60 µs more per batch than `json.dumps` does. orjson writes
    the UUIDs and times itself (in RFC 3339, as `isoformat` does), faster again; a message's content
    is always text it can write (`_storable`)."""
    rows = [
        {
            "id": m.id,
            "session_id": m.session_id,
            "sender_id": m.sender_id,
            "content": m.content,
            "created_at": m.created_at,
        }
        for m in messages.values()
    ]
    params = [orjson.dumps(rows).decode(), SessionStatus.COMPLETED.value]
    return params, {message.id: i for i, message in messages.items()}


def _insert_allowed(messages: dict[int, Message]) -> list[int]:
    """On PostgreSQL: insert, in one statement, those of `messages` whose session is open and whose
    sender is one of its parties and active; the keys of those stored. The chat writer's whole batch
    in one round trip, with no ORM query to build: the checks a separate sessions query made are the
    statement's joins. Nothing is stored if it fails (one statement); the caller then checks each."""
    params, keys = insert_allowed_params(messages)
    try:
        # Inside a transaction (tests, callers' atomic blocks) a savepoint keeps a failure contained;
        # on its own the statement is atomic without BEGIN/COMMIT, two round trips fewer.
        savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(insert_allowed_sql(), params)
            return [keys[row[0]] for row in cursor.fetchall()]
    except (DatabaseError, ValueError):
        logger.warning("chat batch of %d failed as one checked insert; checking each", len(messages), exc_info=True)
        return []


def _uuid4s(count: int) -> Iterator[uuid.UUID]:
    """`count` random (version 4) UUIDs from one call to the OS's random source instead of one each: in
    the chat writer's thread every such call lets go of the GIL, and while the event loop is busy each
    one costs up to a switch interval to get it back."""
    random = os.urandom(16 * count)
    return (uuid.UUID(bytes=random[16 * i : 16 * i + 16], version=4) for i in range(count))


def messages_store(*, drafts: Sequence[MessageDraft]) -> list[Message | ApplicationError]:
    """Store chat messages of parties, several at once; each draft gets its stored message or its error.

    Each draft is counted against the sender's chat limit first (429: neither stored nor sent; the whole
    batch in one round trip to the cache), then checked (content trimmed, 1–2000 characters, storable;
    404 unknown session; 403 not a party; 401 sender deactivated; 409 class ended). On PostgreSQL one
    statement inserts all that pass (`_insert_allowed`) and only what it kept out costs a query of its
    sessions, to say why; elsewhere one query for all their sessions and one INSERT for all that pass.
    That is what lets the realtime writer store a burst of messages in one go. No draft can fail
    another: one the database refuses anyway is retried alone. Nothing is published here: the caller
    publishes what was stored.

    The realtime writer makes the same steps on its event loop (`live.realtime.writer`): the count and
    the checked insert there, `messages_check` and `messages_store_rest` here.
    """
    buckets, indices = chat_buckets(drafts)
    results, candidates = messages_check(drafts, chat_refusals(buckets, rate_take(buckets), indices))
    return messages_store_checked(drafts, results, candidates)


def messages_store_checked(
    drafts: Sequence[MessageDraft], results: Outcomes, candidates: dict[int, Message]
) -> list[Message | ApplicationError]:
    """`messages_store` once its drafts are counted and checked (`messages_check`): on PostgreSQL the
    checked insert, then `messages_store_rest` for whatever it kept out (elsewhere, for all)."""
    if candidates and connection.vendor == "postgresql":
        for i in _insert_allowed(candidates):
            results[i] = candidates.pop(i)
    return messages_store_rest(drafts, results, candidates)


Outcomes = list[Message | ApplicationError | None]


def messages_check(
    drafts: Sequence[MessageDraft], refused: Mapping[int, RateLimited]
) -> tuple[Outcomes, dict[int, Message]]:
    """The outcome so far of each draft (its 429 or its content's 400; None if it passed) and, by index,
    the message to insert for each one that passed and names a session id that can exist. No query."""
    results: Outcomes = [None] * len(drafts)
    texts: dict[int, str] = {}
    for i, draft in enumerate(drafts):
        if i in refused:
            results[i] = refused[i]
            continue
        text = draft.content.strip() if isinstance(draft.content, str) else ""
        if not 1 <= len(text) <= MESSAGE_MAX_LENGTH:
            message = gettext("content must be 1 to %(max)s characters.") % {"max": MESSAGE_MAX_LENGTH}
            results[i] = ApplicationError(
                gettext("Invalid input. %(problem)s") % {"problem": message}, errors={"content": [message]}
            )
        elif not _storable(text):
            message = str(NOT_STORABLE)
            results[i] = ApplicationError(
                gettext("Invalid input. %(problem)s") % {"problem": message}, errors={"content": [message]}
            )
        else:
            texts[i] = text
    ids = _uuid4s(len(texts))
    candidates = {
        i: _new_message(next(ids), session_pk, drafts[i].sender, text)
        for i, text in texts.items()
        if (session_pk := selectors.session_uuid(drafts[i].session_id)) is not None
    }
    return results, candidates


_SENDER = Message._meta.get_field("sender")


def _new_message(id: uuid.UUID, session_pk: uuid.UUID, sender: User, content: str) -> Message:
    """`Message(id=…, session_id=…, sender=…, content=…)`, built from its fields in order: Django's fast
    way (no keyword matching, no descriptors, no defaults to look up), a third of the cost on the event
    loop per chat message. The sender is kept as the keyword form keeps it, so reading it costs no query."""
    message = Message(id, session_pk, sender.pk, content, timezone.now())
    _SENDER.set_cached_value(message, sender)
    return message


def messages_store_rest(
    drafts: Sequence[MessageDraft], results: Outcomes, candidates: dict[int, Message]
) -> list[Message | ApplicationError]:
    """Settle every draft still without an outcome, `candidates` being those of them not stored yet (on
    SQLite all; on PostgreSQL what the checked insert kept out, to be told why): one query for their
    sessions, then one INSERT for whatever passes after all (a session that changed in between)."""
    session_ids = {message.session_id for message in candidates.values()}
    sessions = (
        {
            row[0]: row[1:]
            for row in Session.objects.filter(pk__in=session_ids).values_list(
                "pk",
                "status",
                "booking__tutor_id",
                "booking__student_id",
                "booking__tutor__is_active",
                "booking__student__is_active",
            )
        }
        if session_ids
        else {}
    )
    stored: dict[int, Message] = {}
    for i, outcome in enumerate(results):
        if outcome is not None:
            continue  # refused before, or stored by the checked insert
        draft, message = drafts[i], candidates.get(i)
        row = sessions.get(message.session_id) if message is not None else None
        if row is None:
            results[i] = NotFound(selectors.NOT_FOUND)
            continue
        status, tutor_id, student_id, tutor_active, student_active = row
        if draft.sender.pk not in (tutor_id, student_id):
            results[i] = Forbidden(PARTIES_ONLY)
        elif not (tutor_active if draft.sender.pk == tutor_id else student_active):
            # Checked with the batch's own query: a socket outliving its user's deactivation says nothing.
            results[i] = Unauthorized(DEACTIVATED)
        elif status == SessionStatus.COMPLETED:
            results[i] = Conflict(gettext("The class has ended."))
        else:
            results[i] = stored[i] = message
    if stored:
        _insert(stored, results)
    return results  # type: ignore[return-value]  (every outcome is set by now)


# --- realtime connections and presence ----------------------------------------------------------------


def realtime_join_check(*, session_id: Any, user: User) -> Session:
    """A party may enter the session's room (`join`): counted against RATE_LIMIT_REALTIME_JOIN."""
    rate_check([Bucket(key=f"rt-join:user:{user.pk}", rate=rate(settings.RATE_LIMIT_REALTIME_JOIN))])
    session = selectors.session_get_for_party(session_id=session_id, user=user)
    _check_not_removed(session=session, user=user)
    return session


def _expiry() -> Any:
    return timezone.now() + timedelta(seconds=settings.REALTIME_PRESENCE_TTL_SECONDS)


def connection_open(*, connection_id: uuid.UUID, user: User, process_id: uuid.UUID) -> Connection:
    """A realtime connection of `user` opens on this process; 429 past REALTIME_MAX_CONNECTIONS_PER_USER.

    Connections of a dead process count until they expire (REALTIME_PRESENCE_TTL_SECONDS).
    """
    limit = settings.REALTIME_MAX_CONNECTIONS_PER_USER
    if Connection.objects.filter(user=user, expires_at__gt=timezone.now()).count() >= limit:
        raise RateLimited(
            gettext("Too many open realtime connections (at most %(limit)s per user).") % {"limit": limit},
            retry_after=settings.REALTIME_HEARTBEAT_SECONDS,
        )
    return Connection.objects.create(id=connection_id, user=user, process_id=process_id, expires_at=_expiry())


SETTLE_CHUNK = 500


def _presence_settle(pairs: Iterable[tuple[Any, Any]]) -> None:
    """Make each (session, user)'s `isConnected` say whether any live connection of theirs is in the
    session, and broadcast the changes. Under the participants' row locks (taken in one order), so the
    last writer sees the truth; thousands of pairs (a process shutting down) cost a few statements."""
    pairs = sorted(
        {(selectors.session_uuid(s), u if isinstance(u, uuid.UUID) else uuid.UUID(str(u))) for s, u in pairs}, key=str
    )
    for start in range(0, len(pairs), SETTLE_CHUNK):
        chunk = set(pairs[start : start + SETTLE_CHUNK])
        session_ids, user_ids = {p[0] for p in chunk}, {p[1] for p in chunk}
        with transaction.atomic():
            rows = [
                row
                for row in Participant.objects.select_for_update()
                .filter(session_id__in=session_ids, user_id__in=user_ids)
                .order_by("pk")
                if (row.session_id, row.user_id) in chunk
            ]
            live = set(
                Presence.objects.filter(
                    session_id__in=session_ids,
                    connection__user_id__in=user_ids,
                    connection__expires_at__gt=timezone.now(),
                ).values_list("session_id", "connection__user_id")
            )
            changed = [row for row in rows if row.is_connected != ((row.session_id, row.user_id) in live)]
            now = timezone.now()
            for row in changed:
                row.is_connected, row.updated_at = not row.is_connected, now
            # Two plain UPDATEs, not bulk_update: its CASE per row took Django ~0.6 ms of CPU a row to
            # build, seconds for a dead process's thousands, on the survivor's database thread.
            for connected in (False, True):
                if pks := [row.pk for row in changed if row.is_connected is connected]:
                    Participant.objects.filter(pk__in=pks).update(is_connected=connected, updated_at=now)
            broadcast_many(
                (
                    row.session_id,
                    PARTICIPANT_UPDATED,
                    {"participantId": str(row.user_id), "updates": {"isConnected": row.is_connected}},
                )
                for row in changed
            )


def presence_enter(*, connection_id: uuid.UUID, process_id: uuid.UUID, session_id: Any, user: User) -> bool:
    """The connection joined the session: its user is connected there (docs/realtime.md "Presence").

    False, with nothing recorded, if the tutor has removed the user. The participant's row is locked as
    `participant_remove` locks it: a removal that committed first is seen here; one that commits after
    finds this presence and ends it.
    """
    with transaction.atomic():
        removed = (
            Participant.objects.select_for_update()
            .filter(session_id=session_id, user=user)
            .values_list("removed", flat=True)
            .first()
        )
        if removed:
            return False
        # A sweep may have removed the connection while its process could not refresh it (stalled,
        # database away): record it again rather than lose the presence.
        Connection.objects.get_or_create(
            id=connection_id, defaults={"user": user, "process_id": process_id, "expires_at": _expiry()}
        )
        _, created = Presence.objects.get_or_create(connection_id=connection_id, session_id=session_id)
        if created:
            event_record(
                session_id=session_id,
                type=EventType.JOIN,
                actor_id=user.pk,
                data={"via": "realtime", "connection": str(connection_id)},
            )
    _presence_settle([(session_id, user.pk)])
    return True


def presence_exit(*, connection_id: uuid.UUID, session_id: Any, user: User) -> None:
    """The connection left the session; the user's last connection there marks them disconnected."""
    deleted, _ = Presence.objects.filter(connection_id=connection_id, session_id=session_id).delete()
    if deleted:
        _presences_end([(connection_id, session_id, user.pk)])
    _presence_settle([(session_id, user.pk)])


def _connections_drop(queryset) -> int:
    """Delete connections (and so their presences), record their leaving and settle the presence they held.

    The connections are read first and their presences by id, not in one join: these tables fill and
    empty fast, and with statistics from when they were nearly empty PostgreSQL joined a dead
    process's 4,000 connections to their presences by nested loops (3.5 s; `bench/sweep_cost.py`).
    """
    users = dict(queryset.values_list("pk", "user_id"))
    if not users:
        return 0
    ids = list(users)
    triples = [
        (connection_id, session_id, users[connection_id])
        for connection_id, session_id in Presence.objects.filter(connection_id__in=ids).values_list(
            "connection_id", "session_id"
        )
    ]
    pairs = {(session_id, user_id) for _, session_id, user_id in triples}
    _, deleted = queryset.filter(pk__in=ids).delete()
    _presences_end(triples)
    _presence_settle(pairs)
    return deleted.get(Connection._meta.label, 0)


def connection_close(*, connection_id: uuid.UUID) -> None:
    _connections_drop(Connection.objects.filter(pk=connection_id))


def connections_refresh(
    *, process_id: uuid.UUID, open_connections: Mapping[uuid.UUID, tuple[User, Iterable[Any]]]
) -> None:
    """The process's heartbeat: its connections live another TTL. Any it holds that a sweep removed
    (the process was stalled longer than the TTL) are recorded again, with their sessions."""
    updated = Connection.objects.filter(process_id=process_id).update(expires_at=_expiry())
    if updated >= len(open_connections):
        return
    known = set(Connection.objects.filter(pk__in=list(open_connections)).values_list("pk", flat=True))
    for connection_id, (user, session_ids) in open_connections.items():
        if connection_id in known:
            continue
        Connection.objects.get_or_create(
            id=connection_id, defaults={"user": user, "process_id": process_id, "expires_at": _expiry()}
        )
        for session_id in session_ids:
            presence_enter(connection_id=connection_id, process_id=process_id, session_id=session_id, user=user)


def connections_sweep() -> int:
    """Drop every connection whose process stopped refreshing it (it died); returns how many."""
    return _connections_drop(Connection.objects.filter(expires_at__lte=timezone.now()))


def connections_end_process(*, process_id: uuid.UUID) -> int:
    """The process is shutting down: drop all its connections at once (their presence settled)."""
    return _connections_drop(Connection.objects.filter(process_id=process_id))


def users_inactive(*, user_ids: Iterable[Any]) -> set[Any]:
    """Those of `user_ids` that are deactivated or deleted."""
    user_ids = set(user_ids)
    return user_ids - set(User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True))


# --- provider callbacks (docs/api.md "Webhooks") ---------------------------------------------------------------


def _provider_updates(event: str, track_kind: str) -> dict[str, bool] | None:
    if event in ("participant-connected", "participant-disconnected"):
        return {"isConnected": event == "participant-connected"}
    if event in ("track-added", "track-enabled", "track-removed", "track-disabled"):
        field = {"audio": "isAudioEnabled", "video": "isVideoEnabled"}.get(track_kind)
        if field is None:  # data tracks carry no state of ours
            return None
        return {field: event in ("track-added", "track-enabled")}
    return None


def video_callback_handle(*, params: Mapping[str, str]) -> str:
    """Apply one verified Twilio room status callback; returns what was done (for the log).

    Unknown rooms, identities and events are ignored, not refused: Twilio would only retry them. The
    room is matched by its sid when given, so the late events of a room replaced at start are ignored.
    """
    event = params.get("StatusCallbackEvent", "")
    room_sid, room_name = params.get("RoomSid", ""), params.get("RoomName", "")
    lookup = {"room_sid": room_sid} if room_sid else {"room_name": room_name}
    session = Session.objects.filter(**lookup).first() if (room_sid or room_name) else None
    if session is None:
        return f"ignored {event}: unknown room"

    if event == "room-ended":
        try:
            session_complete(session_id=session.pk, complete_room=False)
        except Conflict:
            return f"ignored {event}: session is {session.status}"
        return f"{event}: session completed"

    updates = _provider_updates(event, params.get("TrackKind", ""))
    if updates is None:
        return f"ignored {event}"
    try:
        user_id = uuid.UUID(params.get("ParticipantIdentity", ""))
    except ValueError:
        return f"ignored {event}: unknown identity"
    participant = Participant.objects.filter(session=session, user_id=user_id).first()
    if participant is None:
        return f"ignored {event}: unknown identity"
    at = _provider_time(params.get("Timestamp", ""))
    if "isConnected" in updates:
        # Twilio numbers a room's callbacks: a retried callback is the same number and is recorded once.
        sequence = params.get("SequenceNumber", "")
        event_record(
            session_id=session.pk,
            type=EventType.VIDEO_CONNECTED if updates["isConnected"] else EventType.VIDEO_DISCONNECTED,
            actor_id=user_id,
            data={"via": "video", "connection": params.get("ParticipantSid", "")},
            timestamp=at,
            dedup_key=f"twilio:{session.room_sid}:{sequence}:{event}" if sequence else None,
        )
        if updates["isConnected"] and participant.removed:
            # Connected with a token issued before the removal: disconnected again at once.
            get_video_provider().participant_disconnect(room_sid=session.room_sid, identity=str(user_id))
            return f"{event}: removed participant disconnected"
        if updates["isConnected"] and participant.role == ParticipantRole.TUTOR:
            # A new connection of the tutor starts with Twilio's default rules (everything): the
            # student's muted tracks are excluded again.
            student = Participant.objects.filter(session=session, role=ParticipantRole.STUDENT).first()
            if student is not None and (student.audio_muted or student.video_muted):
                _forwarding_apply(session, student)
    _participant_apply(session_id=session.pk, user_id=user_id, updates=updates, via="video", timestamp=at)
    return f"{event}: applied"


def _provider_time(value: str) -> Any:
    """Twilio's `Timestamp` of the event (ISO 8601), else now."""
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        return timezone.now()
    return parsed
