"""The market-data port's contract: one set of cases, run against every `MarketFeed`.

The bot takes a live `MarketFeed` and the backtester a replayed one; a strategy sees the same events
either way only if both feeds keep the same promises. Each case runs unchanged against every venue
of `markets.py` (the public stream of `bst sim` over loopback, and a replay of a recording of the
same market), and holds the events to the generator's ground truth: exactly the subscribed events,
in time order, the book they build equal to the market's book, every trade once, and bars and
tickers equal to the market's at their instant; refusals and closing behave alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from markets import LINEAR, SYMBOL, MarketVenue, live_market, replay_market

from bst.bybit.codec.market import parse_ticker
from bst.domain.bookset import BookSet
from bst.domain.errors import ConfigError
from bst.domain.events import (
    BookUpdate,
    FundingUpdate,
    KlineUpdate,
    MarketEvent,
    TickerUpdate,
    TradesUpdate,
)
from bst.domain.market import Interval
from bst.domain.orderbook import ApplyResult
from bst.domain.ports import MarketChannel, MarketSubscription
from bst.sim.tape import prints
from bst.sim.tickers import ticker_snapshot

WAIT_S = 30.0  # a safety net for a loaded machine; the events normally arrive in milliseconds
BOOK = MarketSubscription(MarketChannel.BOOK, LINEAR, SYMBOL, depth=50)
TRADES = MarketSubscription(MarketChannel.TRADES, LINEAR, SYMBOL)
BARS = MarketSubscription(MarketChannel.BARS, LINEAR, SYMBOL, interval=Interval.M1)
TICKER = MarketSubscription(MarketChannel.TICKER, LINEAR, SYMBOL)
FUNDING = MarketSubscription(MarketChannel.FUNDING, LINEAR, SYMBOL)


@pytest.fixture(params=["live", "replay"])
async def market(request: pytest.FixtureRequest, sim: Any) -> AsyncIterator[MarketVenue]:
    source = live_market(sim) if request.param == "live" else replay_market(sim)
    yield await anext(source)
    await source.aclose()


async def events_until(venue: MarketVenue, done: Callable[[list[MarketEvent]], bool]) -> list[MarketEvent]:
    """Return the feed's events up to the first point where `done(events so far)` holds."""
    seen: list[MarketEvent] = []
    async with asyncio.timeout(WAIT_S):
        async for event in venue.feed:
            seen.append(event)
            if done(seen):
                return seen
    raise AssertionError(f"the {venue.name} feed ended before the expected events")


async def test_book_and_trades_arrive_in_time_order_and_match_the_market(market: MarketVenue) -> None:
    start, gen = market.start_ms, market.generator
    end = start + 20_000
    truth_trades = prints(gen, SYMBOL, start + 1, end)  # the public tape: the generator's trades as printed
    truth_book = gen.book_snapshot(SYMBOL, end, 50)
    books = BookSet()

    def reached(seen: list[MarketEvent]) -> bool:
        event = seen[-1]
        if isinstance(event, BookUpdate):
            assert books.apply(event) in (ApplyResult.SNAPSHOT, ApplyResult.APPLIED)
        book = books.get(LINEAR, SYMBOL, 50)
        traded = [t for e in seen if isinstance(e, TradesUpdate) for t in e.trades]
        return (
            book is not None
            and book.bids() == list(truth_book.bids)
            and book.asks() == list(truth_book.asks)
            and bool(traded)
            and traded[-1] == truth_trades[-1]
        )

    await market.feed.subscribe([BOOK, TRADES])
    market.run(20.0)
    events = await events_until(market, reached)

    assert len(truth_trades) >= 2
    assert all(e.symbol == SYMBOL and isinstance(e, BookUpdate | TradesUpdate) for e in events)
    book_updates = [e for e in events if isinstance(e, BookUpdate)]
    assert book_updates[0].snapshot
    assert book_updates[0].ts_ms == start
    assert all(e.depth == 50 for e in book_updates)
    assert [e.update_id for e in book_updates] == sorted({e.update_id for e in book_updates})
    assert [e.ts_ms for e in book_updates] == sorted(e.ts_ms for e in book_updates)
    traded = [t for e in events if isinstance(e, TradesUpdate) for t in e.trades]
    assert traded == truth_trades  # every trade of the period, once, in time order
    assert all(e.ts_ms <= end for e in events)


async def test_bars_and_ticker_equal_the_market_at_their_instant(market: MarketVenue) -> None:
    start, gen = market.start_ms, market.generator

    await market.feed.subscribe([BARS, TICKER])
    market.run(3.0)
    events = await events_until(
        market,
        lambda seen: (
            any(isinstance(e, KlineUpdate) and e.ts_ms > start for e in seen)
            and any(isinstance(e, TickerUpdate) and e.ts_ms > start for e in seen)
        ),
    )

    assert all(e.symbol == SYMBOL and isinstance(e, KlineUpdate | TickerUpdate) for e in events)
    klines = [e for e in events if isinstance(e, KlineUpdate)]
    tickers = [e for e in events if isinstance(e, TickerUpdate)]
    assert tickers[0].snapshot
    for kline in klines:
        [live] = kline.bars
        assert kline.interval is Interval.M1
        assert live.bar.open_time_ms == Interval.M1.open_time_ms(kline.ts_ms)
        [truth] = gen.bars(
            SYMBOL, Interval.M1, live.bar.open_time_ms, live.bar.open_time_ms, now_ms=kline.ts_ms
        )
        assert live.bar == truth
    for ticker in tickers:
        assert ticker.ticker == parse_ticker(ticker_snapshot(gen, LINEAR, SYMBOL, ticker.ts_ms).to_wire())
    assert [e.ts_ms for e in events] == sorted(e.ts_ms for e in events)


async def test_funding_arrives_as_funding_updates_with_the_markets_terms(market: MarketVenue) -> None:
    start, gen = market.start_ms, market.generator

    await market.feed.subscribe([FUNDING])
    market.run(3.0)
    [first] = await events_until(market, lambda seen: True)
    await market.feed.close()
    async with asyncio.timeout(WAIT_S):
        rest = [e async for e in market.feed]

    truth = parse_ticker(ticker_snapshot(gen, LINEAR, SYMBOL, start).to_wire())
    assert truth.funding_rate is not None
    assert isinstance(first, FundingUpdate)
    assert (first.symbol, first.ts_ms, first.funding_rate, first.funding_time_ms) == (
        SYMBOL,
        start,
        truth.funding_rate,
        truth.next_funding_time_ms,
    )
    assert all(isinstance(e, FundingUpdate) for e in rest)  # no tickers unless asked for


async def test_subscriptions_no_venue_offers_are_refused_and_the_feed_works_on(market: MarketVenue) -> None:
    with pytest.raises(ConfigError):
        await market.feed.subscribe([MarketSubscription(MarketChannel.BOOK, LINEAR, SYMBOL, depth=7)])
    with pytest.raises(ConfigError):
        await market.feed.subscribe([MarketSubscription(MarketChannel.BARS, LINEAR, SYMBOL)])

    await market.feed.subscribe([TRADES])
    market.run(10.0)
    events = await events_until(market, lambda seen: True)

    first = prints(market.generator, SYMBOL, market.start_ms + 1, market.start_ms + 10_000)[0]
    assert isinstance(events[0], TradesUpdate)
    assert events[0].trades[0] == first


async def test_close_ends_the_iteration_and_refuses_new_subscriptions(market: MarketVenue) -> None:
    await market.feed.subscribe([BOOK])
    [first] = await events_until(market, lambda seen: True)

    await market.feed.close()
    async with asyncio.timeout(WAIT_S):
        rest = [e async for e in market.feed]  # whatever was already received, then the end

    assert isinstance(first, BookUpdate)
    assert first.snapshot
    assert all(isinstance(e, BookUpdate) for e in rest)
    with pytest.raises(ConfigError):
        await market.feed.subscribe([TRADES])
