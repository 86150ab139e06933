"""A strategy's timers: named, one-shot or repeating, due at epoch-ms times of the run's clock.

Timers fire in due order (ties in the order they were set), each at most once per due time; a
repeating timer is due again `every_ms` after its previous due time, so a late run catches up
one firing at a time and never drifts.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from bst.domain.errors import ConfigError

__all__ = ["TimerFired", "Timers"]


@dataclass(frozen=True, slots=True)
class TimerFired:
    """What `on_timer` receives: the timer's name and the time it was due (epoch ms)."""

    name: str
    due_ms: int


@dataclass(frozen=True, slots=True)
class _Timer:
    name: str
    due_ms: int
    every_ms: int
    generation: int


class Timers:
    """The set of pending timers, by name; setting a name again replaces its timer."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, _Timer]] = []
        self._live: dict[str, _Timer] = {}
        self._order = itertools.count()
        self._generation = itertools.count()

    def set(self, name: str, due_ms: int, every_ms: int = 0) -> None:
        """Arm timer `name` at `due_ms`, repeating every `every_ms` (0: once)."""
        if not name:
            raise ConfigError("a timer needs a name")
        if every_ms < 0:
            raise ConfigError(f"timer {name}: the period must be positive, got {every_ms} ms")
        timer = _Timer(name, due_ms, every_ms, next(self._generation))
        self._live[name] = timer
        heapq.heappush(self._heap, (due_ms, next(self._order), timer))

    def cancel(self, name: str) -> bool:
        """Disarm timer `name`; return whether it was armed."""
        return self._live.pop(name, None) is not None

    def names(self) -> list[str]:
        """Return the armed timers' names."""
        return list(self._live)

    def next_due_ms(self) -> int | None:
        """Return when the next armed timer is due, or None when none is armed."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ms: int) -> TimerFired | None:
        """Take the earliest timer due at or before `now_ms` (re-arming a repeating one), or None."""
        self._drop_stale()
        if not self._heap or self._heap[0][0] > now_ms:
            return None
        _, _, timer = heapq.heappop(self._heap)
        if timer.every_ms:
            again = _Timer(timer.name, timer.due_ms + timer.every_ms, timer.every_ms, timer.generation)
            self._live[timer.name] = again
            heapq.heappush(self._heap, (again.due_ms, next(self._order), again))
        else:
            del self._live[timer.name]
        return TimerFired(timer.name, timer.due_ms)

    def _drop_stale(self) -> None:
        heap, live = self._heap, self._live
        while heap:
            timer = heap[0][2]
            current = live.get(timer.name)
            if (
                current is not None
                and current.generation == timer.generation
                and current.due_ms == timer.due_ms
            ):
                return
            heapq.heappop(heap)
