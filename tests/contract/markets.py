"""The market feeds the contract suite runs against, each behind `MarketFeed`, over one known market.

Both feeds carry the sim generator's market (seed `SIM_SEED`), so the cases can hold every event to
the generator's ground truth (its trades, its book, its bars and tickers at a given instant):

- `live`: `PublicMarketFeed` against `bst sim`'s public WebSocket over loopback (the session sim; its
  clock is frozen, and `run(seconds)` moves it);
- `replay`: `ReplayMarketFeed` over a recording of the same market: the raw messages the sim's topic
  streams publish for `RECORDED_S` seconds (BTCUSDT and ETHUSDT books and trades, BTCUSDT bars and
  ticker), decoded by `bst.data.replay` as a recording file would be. `run` has nothing to do: the
  recording already holds the time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bst.data.market_feed import ReplayMarketFeed
from bst.data.recording import RecordedMessage
from bst.data.replay import replay_events
from bst.domain.clock import ManualClock
from bst.domain.market import Category, Interval
from bst.domain.ports import MarketFeed
from bst.exchange.market_feed import PublicMarketFeed
from bst.exchange.ws_public import PublicStreamConfig

SYMBOL, OTHER = "BTCUSDT", "ETHUSDT"
LINEAR = Category.LINEAR
RECORDED_S = 24
STEP_MS = 100


@dataclass
class MarketVenue:
    """A market feed, the market's start time, and how to let its time pass."""

    name: str
    feed: MarketFeed
    start_ms: int
    generator: Any
    """The sim's `MarketGenerator`: the ground truth of every event."""
    run: Callable[[float], None]
    """Let `seconds` of market time pass."""


async def live_market(sim: Any) -> AsyncIterator[MarketVenue]:
    """Yield a `PublicMarketFeed` of the (reset) session sim."""
    from bst.sim.ws_public import streams_of

    streams_of(sim.state).reset()
    start = sim.clock.now_ms()
    feed = PublicMarketFeed(PublicStreamConfig(sim.ws_url, LINEAR, seed=1), clock=ManualClock(start))
    try:
        yield MarketVenue("live", feed, start, sim.generator, sim.clock.advance)
    finally:
        await feed.close()


def recorded_messages(generator: Any, start_ms: int, seconds: int) -> list[RecordedMessage]:
    """Return what the sim's topic streams publish from `start_ms` on, as a recording holds it."""
    from bst.sim.ws_streams import BookStream, KlineStream, TickerStream, TopicStream, TradeStream

    streams: list[TopicStream] = [
        BookStream(generator, LINEAR, SYMBOL, 50, lambda: False),
        TradeStream(generator, LINEAR, SYMBOL),
        KlineStream(generator, LINEAR, SYMBOL, Interval.M1),
        TickerStream(generator, LINEAR, SYMBOL),
        BookStream(generator, LINEAR, OTHER, 50, lambda: False),
        TradeStream(generator, LINEAR, OTHER),
    ]
    messages = [RecordedMessage(LINEAR, start_ms, raw) for s in streams for raw in s.start(start_ms)]
    for step in range(start_ms + STEP_MS, start_ms + seconds * 1000 + 1, STEP_MS):
        messages.extend(RecordedMessage(LINEAR, step, raw) for s in streams for raw in s.advance(step))
    return messages


async def replay_market(sim: Any) -> AsyncIterator[MarketVenue]:
    """Yield a `ReplayMarketFeed` over a recording of the sim's market from its clock on."""
    start = sim.clock.now_ms()
    events = replay_events(recorded_messages(sim.generator, start, RECORDED_S))
    feed = ReplayMarketFeed(events, clock=ManualClock(start))

    def run(seconds: float) -> None:
        assert seconds <= RECORDED_S, "the recording is shorter"

    try:
        yield MarketVenue("replay", feed, start, sim.generator, run)
    finally:
        await feed.close()
