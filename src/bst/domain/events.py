"""Market-data events: what a public stream (live, simulated or replayed) delivers, in exchange terms.

Every event carries the exchange's push time (`ts_ms`) and the local receive time (`recv_ms`), both
epoch milliseconds; `latency_ms` is their difference (clock skew included). Order-book updates keep
prices and sizes as the exchange's decimal strings: the book converts them exactly, and keeping the
strings spares the hot path a conversion per level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


MarketEvent = BookUpdate | TradesUpdate | KlineUpdate | TickerUpdate
"""Any public market-data event."""
