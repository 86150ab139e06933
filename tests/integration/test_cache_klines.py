"""The kline cache on real Redis, with Redis down (a closed port), and with no Redis configured."""

from __future__ import annotations

import socket
import zlib
from collections.abc import AsyncIterator

import numpy as np
import pytest
import redis.asyncio as aioredis

from bst.data.arrays import KlineArrays
from bst.data.cache import KlineCache, decode, encode
from bst.data.manifest import SeriesKey
from bst.domain.clock import ManualClock
from bst.domain.market import Category, Interval

KEY = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
OTHER = SeriesKey(Category.SPOT, "ETHUSDT", Interval.H1)


def bars(count: int, start: int = 1_704_067_200_000) -> KlineArrays:
    ts = start + np.arange(count, dtype=np.int64) * 60_000
    price = 42_000 + np.round(np.sin(np.arange(count)) * 10, 1)
    return KlineArrays(ts, price, price + 1, price - 1, price + 0.5, np.full(count, 1.25), price * 1.25)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def redis_cache(redis_url: str, redis_prefix: str) -> AsyncIterator[KlineCache]:
    cache = KlineCache(redis_url, prefix=redis_prefix, ttl_s=120, max_candles=500)
    yield cache
    await cache.close()


def test_encoding_round_trips_and_compresses() -> None:
    original = bars(2000)
    blob = encode(original)
    assert decode(blob).equals(original)
    assert len(blob) < 56 * 2000 / 2
    with pytest.raises(ValueError, match="not a bst kline cache entry"):
        decode(zlib.compress(b"garbage!!"))


@pytest.mark.redis
async def test_redis_round_trip_ttl_and_counters(
    redis_cache: KlineCache, redis_url: str, redis_prefix: str
) -> None:
    assert await redis_cache.get(KEY) is None
    await redis_cache.put(KEY, bars(800))
    got = await redis_cache.get(KEY)
    assert got is not None
    assert got.equals(bars(800).tail(500))  # only the newest max_candles are kept
    stats = redis_cache.get_stats()
    assert (stats["backend"], stats["hits"], stats["misses"], stats["sets"], stats["errors"]) == (
        "redis",
        1,
        1,
        1,
        0,
    )
    assert stats["bytes_written"] == stats["bytes_read"] > 0
    assert stats["compression_ratio"] > 1.5
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in client.scan_iter(f"{redis_prefix}*")]
        assert keys == [f"{redis_prefix}linear:BTCUSDT:1"]
        assert 0 < await client.ttl(keys[0]) <= 120
        await client.set(f"{redis_prefix}spot:ETHUSDT:60", b"not zlib")
    finally:
        await client.aclose()
    assert await redis_cache.get(OTHER) is None  # a foreign value is a miss, not an error
    health = await redis_cache.health_check()
    assert health["status"] == "ok"
    assert health["backend"] == "redis"
    assert health["latency_ms"] >= 0


@pytest.mark.redis
async def test_update_merges_new_bars_into_the_cached_ones(redis_cache: KlineCache) -> None:
    await redis_cache.put(KEY, bars(300))
    await redis_cache.update(KEY, bars(300, start=1_704_067_200_000 + 250 * 60_000))
    got = await redis_cache.get(KEY)
    assert got is not None
    assert len(got) == 500
    assert got.open_time_ms[-1] == 1_704_067_200_000 + 549 * 60_000
    assert got.is_normalized()


async def test_redis_down_falls_back_to_memory_without_raising() -> None:
    clock = ManualClock()
    cache = KlineCache(f"redis://127.0.0.1:{closed_port()}/0", clock=clock, retry_after_s=30)
    try:
        await cache.put(KEY, bars(10))
        got = await cache.get(KEY)
        assert got is not None
        assert got.equals(bars(10))
        stats = cache.get_stats()
        assert (stats["backend"], stats["errors"], stats["hits"]) == ("memory", 1, 1)
        assert "ConnectionError" in stats["last_error"]
        # Redis is not retried until retry_after_s has passed on the clock...
        await cache.get(KEY)
        assert cache.get_stats()["errors"] == 1
        clock.advance(31)
        assert cache.backend == "redis"
        assert await cache.get(KEY) is not None  # ...then tried once more, and memory serves again
        assert cache.get_stats()["errors"] == 2
        health = await cache.health_check()
        assert health["status"] == "degraded"
        assert "unreachable" in health["reason"]
        await cache.delete(KEY)
        assert await cache.get(KEY) is None
    finally:
        await cache.close()


async def test_unconfigured_cache_is_a_degraded_lru_with_ttl_and_eviction() -> None:
    clock = ManualClock()
    cache = KlineCache(None, clock=clock, ttl_s=60, lru_entries=2)
    await cache.put(KEY, bars(5))
    await cache.put(OTHER, bars(6))
    await cache.put(SeriesKey(Category.INVERSE, "BTCUSD", Interval.D1), bars(7))
    assert await cache.get(KEY) is None  # evicted: least recently used
    other = await cache.get(OTHER)
    assert other is not None
    assert len(other) == 6
    clock.advance(61)
    assert await cache.get(OTHER) is None  # expired
    stats = cache.get_stats()
    assert (stats["backend"], stats["memory_evictions"], stats["hits"], stats["misses"]) == (
        "memory",
        1,
        1,
        2,
    )
    health = await cache.health_check()
    assert health == {
        "status": "degraded",
        "backend": "memory",
        "latency_ms": None,
        "reason": "no Redis configured (BYBIT_REDIS_URL); using the in-process cache",
    }
