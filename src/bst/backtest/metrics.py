"""The metrics of a run: every number of the summary, `run.json`, `bst backtest show` and the report.

Money (equity, PnL, fees, funding, expectancy) is exact: decimal strings summed from the run's
Decimal ledger. Ratios and percentages are floats, counts ints, durations days (float); a metric
that does not exist for a run (a win rate without trades, a Sharpe ratio without two returns) is
None. Each metric's definition is in `METRICS` (and docs/backtesting.md, with the differences from
backtesting.py 0.6.6, whose `stats` the parity tests compare where the definitions agree).

Returns-based ratios (annual return, volatility, Sharpe, Sortino, Calmar) use the equity curve's
per-period returns: the curve resampled to `MetricSettings.period` (default one day: the last
equity of each period; periods without a sample are skipped), annualised with 365 days a year
(crypto trades every day). Like backtesting.py they assume compounding: with g the geometric mean
of the period returns r and P periods a year,

    annual return   = (1 + g)^P - 1
    volatility      = sqrt((var(r) + (1 + g)^2)^P - (1 + g)^(2P))
    Sharpe          = (annual return - risk-free rate) / volatility
    Sortino         = (annual return - risk-free rate) / (sqrt(mean(min(r, 0)^2)) x sqrt(P))
    Calmar          = annual return / |max drawdown|

Drawdowns are measured on every equity sample: a drawdown runs from a peak to the first sample
back at that peak (or to the end of the run), its duration is that time and its depth the deepest
fall inside it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from bst.backtest.result import Ledger, PositionPoint, RoundTrip
from bst.domain.errors import ConfigError
from bst.domain.orders import ExecType

__all__ = [
    "METRICS",
    "METRIC_NAMES",
    "SYMBOL_METRICS",
    "YEAR_DAYS",
    "Metric",
    "MetricKind",
    "MetricSettings",
    "compute_metrics",
    "compute_symbol_metrics",
    "drawdown_periods",
    "format_metric",
]

YEAR_DAYS = 365
"""Days in a year for every annualisation (crypto markets trade every day)."""

_DAY_MS = 86_400_000
_YEAR_MS = YEAR_DAYS * _DAY_MS
_ZERO = Decimal(0)


class MetricKind(StrEnum):
    """What a metric's value is, which says how it is shown."""

    TIME = "time"
    """ISO 8601 text, UTC."""
    MONEY = "money"
    """Exact decimal text in the settle coin."""
    PCT = "pct"
    """A percentage (float)."""
    RATIO = "ratio"
    """A plain number (float)."""
    PRICE = "price"
    """An exact decimal price, shown as given."""
    DAYS = "days"
    """A duration in days (float)."""
    COUNT = "count"
    """An int."""
    TEXT = "text"
    """Free text."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: its key in `run.json`, its label, its kind, and what it means."""

    name: str
    label: str
    kind: MetricKind
    meaning: str


_M = Metric
_K = MetricKind
METRICS: tuple[Metric, ...] = (
    _M("start", "Start", _K.TIME, "time of the run's first market event"),
    _M("end", "End", _K.TIME, "time of the run's last event (the close-out included)"),
    _M("duration_days", "Duration", _K.DAYS, "end - start"),
    _M("equity_start", "Equity start", _K.MONEY, "the cash the account started with"),
    _M("equity_final", "Equity final", _K.MONEY, "wallet + unrealised PnL at the end"),
    _M("equity_peak", "Equity peak", _K.MONEY, "the highest equity sampled"),
    _M("net_pnl", "Net PnL", _K.MONEY, "equity final - equity start"),
    _M("return_pct", "Return", _K.PCT, "net PnL / equity start x 100"),
    _M("annual_return_pct", "Return (annual)", _K.PCT, "(1 + g)^P - 1 of the period returns (module doc)"),
    _M("cagr_pct", "CAGR", _K.PCT, "(equity final / start)^(365 days / duration) - 1"),
    _M("volatility_pct", "Volatility (annual)", _K.PCT, "compounded volatility of the period returns"),
    _M("sharpe", "Sharpe ratio", _K.RATIO, "(annual return - risk-free) / volatility"),
    _M("sortino", "Sortino ratio", _K.RATIO, "(annual return - risk-free) / annual downside deviation"),
    _M("calmar", "Calmar ratio", _K.RATIO, "annual return / |max drawdown|"),
    _M("max_drawdown_pct", "Max drawdown", _K.PCT, "the deepest fall from a running peak (<= 0)"),
    _M("avg_drawdown_pct", "Avg drawdown", _K.PCT, "mean depth of the drawdowns (<= 0)"),
    _M("max_drawdown_days", "Max drawdown duration", _K.DAYS, "longest peak-to-recovery time"),
    _M("avg_drawdown_days", "Avg drawdown duration", _K.DAYS, "mean peak-to-recovery time"),
    _M("exposure_pct", "Exposure time", _K.PCT, "share of the run's time with a position open"),
    _M("buy_hold_return_pct", "Buy & hold return", _K.PCT, "the symbols' last / first price - 1, averaged"),
    _M("trades", "Trades", _K.COUNT, "round-trip trades"),
    _M("win_rate_pct", "Win rate", _K.PCT, "share of trades with a net PnL > 0"),
    _M("best_trade_pct", "Best trade", _K.PCT, "highest trade return (net PnL / entry value)"),
    _M("worst_trade_pct", "Worst trade", _K.PCT, "lowest trade return"),
    _M("avg_trade_pct", "Avg trade", _K.PCT, "geometric mean of the trade returns"),
    _M("gross_profit", "Gross profit", _K.MONEY, "sum of the winning trades' net PnL"),
    _M("gross_loss", "Gross loss", _K.MONEY, "sum of the losing trades' net PnL (<= 0)"),
    _M("profit_factor", "Profit factor", _K.RATIO, "gross profit / |gross loss|"),
    _M("expectancy", "Expectancy", _K.MONEY, "mean net PnL per trade"),
    _M("expectancy_pct", "Expectancy (return)", _K.PCT, "arithmetic mean of the trade returns"),
    _M("avg_holding_days", "Avg holding time", _K.DAYS, "mean time from a trade's entry to its exit"),
    _M("max_holding_days", "Max holding time", _K.DAYS, "longest trade"),
    _M("fees", "Fees", _K.MONEY, "trading fees paid (< 0: rebates received)"),
    _M("funding", "Funding", _K.MONEY, "funding paid (< 0: received)"),
    _M("orders", "Orders", _K.COUNT, "orders the engine accepted or rejected"),
    _M("fills", "Fills", _K.COUNT, "trade executions (funding not counted)"),
    _M("returns_period", "Returns period", _K.TEXT, "the period of the returns behind the ratios"),
    _M("risk_free_rate_pct", "Risk-free rate", _K.PCT, "annual, used by Sharpe and Sortino"),
)
"""Every metric of a run, in the order the summary shows them."""

METRIC_NAMES = tuple(m.name for m in METRICS)

SYMBOL_METRICS: tuple[Metric, ...] = (
    _M("trades", "Trades", _K.COUNT, "round-trip trades of the symbol"),
    _M("long_trades", "Long", _K.COUNT, "long round trips"),
    _M("short_trades", "Short", _K.COUNT, "short round trips"),
    _M("win_rate_pct", "Win rate", _K.PCT, "share of the symbol's trades with a net PnL > 0"),
    _M("net_pnl", "Net PnL", _K.MONEY, "sum of the trades' net PnL (closed trades only)"),
    _M("fees", "Fees", _K.MONEY, "trading fees paid on the symbol"),
    _M("funding", "Funding", _K.MONEY, "funding paid on the symbol (< 0: received)"),
    _M("traded_value", "Traded value", _K.MONEY, "sum of the fills' value"),
    _M("best_trade_pct", "Best trade", _K.PCT, "highest trade return"),
    _M("worst_trade_pct", "Worst trade", _K.PCT, "lowest trade return"),
    _M("avg_holding_days", "Avg holding time", _K.DAYS, "mean trade duration"),
    _M("exposure_pct", "Exposure time", _K.PCT, "share of the run's time with a position in the symbol"),
    _M("buy_hold_return_pct", "Buy & hold", _K.PCT, "last price / first price - 1"),
    _M("first_price", "First price", _K.PRICE, "the first close (candles) or trade price seen"),
    _M("last_price", "Last price", _K.PRICE, "the last close or trade price seen"),
)
"""The metrics of each symbol (the report's per-symbol table)."""


@dataclass(frozen=True, slots=True)
class MetricSettings:
    """How the returns-based ratios are computed.

    `period`: the equity curve is resampled to this fixed length ("1D", "4h", "7D": pandas
    Timedelta text; buckets start at midnight UTC) before taking returns; when the curve's samples
    are further apart than that (weekly bars), the returns span the samples and are annualised by
    their median spacing.
    `risk_free_rate`: annual, a fraction (0.04 = 4 %).
    """

    period: str = "1D"
    risk_free_rate: float = 0.0

    def __post_init__(self) -> None:
        try:
            length = pd.Timedelta(self.period)
        except (ValueError, TypeError) as e:
            raise ConfigError(
                f"returns period must be a fixed length such as 1D, 4h or 7D, got {self.period!r}"
            ) from e
        if pd.isna(length) or length <= pd.Timedelta(0):
            raise ConfigError(f"returns period must be positive, got {self.period!r}")
        if not (-1 < self.risk_free_rate < 1) or math.isnan(self.risk_free_rate):
            raise ConfigError(f"risk-free rate is an annual fraction (0.04 = 4 %), got {self.risk_free_rate}")

    @property
    def period_ms(self) -> int:
        """Return the period's length in milliseconds."""
        return int(pd.Timedelta(self.period) / pd.Timedelta(milliseconds=1))

    def describe(self) -> str:
        """Return the settings in one line (for the run's assumptions)."""
        return (
            f"metrics: returns per {self.period} of equity (last of each period), {YEAR_DAYS} days a year, "
            f"risk-free rate {self.risk_free_rate * 100:g} %"
        )


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def _money(value: Decimal) -> str:
    """Return an exact amount as plain decimal text without trailing zeros (1758.8954, 0, 12)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _finite(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _days(ms: float) -> float:
    return ms / _DAY_MS


# --- the equity curve ---------------------------------------------------------------------------


def drawdown_periods(values: np.ndarray, times_ms: np.ndarray) -> list[tuple[int, int, float]]:
    """Return each drawdown as (peak index, recovery-or-last index, depth as a fraction > 0).

    A drawdown starts at the last sample at a running peak and ends at the first sample back at
    that peak, or at the last sample when it never recovers (backtesting.py's definition, except
    that a drawdown of the last sample alone counts too; backtesting.py leaves it out).
    """
    if len(values) == 0:
        return []
    depth = _depths(values)
    at_peak = np.flatnonzero(depth == 0)
    periods = [
        (int(prev), int(cur), float(depth[prev : cur + 1].max()))
        for prev, cur in itertools.pairwise(at_peak)
        if cur > prev + 1
    ]
    last = len(values) - 1
    if len(at_peak) and at_peak[-1] < last:
        periods.append((int(at_peak[-1]), last, float(depth[at_peak[-1] :].max())))
    return periods


def _depths(values: np.ndarray) -> np.ndarray:
    """Return each sample's fall from the running peak, as a fraction (0 at a peak)."""
    peak = np.maximum.accumulate(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, 1 - values / peak, 0.0)


def _power(base: float, exponent: float) -> float | None:
    """Return base ** exponent, None when it overflows (a tiny run annualised)."""
    try:
        return float(base**exponent)
    except OverflowError:
        return None


def _period_returns(equity: pd.DataFrame, settings: MetricSettings) -> tuple[pd.Series, float, str]:
    """Return the equity's per-period returns, the periods per year and the period's name."""
    series = equity["equity"]
    if not isinstance(series.index, pd.DatetimeIndex) or series.empty:
        return pd.Series(dtype="float64"), float("nan"), settings.period
    resampled = series.resample(pd.Timedelta(settings.period)).last().dropna()
    period_ms = settings.period_ms
    label = settings.period
    if len(resampled) > 2:
        spacing = np.diff(pd.DatetimeIndex(resampled.index).as_unit("ms").asi8)
        median = float(np.median(spacing))
        if median > period_ms:  # sparser samples than the period (weekly bars): use their spacing
            period_ms = int(median)
            label = f"{period_ms / _DAY_MS:g}D" if period_ms % 3_600_000 == 0 else f"{period_ms} ms"
    returns = resampled.pct_change().dropna()
    return returns, _YEAR_MS / period_ms, label


def _geometric_mean(returns: np.ndarray) -> float | None:
    """Return the geometric mean of returns (None when one is -100 % or worse, or none given)."""
    if len(returns) == 0:
        return None
    growth = returns + 1
    if np.any(growth <= 0):
        return None
    return float(np.exp(np.log(growth).sum() / len(growth)) - 1)


def _ratios(equity: pd.DataFrame, settings: MetricSettings, max_drawdown: float) -> dict[str, Any]:
    """Return annual return, volatility, Sharpe, Sortino and Calmar (module docstring)."""
    returns, per_year, label = _period_returns(equity, settings)
    out: dict[str, Any] = dict.fromkeys(
        ("annual_return_pct", "volatility_pct", "sharpe", "sortino", "calmar")
    )
    out["returns_period"] = label
    values = returns.to_numpy(dtype="float64")
    g = _geometric_mean(values)
    if g is None or len(values) < 2:
        return out
    growth = _power(1 + g, per_year)
    variance = float(values.var(ddof=1))
    spread = _power(variance + (1 + g) ** 2, per_year)
    if growth is None or spread is None or not math.isfinite(spread - growth**2):
        return out
    annual = growth - 1
    rf = settings.risk_free_rate
    volatility = math.sqrt(max(spread - growth**2, 0.0))
    downside = math.sqrt(float(np.mean(np.minimum(values, 0.0) ** 2))) * math.sqrt(per_year)
    out["annual_return_pct"] = _finite(annual * 100)
    out["volatility_pct"] = _finite(volatility * 100)
    out["sharpe"] = _finite((annual - rf) / volatility) if volatility > 0 else None
    out["sortino"] = _finite((annual - rf) / downside) if downside > 0 else None
    out["calmar"] = _finite(annual / -max_drawdown) if max_drawdown < 0 else None
    return out


def _drawdowns(equity: pd.DataFrame) -> dict[str, Any]:
    values = equity["equity"].to_numpy(dtype="float64")
    times = pd.DatetimeIndex(equity.index).as_unit("ms").asi8 if len(equity) else np.zeros(0, "int64")
    periods = drawdown_periods(values, times)
    if not periods:
        return {
            "max_drawdown_pct": 0.0,
            "avg_drawdown_pct": 0.0,
            "max_drawdown_days": 0.0,
            "avg_drawdown_days": 0.0,
        }
    depths = np.array([d for _, _, d in periods])
    spans = np.array([times[end] - times[start] for start, end, _ in periods], dtype="float64")
    return {
        "max_drawdown_pct": -float(_depths(values).max()) * 100,
        "avg_drawdown_pct": -float(depths.mean()) * 100,
        "max_drawdown_days": _days(float(spans.max())),
        "avg_drawdown_days": _days(float(spans.mean())),
    }


# --- positions and trades -----------------------------------------------------------------------


def _exposed_ms(points: Iterable[PositionPoint], start_ms: int, end_ms: int, symbols: set[str] | None) -> int:
    """Return how long at least one position (of `symbols`, None: any) was open within [start, end]."""
    held: dict[str, bool] = {}
    open_since: int | None = None
    total = 0
    for point in sorted(points, key=lambda p: p.ts_ms):
        if symbols is not None and point.symbol not in symbols:
            continue
        at = min(max(point.ts_ms, start_ms), end_ms)
        held[point.symbol] = point.size != 0
        is_open = any(held.values())
        if is_open and open_since is None:
            open_since = at
        elif not is_open and open_since is not None:
            total += at - open_since
            open_since = None
    if open_since is not None:
        total += end_ms - open_since
    return total


def _exposure_pct(
    points: Sequence[PositionPoint], start_ms: int, end_ms: int, symbols: set[str] | None
) -> float:
    span = end_ms - start_ms
    return _exposed_ms(points, start_ms, end_ms, symbols) / span * 100 if span > 0 else 0.0


def _trade_return(trade: RoundTrip) -> float:
    return float(trade.pnl / trade.entry_value) if trade.entry_value else 0.0


def _trade_stats(trades: Sequence[RoundTrip]) -> dict[str, Any]:
    """Return the metrics of a set of round trips (returns in %, money exact)."""
    pnls = [t.pnl for t in trades]
    returns = np.array([_trade_return(t) for t in trades], dtype="float64")
    holding = [t.exit_time_ms - t.entry_time_ms for t in trades]
    profit = sum((p for p in pnls if p > 0), _ZERO)
    loss = sum((p for p in pnls if p < 0), _ZERO)
    g = _geometric_mean(returns)
    count = len(trades)
    return {
        "trades": count,
        "win_rate_pct": sum(1 for p in pnls if p > 0) / count * 100 if count else None,
        "best_trade_pct": float(returns.max()) * 100 if count else None,
        "worst_trade_pct": float(returns.min()) * 100 if count else None,
        "avg_trade_pct": g * 100 if g is not None else None,
        "gross_profit": _money(profit),
        "gross_loss": _money(loss),
        "profit_factor": float(profit / -loss) if loss else None,
        "expectancy": _money(sum(pnls, _ZERO) / count) if count else None,
        "expectancy_pct": float(returns.mean()) * 100 if count else None,
        "avg_holding_days": _days(sum(holding) / count) if count else None,
        "max_holding_days": _days(max(holding)) if count else None,
    }


def _buy_hold_pct(first: Decimal, last: Decimal) -> float | None:
    return float((last / first - 1) * 100) if first else None


# --- the public functions -----------------------------------------------------------------------


def compute_metrics(
    ledger: Ledger,
    cash: Decimal,
    start_ms: int,
    end_ms: int,
    closes: Mapping[str, tuple[Decimal, Decimal]],
    symbols: tuple[str, ...],
    equity: pd.DataFrame,
    settings: MetricSettings | None = None,
) -> dict[str, Any]:
    """Return every metric of `METRICS` for a run, from its ledger and its equity frame.

    `closes` holds each symbol's (first, last) price for buy and hold; `equity` is the ledger's
    equity curve as a frame (`bst.backtest.frames.equity_frame`).
    """
    settings = settings or MetricSettings()
    final = ledger.equity[-1].equity if ledger.equity else cash
    peak = max((p.equity for p in ledger.equity), default=cash)
    trade_fees = sum((e.exec_fee for e in ledger.executions if e.exec_type is not ExecType.FUNDING), _ZERO)
    funding = sum((e.exec_fee for e in ledger.executions if e.exec_type is ExecType.FUNDING), _ZERO)
    holds = [_buy_hold_pct(*closes[s]) for s in symbols if s in closes]
    known = [h for h in holds if h is not None]
    drawdowns = _drawdowns(equity)
    duration_days = _days(end_ms - start_ms)
    growth = float(final / cash) if cash else float("nan")
    multiple = _power(growth, YEAR_DAYS / duration_days) if duration_days > 0 and growth > 0 else None
    cagr = (multiple - 1) * 100 if multiple is not None else None
    metrics: dict[str, Any] = {
        "start": _iso(start_ms),
        "end": _iso(end_ms),
        "duration_days": duration_days,
        "equity_start": _money(cash),
        "equity_final": _money(final),
        "equity_peak": _money(peak),
        "net_pnl": _money(final - cash),
        "return_pct": float((final - cash) / cash * 100),
        "cagr_pct": _finite(cagr) if cagr is not None else None,
        **drawdowns,
        **_ratios(equity, settings, drawdowns["max_drawdown_pct"] / 100),
        "exposure_pct": _exposure_pct(ledger.positions, start_ms, end_ms, None),
        "buy_hold_return_pct": float(np.mean(known)) if known else None,
        **_trade_stats(ledger.trades),
        "fees": _money(trade_fees),
        "funding": _money(funding),
        "orders": len(ledger.orders),
        "fills": sum(1 for e in ledger.executions if e.exec_type is not ExecType.FUNDING),
        "risk_free_rate_pct": settings.risk_free_rate * 100,
    }
    return {name: metrics[name] for name in METRIC_NAMES}


def compute_symbol_metrics(
    ledger: Ledger,
    start_ms: int,
    end_ms: int,
    closes: Mapping[str, tuple[Decimal, Decimal]],
    symbols: tuple[str, ...],
) -> dict[str, dict[str, Any]]:
    """Return the `SYMBOL_METRICS` of each symbol (in the run's symbol order)."""
    out: dict[str, dict[str, Any]] = {}
    for symbol in symbols:
        trades = [t for t in ledger.trades if t.symbol == symbol]
        executions = [e for e in ledger.executions if e.symbol == symbol]
        fills = [e for e in executions if e.exec_type is not ExecType.FUNDING]
        stats = _trade_stats(trades)
        first_last = closes.get(symbol)
        values: dict[str, Any] = {
            "trades": len(trades),
            "long_trades": sum(1 for t in trades if t.is_long),
            "short_trades": sum(1 for t in trades if not t.is_long),
            "win_rate_pct": stats["win_rate_pct"],
            "net_pnl": _money(sum((t.pnl for t in trades), _ZERO)),
            "fees": _money(sum((e.exec_fee for e in fills), _ZERO)),
            "funding": _money(
                sum((e.exec_fee for e in executions if e.exec_type is ExecType.FUNDING), _ZERO)
            ),
            "traded_value": _money(sum((e.exec_value for e in fills), _ZERO)),
            "best_trade_pct": stats["best_trade_pct"],
            "worst_trade_pct": stats["worst_trade_pct"],
            "avg_holding_days": stats["avg_holding_days"],
            "exposure_pct": _exposure_pct(ledger.positions, start_ms, end_ms, {symbol}),
            "buy_hold_return_pct": _buy_hold_pct(*first_last) if first_last else None,
            "first_price": str(first_last[0]) if first_last else None,
            "last_price": str(first_last[1]) if first_last else None,
        }
        out[symbol] = {m.name: values[m.name] for m in SYMBOL_METRICS}
    return out


_BY_NAME = {m.name: m for m in (*METRICS, *SYMBOL_METRICS)}


def _duration_text(days: float) -> str:
    seconds = round(days * 86_400)
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    whole_days, hours = divmod(hours, 24)
    if whole_days:
        return f"{whole_days}d {hours}h" if hours else f"{whole_days}d"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def format_metric(metric: Metric | str, value: Any, coin: str = "") -> str:
    """Return a metric's value as a person reads it ("12.34 %", "1,234.56 USDT", "3d 4h"; "-": none)."""
    kind = (_BY_NAME[metric] if isinstance(metric, str) else metric).kind
    if value is None:
        return "-"
    if kind is MetricKind.MONEY:
        amount = Decimal(str(value))
        places = 2 if abs(amount) >= 1 or amount == 0 else 8
        text = f"{amount:,.{places}f}"
        return f"{text} {coin}".rstrip()
    if kind is MetricKind.PRICE:
        return f"{Decimal(str(value)):,f}"
    if kind is MetricKind.PCT:
        return f"{float(value):,.2f} %"
    if kind is MetricKind.RATIO:
        return f"{float(value):,.3f}"
    if kind is MetricKind.DAYS:
        return _duration_text(float(value))
    if kind is MetricKind.COUNT:
        return f"{int(value):,}"
    if kind is MetricKind.TIME:
        return str(value).replace("T", " ").replace("+00:00", " UTC")
    return str(value)
