"""Request pacing shared by every task of the process.

Why a sliding window and not a plain token bucket: Bybit counts requests per rolling window (600
per 5 s per IP, N per 1 s per UID and endpoint). A token bucket of capacity N refilled at N/W lets
through up to 2N requests in some window W and so trips the exchange's limit; a sliding log of the
last N send times never does, while still allowing full bursts. Each group's budget also follows the
server's own `X-Bapi-Limit-Status` view, and a rate-limit reply blocks the group (or, for the IP
limit, everything) until the reset time.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

import structlog

from bst.bybit.endpoints import RateGroup
from bst.domain.clock import Clock

log = structlog.get_logger(__name__)


class SlidingWindow:
    """At most `limit` acquisitions in any `window_s` of clock time; waiters are served FIFO."""

    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._blocked_until = 0.0

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window_s:
            self._sent.popleft()

    def wait_time(self) -> float:
        """Return how long the next acquisition would wait now (0 when it may go at once)."""
        now = self._clock.monotonic()
        self._expire(now)
        wait = max(0.0, self._blocked_until - now)
        if len(self._sent) >= self.limit:
            wait = max(wait, self._sent[len(self._sent) - self.limit] + self.window_s - now)
        return wait

    async def acquire(self) -> float:
        """Wait for a slot and take it; return the seconds waited."""
        waited = 0.0
        async with self._lock:
            while (wait := self.wait_time()) > 0:
                waited += wait
                await self._clock.sleep(wait)
            self._sent.append(self._clock.monotonic())
        return waited

    def block_for(self, seconds: float) -> None:
        """Refuse every acquisition for `seconds` from now (after a rate-limit reply)."""
        self._blocked_until = max(self._blocked_until, self._clock.monotonic() + seconds)

    def sync_remaining(self, remaining: int) -> None:
        """Align with the server's count: never believe we have more slots than it says."""
        now = self._clock.monotonic()
        self._expire(now)
        used_by_server = self.limit - max(0, remaining)
        while len(self._sent) < used_by_server:
            self._sent.append(now)


class RateLimiter:
    """One IP-wide window plus one window per signed endpoint group."""

    def __init__(
        self,
        clock: Clock,
        requests_per_window: int,
        window_s: float,
        uid_limits_per_s: dict[RateGroup, int] | None = None,
    ) -> None:
        self._clock = clock
        self.ip = SlidingWindow(requests_per_window, window_s, clock)
        self.groups = {g: SlidingWindow(n, 1.0, clock) for g, n in (uid_limits_per_s or {}).items()}
        self.waited_s = 0.0

    async def acquire(self, group: RateGroup) -> None:
        """Wait until a request of `group` may be sent."""
        waited = 0.0
        window = self.groups.get(group)
        if window is not None:
            waited += await window.acquire()
        waited += await self.ip.acquire()
        if waited > 0:
            self.waited_s += waited
            log.debug("throttle.waited", group=group.value, waited_ms=round(waited * 1000, 1))

    def observe_headers(self, group: RateGroup, limit: int | None, remaining: int | None) -> None:
        """Follow the server's `X-Bapi-Limit*` view of a group's budget."""
        window = self.groups.get(group)
        if window is None or remaining is None:
            return
        if limit is not None and limit > 0 and limit != window.limit:
            window.limit = limit
        window.sync_remaining(remaining)

    def back_off(self, group: RateGroup, seconds: float, *, ip_wide: bool) -> None:
        """Block `group` (or every request, for the IP limit) for `seconds`."""
        target = self.ip if ip_wide or group not in self.groups else self.groups[group]
        target.block_for(seconds)
        log.warning("throttle.back_off", group=group.value, seconds=round(seconds, 3), ip_wide=ip_wide)


_shared: weakref.WeakKeyDictionary[object, dict[str, RateLimiter]] = weakref.WeakKeyDictionary()


def shared_limiter(
    base_url: str,
    clock: Clock,
    requests_per_window: int,
    window_s: float,
    uid_limits_per_s: dict[RateGroup, int] | None = None,
) -> RateLimiter:
    """Return the process-wide limiter for `base_url` on `clock`, creating it on first use."""
    per_clock = _shared.setdefault(clock, {})
    limiter = per_clock.get(base_url)
    if limiter is None:
        limiter = RateLimiter(clock, requests_per_window, window_s, uid_limits_per_s)
        per_clock[base_url] = limiter
    return limiter
