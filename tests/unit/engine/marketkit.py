"""Builders of the domain's market events for engine tests (levels as the exchange prints them)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from enginekit import SYMBOL

from bst.domain.events import BookUpdate, KlineUpdate, LiveBar, TickerUpdate, TradesUpdate
from bst.domain.market import Bar, Category, Interval, Side, Ticker, Trade

D = Decimal
LINEAR = Category.LINEAR


def book(
    ts_ms: int,
    bids: Sequence[tuple[str, str]],
    asks: Sequence[tuple[str, str]],
    *,
    snapshot: bool = True,
    category: Category = LINEAR,
    symbol: str = SYMBOL,
) -> BookUpdate:
    """Return an order-book message with string levels."""
    return BookUpdate(
        category,
        symbol,
        50,
        snapshot,
        [list(level) for level in bids],
        [list(level) for level in asks],
        1,
        None,
        ts_ms,
        None,
        ts_ms,
    )


def trades(
    ts_ms: int,
    *prints: tuple[int, str, str, Side],
    category: Category = LINEAR,
    symbol: str = SYMBOL,
) -> TradesUpdate:
    """Return a trades message of (time ms, price, size, taker side) prints."""
    return TradesUpdate(
        category,
        symbol,
        tuple(
            Trade(at_ms, symbol, side, D(price), D(size), f"t{at_ms}-{i}")
            for i, (at_ms, price, size, side) in enumerate(prints)
        ),
        ts_ms,
        ts_ms,
    )


def trade(ts_ms: int, price: str, size: str, side: Side, *, category: Category = LINEAR) -> TradesUpdate:
    """Return a message of one trade at `ts_ms`."""
    return trades(ts_ms, (ts_ms, price, size, side), category=category)


def ticker(
    ts_ms: int,
    last: str,
    *,
    mark: str | None = None,
    index: str | None = None,
    rate: str | None = None,
    next_funding_ms: int | None = None,
    category: Category = LINEAR,
) -> TickerUpdate:
    """Return a ticker message with the fields the engine reads."""
    state = Ticker(
        symbol=SYMBOL,
        last_price=D(last),
        bid1_price=None,
        bid1_size=None,
        ask1_price=None,
        ask1_size=None,
        mark_price=None if mark is None else D(mark),
        index_price=None if index is None else D(index),
        funding_rate=None if rate is None else D(rate),
        next_funding_time_ms=next_funding_ms,
    )
    return TickerUpdate(category, SYMBOL, state, True, None, ts_ms, ts_ms)


def bar(
    open_ms: int,
    ohlc: tuple[str, str, str, str],
    volume: str,
    *,
    confirmed: bool = True,
    interval: Interval = Interval.M1,
) -> KlineUpdate:
    """Return a one-bar kline message pushed at the bar's last millisecond."""
    o, h, low, c = (D(x) for x in ohlc)
    candle = Bar(open_ms, o, h, low, c, D(volume), D(volume) * c)
    end_ms = interval.next_open_ms(open_ms) - 1
    live = LiveBar(candle, end_ms, confirmed=confirmed, last_match_ms=end_ms)
    return KlineUpdate(LINEAR, SYMBOL, interval, (live,), end_ms, end_ms)
