"""Sliding-window rate limits in the shared cache: one Redis round trip per check, however many buckets.

A bucket is a key and a rate ("100/m"): at most `limit` hits in any `window` seconds, not per fixed
window, so no burst fits across a window edge. Each bucket is a sorted set of hit times in Redis, read,
trimmed and appended by one Lua script for all the buckets of a check (the time is Redis's own, so
every process agrees on it). Without Redis (the embedded default, one process) the same algorithm runs
on the local cache under a lock.

`rate_check` is all-or-nothing (an HTTP request passes every bucket or counts in none) and raises
`RateLimited` with the seconds until the request would pass. `rate_take` lets part of a batch through:
the chat writer asks for several messages of several senders at once and each sender gets as many as
fit. Redis down or frozen raises `ServiceUnavailable` (503) within the cache client's socket timeout.

The HTTP middleware (`tutoring.api.ratelimit`), the realtime events and the chat service count here.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext
from django_redis.cache import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from tutoring.errors import RateLimited, ServiceUnavailable, as_outage

UNITS = {"s": 1, "m": 60, "h": 3600}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    window: float  # seconds

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`<count>/<s|m|h>`, optionally with a number of units: "100/m", "5/10s"."""
        match = _RATE.match(text)
        if match is None or int(match[1]) < 1:
            raise ValueError(f"A rate is <count>/<s|m|h>, e.g. 100/m (got {text!r}).")
        return cls(limit=int(match[1]), window=float(int(match[2] or 1) * UNITS[match[3]]))

    def describe(self) -> str:
        for unit, seconds in (("hour", 3600), ("minute", 60)):
            if self.window == seconds:
                return f"{self.limit} per {unit}"
        return f"{self.limit} per {self.window:g} seconds"


@lru_cache(maxsize=64)
def rate(text: str) -> Rate:
    """A rate setting parsed once."""
    return Rate.parse(text)


@dataclass(frozen=True)
class Bucket:
    """`cost` hits of `key` against `rate`; the key names the group and who is counted (user or IP)."""

    key: str
    rate: Rate
    cost: int = 1


@dataclass(frozen=True)
class Taken:
    allowed: int  # how many of the bucket's `cost` passed
    retry_after: float  # seconds until the first refused one would pass (0 when all passed)


# KEYS: one sorted set per bucket. ARGV: mode ("all" or "part"), a nonce, then per bucket limit,
# window (ms) and cost. Returns per bucket: allowed, retry-after (ms).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = ARGV[1] == 'all'
local nonce = ARGV[2]
local n = #KEYS
local allowed, retry = {}, {}
local refused = false
for i = 1, n do
  local limit, window, cost = tonumber(ARGV[3*i]), tonumber(ARGV[3*i+1]), tonumber(ARGV[3*i+2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local free = limit - redis.call('ZCARD', KEYS[i])
  if free < 0 then free = 0 end
  local take = math.min(cost, free)
  allowed[i], retry[i] = take, 0
  if take < cost then
    refused = true
    -- the first refused hit passes once the oldest recorded one leaves the window
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if oldest[2] then retry[i] = tonumber(oldest[2]) + window - now else retry[i] = window end
  end
end
local out = {}
for i = 1, n do
  local take = allowed[i]
  if all and refused then take = 0 end
  local window = tonumber(ARGV[3*i+1])
  for j = 1, take do
    redis.call('ZADD', KEYS[i], now, now .. ':' .. nonce .. ':' .. i .. ':' .. j)
  end
  if take > 0 then redis.call('PEXPIRE', KEYS[i], window) end
  out[2*i-1], out[2*i] = take, retry[i]
end
return out
"""

_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_backends: dict[str, Any] = {}


def _cache() -> Any:
    """The default cache backend, one per process.

    Django's `caches` are local to each asyncio task under ASGI, so every realtime connection (its
    task, and the database threads working for it) built a backend of its own and, with it, a Redis
    client object of its own over the one shared pool: ~13 KB per connection that lived as long as
    it did (redis-py copies its table of ~170 reply callbacks into each client). Both are thread-safe.
    """
    backend = _backends.get("default")
    if backend is None:
        backend = _backends["default"] = caches["default"]
    return backend


@receiver(setting_changed)
def _forget_backend(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":  # tests point the cache elsewhere
        _backends.clear()


_local_lock = threading.Lock()


def _script_command(buckets: Sequence[Bucket], keys: list[str], *, all_or_nothing: bool) -> tuple[Any, bytes]:
    """The Redis client and the EVALSHA that counts `buckets`, in the protocol's own framing."""
    client = _cache().client.get_client(write=True)
    script = _scripts.get(client)
    if script is None:
        script = _scripts[client] = client.register_script(_SCRIPT)
    args: list[object] = ["all" if all_or_nothing else "part", secrets.token_hex(4)]
    for bucket in buckets:
        args += [bucket.rate.limit, int(bucket.rate.window * 1000), bucket.cost]
    return client, redis_command("EVALSHA", script.sha, len(keys), *keys, *args)


def _redis_take(buckets: Sequence[Bucket], keys: list[str], *, all_or_nothing: bool) -> list[Taken]:
    client, command = _script_command(buckets, keys, all_or_nothing=all_or_nothing)
    # Sent as is on a pooled connection: redis-py's command path (packing, retry wrapper, script
    # object) cost more than the round trip itself, on every API request and chat batch.
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.send_packed_command([command])
        try:
            out = conn.read_response()
        except NoScriptError:  # Redis restarted and forgot the script: load it, send the same again
            client.script_load(_SCRIPT)
            conn.send_packed_command([command])
            out = conn.read_response()
    except BaseException:
        conn.disconnect()  # an unread reply must not reach the next user of the connection
        pool.release(conn)
        raise
    pool.release(conn)
    return _taken(out, len(buckets))


def _taken(out: list, n: int) -> list[Taken]:
    """The script's answer: per bucket, allowed and retry-after (ms)."""
    return [Taken(allowed=int(out[2 * i]), retry_after=int(out[2 * i + 1]) / 1000) for i in range(n)]


def _keys(buckets: Sequence[Bucket]) -> list[str]:
    """The cache keys of `buckets` (before the cache's own prefix)."""
    return [f"rl:{bucket.key}" for bucket in buckets]


def _local_take(buckets: Sequence[Bucket], keys: list[str], *, all_or_nothing: bool) -> list[Taken]:
    """The same algorithm on the process's own cache: the embedded default's single process."""
    backend = _cache()
    with _local_lock:
        now = time.time()
        stored = backend.get_many(keys)
        hits = {
            key: [t for t in stored.get(key, []) if t > now - b.rate.window]
            for key, b in zip(keys, buckets, strict=True)
        }
        taken = []
        for key, bucket in zip(keys, buckets, strict=True):
            free = max(0, bucket.rate.limit - len(hits[key]))
            take = min(bucket.cost, free)
            retry = 0.0
            if take < bucket.cost:
                oldest = min(hits[key], default=now)
                retry = oldest + bucket.rate.window - now
            taken.append(Taken(allowed=take, retry_after=retry))
        refused = any(t.allowed < b.cost for t, b in zip(taken, buckets, strict=True))
        if all_or_nothing and refused:
            taken = [Taken(allowed=0, retry_after=t.retry_after) for t in taken]
        for key, bucket, t in zip(keys, buckets, taken, strict=True):
            if t.allowed:
                backend.set(key, hits[key] + [now] * t.allowed, timeout=int(bucket.rate.window) + 1)
        return taken


def rate_take(buckets: Sequence[Bucket], *, all_or_nothing: bool = False) -> list[Taken]:
    """Count the buckets in one round trip; what passed of each. `ServiceUnavailable` if Redis is down."""
    if not buckets:
        return []
    keys = _keys(buckets)
    try:
        backend = _cache()
        if isinstance(backend, RedisCache):
            return _redis_take(buckets, [backend.make_key(key) for key in keys], all_or_nothing=all_or_nothing)
        return _local_take(buckets, keys, all_or_nothing=all_or_nothing)
    except Exception as exc:
        if (outage := as_outage(exc)) is not None:
            raise outage from exc
        raise


def _socket_timeout() -> float | None:
    return settings.CACHES["default"].get("OPTIONS", {}).get("SOCKET_TIMEOUT")


class KeptConnection:
    """A Redis connection kept for one caller at a time, for scripts sent in the protocol's own framing
    (`redis_command`): redis-py's command path (a pool to take the connection from and give it back,
    reply callbacks) cost an event loop more per call than the round trip itself.

    A kept connection that died meanwhile (Redis restarted, CLIENT KILL) fails its first use before
    the command ran, so the command goes once more on a new one, once; a script Redis forgot (restarted)
    is loaded and the command sent again. Any other failure drops the connection (an unread reply must
    not reach the next caller) and raises; the next call makes a new one.
    """

    def __init__(self, connect: Callable[[], Awaitable[Any]]) -> None:
        self._connect = connect
        self.conn: Any = None

    async def evalsha(self, command: bytes, script: str | bytes) -> Any:
        """Send `command` (an EVALSHA of `script`) and read its reply."""
        kept = self.conn is not None
        try:
            return await self._evalsha(command, script)
        except RedisConnectionError:
            if not kept:
                raise
            return await self._evalsha(command, script)

    async def _evalsha(self, command: bytes, script: str | bytes) -> Any:
        try:
            if self.conn is None:
                self.conn = await self._connect()
            conn = self.conn
            await conn.send_packed_command([command])
            try:
                return await conn.read_response()
            except NoScriptError:
                await conn.send_command("SCRIPT", "LOAD", script)
                await conn.read_response()
                await conn.send_packed_command([command])
                return await conn.read_response()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.disconnect()


class AsyncCounter:
    """`rate_take` on an event loop, over a Redis connection of its own (`KeptConnection`): for one
    caller at a time (the realtime chat writer's batches, which are counted one after another), with no
    thread to hop to.

    Only where the limits are counted in Redis (`available`); elsewhere (the embedded default) the
    caller counts with `rate_take`. Redis down or frozen raises `ServiceUnavailable`, as `rate_take`
    does; the connection is then dropped and the next call makes a new one.
    """

    def __init__(self) -> None:
        self._kept = KeptConnection(self._connect)

    @staticmethod
    def available() -> bool:
        """Whether the limits are counted in Redis; if not (the embedded default), use `rate_take`."""
        return isinstance(_cache(), RedisCache)

    async def take(self, buckets: Sequence[Bucket]) -> list[Taken]:
        if not buckets:
            return []
        backend = _cache()
        keys = [backend.make_key(key) for key in _keys(buckets)]
        _, command = _script_command(buckets, keys, all_or_nothing=False)
        try:
            # One timer for the whole round trip: redis-py's own socket timeout would wrap each send
            # in `asyncio.wait_for`, a task of its own on Python 3.11.
            async with asyncio.timeout(_socket_timeout()):
                out = await self._kept.evalsha(command, _SCRIPT)
        except TimeoutError as exc:  # Redis frozen
            raise ServiceUnavailable() from exc
        except Exception as exc:
            if (outage := as_outage(exc)) is not None:
                raise outage from exc
            raise
        return _taken(out, len(buckets))

    @staticmethod
    async def _connect() -> Any:
        from redis.asyncio import ConnectionPool

        config = settings.CACHES["default"]
        location = config["LOCATION"]  # as django-redis reads it: the first server takes writes
        url = (location.split(",") if isinstance(location, str) else list(location))[0]
        connect_timeout = config.get("OPTIONS", {}).get("SOCKET_CONNECT_TIMEOUT")
        pool = ConnectionPool.from_url(url, socket_timeout=None, socket_connect_timeout=connect_timeout)
        conn = pool.make_connection()
        await conn.connect()
        return conn

    async def close(self) -> None:
        await self._kept.close()


def rate_check(buckets: Sequence[Bucket]) -> None:
    """One hit in every bucket, or none at all and `RateLimited` naming the tightest refused rate."""
    refusal = _refusal(buckets, rate_take(buckets, all_or_nothing=True))
    if refusal is not None:
        raise refusal


def redis_command(*args: object) -> bytes:
    """One Redis command in the protocol's own framing (redis-py's general packer costs more, per request)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class _Kept(threading.local):
    """Each thread's own Redis connection for `PendingCheck`, kept from one request to the next.

    Taking one from redis-py's pool and giving it back (a lock, a fork check, a poll of the socket,
    a deprecation wrapper) cost about a third of what the limiter's whole round trip costs a read. One
    that died meanwhile (Redis restarted) fails its first use, and that check is made again on a fresh
    pooled connection, as any other failure of the deferred read is.
    """

    conn: Any = None
    pool: Any = None
    pid = 0
    busy = False


_kept = _Kept()


def _take_kept(pool: Any) -> Any | None:
    """This thread's kept connection to `pool`'s server, or None while this thread already uses it."""
    if _kept.busy:
        return None
    if _kept.conn is None or _kept.pool is not pool or _kept.pid != os.getpid():
        _kept.conn, _kept.pool, _kept.pid = pool.connection_class(**pool.connection_kwargs), pool, os.getpid()
    _kept.busy = True
    return _kept.conn


class PendingCheck:
    """A `rate_check` sent to Redis whose answer is read later (`finish`), so a read can run meanwhile.

    The request's database round trip and the limiter's Redis round trip then overlap instead of
    following each other; a sync worker otherwise sits idle through both. Without Redis, or when the
    command cannot be sent, the check is made at once (raising as `rate_check` does, before any read
    runs). An error while reading the answer falls back to the ordinary check.
    """

    def __init__(self, buckets: Sequence[Bucket]) -> None:
        self.buckets = list(buckets)
        self._error: Exception | None = None
        self._conn = None
        self._pool = None
        self._on_kept = False
        backend = _cache()
        if not isinstance(backend, RedisCache) or not self.buckets:
            rate_check(self.buckets)
            return
        try:
            keys = [backend.make_key(key) for key in _keys(self.buckets)]
            client, command = _script_command(self.buckets, keys, all_or_nothing=True)
            self._pool = client.connection_pool
            self._on_kept = (conn := _take_kept(self._pool)) is not None
            self._conn = conn if self._on_kept else self._pool.get_connection()
            self._conn.send_packed_command([command])
        except Exception:
            self._release(broken=True)
            rate_check(self.buckets)

    def _check_now(self) -> None:
        try:
            rate_check(self.buckets)
        except Exception as exc:
            self._error = exc

    def _release(self, *, broken: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if broken:
            conn.disconnect()  # a kept one connects again at its next use
        if self._on_kept:
            _kept.busy = False
        else:
            self._pool.release(conn)

    def finish(self) -> None:
        """Raise what `rate_check` would have raised (`RateLimited`, `ServiceUnavailable`), if anything."""
        if self._conn is not None:
            try:
                out = self._conn.read_response()
            except Exception:  # NOSCRIPT (Redis restarted), a dropped or stuck connection
                self._release(broken=True)
                self._check_now()
            else:
                self._release()
                self._error = _refusal(self.buckets, _taken(out, len(self.buckets)))
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def cancel(self) -> None:
        """Forget the answer (the connection is dropped: an unread reply must not reach the next user)."""
        self._release(broken=True)


def _refusal(buckets: Sequence[Bucket], taken: list[Taken]) -> RateLimited | None:
    refused = [(t.retry_after, b.rate) for t, b in zip(taken, buckets, strict=True) if t.allowed < b.cost]
    if not refused:
        return None
    retry_after, rate = max(refused, key=lambda r: r[0])
    return rate_limited(Bucket(key="", rate=rate), Taken(allowed=0, retry_after=retry_after))


def rate_limited(bucket: Bucket, taken: Taken) -> RateLimited:
    """The refusal of what `taken` left out of `bucket`."""
    message = gettext("Rate limit exceeded: %(limit)s.") % {"limit": bucket.rate.describe()}
    return RateLimited(message, retry_after=taken.retry_after)
