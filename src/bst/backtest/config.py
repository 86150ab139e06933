"""How a backtest is run: account, fees, fill and latency models, and the run's bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from bst.backtest.latency import ZERO_LATENCY, Latency
from bst.backtest.metrics import MetricSettings
from bst.domain.errors import ConfigError
from bst.engine import BarFill, FeeSchedule

__all__ = ["BacktestConfig", "CandleFill"]


class CandleFill(StrEnum):
    """When a market order fills in a candle backtest (limits and stops: when the bar path reaches them)."""

    NEXT_OPEN = "next-open"
    """At the open of the bar after the one the strategy saw (backtesting.py's default)."""
    CLOSE = "close"
    """At once, at the close of the bar the strategy saw."""

    @property
    def bar_fill(self) -> BarFill:
        """Return the engine's bar-fill mode for this choice."""
        return BarFill.NEXT_PRINT if self is CandleFill.NEXT_OPEN else BarFill.LAST_PRINT


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """Everything that shapes a run besides the strategy and the data.

    Money is in `settle_coin`. Fees: `commission` (one rate for makers and takers, per side, as
    backtesting.py's) wins over `fees`; neither: Bybit's base tier (linear taker 0.055 %, maker
    0.02 %). `slippage` (a fraction: 0.0005 = 5 bp) moves candle taker fills against the order.
    Latencies: `feed_latency` for market data that carries no receive time (candles, Bybit history
    files), `request_latency` strategy -> engine, `response_latency` engine -> strategy (replies and
    account events). `equity_step_ms` (None: one bar in candle runs, one second otherwise) spaces
    the equity curve. `close_at_end` cancels open orders and closes positions at the last price
    once the data ends, so every trade is a round trip. `metrics` sets the returns period and the
    risk-free rate of the ratios (Sharpe, Sortino, ...: `bst.backtest.metrics`).
    """

    cash: Decimal = Decimal(10_000)
    settle_coin: str = "USDT"
    leverage: Decimal = Decimal(1)
    commission: Decimal | None = None
    fees: FeeSchedule | None = None
    fill: CandleFill = CandleFill.NEXT_OPEN
    slippage: Decimal = Decimal(0)
    feed_latency: Latency = ZERO_LATENCY
    request_latency: Latency = ZERO_LATENCY
    response_latency: Latency = ZERO_LATENCY
    queue_model: bool = True
    close_at_end: bool = True
    equity_step_ms: int | None = None
    seed: int = 0
    tag: str = "bt"
    metrics: MetricSettings = field(default_factory=MetricSettings)
    params: dict[str, str] = field(default_factory=dict)
    """The strategy's parameters as typed (for the record; the strategy object holds the values)."""

    def __post_init__(self) -> None:
        if not self.cash.is_finite() or self.cash <= 0:
            raise ConfigError(f"cash must be positive, got {self.cash}")
        if not self.leverage.is_finite() or self.leverage < 1:
            raise ConfigError(f"leverage must be at least 1, got {self.leverage}")
        if self.commission is not None and not (Decimal("-0.1") <= self.commission < Decimal("0.1")):
            raise ConfigError(f"commission is a fraction per side (0.00055 = 0.055 %), got {self.commission}")
        if not (0 <= self.slippage < 1):
            raise ConfigError(f"slippage is a fraction (0.0005 = 5 bp), got {self.slippage}")
        if self.equity_step_ms is not None and self.equity_step_ms < 1:
            raise ConfigError(f"equity_step_ms must be at least 1, got {self.equity_step_ms}")

    def fee_schedule(self) -> FeeSchedule:
        """Return the fee schedule the engine charges."""
        if self.commission is not None:
            c = self.commission
            return FeeSchedule(linear_taker=c, linear_maker=c, spot_taker=c, spot_maker=c)
        return self.fees or FeeSchedule()
