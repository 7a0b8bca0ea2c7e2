"""`GET /healthz`: the database, the cache and the channel layer, each actually exercised."""

from __future__ import annotations

import asyncio
import logging
import uuid

from asgiref.sync import async_to_sync
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
    key, value = f"healthz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


async def _channel_layer_roundtrip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=3)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned another message")


CHECKS = {"database": _database, "cache": _cache, "channelLayer": async_to_sync(_channel_layer_roundtrip)}


@never_cache
@require_GET
def healthz(request):
    body = {"status": "ok"}
    for name, check in CHECKS.items():
        try:
            check()
            body[name] = "ok"
        except Exception:  # a health check reports every failure rather than raising it
            logger.exception("health check %s failed", name)
            body[name] = "down"
            body["status"] = "down"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
