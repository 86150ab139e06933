"""The `MarketFeed` port over recorded or stored market events (backtests, replays).

`ReplayMarketFeed` delivers the events of any iterable of market events (a `bst.data.replay`
recording or Bybit history file, or events built in memory) that match its subscriptions, in the
source's order, which for recordings is receive-time order: the same `BookUpdate`, `TradesUpdate`,
`KlineUpdate` and `TickerUpdate` values the live `PublicStream` produces, so the bot and the
backtester both take a `MarketFeed`. A `FUNDING` subscription delivers the source's own
`FundingUpdate`s (a stored funding series) and, like the live feed, one derived from a recorded
ticker whenever its rate or next settlement time changes.

Time: given a `ManualClock`, the feed moves it to each event's receive time (`recv_ms`) just before
handing the event over (never backwards), so the consumer sees the clock a live run would show; a
backtest's virtual time is driven by its market. The source is read and filtered in a worker thread,
a chunk at a time, so decompressing and decoding a recording never blocks the event loop; the order
of events is the source's whatever the thread timing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Self

from bst.bybit.codec.ws_public import subscription_topic
from bst.data.replay import ReplayStats, replay
from bst.domain.clock import ManualClock
from bst.domain.errors import ConfigError
from bst.domain.events import MarketEvent, TickerUpdate
from bst.domain.feeds import FundingTracker, normalised, subscription_of
from bst.domain.market import Category
from bst.domain.ports import MarketChannel, MarketSubscription

CHUNK_EVENTS = 1024
"""Events read per trip to the worker thread (a chunk of a recording is a few ms of decoding)."""


def normalise(subscription: MarketSubscription) -> MarketSubscription:
    """Return `subscription` with the fields its channel ignores cleared.

    Raise ConfigError for one Bybit never publishes (a book depth the category does not offer, bars
    without an interval, spot funding): the live feed's check, in the codec, so both refuse alike.
    """
    subscription_topic(subscription)
    return normalised(subscription)


class ReplayMarketFeed:
    """`MarketFeed` over stored market events: the subscribed ones, in the source's order.

    Iteration waits until something is subscribed (as a live feed delivers nothing before), and ends
    when the source is exhausted or the feed is closed.
    """

    def __init__(
        self,
        events: Iterable[MarketEvent],
        *,
        clock: ManualClock | None = None,
        chunk_events: int = CHUNK_EVENTS,
    ) -> None:
        if chunk_events < 1:
            raise ConfigError(f"chunk_events must be at least 1, got {chunk_events}")
        self._source: Iterator[MarketEvent] = iter(events)
        self._clock = clock
        self._chunk_events = chunk_events
        self._wanted: frozenset[MarketSubscription] = frozenset()
        self._subscribed = asyncio.Event()
        self._buffer: deque[MarketEvent] = deque()
        self._exhausted = False
        self._reading = False
        self._closed = False
        self._funding_tracker = FundingTracker()

    @classmethod
    def from_path(
        cls,
        source: Path,
        *,
        category: Category | None = None,
        clock: ManualClock | None = None,
        stats: ReplayStats | None = None,
    ) -> ReplayMarketFeed:
        """Return a feed replaying a recording, a Bybit history file, a .zip, or a recordings folder.

        `category` is needed for Bybit files (their content does not say it; default linear).
        """
        if not source.exists():
            raise ConfigError(f"no such recording: {source}")
        return cls(replay(source, category=category, stats=stats), clock=clock)

    def __repr__(self) -> str:
        return f"ReplayMarketFeed(subscriptions={len(self._wanted)}, exhausted={self._exhausted})"

    async def subscribe(self, subscriptions: Sequence[MarketSubscription]) -> None:
        """Add subscriptions (from the next event read on); ConfigError for an incomplete one."""
        if self._closed:
            raise ConfigError("the market feed is closed; create a new one")
        added = [normalise(s) for s in subscriptions]
        self._wanted = self._wanted | frozenset(added)
        if self._wanted:
            self._subscribed.set()

    async def close(self) -> None:
        """Stop delivering events and release the source."""
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()
        self._subscribed.set()  # a reader waiting for a subscription wakes up and stops
        if not self._reading:
            self._release()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> MarketEvent:
        """Return the next subscribed event, moving the clock to its receive time."""
        while not self._buffer:
            if self._closed or self._exhausted:
                raise StopAsyncIteration
            if not self._wanted:
                await self._subscribed.wait()
                continue
            await self._fill()
        event = self._buffer.popleft()
        clock = self._clock
        if clock is not None and event.recv_ms > clock.now_ms():
            clock.advance((event.recv_ms - clock.now_ms()) / 1000)
        return event

    # --- internals ---------------------------------------------------------------------------------

    async def _fill(self) -> None:
        self._reading = True
        try:
            chunk, exhausted = await asyncio.to_thread(self._take, self._wanted, self._chunk_events)
        finally:
            self._reading = False
        if self._closed:
            self._release()
            return
        self._buffer.extend(chunk)
        if exhausted:
            self._exhausted = True
            self._release()

    def _take(self, wanted: frozenset[MarketSubscription], count: int) -> tuple[list[MarketEvent], bool]:
        """Read up to `count` wanted events (worker thread); return them and whether the source ended."""
        found: list[MarketEvent] = []
        for event in self._source:
            if subscription_of(event) in wanted:
                found.append(event)
            if isinstance(event, TickerUpdate):
                funding = MarketSubscription(MarketChannel.FUNDING, event.category, event.symbol)
                if funding in wanted and (derived := self._funding_tracker.on_ticker(event)) is not None:
                    found.append(derived)
            if len(found) >= count:
                return found, False
        return found, True

    def _release(self) -> None:
        if isinstance(self._source, Generator):  # a recording's reader holds an open file
            self._source.close()


__all__ = ["CHUNK_EVENTS", "ReplayMarketFeed", "normalise"]
