"""The headline metrics of a run (`run.json`, the summary table); the full table is the report's.

Exact money (final equity, PnL, fees, funding) is kept as decimal strings from the ledger; ratios
and percentages are floats; counts are ints; a metric that does not exist for a run (a win rate
without trades, a Sharpe ratio under two days) is None.

| name | meaning |
|---|---|
| start, end | first and last time of the run (ISO 8601, UTC) |
| duration_days | end - start in days |
| equity_start, equity_final, equity_peak | cash, final and highest equity (exact) |
| net_pnl | equity_final - equity_start (exact) |
| return_pct | net_pnl / equity_start x 100 |
| buy_hold_return_pct | the first symbol's last close / first close - 1, x 100 |
| max_drawdown_pct | the deepest fall from a running equity peak (<= 0) |
| max_drawdown_days | the longest time under a previous peak |
| exposure_pct | share of equity samples with an open position |
| trades, win_rate_pct | round trips, and the share with a positive net PnL |
| best_trade_pct, worst_trade_pct, avg_trade_pct | of the trades' `return_pct` |
| profit_factor | sum of winning PnL / -(sum of losing PnL) |
| expectancy | average net PnL per trade (exact to 28 digits) |
| fees, funding | paid in total (exact; < 0: received) |
| sharpe | mean / std of daily equity returns x sqrt(365) (crypto trades every day) |
| orders, fills | counts |
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from bst.backtest.result import Ledger
from bst.domain.orders import ExecType

__all__ = ["METRIC_NAMES", "compute_metrics"]

METRIC_NAMES = (
    "start",
    "end",
    "duration_days",
    "equity_start",
    "equity_final",
    "equity_peak",
    "net_pnl",
    "return_pct",
    "buy_hold_return_pct",
    "max_drawdown_pct",
    "max_drawdown_days",
    "exposure_pct",
    "trades",
    "win_rate_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_pct",
    "profit_factor",
    "expectancy",
    "fees",
    "funding",
    "sharpe",
    "orders",
    "fills",
)
_DAY_MS = 86_400_000
_ZERO = Decimal(0)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _money(value: Decimal) -> str:
    """Return an exact amount as plain decimal text without trailing zeros (1758.8954, 0, 12)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _float(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def compute_metrics(
    ledger: Ledger,
    cash: Decimal,
    start_ms: int,
    end_ms: int,
    closes: Mapping[str, tuple[Decimal, Decimal]],
    symbols: tuple[str, ...],
    equity: pd.DataFrame,
) -> dict[str, Any]:
    """Return the metrics of a run (see the module docstring) from its ledger and equity frame.

    `closes` holds each symbol's (first close, last close) for the buy-and-hold return.
    """
    final = ledger.equity[-1].equity if ledger.equity else cash
    peak = max((p.equity for p in ledger.equity), default=cash)
    trades = ledger.trades
    pnls = [t.pnl for t in trades]
    returns = [float(t.pnl / t.entry_value * 100) for t in trades if t.entry_value]
    wins = sum((p for p in pnls if p > 0), _ZERO)
    losses = sum((p for p in pnls if p < 0), _ZERO)
    fees = sum((e.exec_fee for e in ledger.executions if e.exec_type is not ExecType.FUNDING), _ZERO)
    funding = sum((e.exec_fee for e in ledger.executions if e.exec_type is ExecType.FUNDING), _ZERO)
    first = closes.get(symbols[0]) if symbols else None
    buy_hold = float((first[1] / first[0] - 1) * 100) if first and first[0] else None
    drawdown, drawdown_days = _drawdowns(equity)
    exposure = float((equity["position_value"] > 0).mean() * 100) if len(equity) else 0.0
    return {
        "start": _iso(start_ms),
        "end": _iso(end_ms),
        "duration_days": (end_ms - start_ms) / _DAY_MS,
        "equity_start": _money(cash),
        "equity_final": _money(final),
        "equity_peak": _money(peak),
        "net_pnl": _money(final - cash),
        "return_pct": float((final - cash) / cash * 100),
        "buy_hold_return_pct": buy_hold,
        "max_drawdown_pct": drawdown,
        "max_drawdown_days": drawdown_days,
        "exposure_pct": exposure,
        "trades": len(trades),
        "win_rate_pct": (sum(1 for p in pnls if p > 0) / len(pnls) * 100) if pnls else None,
        "best_trade_pct": max(returns) if returns else None,
        "worst_trade_pct": min(returns) if returns else None,
        "avg_trade_pct": float(np.mean(returns)) if returns else None,
        "profit_factor": float(wins / -losses) if losses else None,
        "expectancy": _money(sum(pnls, _ZERO) / len(pnls)) if pnls else None,
        "fees": _money(fees),
        "funding": _money(funding),
        "sharpe": _sharpe(equity),
        "orders": len(ledger.orders),
        "fills": sum(1 for e in ledger.executions if e.exec_type is not ExecType.FUNDING),
    }


def _drawdowns(equity: pd.DataFrame) -> tuple[float, float]:
    """Return the deepest drawdown (%, <= 0) and the longest time under water (days)."""
    if equity.empty:
        return 0.0, 0.0
    deepest = float(equity["drawdown_pct"].min())
    values = equity["equity"].to_numpy()
    times = pd.DatetimeIndex(equity.index).as_unit("ms").asi8
    peak = values[0]
    peak_ms = int(times[0])
    longest = 0
    for value, at in zip(values, times, strict=True):
        if value >= peak:
            peak, peak_ms = value, int(at)
        else:
            longest = max(longest, int(at) - peak_ms)
    return min(deepest, 0.0), longest / _DAY_MS


def _sharpe(equity: pd.DataFrame) -> float | None:
    """Return the annualised Sharpe ratio of daily equity returns (None under two days of data)."""
    if equity.empty:
        return None
    daily = equity["equity"].resample("1D").last().dropna()
    returns = daily.pct_change().dropna()
    if len(returns) < 2:
        return None
    std = float(returns.std(ddof=1))
    if std == 0:
        return None
    return _float(float(returns.mean()) / std * math.sqrt(365))
