"""`GET /healthz`: the database, the cache and the channel layer, each actually exercised, each bounded in time."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Coroutine
from typing import Any

from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    # The cache client's own socket timeouts (CACHE_SOCKET_TIMEOUT) bound each call.
    key, value = f"healthz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


# Bounded: with Redis frozen the layer's sockets would wait their own, much longer read timeout, and a
# health check must answer while the thing it checks is stuck.
CHANNEL_LAYER_TIMEOUT = 3


async def _channel_layer_publish() -> None:
    """Publish to a group nobody joins: Redis must take it. (A receive would leave a subscription
    behind in every long-lived process, one per probe.)"""
    layer = get_channel_layer()
    await asyncio.wait_for(layer.group_send("healthz", {"type": "healthz.ping"}), timeout=CHANNEL_LAYER_TIMEOUT)


class _ProbeLoop:
    """One event loop per process, kept running in a daemon thread, for the channel-layer probe.

    The layer keeps its Redis connection per event loop. `async_to_sync` from a WSGI worker builds a new
    loop for every call, so each probe used to open (and tear down) a connection and a loop: 5 ms
    in-process, 20–100 ms per request under gunicorn. On a loop that stays, the probe is one PUBLISH on
    a connection already open. Per process id: a forked child starts its own thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="healthz-loop", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coro: Coroutine[Any, Any, None], timeout: float) -> None:
        future = asyncio.run_coroutine_threadsafe(coro, self._running_loop())
        future.result(timeout=timeout + 1)  # the coroutine bounds itself; this only guards the hop


_probe_loop = _ProbeLoop()


def _channel_layer() -> None:
    _probe_loop.run(_channel_layer_publish(), CHANNEL_LAYER_TIMEOUT)


CHECKS = {"database": _database, "cache": _cache, "channelLayer": _channel_layer}


@never_cache
@require_GET
def healthz(request):
    body = {"status": "ok"}
    for name, check in CHECKS.items():
        try:
            check()
            body[name] = "ok"
        except Exception as exc:  # a health check reports every failure rather than raising it
            logger.warning("health check %s failed: %r", name, exc)
            body[name] = "down"
            body["status"] = "down"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
