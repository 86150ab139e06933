"""Injected time: the only way logic reads the time or waits.

Live code gets `SystemClock`; tests and the backtester get `ManualClock`, whose time moves only
when told to, so nothing needs a real sleep and every run is deterministic.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """A source of wall time (epoch ms), monotonic time (s) and sleeping."""

    def now_ms(self) -> int:
        """Return the wall-clock time in epoch milliseconds."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic time in seconds, for measuring intervals."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now_ms(self) -> int:
        """Return the wall-clock time in epoch milliseconds."""
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only through `advance`; sleepers wake when their deadline is reached.

    `sleep` never blocks for real time: a sleeping task waits on a future resolved by `advance`.
    With `autojump=True`, a sleep instead moves the clock forward at once (a virtual clock for
    code that only needs time to pass, such as retry backoff in tests).
    """

    def __init__(self, start_ms: int = 1_700_000_000_000, *, autojump: bool = False) -> None:
        self._now_s = start_ms / 1000.0
        self._autojump = autojump
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self.slept_s: list[float] = []

    def now_ms(self) -> int:
        """Return the current virtual time in epoch milliseconds."""
        return round(self._now_s * 1000)

    def monotonic(self) -> float:
        """Return the current virtual time in seconds."""
        return self._now_s

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced by `seconds` (or jump there with autojump)."""
        seconds = max(0.0, seconds)
        self.slept_s.append(seconds)
        if self._autojump:
            self.advance(seconds)
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now_s + seconds, next(self._counter), future))
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now_s += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now_s + 1e-12:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


SYSTEM_CLOCK = SystemClock()
"""The process's one real clock; share it so process-wide state (rate budgets) is shared too."""
