"""What a backtest produces: exact records, the pandas frames built from them, and the run's facts.

Two layers, one source of truth:

- `Ledger`: the exact records of a run, as the engine booked them (Decimal money and quantities):
  every order's final state, every execution (trades and funding), the round-trip trades, the
  equity curve and the position changes. Only a run in memory has one.
- `BacktestResult`: what every consumer reads (the summary table, `bst backtest show`, the HTML
  report, notebooks): `info` (the run's facts: configuration, assumptions, metrics, as in
  `run.json`) and pandas frames with the columns below (floats: research data; the exact figures
  are in `ledger` and, for the headline numbers, in `info.metrics`). A run loaded from disk
  (`bst.backtest.runs.load_run`) has the same frames and info and no ledger.

The column tuples are the contract of the saved files (`orders.parquet`, `fills.parquet`,
`trades.parquet`, `equity.parquet`, `positions.parquet`): change them only by adding columns.
Times are UTC `datetime64[ms]`; money is in the settle coin (USDT); a position's `size` is signed
(negative: short).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from bst.domain.market import Category, Side
from bst.domain.orders import Execution, Order

TRADE_COLUMNS = (
    "symbol",
    "side",
    "qty",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "gross_pnl",
    "fees",
    "funding",
    "pnl",
    "return_pct",
    "duration",
    "entry_order_id",
    "exit_order_id",
)
"""One row per round trip: `side` "long"/"short"; `pnl` = `gross_pnl` - `fees` - `funding`;
`return_pct` = `pnl` / entry value x 100; `funding` > 0 was paid."""

EQUITY_COLUMNS = ("equity", "wallet", "unrealised_pnl", "position_value", "drawdown_pct")
"""Indexed by `time`: `equity` = `wallet` + `unrealised_pnl` (at the last price); `position_value`
is the gross value of open positions; `drawdown_pct` <= 0 is the fall from the running peak."""

ORDER_COLUMNS = (
    "created_time",
    "updated_time",
    "order_id",
    "order_link_id",
    "symbol",
    "side",
    "order_type",
    "time_in_force",
    "qty",
    "price",
    "status",
    "cum_exec_qty",
    "avg_price",
    "cum_exec_fee",
    "reduce_only",
    "create_type",
    "reject_reason",
)
"""Each order's final state (`price` 0 for market orders: Bybit shows none)."""

FILL_COLUMNS = (
    "time",
    "exec_id",
    "order_id",
    "order_link_id",
    "symbol",
    "side",
    "exec_type",
    "qty",
    "price",
    "value",
    "fee",
    "fee_rate",
    "is_maker",
    "closed_size",
    "exec_pnl",
)
"""Every execution: `exec_type` Trade, Funding (`fee` > 0 paid, `fee_rate` the funding rate) or
BustTrade (liquidation)."""

POSITION_COLUMNS = ("time", "symbol", "size", "avg_price", "mark_price", "unrealised_pnl", "cum_realised_pnl")
"""Every change of a position, as the account feed reported it."""

PRICE_COLUMNS = ("symbol", "time", "open", "high", "low", "close", "bars")
"""The prices the report draws, per symbol (`bst.backtest.prices`): downsampled OHLC bars, `time`
the first bar's open time, `bars` how many data bars (or price samples) one row stands for."""


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One round-trip trade: the part of one entry order's position that one exit order closed.

    Entry and exit prices are the average prices of the fills involved; `fees` are the entry and
    exit fees in proportion to `qty`; `funding` (> 0 paid) is the funding settled on this quantity
    while it was open. Invariant: over a run, the sum of `pnl` of the trades plus the result of
    positions still open equals the change of the wallet.
    """

    symbol: str
    category: Category
    side: Side
    """BUY: a long trade; SELL: a short one."""
    qty: Decimal
    entry_time_ms: int
    exit_time_ms: int
    entry_price: Decimal
    exit_price: Decimal
    gross_pnl: Decimal
    fees: Decimal
    funding: Decimal
    entry_order_id: str
    exit_order_id: str

    @property
    def is_long(self) -> bool:
        """Return whether the trade was long."""
        return self.side is Side.BUY

    @property
    def pnl(self) -> Decimal:
        """Return the net result: price PnL minus fees minus funding paid."""
        return self.gross_pnl - self.fees - self.funding

    @property
    def entry_value(self) -> Decimal:
        """Return qty x entry price."""
        return self.qty * self.entry_price


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The account's value at one instant, in the settle coin.

    `equity` = `wallet` + `unrealised_pnl` (marked at each symbol's last price).
    """

    ts_ms: int
    wallet: Decimal
    unrealised_pnl: Decimal
    position_value: Decimal

    @property
    def equity(self) -> Decimal:
        """Return wallet plus unrealised PnL."""
        return self.wallet + self.unrealised_pnl


@dataclass(frozen=True, slots=True)
class PositionPoint:
    """A position after a change (signed `size`: negative is short)."""

    ts_ms: int
    symbol: str
    size: Decimal
    avg_price: Decimal
    mark_price: Decimal
    unrealised_pnl: Decimal
    cum_realised_pnl: Decimal


@dataclass(frozen=True, slots=True)
class Ledger:
    """The exact records of one run (Decimal), in time order."""

    orders: tuple[Order, ...]
    executions: tuple[Execution, ...]
    trades: tuple[RoundTrip, ...]
    equity: tuple[EquityPoint, ...]
    positions: tuple[PositionPoint, ...]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The facts of a run (`run.json`): what ran, on what, how it was configured, and what it gave.

    `config` holds the run's settings as text (cash, fees, fill model, latency models, ...),
    `assumptions` one line per modelling assumption (printed in the summary and the report),
    `inputs` one line per data source, `metrics` the headline numbers (exact money as decimal
    strings, ratios as floats, counts as ints; `bst.backtest.metrics` names them).
    """

    run_id: str
    strategy: str
    params: Mapping[str, str]
    symbols: tuple[str, ...]
    category: Category
    interval: str | None
    start_ms: int
    end_ms: int
    cash: Decimal
    settle_coin: str
    config: Mapping[str, str]
    assumptions: tuple[str, ...]
    inputs: tuple[str, ...]
    metrics: Mapping[str, Any]
    created_ms: int
    counts: Mapping[str, int] = field(default_factory=dict)
    """Events processed per kind (market events, bars, requests, ...)."""
    symbol_metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Each symbol's metrics (`bst.backtest.metrics.SYMBOL_METRICS`), for the per-symbol table."""

    def to_json(self) -> dict[str, Any]:
        """Return the run's facts as JSON-compatible data (Decimals as strings)."""
        return {
            "run_id": self.run_id,
            "strategy": self.strategy,
            "params": dict(self.params),
            "symbols": list(self.symbols),
            "category": self.category.value,
            "interval": self.interval,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "cash": str(self.cash),
            "settle_coin": self.settle_coin,
            "config": dict(self.config),
            "assumptions": list(self.assumptions),
            "inputs": list(self.inputs),
            "metrics": dict(self.metrics),
            "created_ms": self.created_ms,
            "counts": dict(self.counts),
            "symbol_metrics": {symbol: dict(values) for symbol, values in self.symbol_metrics.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        """Rebuild the facts written by `to_json`."""
        return cls(
            run_id=str(data["run_id"]),
            strategy=str(data["strategy"]),
            params={str(k): str(v) for k, v in data["params"].items()},
            symbols=tuple(data["symbols"]),
            category=Category(data["category"]),
            interval=data.get("interval"),
            start_ms=int(data["start_ms"]),
            end_ms=int(data["end_ms"]),
            cash=Decimal(data["cash"]),
            settle_coin=str(data["settle_coin"]),
            config={str(k): str(v) for k, v in data["config"].items()},
            assumptions=tuple(data["assumptions"]),
            inputs=tuple(data.get("inputs", ())),
            metrics=dict(data["metrics"]),
            created_ms=int(data["created_ms"]),
            counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
            symbol_metrics={str(k): dict(v) for k, v in data.get("symbol_metrics", {}).items()},
        )


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """A finished (or loaded) run: its facts and frames; `ledger` holds the exact records in memory.

    `trades`, `equity`, `orders`, `fills` and `positions` have the columns of `TRADE_COLUMNS`,
    `EQUITY_COLUMNS` (indexed by time), `ORDER_COLUMNS`, `FILL_COLUMNS` and `POSITION_COLUMNS`;
    `prices` (`PRICE_COLUMNS`) is what the report's charts draw (empty: none known).
    """

    info: RunInfo
    trades: pd.DataFrame
    equity: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    ledger: Ledger | None = None
    prices: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(PRICE_COLUMNS)))

    @property
    def run_id(self) -> str:
        """Return the run's id."""
        return self.info.run_id

    @property
    def stats(self) -> pd.Series:
        """Return the run's metrics as a Series (money as floats; exact values in `info.metrics`)."""
        values = {name: _number(value) for name, value in self.info.metrics.items()}
        return pd.Series(values, dtype=object, name=self.info.run_id)


def _number(value: Any) -> Any:
    """Return decimal strings of the metrics as floats (the frame's unit); other values unchanged."""
    if isinstance(value, str):
        try:
            return float(Decimal(value))
        except ArithmeticError:
            return value
    return value


__all__ = [
    "EQUITY_COLUMNS",
    "FILL_COLUMNS",
    "ORDER_COLUMNS",
    "POSITION_COLUMNS",
    "PRICE_COLUMNS",
    "TRADE_COLUMNS",
    "BacktestResult",
    "EquityPoint",
    "Ledger",
    "PositionPoint",
    "RoundTrip",
    "RunInfo",
]
