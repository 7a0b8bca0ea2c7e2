"""The realtime events (docs/realtime.md), once for both transports.

A transport (the socket.io namespace, the Channels consumer) opens a connection here (`connect`, with
the raw access token, how to subscribe that connection to a session's events and how to close it),
hands every client event to `dispatch`, which answers `{"data": ...}` or the error body
`{statusCode, message}`, and closes it with `disconnect`. Rules live in `live.services` (the limits
included); this module checks what only a connection knows (has it joined?). Each event costs one
thread hop to the database (`join` two: see `join`; chat messages share theirs, see
`live.realtime.writer`).

A connection ends on the server's side when its access token expires or its user is deactivated
(`Client.revoke`, see `live.realtime.process`): clients reconnect with a fresh token.

Events reach clients only through the bus (`live.realtime.broadcast` from the services after commit,
or the chat writer once a batch is stored, which hands it to this process's members itself and
publishes it for the others), so a message stored through one transport or process reaches every other.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext, gettext_lazy

from live import selectors, services
from live.realtime.auth import token_user
from live.realtime.process import PROCESS_ID, process, run_db
from live.realtime.writer import writer_for_loop
from live.serializers import MessageOut, ParticipantOut, SessionOut
from tutoring.api.errors import REASONS
from tutoring.errors import ApplicationError, Forbidden, as_outage
from tutoring.models import User

logger = logging.getLogger(__name__)

JOIN_HISTORY = 50
NOT_JOINED = gettext_lazy("Join the session first.")
TOKEN_EXPIRED = gettext_lazy("The access token expired; connect again with a new one.")

_db = run_db


@dataclass(eq=False)
class Client:
    """One realtime connection of either transport: its user and the sessions it has joined.

    `close(status, message)` is the transport's way to end the connection with that reason.
    """

    user: User
    subscribe: Callable[[str], Awaitable[None]]
    unsubscribe: Callable[[str], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    connection_id: uuid.UUID = field(default_factory=uuid.uuid4)
    sessions: set[str] = field(default_factory=set)
    expiry: asyncio.TimerHandle | None = None
    revoked: str = ""  # why the server ended the connection, once it has

    async def revoke(self, status: int, message: str) -> None:
        """The connection may not go on (token expired, user deactivated): the transport closes it."""
        if self.revoked:
            return
        self.revoked = message = str(message)  # a lazy translation resolved now, in plain text
        try:
            await self.close(status, message)
        except Exception:
            logger.exception("realtime: could not close connection %s", self.connection_id)


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


# --- the events -------------------------------------------------------------------------------------


def _join_snapshot(client: Client, session_id: str) -> dict[str, Any]:
    # Every join records presence (idempotent): a join whose snapshot failed must not leave it unsaid.
    if not services.presence_enter(
        connection_id=client.connection_id, process_id=PROCESS_ID, session_id=session_id, user=client.user
    ):
        raise Forbidden(services.REMOVED_MESSAGE)
    session = selectors.session_get_for_party(session_id=session_id, user=client.user)
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
    never in neither. The session counts as joined only once the subscription has succeeded: a join
    that fails there (Redis away: 503) leaves nothing behind, and the next join subscribes afresh.
    """
    session_id = _session_id(data)
    await _db(services.realtime_join_check)(session_id=session_id, user=client.user)
    if session_id not in client.sessions:
        await client.subscribe(session_id)
        client.sessions.add(session_id)
    try:
        return await _db(_join_snapshot)(client, session_id)
    except Forbidden:
        # Removed by the tutor after the check above, before the subscription could hear of it.
        client.sessions.discard(session_id)
        await client.unsubscribe(session_id)
        raise


async def leave(client: Client, data: Any) -> dict[str, Any]:
    session_id = _session_id(data)
    if session_id in client.sessions:
        client.sessions.discard(session_id)
        await client.unsubscribe(session_id)
        await _db(services.presence_exit)(connection_id=client.connection_id, session_id=session_id, user=client.user)
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


def _moderate(action: Callable[..., Any], **extra: Any) -> Callable[[Client, Any], Awaitable[dict[str, Any]]]:
    """A tutor's moderation event (`mute_participant`, ...): the REST action's service, same rules."""

    def run(user: User, session_id: str, data: dict) -> dict[str, Any]:
        kwargs = {name: data.get(name) for name in extra}
        participant = action(session_id=session_id, user=user, participant_id=data.get("participantId"), **kwargs)
        return ParticipantOut(participant).data

    async def handler(client: Client, data: Any) -> dict[str, Any]:
        session_id = _joined(client, data)
        return await _db(run)(client.user, session_id, data)

    return handler


EVENTS: dict[str, Callable[[Client, Any], Awaitable[dict[str, Any]]]] = {
    "join": join,
    "leave": leave,
    "message": message,
    "participant_update": participant_update,
    "mute_participant": _moderate(services.participant_mute, audio=None, video=None),
    "remove_participant": _moderate(services.participant_remove),
    "admit_participant": _moderate(services.participant_admit),
}


async def direct(client: Client, session_id: str, data: dict) -> tuple[str, dict] | None:
    """A bus event for one user (`services.DIRECT`): the event this connection is to receive, or None
    if it is not theirs. `removed` also takes the connection out of the session's room (its presence
    was ended by the service), so nothing more of the session reaches it until it joins again."""
    if str(client.user.pk) != data.get("userId") or session_id not in client.sessions:
        return None
    if data.get("event") == services.REMOVED:
        client.sessions.discard(session_id)
        await client.unsubscribe(session_id)
    return data["event"], data["data"]


async def dispatch(client: Client, event: str, data: Any) -> dict[str, Any]:
    """Handle one client event: `{"data": ...}` or the error body."""
    handler = EVENTS.get(event)
    try:
        if client.revoked:
            raise ApplicationError(client.revoked, status_code=401)
        if handler is None:
            raise ApplicationError(gettext("Unknown event %(event)s.") % {"event": repr(event)})
        return {"data": await handler(client, data)}
    except ApplicationError as exc:
        return exc.body()
    except Exception as exc:
        if (outage := as_outage(exc)) is not None:
            logger.warning("realtime: %s failed, a backing service is unavailable: %r", event, exc)
            return outage.body()
        logger.exception("realtime: %s failed", event)
        return {"statusCode": 500, "message": str(REASONS[500])}


def _open(raw_token: object, connection_id: uuid.UUID) -> tuple[User, float]:
    user, expires_at = token_user(raw_token)
    services.connection_open(connection_id=connection_id, user=user, process_id=PROCESS_ID)
    return user, expires_at


async def connect(
    *,
    token: object,
    subscribe: Callable[[str], Awaitable[None]],
    unsubscribe: Callable[[str], Awaitable[None]],
    close: Callable[[int, str], Awaitable[None]],
) -> Client:
    """Open a connection for an access token: `Unauthorized` (401) for a bad token, `RateLimited`
    (429) past the connections-per-user limit. `disconnect` it when it closes."""
    connection_id = uuid.uuid4()
    user, expires_at = await _db(_open)(token, connection_id)
    client = Client(user=user, subscribe=subscribe, unsubscribe=unsubscribe, close=close, connection_id=connection_id)
    loop = asyncio.get_running_loop()
    client.expiry = loop.call_later(
        max(0.0, expires_at - time.time()), lambda: loop.create_task(client.revoke(401, str(TOKEN_EXPIRED)))
    )
    process.add(client)
    return client


async def disconnect(client: Client) -> None:
    """The connection is gone: leave every session it had joined, and forget the connection."""
    if client.expiry is not None:
        client.expiry.cancel()
    process.discard(client)
    session_ids = sorted(client.sessions)
    client.sessions.clear()
    for session_id in session_ids:
        await client.unsubscribe(session_id)
    if not process.shutting_down:  # then `process.shutdown` drops every connection at once
        await _db(services.connection_close)(connection_id=client.connection_id)
