"""`ReplayMarketFeed`: exactly the subscribed events in the source's order, the clock they imply.

The shared `MarketFeed` cases are in `tests/contract/`; here: the filter as a property over random
sources, subscriptions and chunk sizes, the virtual clock, waiting for a subscription, closing, and
Bybit's real ob500 file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.data.market_feed import ReplayMarketFeed, normalise
from bst.data.replay import ReplayStats
from bst.domain.bookset import BookSet
from bst.domain.clock import ManualClock
from bst.domain.errors import ConfigError
from bst.domain.events import (
    BookUpdate,
    FundingUpdate,
    KlineUpdate,
    LiveBar,
    MarketEvent,
    TickerUpdate,
    TradesUpdate,
)
from bst.domain.feeds import FundingTracker, subscription_of
from bst.domain.market import Bar, Category, Interval, Side, Ticker, Trade
from bst.domain.orderbook import ApplyResult
from bst.domain.ports import MarketChannel, MarketSubscription

D = Decimal
LINEAR, SPOT = Category.LINEAR, Category.SPOT
T0 = 1_733_011_200_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def book(symbol: str, ts_ms: int, *, depth: int = 50, category: Category = LINEAR) -> BookUpdate:
    return BookUpdate(category, symbol, depth, False, [["100", "1"]], [], ts_ms, None, ts_ms, None, ts_ms + 3)


def trades(symbol: str, ts_ms: int, category: Category = LINEAR) -> TradesUpdate:
    trade = Trade(ts_ms, symbol, Side.BUY, D(100), D(1), f"t{ts_ms}")
    return TradesUpdate(category, symbol, (trade,), ts_ms, ts_ms + 3)


def kline(symbol: str, ts_ms: int, interval: Interval = Interval.M1) -> KlineUpdate:
    bar = Bar(interval.open_time_ms(ts_ms), D(1), D(2), D(1), D(2), D(3), D(6))
    return KlineUpdate(LINEAR, symbol, interval, (LiveBar(bar, ts_ms, False, ts_ms),), ts_ms, ts_ms + 3)


def ticker(symbol: str, ts_ms: int, rate: str | None = None) -> TickerUpdate:
    state = Ticker(symbol, D(100), None, None, None, None)
    if rate is not None:
        state = replace(state, funding_rate=D(rate), next_funding_time_ms=T0 + 8 * 3_600_000)
    return TickerUpdate(LINEAR, symbol, state, True, 1, ts_ms, ts_ms + 3)


def funding(symbol: str, ts_ms: int) -> FundingUpdate:
    return FundingUpdate(LINEAR, symbol, D("0.0001"), T0 + 8 * 3_600_000, ts_ms, ts_ms)


MAKERS = (
    lambda s, t: book(s, t),
    lambda s, t: book(s, t, depth=200),
    lambda s, t: book(s, t, category=SPOT),
    trades,
    lambda s, t: trades(s, t, SPOT),
    kline,
    lambda s, t: kline(s, t, Interval.M5),
    ticker,
    funding,
)
SUBSCRIPTIONS = [MarketSubscription(MarketChannel.BOOK, LINEAR, s, depth=50) for s in SYMBOLS] + [
    MarketSubscription(MarketChannel.BOOK, LINEAR, "BTCUSDT", depth=200),
    MarketSubscription(MarketChannel.BOOK, SPOT, "BTCUSDT", depth=50),
    MarketSubscription(MarketChannel.TRADES, LINEAR, "BTCUSDT", depth=7),  # depth ignored off the book
    MarketSubscription(MarketChannel.TRADES, SPOT, "ETHUSDT"),
    MarketSubscription(MarketChannel.BARS, LINEAR, "BTCUSDT", interval=Interval.M1),
    MarketSubscription(MarketChannel.TICKER, LINEAR, "ETHUSDT"),
    MarketSubscription(MarketChannel.FUNDING, LINEAR, "BTCUSDT"),
]


async def read_all(feed: ReplayMarketFeed) -> list[MarketEvent]:
    async with asyncio.timeout(10):
        return [e async for e in feed]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(range(len(MAKERS))), st.sampled_from(SYMBOLS)), max_size=60),
    st.sets(st.sampled_from(range(len(SUBSCRIPTIONS))), min_size=1),
    st.integers(min_value=1, max_value=8),
)
def test_the_feed_delivers_exactly_the_subscribed_events_in_source_order(
    shape: list[tuple[int, str]], chosen: set[int], chunk: int
) -> None:
    source = [MAKERS[kind](symbol, T0 + i * 10) for i, (kind, symbol) in enumerate(shape)]
    wanted = [SUBSCRIPTIONS[i] for i in sorted(chosen)]
    keys = {normalise(s) for s in wanted}

    async def run() -> list[MarketEvent]:
        feed = ReplayMarketFeed(source, chunk_events=chunk)
        await feed.subscribe(wanted)
        return await read_all(feed)

    assert asyncio.run(run()) == [e for e in source if subscription_of(e) in keys]


async def test_the_clock_moves_to_each_event_and_never_back() -> None:
    clock = ManualClock(T0 + 1_000)
    source = [trades("BTCUSDT", T0), trades("BTCUSDT", T0 + 2_000), trades("BTCUSDT", T0 + 5_000)]
    feed = ReplayMarketFeed(source, clock=clock)
    await feed.subscribe([MarketSubscription(MarketChannel.TRADES, LINEAR, "BTCUSDT")])

    seen = []
    async for event in feed:
        seen.append((event.recv_ms, clock.now_ms()))

    assert seen == [(T0 + 3, T0 + 1_000), (T0 + 2_003, T0 + 2_003), (T0 + 5_003, T0 + 5_003)]


async def test_a_reader_waits_for_the_first_subscription() -> None:
    feed = ReplayMarketFeed([trades("BTCUSDT", T0)])
    reader = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.01)
    assert not reader.done()

    await feed.subscribe([MarketSubscription(MarketChannel.TRADES, LINEAR, "BTCUSDT")])
    event = await asyncio.wait_for(reader, 5)

    assert event == trades("BTCUSDT", T0)


async def test_close_wakes_a_waiting_reader_closes_the_source_and_refuses_subscriptions() -> None:
    closed: list[bool] = []

    def source() -> Iterator[TradesUpdate]:
        try:
            for i in range(1_000):
                yield trades("BTCUSDT", T0 + i)
        finally:
            closed.append(True)

    waiting = ReplayMarketFeed([])
    reader = asyncio.ensure_future(anext(waiting))
    await asyncio.sleep(0.01)
    await waiting.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, 5)

    reading = ReplayMarketFeed(source(), chunk_events=10)
    await reading.subscribe([MarketSubscription(MarketChannel.TRADES, LINEAR, "BTCUSDT")])
    first = await anext(reading)
    await reading.close()

    assert first.ts_ms == T0
    assert [e async for e in reading] == []
    assert closed == [True]
    with pytest.raises(ConfigError, match="closed"):
        await reading.subscribe([MarketSubscription(MarketChannel.TRADES, LINEAR, "ETHUSDT")])


@pytest.mark.parametrize(
    ("subscription", "problem"),
    [
        (MarketSubscription(MarketChannel.BOOK, LINEAR, "BTCUSDT"), "depth 0 is not offered"),
        (MarketSubscription(MarketChannel.BOOK, SPOT, "BTCUSDT", depth=500), "depth 500 is not offered"),
        (MarketSubscription(MarketChannel.BARS, LINEAR, "BTCUSDT"), "needs an interval"),
        (MarketSubscription(MarketChannel.TRADES, LINEAR, "btcusdt"), "upper case"),
        (MarketSubscription(MarketChannel.FUNDING, SPOT, "BTCUSDT"), "pays no funding"),
    ],
)
async def test_subscriptions_bybit_never_publishes_are_refused(
    subscription: MarketSubscription, problem: str
) -> None:
    feed = ReplayMarketFeed([])

    with pytest.raises(ConfigError, match=problem):
        await feed.subscribe([subscription])


def test_a_missing_recording_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such recording"):
        ReplayMarketFeed.from_path(tmp_path / "absent.bstrec.gz")
    with pytest.raises(ConfigError, match="chunk_events"):
        ReplayMarketFeed([], chunk_events=0)


async def test_bybits_ob500_file_replays_on_a_virtual_clock(shared_dir: Path) -> None:
    zipped = shared_dir / "data" / "nautilus_bybit_xrpusdt-ob500_2024-12-01.data.zip"
    clock = ManualClock(T0)
    stats = ReplayStats()
    feed = ReplayMarketFeed.from_path(zipped, clock=clock, stats=stats)
    await feed.subscribe([MarketSubscription(MarketChannel.BOOK, LINEAR, "XRPUSDT", depth=500)])

    books = BookSet()
    results = [books.apply(e) async for e in feed if isinstance(e, BookUpdate)]

    assert results == [ApplyResult.SNAPSHOT] + [ApplyResult.APPLIED] * 49
    assert clock.now_ms() == 1_733_011_205_490  # the last message's time
    final = books.get(LINEAR, "XRPUSDT", 500)
    assert final is not None
    assert (final.best_bid(), final.best_ask(), final.update_id) == (
        (D("1.9537"), D("10605")),
        (D("1.9538"), D("6702")),
        20254918,
    )
    assert (stats.messages, stats.events) == (50, 50)


async def test_funding_comes_from_the_series_and_from_recorded_tickers_when_the_terms_change() -> None:
    source = [
        ticker("BTCUSDT", T0, "0.0001"),
        ticker("BTCUSDT", T0 + 100, "0.0001"),  # same terms: nothing new
        funding("BTCUSDT", T0 + 150),  # a stored series' own event
        ticker("BTCUSDT", T0 + 200, "0.0002"),
        ticker("BTCUSDT", T0 + 300),  # no funding terms in it
        ticker("ETHUSDT", T0 + 400, "0.0003"),  # another symbol
    ]
    feed = ReplayMarketFeed(source)
    await feed.subscribe([MarketSubscription(MarketChannel.FUNDING, LINEAR, "BTCUSDT")])

    events = await read_all(feed)

    due = T0 + 8 * 3_600_000
    assert events == [
        FundingUpdate(LINEAR, "BTCUSDT", D("0.0001"), due, T0, T0 + 3),
        funding("BTCUSDT", T0 + 150),
        FundingUpdate(LINEAR, "BTCUSDT", D("0.0002"), due, T0 + 200, T0 + 203),
    ]


def test_the_funding_tracker_reports_each_change_of_terms_once_per_symbol() -> None:
    tracker = FundingTracker()

    reported = [
        tracker.on_ticker(update)
        for update in (
            ticker("BTCUSDT", T0, "0.0001"),
            ticker("ETHUSDT", T0, "0.0001"),
            ticker("BTCUSDT", T0 + 1, "0.0001"),
            ticker("BTCUSDT", T0 + 2),
            ticker("BTCUSDT", T0 + 3, "-0.0001"),
        )
    ]

    assert [(r.symbol, r.funding_rate, r.ts_ms) if r else None for r in reported] == [
        ("BTCUSDT", D("0.0001"), T0),
        ("ETHUSDT", D("0.0001"), T0),
        None,
        None,
        ("BTCUSDT", D("-0.0001"), T0 + 3),
    ]
