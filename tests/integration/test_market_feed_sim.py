"""`PublicMarketFeed` against `bst sim`: what only the live feed does (the shared cases are in contract/).

One stream per category, merged into one iteration; a topic the venue refuses raises the stream's
`SubscriptionError` (a `BybitInvalidParameterError`) and leaves the accepted ones running.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bst.domain.clock import ManualClock
from bst.domain.errors import BybitInvalidParameterError
from bst.domain.events import TradesUpdate
from bst.domain.market import Category
from bst.domain.ports import MarketChannel, MarketSubscription
from bst.exchange.market_feed import PublicMarketFeed
from bst.exchange.ws_public import PublicStreamConfig, SubscriptionError
from bst.sim.tape import prints
from bst.sim.ws_public import streams_of

WAIT_S = 30.0
SYMBOL = "BTCUSDT"


def trades_of(category: Category, symbol: str = SYMBOL) -> MarketSubscription:
    return MarketSubscription(MarketChannel.TRADES, category, symbol)


async def test_two_categories_get_a_stream_each_and_one_merged_iteration(sim: Any) -> None:
    streams_of(sim.state).reset()
    start = sim.clock.now_ms()
    feed = PublicMarketFeed(PublicStreamConfig(sim.ws_url, Category.LINEAR, seed=3), clock=ManualClock(start))
    truth = {
        category: prints(sim.generator, SYMBOL, start + 1, start + 20_000, category=category)
        for category in (Category.LINEAR, Category.SPOT)
    }
    got: dict[Category, list[Any]] = {Category.LINEAR: [], Category.SPOT: []}
    async with feed:
        await feed.subscribe([trades_of(Category.LINEAR), trades_of(Category.SPOT)])
        sim.clock.advance(20.0)
        async with asyncio.timeout(WAIT_S):
            async for event in feed:
                assert isinstance(event, TradesUpdate)
                got[event.category].extend(event.trades)
                if all(got[c] and got[c][-1] == truth[c][-1] for c in got):
                    break

        linear, spot = feed.stream(Category.LINEAR), feed.stream(Category.SPOT)
        assert linear is not None
        assert spot is not None
        assert linear is not spot
        assert (linear.config.category, spot.config.category) == (Category.LINEAR, Category.SPOT)
        assert feed.stream(Category.INVERSE) is None
    assert got == truth
    assert all(truth.values())


async def test_a_topic_the_venue_refuses_raises_and_the_accepted_ones_keep_flowing(sim: Any) -> None:
    streams_of(sim.state).reset()
    start = sim.clock.now_ms()
    feed = PublicMarketFeed(PublicStreamConfig(sim.ws_url, Category.LINEAR, seed=3), clock=ManualClock(start))
    async with feed:
        with pytest.raises(SubscriptionError) as refused:
            await feed.subscribe([trades_of(Category.LINEAR), trades_of(Category.LINEAR, "NOSUCHUSDT")])
        sim.clock.advance(10.0)
        async with asyncio.timeout(WAIT_S):
            first = await anext(feed)

    assert isinstance(refused.value, BybitInvalidParameterError)
    assert list(refused.value.failures) == ["publicTrade.NOSUCHUSDT"]
    assert isinstance(first, TradesUpdate)
    assert first.trades[0] == prints(sim.generator, SYMBOL, start + 1, start + 10_000)[0]
