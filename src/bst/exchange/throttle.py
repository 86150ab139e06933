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
import bisect
import contextlib
import weakref
from collections.abc import AsyncIterator

import structlog

from bst.bybit.endpoints import RateGroup
from bst.domain.clock import Clock

log = structlog.get_logger(__name__)

# The highest per-UID per-second budget Bybit grants (VIP tiers top out far below this); a header
# claiming more is not believed, so a bogus figure can neither loosen nor stall the pacing.
MAX_UID_LIMIT_PER_S = 1000


class SlidingWindow:
    """At most `limit` requests in any `window_s` of clock time; waiters are served FIFO.

    A request holds its slot while in flight and is dated by when it *completed*: the exchange
    counts it on arrival, which lies between our send and our receipt, so dating by receipt keeps
    us inside the exchange's window whatever the network delay.
    """

    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit must be >= 1 and window_s > 0")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._done: list[float] = []  # completion times, ascending
        self._in_flight = 0
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()
        self._blocked_until = 0.0

    def _expire(self, now: float) -> None:
        cut = bisect.bisect_right(self._done, now - self.window_s)
        if cut:
            del self._done[:cut]

    def wait_time(self) -> float | None:
        """Return how long the next request must wait (0: go now; None: until one in flight ends)."""
        now = self._clock.monotonic()
        self._expire(now)
        blocked = max(0.0, self._blocked_until - now)
        used = self._in_flight + len(self._done)
        if used < self.limit:
            return blocked
        if self._in_flight >= self.limit:
            return None  # every slot is in flight (the limit may just have been lowered)
        return max(blocked, self._done[used - self.limit] + self.window_s - now)

    async def acquire(self) -> float:
        """Wait for a slot and hold it; return the seconds waited. Pair with `release`."""
        started = self._clock.monotonic()
        async with self._lock:
            while (wait := self.wait_time()) != 0:
                if wait is None:
                    self._released.clear()
                    await self._released.wait()
                else:
                    await self._clock.sleep(wait)
            self._in_flight += 1
        return self._clock.monotonic() - started

    def release(self) -> None:
        """End a request that held a slot, dating it now."""
        self._in_flight = max(0, self._in_flight - 1)
        bisect.insort(self._done, self._clock.monotonic())
        self._released.set()

    def block_for(self, seconds: float) -> None:
        """Refuse every acquisition for `seconds` from now (after a rate-limit reply)."""
        self._blocked_until = max(self._blocked_until, self._clock.monotonic() + seconds)

    def sync_used(self, used_by_server: int) -> None:
        """Align with the server's count: never believe fewer requests are in the window than it says."""
        now = self._clock.monotonic()
        self._expire(now)
        while self._in_flight + len(self._done) < min(used_by_server, self.limit):
            bisect.insort(self._done, now)


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

    @contextlib.asynccontextmanager
    async def slot(self, group: RateGroup) -> AsyncIterator[None]:
        """Hold a slot of `group` (and of the IP budget) for the duration of one request."""
        windows = [w for w in (self.groups.get(group), self.ip) if w is not None]
        waited = 0.0
        taken: list[SlidingWindow] = []
        try:
            for window in windows:
                waited += await window.acquire()
                taken.append(window)
            self.waited_s += waited
            if waited > 0.001:
                log.debug("throttle.waited", group=group.value, waited_ms=round(waited * 1000, 1))
            yield
        finally:
            for window in taken:
                window.release()

    def observe_headers(self, group: RateGroup, limit: int | None, remaining: int | None) -> None:
        """Follow the server's `X-Bapi-Limit*` view of a group's budget."""
        if remaining is None or limit is None or limit <= 0:
            return
        window = self.groups.get(group)
        if window is None:
            # Public endpoints report the IP budget; ours may be set lower, so only tighten it.
            self.ip.sync_used(limit - max(0, remaining))
            return
        if limit <= MAX_UID_LIMIT_PER_S:  # a larger figure is not a per-second endpoint budget
            window.limit = limit
        window.sync_used(limit - max(0, remaining))

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
