"""Every write of the live classroom: sessions, participant state and chat (docs/api.md "Live classroom",
docs/realtime.md).

Views, webhook handlers, admin actions and the realtime transports all call these. Each change that
clients should see is published on the bus (`live.realtime.broadcast`) once its transaction commits.

Provider calls never leave half a change behind: a room is created before the session row that names
it (its unique name comes from the booking, so a retry finds the same room), and a session is ended
at the provider inside the transaction that completes it, so a provider failure (502) rolls it all back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from live import selectors
from live.models import Message, Participant, Session, SessionStatus
from live.realtime import broadcast
from live.serializers import session_event
from live.video import AccessGrant, get_video_provider
from tutoring.access import PARTIES_ONLY, check_booking_access, has_role
from tutoring.errors import ApplicationError, Conflict, Forbidden, NotFound, RateLimited
from tutoring.models import Booking, BookingStatus, Role, User
from tutoring.ratelimit import check_rate
from tutoring.services import booking_complete

logger = logging.getLogger(__name__)

SESSION_UPDATED = "session_updated"
PARTICIPANT_UPDATED = "participant_updated"
MESSAGE = "message"

# Participant state by its contract name: what clients may set, and what the provider reports too.
CLIENT_STATE = {
    "isAudioEnabled": "is_audio_enabled",
    "isVideoEnabled": "is_video_enabled",
    "isScreenSharing": "is_screen_sharing",
    "handRaised": "hand_raised",
}
STATE = {**CLIENT_STATE, "isConnected": "is_connected"}

MESSAGE_MAX_LENGTH = 2000


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
        broadcast(session.pk, SESSION_UPDATED, session_event(session))
    return session


def session_end(*, session_id: Any, user: User) -> Session:
    """The tutor (or staff) ends the class: the provider room is completed and the booking too."""
    session = selectors.session_get_for_user(session_id=session_id, user=user, staff_allowed=True)
    if user.pk != session.booking.tutor_id and not has_role(user, Role.STAFF):
        raise Forbidden(gettext("Only the tutor or staff can end the class."))
    return session_complete(session_id=session.pk, complete_room=True)


def session_complete(*, session_id: Any, complete_room: bool) -> Session:
    """`active` → `completed`, and the booking `completed`: its tutor's share is released once the
    earnings hold has passed (`payments.services.earnings_release`).

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
        try:
            session.booking = booking_complete(booking_id=session.booking_id, at=session.actual_end_time)
        except Conflict:
            # Refunded or cancelled while the class ran: the class is over, but it earns nothing.
            logger.warning("session %s ended; booking %s left as it is", session.pk, session.booking_id)
        broadcast(session.pk, SESSION_UPDATED, session_event(session))
    return session


# --- participants -----------------------------------------------------------------------------------


def _participant_apply(*, session_id: Any, user_id: Any, updates: Mapping[str, bool]) -> Participant | None:
    """Store `updates` (contract names → booleans) and publish what actually changed."""
    with transaction.atomic():
        participant = Participant.objects.select_for_update().filter(session_id=session_id, user_id=user_id).first()
        if participant is None:
            return None
        changed = {key: value for key, value in updates.items() if getattr(participant, STATE[key]) != value}
        if changed:
            for key, value in changed.items():
                setattr(participant, STATE[key], value)
            participant.save(update_fields=[*(STATE[key] for key in changed), "updated_at"])
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
    session = selectors.session_get_for_party(session_id=session_id, user=user)
    if session.status == SessionStatus.COMPLETED:
        raise Conflict(gettext("The class has ended."))
    return _participant_apply(session_id=session.pk, user_id=user.pk, updates=updates)


def participant_connection_set(*, session_id: Any, user: User, connected: bool) -> Participant | None:
    """A party's first realtime connection to the session opened, or its last one closed (docs/realtime.md)."""
    return _participant_apply(session_id=session_id, user_id=user.pk, updates={"isConnected": connected})


# --- chat -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageDraft:
    session_id: Any
    sender: User
    content: Any


def chat_rate_check(user: User) -> None:
    """Count one chat message of `user` (RATE_LIMIT_CHAT) in the shared cache, whatever the transport."""
    check_rate(None, group="chat", rate=settings.RATE_LIMIT_CHAT, key=lambda group, request: str(user.pk))


def messages_store(*, drafts: Sequence[MessageDraft]) -> list[Message | ApplicationError]:
    """Store chat messages of parties, several at once; each draft gets its stored message or its error.

    Each draft is counted against the sender's chat limit first (429: neither stored nor sent), then
    checked (content trimmed, 1–2000 characters; 404 unknown session; 403 not a party; 409 class
    ended), at the cost of one query for all their sessions and one INSERT for all that pass — which
    is what lets the realtime writer store a burst of messages in one go. Nothing is published here:
    the caller publishes what was stored.
    """
    results: list[Message | ApplicationError | None] = [None] * len(drafts)
    texts: dict[int, str] = {}
    for i, draft in enumerate(drafts):
        try:
            chat_rate_check(draft.sender)
        except RateLimited as exc:
            results[i] = exc
            continue
        text = draft.content.strip() if isinstance(draft.content, str) else ""
        if 1 <= len(text) <= MESSAGE_MAX_LENGTH:
            texts[i] = text
        else:
            message = gettext("content must be 1 to %(max)s characters.") % {"max": MESSAGE_MAX_LENGTH}
            results[i] = ApplicationError(
                gettext("Invalid input. %(problem)s") % {"problem": message}, errors={"content": [message]}
            )
    session_ids = {selectors.session_uuid(drafts[i].session_id) for i in texts} - {None}
    sessions = {
        pk: (status, tutor_id, student_id)
        for pk, status, tutor_id, student_id in Session.objects.filter(pk__in=session_ids).values_list(
            "pk", "status", "booking__tutor_id", "booking__student_id"
        )
    }
    stored: list[Message] = []
    for i, text in texts.items():
        draft = drafts[i]
        session_pk = selectors.session_uuid(draft.session_id)
        row = sessions.get(session_pk)
        if row is None:
            results[i] = NotFound(selectors.NOT_FOUND)
        elif draft.sender.pk not in (row[1], row[2]):
            results[i] = Forbidden(PARTIES_ONLY)
        elif row[0] == SessionStatus.COMPLETED:
            results[i] = Conflict(gettext("The class has ended."))
        else:
            results[i] = Message(session_id=session_pk, sender=draft.sender, content=text)
            stored.append(results[i])
    Message.objects.bulk_create(stored)
    return results


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
    if _participant_apply(session_id=session.pk, user_id=user_id, updates=updates) is None:
        return f"ignored {event}: unknown identity"
    return f"{event}: applied"
