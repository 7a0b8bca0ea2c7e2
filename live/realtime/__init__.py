"""The one realtime bus of the classroom (docs/realtime.md "One bus, many processes").

Every event for a session goes to the Channels layer group `live.session.<session_id>` as
`{"type": "live.event", "event": <name>, "data": <payload>}`. The layer is Redis when REDIS_URL is set,
so an event raised in any process (a gunicorn worker handling a REST call, a daphne process handling a
socket) reaches the subscribers of every process. Transports (the Channels consumer, socket.io) join
the group and forward `live.event` messages to their clients; they never publish any other way.

Payloads cross the layer as msgpack: plain dicts, lists, strings, numbers, booleans and None only.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "live.event"


def group_name(session_id: Any) -> str:
    return f"live.session.{session_id}"


def _message(event: str, data: dict) -> dict:
    return {"type": MESSAGE_TYPE, "event": event, "data": data}


async def abroadcast(session_id: Any, event: str, data: dict) -> None:
    """Publish now, from async code (consumers, socket.io handlers)."""
    await get_channel_layer().group_send(group_name(session_id), _message(event, data))


def broadcast(session_id: Any, event: str, data: dict) -> None:
    """Publish from sync code once the current transaction commits; a rolled-back change says nothing.

    Outside a transaction it publishes at once. A failure to publish is logged, never raised: the
    change is already committed and the request must not fail for a lost notification.
    """
    message = _message(event, data)
    group = group_name(session_id)

    def send() -> None:
        try:
            async_to_sync(get_channel_layer().group_send)(group, message)
        except Exception:
            logger.exception("realtime: could not publish %s to %s", event, group)

    transaction.on_commit(send)
