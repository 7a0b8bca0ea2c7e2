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
    redis_key = cache.make_and_validate_key(key)
    assert 0 < cache._cache.get_client(redis_key).ttl(redis_key) <= 30  # incr kept the expiry
    cache.delete(key)


def test_one_client_per_pool():
    client = cache._cache
    assert client.get_client("a", write=True) is client.get_client("b", write=True)
