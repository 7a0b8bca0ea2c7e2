"""The realtime events (docs/realtime.md), once for both transports.

A transport (the socket.io namespace, the Channels consumer) authenticates a connection, opens it here
(`connect`, with how to subscribe that connection to a session's events), hands every client event to
`dispatch`, which answers `{"data": ...}` or the error body `{statusCode, message}`, and closes it with
`disconnect`. Rules live in `live.services` (the chat limit included); this module checks what only a
connection knows (has it joined?). Each event costs one thread hop to the database (`join` two: see
`join`; chat messages share theirs, see `live.realtime.writer`).

Events reach clients only through the bus (`live.realtime.broadcast` from the services after commit,
or `abroadcast` from the chat writer once a batch is stored), so a message stored through one
transport or process reaches every other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.core.cache import cache
from django.db import connection
from django.utils.translation import gettext, gettext_lazy

from live import selectors, services
from live.realtime.writer import writer_for_loop
from live.serializers import MessageOut, ParticipantOut, SessionOut
from tutoring.api.errors import REASONS
from tutoring.errors import ApplicationError, Forbidden
from tutoring.models import User

logger = logging.getLogger(__name__)

JOIN_HISTORY = 50
NOT_JOINED = gettext_lazy("Join the session first.")
# How long a presence count outlives its last change; a process that dies without saying goodbye
# leaves its connections counted at most this long.
PRESENCE_TTL = 12 * 3600


@dataclass(eq=False)
class Client:
    """One realtime connection of either transport: its user and the sessions it has joined."""

    user: User
    subscribe: Callable[[str], Awaitable[None]]
    unsubscribe: Callable[[str], Awaitable[None]]
    sessions: set[str] = field(default_factory=set)


def _db(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run `fn` in a worker thread with a usable database connection.

    On PostgreSQL calls run in parallel threads (each keeps its own connection) so one slow write does
    not queue every other socket behind it; SQLite has a single writer anyway, and its in-memory test
    database must not be written from two threads at once, so there they share Django's one thread.
    """
    return database_sync_to_async(fn, thread_sensitive=connection.vendor == "sqlite")


def is_error(result: dict[str, Any]) -> bool:
    return "statusCode" in result


def _session_id(data: Any) -> str:
    value = data.get("sessionId") if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise ApplicationError(
            gettext("Invalid input. %(problem)s") % {"problem": "sessionId: " + gettext("This field is required.")},
            errors={"sessionId": [gettext("This field is required.")]},
        )
    try:
        return str(uuid.UUID(value))
    except ValueError:
        # Not an id at all: as unknown as any other (the same 404 as the selectors give).
        raise ApplicationError(selectors.NOT_FOUND, status_code=404) from None


def _joined(client: Client, data: Any) -> str:
    session_id = _session_id(data)
    if session_id not in client.sessions:
        raise Forbidden(NOT_JOINED)
    return session_id


# --- presence: is a party connected through any transport, on any process ---------------------------


def _presence_key(session_id: str, user_id: Any) -> str:
    return f"live:presence:{session_id}:{user_id}"


def _presence_enter(session_id: str, user: User) -> None:
    key = _presence_key(session_id, user.pk)
    cache.add(key, 0, PRESENCE_TTL)
    cache.incr(key)
    cache.touch(key, PRESENCE_TTL)
    services.participant_connection_set(session_id=session_id, user=user, connected=True)


def _presence_exit(session_id: str, user: User) -> None:
    """One connection of `user` left; the last one marks the participant disconnected."""
    key = _presence_key(session_id, user.pk)
    try:
        remaining = cache.decr(key)
    except ValueError:  # expired or never counted
        remaining = 0
    if remaining <= 0:
        cache.delete(key)
        services.participant_connection_set(session_id=session_id, user=user, connected=False)


# --- the events -------------------------------------------------------------------------------------


def _check_party(user: User, session_id: str) -> None:
    selectors.session_get_for_party(session_id=session_id, user=user)


def _join_snapshot(user: User, session_id: str, *, enter: bool) -> dict[str, Any]:
    if enter:
        _presence_enter(session_id, user)
    session = selectors.session_get_for_party(session_id=session_id, user=user)
    participants = selectors.participant_list(session=session)
    recent = list(selectors.message_list(session=session).order_by("-created_at", "-id")[:JOIN_HISTORY])
    return {
        "session": SessionOut(session).data,
        "participants": ParticipantOut(participants, many=True).data,
        # Oldest first, as a chat window shows them; the newest is last.
        "messages": MessageOut(reversed(recent), many=True).data,
    }


async def join(client: Client, data: Any) -> dict[str, Any]:
    """Enter the session's room: `{session, participants, messages}` (the last 50, oldest first).

    The connection subscribes after the party check and before the snapshot is read, so a message
    stored meanwhile is in the snapshot or arrives as an event (possibly both: ids tell them apart),
    never in neither.
    """
    session_id = _session_id(data)
    await _db(_check_party)(client.user, session_id)
    first = session_id not in client.sessions
    if first:
        client.sessions.add(session_id)
        await client.subscribe(session_id)
    return await _db(_join_snapshot)(client.user, session_id, enter=first)


async def leave(client: Client, data: Any) -> dict[str, Any]:
    session_id = _session_id(data)
    if session_id in client.sessions:
        client.sessions.discard(session_id)
        await client.unsubscribe(session_id)
        await _db(_presence_exit)(session_id, client.user)
    return {"sessionId": session_id}


async def message(client: Client, data: Any) -> dict[str, Any]:
    """Counted, stored, then published (by the process's chat writer, with whatever arrives alongside)."""
    session_id = _joined(client, data)
    return await writer_for_loop(_db).submit(client.user, session_id, data.get("content"))


def _participant_update(user: User, session_id: str, updates: Any) -> dict[str, Any]:
    participant = services.participant_update(session_id=session_id, user=user, updates=updates)
    return ParticipantOut(participant).data


async def participant_update(client: Client, data: Any) -> dict[str, Any]:
    session_id = _joined(client, data)
    return await _db(_participant_update)(client.user, session_id, data.get("updates"))


EVENTS: dict[str, Callable[[Client, Any], Awaitable[dict[str, Any]]]] = {
    "join": join,
    "leave": leave,
    "message": message,
    "participant_update": participant_update,
}


async def dispatch(client: Client, event: str, data: Any) -> dict[str, Any]:
    """Handle one client event: `{"data": ...}` or the error body."""
    handler = EVENTS.get(event)
    try:
        if handler is None:
            raise ApplicationError(gettext("Unknown event %(event)s.") % {"event": repr(event)})
        return {"data": await handler(client, data)}
    except ApplicationError as exc:
        return exc.body()
    except Exception:
        logger.exception("realtime: %s failed", event)
        return {"statusCode": 500, "message": str(REASONS[500])}


def connect(
    *, user: User, subscribe: Callable[[str], Awaitable[None]], unsubscribe: Callable[[str], Awaitable[None]]
) -> Client:
    """An authenticated connection of either transport opened; `disconnect` it when it closes."""
    return Client(user=user, subscribe=subscribe, unsubscribe=unsubscribe)


def _disconnect(user: User, session_ids: list[str]) -> None:
    for session_id in session_ids:
        try:
            _presence_exit(session_id, user)
        except Exception:
            logger.exception("realtime: could not mark %s disconnected from %s", user.pk, session_id)


async def disconnect(client: Client) -> None:
    """The connection is gone: leave every session it had joined."""
    session_ids = sorted(client.sessions)
    client.sessions.clear()
    for session_id in session_ids:
        await client.unsubscribe(session_id)
    if session_ids:
        await _db(_disconnect)(client.user, session_ids)
