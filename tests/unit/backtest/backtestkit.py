"""Builders for backtest tests: candle frames and a scripted strategy that records what it saw."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

from bst.domain.events import TradesUpdate
from bst.domain.market import Interval
from bst.domain.orders import Execution, Order
from bst.trading.context import Context
from bst.trading.intents import IntentResult
from bst.trading.market_view import BookChange, ConfirmedBar, DataNeeds
from bst.trading.params import Params
from bst.trading.strategy import Strategy
from bst.trading.timers import TimerFired

D = Decimal
START = pd.Timestamp("2024-01-01", tz="UTC")
START_MS = int(START.value // 1_000_000)
MINUTE_MS = 60_000

Step = Callable[[Context], object]


def candles(
    ohlc: Sequence[tuple[float, float, float, float]], *, freq: str = "1min", volume: float = 10.0
) -> pd.DataFrame:
    """Return bars (Open, High, Low, Close, Volume) from START, one every `freq`."""
    index = pd.date_range(START, periods=len(ohlc), freq=freq)
    rows = [(o, h, low, c, volume) for o, h, low, c in ohlc]
    return pd.DataFrame(rows, index=index, columns=["Open", "High", "Low", "Close", "Volume"])


@dataclass(frozen=True)
class ScriptParams(Params):
    """A scripted strategy has no parameters of its own."""


@dataclass
class Seen:
    """What a scripted strategy was told, with the run's time of each."""

    bars: list[tuple[int, str, ConfirmedBar]] = field(default_factory=list)
    fills: list[tuple[int, int, Execution]] = field(default_factory=list)
    """(run time, bars seen so far, fill)."""
    orders: list[tuple[int, Order]] = field(default_factory=list)
    failures: list[tuple[int, IntentResult]] = field(default_factory=list)
    timers: list[tuple[int, str]] = field(default_factory=list)


class Script(Strategy[ScriptParams]):
    """Run `steps[(symbol, i)]` (or `steps[i]` for the first symbol) on the i-th bar of a symbol."""

    name = "script"

    def __init__(
        self,
        steps: Mapping[int | tuple[str, int], Step] | None = None,
        *,
        interval: Interval | None = Interval.M1,
        on_stop: Step | None = None,
        book_steps: Mapping[int, Step] | None = None,
        book_depth: int = 0,
        trades: bool = False,
    ) -> None:
        super().__init__(ScriptParams())
        self.steps = dict(steps or {})
        self.interval = interval
        self.stop_step = on_stop
        self.book_steps = dict(book_steps or {})
        self.book_depth = book_depth
        self.wants_trades = trades
        self.books = 0
        self.trades_seen = 0
        self.seen = Seen()
        self._count: dict[str, int] = {}

    def needs(self) -> DataNeeds:
        bars = (self.interval,) if self.interval is not None else ()
        return DataNeeds(bars=bars, book_depth=self.book_depth, trades=self.wants_trades)

    def on_book(self, ctx: Context, book: BookChange) -> None:
        step = self.book_steps.get(self.books)
        self.books += 1
        if step is not None:
            step(ctx)

    def on_trade(self, ctx: Context, trades: TradesUpdate) -> None:
        self.trades_seen += len(trades.trades)

    def on_bar(self, ctx: Context, bar: ConfirmedBar) -> None:
        index = self._count.get(bar.symbol, 0)
        self._count[bar.symbol] = index + 1
        self.seen.bars.append((ctx.now_ms, bar.symbol, bar))
        step = self.steps.get((bar.symbol, index))
        if step is None and bar.symbol == ctx.symbol:
            step = self.steps.get(index)
        if step is not None:
            step(ctx)

    def on_fill(self, ctx: Context, fill: Execution) -> None:
        self.seen.fills.append((ctx.now_ms, len(self.seen.bars), fill))

    def on_order(self, ctx: Context, order: Order) -> None:
        self.seen.orders.append((ctx.now_ms, order))

    def on_intent_failed(self, ctx: Context, result: IntentResult) -> None:
        self.seen.failures.append((ctx.now_ms, result))

    def on_timer(self, ctx: Context, timer: TimerFired) -> None:
        self.seen.timers.append((ctx.now_ms, timer.name))

    def on_stop(self, ctx: Context) -> None:
        if self.stop_step is not None:
            self.stop_step(ctx)
