"""Rolling-window request limits, as Bybit applies them (per IP, and per UID and endpoint group).

Time comes from the injected clock's `monotonic()`, so under a ManualClock a window only rolls
when the test advances the clock, and a breach is reproducible.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from bst.domain.clock import Clock


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """The outcome of one counted request and what the X-Bapi-Limit* headers say about it.

    `reset_at_ms` is when a slot frees up if the budget is exhausted, else the current time
    (Bybit's documented meaning of X-Bapi-Limit-Reset-Timestamp).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_at_ms: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Return the X-Bapi-Limit* response headers (raw ASGI form)."""
        return [
            (b"x-bapi-limit", str(self.limit).encode()),
            (b"x-bapi-limit-status", str(self.remaining).encode()),
            (b"x-bapi-limit-reset-timestamp", str(self.reset_at_ms).encode()),
        ]

    def header_dict(self) -> dict[str, str]:
        """Return the X-Bapi-Limit* response headers as a dict."""
        return {k.decode(): v.decode() for k, v in self.headers()}


class SlidingWindowLimiter:
    """At most `limit` requests per key in any rolling `window_s`; refused requests are not counted."""

    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self.limit = limit
        self.window_s = window_s
        self.reconfigure(limit, window_s)

    @property
    def enabled(self) -> bool:
        """Return whether requests are limited at all (limit 0 turns the limiter off)."""
        return self.limit > 0

    def reconfigure(self, limit: int, window_s: float) -> None:
        """Change the budget and forget every counted request."""
        if limit < 0 or window_s <= 0 or not math.isfinite(window_s):
            raise ValueError(f"need limit >= 0 and a positive window, got {limit}/{window_s}s")
        with self._lock:
            self.limit = limit
            self.window_s = window_s
            self._hits.clear()

    def set_clock(self, clock: Clock) -> None:
        """Use another clock (counted requests are forgotten)."""
        with self._lock:
            self._clock = clock
            self._hits.clear()

    def reset(self) -> None:
        """Forget every counted request."""
        with self._lock:
            self._hits.clear()

    def hit(self, key: str) -> LimitDecision:
        """Count one request for `key` if the budget allows, and return the decision."""
        with self._lock:
            now_s = self._clock.monotonic()
            now_ms = self._clock.now_ms()
            if self.limit <= 0:
                return LimitDecision(True, 0, 0, now_ms)
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now_s - self.window_s:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now_s)
            remaining = self.limit - len(hits)
            if remaining > 0:
                reset_at_ms = now_ms
            else:
                reset_at_ms = now_ms + max(1, math.ceil((hits[0] + self.window_s - now_s) * 1000))
            return LimitDecision(allowed, self.limit, remaining, reset_at_ms)
