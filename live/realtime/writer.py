"""Group commit for chat: the messages of this process that arrive together are stored together.

A message waits only while the batch before it is being stored; then everything that arrived meanwhile
is counted against the chat limit, checked, inserted in one statement and published, in one hop to a
database thread. A lone message still goes at once; under load the cost per message falls instead of
the queue growing. Every sender gets its own answer (the stored message, or the error that refused
it), messages keep their arrival order, and nothing is published before it is stored.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from live import services
from live.models import Message
from live.realtime import abroadcast
from live.serializers import MessageOut
from tutoring.api.errors import ApplicationError, RateLimited
from tutoring.models import User

logger = logging.getLogger(__name__)

MAX_BATCH = 200

Item = tuple[User, str, Any, asyncio.Future]


def _store(items: list[tuple[User, str, Any]], rate_check) -> list[dict | ApplicationError]:
    """In a database thread: count each message, store those within the limit, shape what was stored."""
    results: list[dict | ApplicationError | None] = [None] * len(items)
    drafts, positions = [], []
    for i, (user, session_id, content) in enumerate(items):
        try:
            # Counted before anything is stored: a refused message is neither stored nor sent.
            rate_check(user)
        except RateLimited as exc:
            results[i] = exc
            continue
        drafts.append(services.MessageDraft(session_id=session_id, sender=user, content=content))
        positions.append(i)
    outcomes = services.messages_store(drafts=drafts)
    stored = [m for m in outcomes if isinstance(m, Message)]
    shaped = iter(MessageOut(stored, many=True).data)
    for i, outcome in zip(positions, outcomes, strict=True):
        results[i] = outcome if isinstance(outcome, ApplicationError) else dict(next(shaped))
    return results


class ChatWriter:
    def __init__(self, run_in_thread, rate_check):
        self._run_in_thread = run_in_thread
        self._rate_check = rate_check
        self._pending: list[Item] = []
        self._task: asyncio.Task | None = None

    async def submit(self, user: User, session_id: str, content: Any) -> dict:
        """Store one message (with whatever arrives alongside); its data, or raises the refusing error."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((user, session_id, content, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="live-chat-writer")
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await self._run_in_thread(_store)([item[:3] for item in batch], self._rate_check)
            except Exception as exc:  # the database is down: every sender in the batch is told
                logger.exception("realtime: storing %d chat messages failed", len(batch))
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, session_id, _, future), result in zip(batch, results, strict=True):
                if isinstance(result, dict):
                    try:
                        await abroadcast(session_id, services.MESSAGE, result)
                    except Exception:  # stored and acknowledged; a lost notification is logged only
                        logger.exception("realtime: could not publish message %s", result.get("id"))
                if not future.done():
                    if isinstance(result, dict):
                        future.set_result(result)
                    else:
                        future.set_exception(result)


# One writer per event loop (each process has one; tests may run several loops).
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ChatWriter] = weakref.WeakKeyDictionary()


def writer_for_loop(run_in_thread, rate_check) -> ChatWriter:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = ChatWriter(run_in_thread, rate_check)
    return writer
