"""Market-data events: what a public stream (live, simulated or replayed) delivers, in exchange terms.

Every event carries the exchange's push time (`ts_ms`) and the local receive time (`recv_ms`), both
epoch milliseconds; `latency_ms` is their difference (clock skew included). Order-book updates keep
prices and sizes as the exchange's decimal strings: the book converts them exactly, and keeping the
strings spares the hot path a conversion per level.

`FundingUpdate` is the one event no public stream pushes: a funding rate on its own, as a historic
series gives it (Bybit's funding history: one rate per settlement), for backtests; the stream's
tickers carry the live rate in `TickerUpdate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from bst.domain.market import Bar, Category, Interval, Ticker, Trade

RawLevels = Sequence[Sequence[str]]
"""Book levels as the exchange prints them: `[[price, size], ...]`; size "0" deletes the level."""


class Received:
    """Mixin of events stamped with exchange time `ts_ms` and local receive time `recv_ms` (epoch ms)."""

    __slots__ = ()
    ts_ms: int
    recv_ms: int

    @property
    def latency_ms(self) -> int:
        """Return local receive time minus exchange push time, in ms (clock skew included)."""
        return self.recv_ms - self.ts_ms


class BookUpdate(NamedTuple):
    """One order-book message: a snapshot (reset the book) or a delta (apply level changes).

    A NamedTuple rather than a frozen dataclass: this is built once per message on the hot path,
    and a frozen dataclass costs about four times as much to construct.
    """

    category: Category
    symbol: str
    depth: int
    snapshot: bool
    bids: RawLevels
    asks: RawLevels
    update_id: int
    seq: int | None
    ts_ms: int
    cts_ms: int | None
    recv_ms: int

    @property
    def latency_ms(self) -> int:
        """Return local receive time minus exchange push time, in ms."""
        return self.recv_ms - self.ts_ms


@dataclass(frozen=True, slots=True)
class TradesUpdate(Received):
    """Public trades pushed in one message, oldest first."""

    category: Category
    symbol: str
    trades: tuple[Trade, ...]
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class LiveBar:
    """A candle as a stream reports it: possibly still open (`confirmed` False)."""

    bar: Bar
    end_ms: int
    confirmed: bool
    last_match_ms: int


@dataclass(frozen=True, slots=True)
class KlineUpdate(Received):
    """Candles pushed in one kline message."""

    category: Category
    symbol: str
    interval: Interval
    bars: tuple[LiveBar, ...]
    ts_ms: int
    recv_ms: int

    @classmethod
    def closed(cls, category: Category, symbol: str, interval: Interval, bar: Bar) -> KlineUpdate:
        """Return a stored (closed) bar as the confirmed kline pushed at its last millisecond.

        `end_ms`, `ts_ms` and `recv_ms` are the bar's last millisecond (next open - 1), as Bybit
        stamps a confirmed kline; a backtest replays candles from the store with it.
        """
        end_ms = interval.next_open_ms(bar.open_time_ms) - 1
        live = LiveBar(bar, end_ms, confirmed=True, last_match_ms=end_ms)
        return cls(category, symbol, interval, (live,), end_ms, end_ms)


@dataclass(frozen=True, slots=True)
class TickerUpdate(Received):
    """The full ticker state after a snapshot or a merged delta; `cross_seq` orders updates."""

    category: Category
    symbol: str
    ticker: Ticker
    snapshot: bool
    cross_seq: int | None
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class FundingUpdate(Received):
    """The funding rate the settlement at `funding_time_ms` (epoch ms) applies, known at `ts_ms`.

    A rate is a fraction (0.0001 = 0.01 %): longs pay `size x mark x rate` when positive.
    """

    category: Category
    symbol: str
    funding_rate: Decimal
    funding_time_ms: int
    ts_ms: int
    recv_ms: int

    @classmethod
    def settlement(
        cls, category: Category, symbol: str, funding_rate: Decimal, funding_time_ms: int
    ) -> FundingUpdate:
        """Return one entry of a historic series (rate, settlement time) as an event.

        It is stamped one millisecond before the settlement: the rate is fixed when it settles,
        and an event at the settlement instant would reach a consumer that moves its clock first
        (the matching engine) only after that settlement had used the previous rate.
        """
        at_ms = funding_time_ms - 1
        return cls(category, symbol, funding_rate, funding_time_ms, at_ms, at_ms)


MarketEvent = BookUpdate | TradesUpdate | KlineUpdate | TickerUpdate | FundingUpdate
"""Any market-data event: what the public streams deliver, plus historic funding rates."""
