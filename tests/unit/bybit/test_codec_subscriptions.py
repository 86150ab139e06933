"""Venue-neutral market subscriptions -> Bybit public topics: the one translation both feeds use."""

from __future__ import annotations

import pytest

from bst.bybit.codec.ws_public import parse_topic, subscription_topic
from bst.domain.errors import ConfigError
from bst.domain.market import Category, Interval
from bst.domain.ports import MarketChannel, MarketSubscription

LINEAR, SPOT = Category.LINEAR, Category.SPOT


@pytest.mark.parametrize(
    ("subscription", "topic"),
    [
        (MarketSubscription(MarketChannel.BOOK, LINEAR, "BTCUSDT", depth=50), "orderbook.50.BTCUSDT"),
        (MarketSubscription(MarketChannel.BOOK, SPOT, "ETHUSDT", depth=1000), "orderbook.1000.ETHUSDT"),
        (MarketSubscription(MarketChannel.TRADES, SPOT, "BTCUSDT", depth=50), "publicTrade.BTCUSDT"),
        (
            MarketSubscription(MarketChannel.BARS, LINEAR, "BTCUSDT", interval=Interval.M15),
            "kline.15.BTCUSDT",
        ),
        (MarketSubscription(MarketChannel.BARS, SPOT, "BTCUSDT", interval=Interval.D1), "kline.D.BTCUSDT"),
        (MarketSubscription(MarketChannel.TICKER, LINEAR, "XRPUSDT"), "tickers.XRPUSDT"),
        (MarketSubscription(MarketChannel.FUNDING, LINEAR, "XRPUSDT"), "tickers.XRPUSDT"),  # inside it
    ],
)
def test_each_channel_becomes_its_bybit_topic(subscription: MarketSubscription, topic: str) -> None:
    assert subscription_topic(subscription) == topic
    assert parse_topic(topic).symbol == subscription.symbol


@pytest.mark.parametrize(
    ("subscription", "problem"),
    [
        (MarketSubscription(MarketChannel.BOOK, LINEAR, "BTCUSDT"), "depth 0 is not offered on linear"),
        (
            MarketSubscription(MarketChannel.BOOK, SPOT, "BTCUSDT", depth=500),
            "depth 500 is not offered on spot",
        ),
        (MarketSubscription(MarketChannel.BOOK, Category.OPTION, "BTC-1JAN-1-C", depth=25), "not offered"),
        (MarketSubscription(MarketChannel.BARS, LINEAR, "BTCUSDT"), "needs an interval"),
        (MarketSubscription(MarketChannel.TICKER, LINEAR, "btcusdt"), "upper case"),
        (MarketSubscription(MarketChannel.FUNDING, SPOT, "BTCUSDT"), "spot BTCUSDT pays no funding"),
    ],
)
def test_what_bybit_does_not_publish_is_refused(subscription: MarketSubscription, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        subscription_topic(subscription)
