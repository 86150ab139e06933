"""One feeder for the engine: several time-ordered market-event sources merged into one stream.

The sim's trading desk and the backtester both feed the engine through it: trades, book updates,
tickers or funding rates and bars, of any number of symbols, each source in time order. `Feeder`
merges them lazily (one pending event per source in memory), applies each event to the engine
(`MatchingEngine.apply`, which moves the clock first) and stops at a time bound when asked: the sim
syncs up to "now", a backtest runs to the end or steps from bound to bound.

Order: by `ts_ms`; events with the same time come in source order (the source given first wins),
and a source's own events keep their order. The result is deterministic: the same sources give the
same sequence, so the engine gives the same ids and fills. A source that is not in time order is
merged as given (its late events are applied at the engine's current time, which never goes back).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from operator import attrgetter

from bst.domain.events import MarketEvent
from bst.engine.core import MatchingEngine

_event_time = attrgetter("ts_ms")


def merge_events(sources: Iterable[Iterable[MarketEvent]]) -> Iterator[MarketEvent]:
    """Yield the events of time-ordered sources in time order (ties: source order, then source's own)."""
    return heapq.merge(*sources, key=_event_time)


class Feeder:
    """Feed an engine from market-event sources, merged in time order, up to a bound or to the end."""

    def __init__(self, engine: MatchingEngine, sources: Iterable[Iterable[MarketEvent]]) -> None:
        self.engine = engine
        self._events = merge_events(sources)
        self._ahead: MarketEvent | None = next(self._events, None)
        self.applied = 0
        """Events applied so far."""

    @property
    def next_ms(self) -> int | None:
        """Return the time of the next event to apply, or None when every source is exhausted."""
        return self._ahead.ts_ms if self._ahead is not None else None

    def events(self, until_ms: int | None = None) -> Iterator[MarketEvent]:
        """Apply events with `ts_ms <= until_ms` (all without a bound), yielding each after applying it.

        The caller may act between events (read the engine's outbox, place orders). When the bound
        is reached, the engine's clock moves to `until_ms`; later events stay pending for the next
        call (so do the rest when the caller stops iterating early). An event the engine refuses
        (ConfigError: unlisted symbol, malformed level) raises and stays pending: nothing is skipped.
        """
        engine = self.engine
        while self._ahead is not None and (until_ms is None or self._ahead.ts_ms <= until_ms):
            event = self._ahead
            engine.apply(event)
            self.applied += 1
            self._ahead = next(self._events, None)
            yield event
        if until_ms is not None:
            engine.advance_time(until_ms)

    def run(self, until_ms: int | None = None) -> int:
        """Apply every event up to `until_ms` (or all); return how many were applied by this call."""
        before = self.applied
        for _ in self.events(until_ms):
            pass
        return self.applied - before
