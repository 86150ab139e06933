"""Strategy runtime cost per bar: what a candle backtest pays on top of the engine, per event.

Run: `python -m bench strategy`. Single process; every figure is CPU time of this process
(`time.process_time`), best of 3 repetitions, so other jobs on a shared machine do not count.

The runtime is driven step-wise, as the backtester drives it: `on_market(KlineUpdate)` per bar, and
`take_intents()` only when a callback queued something (no await per bar; nothing is sent here, so
the figures are the runtime and strategy alone, without the venue).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from decimal import Decimal

from bst.domain.clock import ManualClock
from bst.domain.events import KlineUpdate
from bst.domain.instrument import Instrument
from bst.domain.market import Bar, Category, Interval
from bst.strategies.sma_cross import SmaCross, SmaCrossParams
from bst.trading.execution import ExecutionPolicy
from bst.trading.indicators import SMA
from bst.trading.market_view import DataNeeds
from bst.trading.order_tracker import OrderTracker
from bst.trading.params import Params
from bst.trading.runtime import RuntimeConfig, StrategyRuntime
from bst.trading.strategy import Strategy

D = Decimal
SYMBOL = "BTCUSDT"
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
BARS = 200_000
INSTRUMENT = Instrument(
    symbol=SYMBOL,
    category=Category.LINEAR,
    status="Trading",
    base_coin="BTC",
    quote_coin="USDT",
    settle_coin="USDT",
    tick_size=D("0.1"),
    qty_step=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1190"),
    max_market_qty=D("500"),
    min_notional=D("5"),
)


class Idle(Strategy[Params]):
    """Asks for 1-minute bars and does nothing: the runtime's own cost."""

    def needs(self) -> DataNeeds:
        return DataNeeds(bars=(Interval.M1,))


class _NoVenue:
    """Stands in for the venue: the benchmark never sends."""


def _klines(count: int) -> list[KlineUpdate]:
    out = []
    for i in range(count):
        close = D(50_000 + round(400 * math.sin(i / 40) + 90 * math.sin(i / 7), 1))
        bar = Bar(T0 + i * 60_000, close, close + 5, close - 5, close, D(3), close * 3)
        out.append(KlineUpdate.closed(Category.LINEAR, SYMBOL, Interval.M1, bar))
    return out


def _runtime(strategy: Strategy[Params]) -> StrategyRuntime:
    policy = ExecutionPolicy(_NoVenue(), OrderTracker(), ManualClock(T0))  # type: ignore[arg-type]
    return StrategyRuntime(strategy, RuntimeConfig(Category.LINEAR, (SYMBOL,)), [INSTRUMENT], policy)


def _per_bar_us(make: Callable[[], Strategy[Params]], events: list[KlineUpdate]) -> tuple[float, int]:
    best, intents = math.inf, 0
    for _ in range(3):
        runtime = _runtime(make())
        runtime.start(T0)
        taken = 0
        started = time.process_time()
        for event in events:
            runtime.on_market(event)
            if runtime.has_intents:
                taken += len(runtime.take_intents())
        best = min(best, time.process_time() - started)
        intents = taken
    return best / len(events) * 1e6, intents


def _sma_only_us(events: list[KlineUpdate]) -> float:
    closes = [float(e.bars[0].bar.close) for e in events]
    best = math.inf
    for _ in range(3):
        fast, slow = SMA(10), SMA(30)
        started = time.process_time()
        for close in closes:
            fast.update(close)
            slow.update(close)
        best = min(best, time.process_time() - started)
    return best / len(events) * 1e6


def main() -> None:
    events = _klines(BARS)
    idle, _ = _per_bar_us(Idle, events)
    sma, intents = _per_bar_us(lambda: SmaCross(SmaCrossParams(fast=10, slow=30, qty=D("0.01"))), events)
    indicators = _sma_only_us(events)
    print(f"{BARS:,} one-minute bars, CPU time per bar (best of 3)")
    print("| path | µs/bar | bars/s |")
    print("|---|---:|---:|")
    for name, us in (
        ("runtime, idle strategy (window + dispatch)", idle),
        (f"runtime + SMA cross 10/30 ({intents:,} intents taken)", sma),
        ("two incremental SMAs alone (float closes)", indicators),
    ):
        print(f"| {name} | {us:.2f} | {1e6 / us:,.0f} |")
