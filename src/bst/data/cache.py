"""A cache of recent candles per (category, symbol, interval): Redis, else an in-process LRU.

Values are the newest `max_candles` bars as zlib-compressed columns with a TTL. The cache never
raises into its caller: when Redis is not configured, unreachable or failing, an in-process LRU
serves instead, `health_check()` reports "degraded", and Redis is tried again after
`retry_after_s`. Counters (hits, misses, bytes) are kept per instance for `get_stats()`.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bst.data.arrays import KlineArrays, merge
from bst.data.manifest import SeriesKey
from bst.domain.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

_MAGIC = b"BSTK1"
_HEADER = struct.Struct("<5sI")
_ERRORS = (RedisError, OSError, TimeoutError)


def encode(bars: KlineArrays, level: int = 6) -> bytes:
    """Return candles as compressed bytes (little-endian int64 times, then six float64 columns)."""
    n = len(bars)
    body = [_HEADER.pack(_MAGIC, n), bars.open_time_ms.astype("<i8").tobytes()]
    body.extend(c.astype("<f8").tobytes() for c in bars.columns())
    return zlib.compress(b"".join(body), level)


def decode(blob: bytes) -> KlineArrays:
    """Return the candles of `encode` output; raise ValueError on anything else."""
    raw = zlib.decompress(blob)
    magic, n = _HEADER.unpack_from(raw)
    if magic != _MAGIC or len(raw) != _HEADER.size + 56 * n:
        raise ValueError("not a bst kline cache entry")
    offset = _HEADER.size
    ts = np.frombuffer(raw, dtype="<i8", count=n, offset=offset).astype(np.int64)
    cols = [
        np.frombuffer(raw, dtype="<f8", count=n, offset=offset + 8 * n * (i + 1)).astype(np.float64)
        for i in range(6)
    ]
    return KlineArrays(ts, *cols)


@dataclass(slots=True)
class CacheStats:
    """Counters since the cache was created."""

    hits: int = 0
    misses: int = 0
    sets: int = 0
    errors: int = 0
    evictions: int = 0
    bytes_written: int = 0
    bytes_read: int = 0
    raw_bytes_written: int = 0
    last_error: str | None = None
    by_backend: dict[str, int] = field(default_factory=lambda: {"redis": 0, "memory": 0})


class KlineCache:
    """Recent candles per series, Redis-backed with an in-process fallback."""

    def __init__(
        self,
        redis_url: str | None,
        *,
        ttl_s: int = 3600,
        max_candles: int = 2000,
        prefix: str = "bst:klines:",
        clock: Clock | None = None,
        lru_entries: int = 256,
        retry_after_s: float = 30.0,
        timeout_s: float = 0.5,
    ) -> None:
        self.redis_url = redis_url
        self.ttl_s = ttl_s
        self.max_candles = max_candles
        self.prefix = prefix
        self.clock: Clock = clock or SystemClock()
        self.lru_entries = lru_entries
        self.retry_after_s = retry_after_s
        self.stats = CacheStats()
        self._lru: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._down_until = 0.0
        self._redis: Redis | None = None
        if redis_url:
            self._redis = Redis.from_url(
                redis_url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),
            )

    def key_of(self, key: SeriesKey) -> str:
        """Return the Redis key of a series."""
        return f"{self.prefix}{key.category.value}:{key.symbol}:{key.interval.value}"

    @property
    def backend(self) -> str:
        """Return "redis" while Redis serves requests, else "memory"."""
        return "redis" if self._redis_usable() else "memory"

    def _redis_usable(self) -> bool:
        return self._redis is not None and self.clock.monotonic() >= self._down_until

    def _mark_down(self, exc: BaseException) -> None:
        first = self._down_until <= self.clock.monotonic()
        self._down_until = self.clock.monotonic() + self.retry_after_s
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        if first:
            log.warning(
                "cache.redis_unavailable", error=self.stats.last_error, retry_after_s=self.retry_after_s
            )

    # --- operations --------------------------------------------------------------------------

    async def get(self, key: SeriesKey) -> KlineArrays | None:
        """Return the cached bars of a series, or None (a miss, or the cache failing)."""
        name = self.key_of(key)
        blob: bytes | None = None
        if self._redis_usable():
            assert self._redis is not None
            try:
                value = await self._redis.get(name)
                blob = value if isinstance(value, bytes) else None
                self.stats.by_backend["redis"] += 1
            except _ERRORS as e:
                self._mark_down(e)
                blob = self._lru_get(name)
        else:
            blob = self._lru_get(name)
        if blob is None:
            self.stats.misses += 1
            return None
        try:
            bars = decode(blob)
        except (ValueError, zlib.error, struct.error):
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.stats.bytes_read += len(blob)
        return bars

    async def put(self, key: SeriesKey, bars: KlineArrays) -> None:
        """Cache the newest `max_candles` of `bars` (normalized) with the TTL."""
        newest = bars.normalized().tail(self.max_candles)
        blob = encode(newest)
        self.stats.sets += 1
        self.stats.bytes_written += len(blob)
        self.stats.raw_bytes_written += 56 * len(newest)
        name = self.key_of(key)
        if self._redis_usable():
            assert self._redis is not None
            try:
                await self._redis.set(name, blob, ex=self.ttl_s)
                self.stats.by_backend["redis"] += 1
                return
            except _ERRORS as e:
                self._mark_down(e)
        self._lru_put(name, blob)

    async def update(self, key: SeriesKey, bars: KlineArrays) -> None:
        """Merge `bars` into the cached bars of a series (new bars win), keeping the newest."""
        cached = await self.get(key)
        if cached is not None:
            bars = merge(cached, bars)
        await self.put(key, bars)

    async def delete(self, key: SeriesKey) -> None:
        """Forget a series."""
        name = self.key_of(key)
        self._lru.pop(name, None)
        if self._redis_usable():
            assert self._redis is not None
            try:
                await self._redis.delete(name)
            except _ERRORS as e:
                self._mark_down(e)

    # --- health ------------------------------------------------------------------------------

    async def health_check(self) -> dict[str, Any]:
        """Return {"status": "ok"|"degraded", "backend", "latency_ms", "reason"}; never raises."""
        if self._redis is None:
            return {
                "status": "degraded",
                "backend": "memory",
                "latency_ms": None,
                "reason": "no Redis configured (BYBIT_REDIS_URL); using the in-process cache",
            }
        started = self.clock.monotonic()
        try:
            await self._redis.ping()
        except _ERRORS as e:
            self._mark_down(e)
            return {
                "status": "degraded",
                "backend": "memory",
                "latency_ms": None,
                "reason": f"Redis unreachable ({self.stats.last_error}); using the in-process cache",
            }
        self._down_until = 0.0
        return {
            "status": "ok",
            "backend": "redis",
            "latency_ms": round((self.clock.monotonic() - started) * 1000, 3),
            "reason": None,
        }

    def get_stats(self) -> dict[str, Any]:
        """Return counters, hit rate, compression ratio and the backend in use."""
        s = self.stats
        lookups = s.hits + s.misses
        return {
            "backend": self.backend,
            "hits": s.hits,
            "misses": s.misses,
            "hit_rate": round(s.hits / lookups, 4) if lookups else 0.0,
            "sets": s.sets,
            "errors": s.errors,
            "last_error": s.last_error,
            "bytes_written": s.bytes_written,
            "bytes_read": s.bytes_read,
            "compression_ratio": round(s.raw_bytes_written / s.bytes_written, 3) if s.bytes_written else None,
            "memory_entries": len(self._lru),
            "memory_evictions": s.evictions,
            "ttl_s": self.ttl_s,
            "max_candles": self.max_candles,
        }

    async def close(self) -> None:
        """Close the Redis connection pool."""
        if self._redis is not None:
            with contextlib.suppress(*_ERRORS):
                await self._redis.aclose()

    # --- the in-process LRU ------------------------------------------------------------------

    def _lru_get(self, name: str) -> bytes | None:
        self.stats.by_backend["memory"] += 1
        entry = self._lru.get(name)
        if entry is None:
            return None
        expires_at, blob = entry
        if self.clock.monotonic() >= expires_at:
            del self._lru[name]
            return None
        self._lru.move_to_end(name)
        return blob

    def _lru_put(self, name: str, blob: bytes) -> None:
        self.stats.by_backend["memory"] += 1
        self._lru[name] = (self.clock.monotonic() + self.ttl_s, blob)
        self._lru.move_to_end(name)
        while len(self._lru) > self.lru_entries:
            self._lru.popitem(last=False)
            self.stats.evictions += 1
