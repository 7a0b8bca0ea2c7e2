"""The Redis cache (django-redis) keeps Django's cache contract where the rate limiter relies on it."""

import uuid

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.redis


def test_redis_cache_keeps_djangos_contract():
    key = f"test-cache-{uuid.uuid4().hex}"
    with pytest.raises(ValueError):
        cache.incr(key)  # a missing counter is never created without its expiry
    assert cache.get(key) is None
    assert cache.add(key, 1, 30) is True
    assert cache.add(key, 5, 30) is False
    assert cache.incr(key) == 2
    assert cache.incr(key, 10) == 12
    assert cache.get(key) == 12
    assert 0 < cache.ttl(key) <= 30  # incr kept the expiry
    cache.delete(key)


def test_one_client_per_server():
    assert cache.client.get_client(write=True) is cache.client.get_client(write=True)


def test_redis_replies_are_parsed_by_hiredis():
    """redis-py parses replies in Python unless hiredis is installed; with it, reading Redis (pub/sub
    deliveries, the limiter's answers) costs the realtime process about half the CPU."""
    connection = cache.client.get_client(write=True).connection_pool.get_connection()
    try:
        assert type(connection._parser).__name__ == "_HiredisParser"
    finally:
        cache.client.get_client(write=True).connection_pool.release(connection)
