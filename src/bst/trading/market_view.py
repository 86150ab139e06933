"""The market as a strategy sees it: bar windows, books with analytics, last tickers, up to now.

The runtime folds each market event into this view before it calls the strategy, and the view holds
nothing but what those events said: no bar is in a window before its confirmed kline arrived, no
book level before its message. That is what "a strategy cannot see the future" rests on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import overload

import numpy as np
import numpy.typing as npt

from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate, KlineUpdate, TickerUpdate, TradesUpdate
from bst.domain.market import Bar, Category, Interval, Ticker
from bst.domain.orderbook import OrderBook
from bst.domain.ports import MarketChannel, MarketSubscription
from bst.trading.analytics import AnalyzerConfig, MarketAnalyzer, MarketMetrics

__all__ = ["BarWindow", "BookChange", "ConfirmedBar", "DataNeeds", "MarketView"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DataNeeds:
    """What market data a strategy asks for, for every symbol of the run.

    `bars`: intervals of confirmed candles (`on_bar`), each kept in a window of the last `history`
    bars; `book_depth`: levels a side of the order book (`on_book`, 0 = no book); `trades`: public
    trades (`on_trade`); `ticker`: last/mark prices (`ctx.ticker`, no callback). `analyzer` sets the
    book/trade analytics windows (`ctx.metrics`).
    """

    bars: tuple[Interval, ...] = ()
    history: int = 500
    book_depth: int = 0
    trades: bool = False
    ticker: bool = False
    analyzer: AnalyzerConfig | None = None

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ConfigError(f"history must be at least 1 bar, got {self.history}")
        if self.book_depth < 0:
            raise ConfigError(f"book_depth must be 0 (no book) or a depth, got {self.book_depth}")
        if len(set(self.bars)) != len(self.bars):
            raise ConfigError(f"bar intervals are listed twice: {[i.value for i in self.bars]}")

    def subscriptions(self, category: Category, symbols: Sequence[str]) -> list[MarketSubscription]:
        """Return the market subscriptions that deliver this data for `symbols`."""
        subs: list[MarketSubscription] = []
        for symbol in symbols:
            subs.extend(
                MarketSubscription(MarketChannel.BARS, category, symbol, interval=i) for i in self.bars
            )
            if self.book_depth:
                subs.append(MarketSubscription(MarketChannel.BOOK, category, symbol, depth=self.book_depth))
            if self.trades:
                subs.append(MarketSubscription(MarketChannel.TRADES, category, symbol))
            if self.ticker:
                subs.append(MarketSubscription(MarketChannel.TICKER, category, symbol))
        return subs


@dataclass(frozen=True, slots=True)
class ConfirmedBar:
    """A candle that has closed: what `on_bar` receives. `end_ms` is its last millisecond."""

    category: Category
    symbol: str
    interval: Interval
    bar: Bar
    end_ms: int


class BookChange:
    """A book message applied: what `on_book` receives; `metrics` is computed on first access."""

    __slots__ = ("_metrics", "_read", "book", "category", "snapshot", "symbol", "ts_ms")

    def __init__(
        self,
        category: Category,
        symbol: str,
        book: OrderBook,
        snapshot: bool,
        ts_ms: int,
        read_metrics: Callable[[], MarketMetrics | None],
    ) -> None:
        self.category = category
        self.symbol = symbol
        self.book = book
        """The symbol's book after the message (read it, never change it)."""
        self.snapshot = snapshot
        self.ts_ms = ts_ms
        self._read = read_metrics
        self._metrics: MarketMetrics | None = None

    @property
    def metrics(self) -> MarketMetrics | None:
        """Return the analyzer's metrics of the symbol after this message."""
        if self._metrics is None:
            self._metrics = self._read()
        return self._metrics

    def __repr__(self) -> str:
        return f"BookChange({self.symbol}, snapshot={self.snapshot}, ts_ms={self.ts_ms})"


class BarWindow(Sequence[Bar]):
    """The last `capacity` confirmed bars of one symbol and interval, oldest first (`[-1]` newest)."""

    def __init__(self, symbol: str, interval: Interval, capacity: int) -> None:
        self.symbol = symbol
        self.interval = interval
        self.capacity = capacity
        self._bars: deque[Bar] = deque(maxlen=capacity)

    def _append(self, bar: Bar) -> bool:
        """Add a newly confirmed bar; return False (and keep nothing) unless it opens later than the last."""
        if self._bars and bar.open_time_ms <= self._bars[-1].open_time_ms:
            return False
        self._bars.append(bar)
        return True

    def __len__(self) -> int:
        return len(self._bars)

    @overload
    def __getitem__(self, index: int) -> Bar: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Bar]: ...

    def __getitem__(self, index: int | slice) -> Bar | Sequence[Bar]:
        if isinstance(index, slice):
            return list(self._bars)[index]
        return self._bars[index]

    def __iter__(self) -> Iterator[Bar]:
        return iter(self._bars)

    def __repr__(self) -> str:
        return f"BarWindow({self.symbol}, {self.interval.value}, {len(self)}/{self.capacity})"

    @property
    def last(self) -> Bar | None:
        """Return the newest bar, or None before the first."""
        return self._bars[-1] if self._bars else None

    def closes(self, n: int | None = None) -> FloatArray:
        """Return the close prices of the last `n` bars (all by default) as floats, oldest first."""
        return self._column(lambda b: b.close, n)

    def opens(self, n: int | None = None) -> FloatArray:
        """Return the open prices of the last `n` bars as floats, oldest first."""
        return self._column(lambda b: b.open, n)

    def highs(self, n: int | None = None) -> FloatArray:
        """Return the high prices of the last `n` bars as floats, oldest first."""
        return self._column(lambda b: b.high, n)

    def lows(self, n: int | None = None) -> FloatArray:
        """Return the low prices of the last `n` bars as floats, oldest first."""
        return self._column(lambda b: b.low, n)

    def volumes(self, n: int | None = None) -> FloatArray:
        """Return the base-coin volumes of the last `n` bars as floats, oldest first."""
        return self._column(lambda b: b.volume, n)

    def _column(self, pick: Callable[[Bar], Decimal], n: int | None) -> FloatArray:
        count = len(self._bars) if n is None else max(0, min(n, len(self._bars)))
        start = len(self._bars) - count
        values = (float(pick(self._bars[i])) for i in range(start, len(self._bars)))
        return np.fromiter(values, dtype=np.float64, count=count)


class MarketView:
    """Every symbol's bar windows, book analytics and last ticker, as of the events folded so far."""

    def __init__(self, category: Category, symbols: Sequence[str], needs: DataNeeds) -> None:
        self.category = category
        self.symbols = tuple(symbols)
        self.needs = needs
        self.windows: dict[tuple[str, Interval], BarWindow] = {
            (s, i): BarWindow(s, i, needs.history) for s in self.symbols for i in needs.bars
        }
        wants_analyzer = needs.book_depth > 0 or needs.trades
        self.analyzer = MarketAnalyzer(needs.analyzer) if wants_analyzer else None
        self.tickers: dict[str, Ticker] = {}

    def on_kline(self, event: KlineUpdate) -> list[ConfirmedBar]:
        """Add the event's newly confirmed bars to their window; return them (unconfirmed are skipped)."""
        if event.category is not self.category:
            return []
        window = self.windows.get((event.symbol, event.interval))
        if window is None:
            return []
        closed = []
        for live in event.bars:
            if live.confirmed and window._append(live.bar):
                closed.append(
                    ConfirmedBar(event.category, event.symbol, event.interval, live.bar, live.end_ms)
                )
        return closed

    def on_book(self, event: BookUpdate) -> BookChange | None:
        """Apply a book message of a symbol of the run; return the change to dispatch, or None."""
        analyzer = self.analyzer
        if analyzer is None or event.category is not self.category or event.symbol not in self.symbols:
            return None
        analyzer.on_event(event)
        book = analyzer.books.get(event.category, event.symbol, event.depth)
        if book is None:  # pragma: no cover - on_event created it
            return None
        symbol, category = event.symbol, event.category
        return BookChange(
            category, symbol, book, event.snapshot, event.ts_ms, lambda: analyzer.metrics(symbol, category)
        )

    def on_trades(self, event: TradesUpdate) -> bool:
        """Fold a trades message of a symbol of the run into the analytics; return whether it was ours."""
        analyzer = self.analyzer
        if analyzer is None or event.category is not self.category or event.symbol not in self.symbols:
            return False
        analyzer.on_event(event)
        return self.needs.trades

    def on_ticker(self, event: TickerUpdate) -> None:
        """Keep the symbol's latest ticker."""
        if event.category is self.category and event.symbol in self.symbols:
            self.tickers[event.symbol] = event.ticker

    def window(self, symbol: str, interval: Interval) -> BarWindow:
        """Return the window of `symbol` and `interval`; ConfigError if the strategy did not ask for it."""
        window = self.windows.get((symbol, interval))
        if window is None:
            asked = ", ".join(i.value for i in self.needs.bars) or "none"
            raise ConfigError(
                f"no {interval.value} bars of {symbol}: the strategy asks for intervals {asked} of "
                f"{', '.join(self.symbols)} (DataNeeds.bars)"
            )
        return window

    def book(self, symbol: str) -> OrderBook | None:
        """Return the symbol's book, or None before its first message (or without a book)."""
        if self.analyzer is None:
            return None
        return self.analyzer.book(symbol, self.category)

    def metrics(self, symbol: str) -> MarketMetrics | None:
        """Return the symbol's analytics, or None before its first book/trade message."""
        if self.analyzer is None:
            return None
        return self.analyzer.metrics(symbol, self.category)
