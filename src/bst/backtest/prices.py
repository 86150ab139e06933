"""The prices a run's charts draw: each symbol's OHLC bars, at most a few thousand per symbol.

Charts need the market a run saw, but not all of it: a year of minute bars is half a million
candles per symbol, more than a browser draws smoothly. So what is drawn is downsampled (never
what is computed: metrics come from the ledger): `candle_prices` groups consecutive data bars
`k` at a time (first open, highest high, lowest low, last close) so that at most `limit` remain;
`PriceRecorder` keeps each symbol's price at the run's equity samples (the engine's reference
price: mark, else last trade, else the book's mid) in at most `2 x limit` bars, merging
neighbours pairwise as the run grows, so an order-book replay of any length holds a bounded
number of points.

The frame (`PRICE_COLUMNS`, from `bst.backtest.result`) has one row per drawn bar: `time` is the
open time of the bar's first sample, `bars` how many data bars or samples it stands for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import numpy as np
import pandas as pd

from bst.backtest.candles import CandleSeries
from bst.backtest.result import PRICE_COLUMNS

__all__ = [
    "MAX_DRAWN_BARS",
    "PriceRecorder",
    "candle_prices",
    "describe_coverage",
    "empty_prices",
    "merge_prices",
]

MAX_DRAWN_BARS = 4000
"""Bars drawn per symbol at most (candles are grouped, sampled prices merged, beyond it)."""

_TIME, _OPEN, _HIGH, _LOW, _CLOSE, _COUNT = range(6)


def empty_prices() -> pd.DataFrame:
    """Return a price frame with no rows."""
    none = np.zeros(0)
    return _frame("", np.zeros(0, "int64"), none, none, none, none, np.zeros(0, "int64"))


def _frame(
    symbol: str,
    times_ms: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    bars: np.ndarray,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": [symbol] * len(times_ms),
            "time": pd.to_datetime(np.asarray(times_ms, dtype="int64"), unit="ms", utc=True),
            "open": np.asarray(open_, dtype="float64"),
            "high": np.asarray(high, dtype="float64"),
            "low": np.asarray(low, dtype="float64"),
            "close": np.asarray(close, dtype="float64"),
            "bars": np.asarray(bars, dtype="int64"),
        },
        columns=list(PRICE_COLUMNS),
    )


def candle_prices(series: CandleSeries, limit: int = MAX_DRAWN_BARS) -> pd.DataFrame:
    """Return a symbol's candles as drawn bars: `k` consecutive bars grouped so at most `limit` remain."""
    n = len(series)
    times = np.asarray(series.open_time_ms, dtype="int64")
    open_, high, low, close = (
        np.asarray(c, dtype="float64") for c in (series.open, series.high, series.low, series.close)
    )
    k = max(1, -(-n // limit))
    if k == 1:
        return _frame(series.symbol, times, open_, high, low, close, np.ones(n, "int64"))
    starts = np.arange(0, n, k)
    ends = np.minimum(starts + k, n) - 1
    return _frame(
        series.symbol,
        times[starts],
        open_[starts],
        np.maximum.reduceat(high, starts),
        np.minimum.reduceat(low, starts),
        close[ends],
        ends - starts + 1,
    )


class PriceRecorder:
    """Each symbol's price at the run's equity samples, in a bounded number of bars (module docstring)."""

    def __init__(self, limit: int = MAX_DRAWN_BARS) -> None:
        self._limit = max(2, limit)
        self._bars: dict[str, list[list[float]]] = {}
        self._per_bar: dict[str, int] = {}

    def record(self, ts_ms: int, prices: Mapping[str, Decimal]) -> None:
        """Record each symbol's price at `ts_ms` (the engine's reference prices at an equity sample)."""
        for symbol, price in prices.items():
            self.add(symbol, ts_ms, float(price))

    def add(self, symbol: str, ts_ms: int, price: float) -> None:
        """Record one price of `symbol` (times never go back)."""
        bars = self._bars.setdefault(symbol, [])
        per_bar = self._per_bar.setdefault(symbol, 1)
        if bars and bars[-1][_COUNT] < per_bar:
            bar = bars[-1]
            bar[_HIGH] = max(bar[_HIGH], price)
            bar[_LOW] = min(bar[_LOW], price)
            bar[_CLOSE] = price
            bar[_COUNT] += 1
            return
        bars.append([float(ts_ms), price, price, price, price, 1.0])
        if len(bars) > 2 * self._limit:
            self._bars[symbol] = _merge_pairs(bars)
            self._per_bar[symbol] = per_bar * 2

    @property
    def symbols(self) -> list[str]:
        """Return the symbols with a price."""
        return list(self._bars)

    def frame(self, symbol: str) -> pd.DataFrame:
        """Return the bars recorded for `symbol` (`PRICE_COLUMNS`)."""
        bars = np.array(self._bars.get(symbol, []), dtype="float64").reshape(-1, 6)
        return _frame(
            symbol,
            bars[:, _TIME].astype("int64"),
            bars[:, _OPEN],
            bars[:, _HIGH],
            bars[:, _LOW],
            bars[:, _CLOSE],
            bars[:, _COUNT].astype("int64"),
        )


def _merge_pairs(bars: list[list[float]]) -> list[list[float]]:
    """Return neighbouring bars merged two by two (an odd last bar stays as it is)."""
    merged = []
    for i in range(0, len(bars) - 1, 2):
        a, b = bars[i], bars[i + 1]
        merged.append(
            [
                a[_TIME],
                a[_OPEN],
                max(a[_HIGH], b[_HIGH]),
                min(a[_LOW], b[_LOW]),
                b[_CLOSE],
                a[_COUNT] + b[_COUNT],
            ]
        )
    if len(bars) % 2:
        merged.append(bars[-1])
    return merged


def merge_prices(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Return the symbols' price frames as one (`PRICE_COLUMNS`; empty when none)."""
    parts = [f for f in frames if len(f)]
    if not parts:
        return empty_prices()
    return pd.concat(parts, ignore_index=True)[list(PRICE_COLUMNS)]


def _utc(ts_ms: int) -> str:
    return pd.Timestamp(ts_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def describe_coverage(series: CandleSeries) -> str:
    """Return the data range of a symbol's candles and its gaps (missing bars), in one line."""
    times = np.asarray(series.open_time_ms, dtype="int64")
    name = f"{series.symbol}: bars of interval {series.interval.value}"
    if len(times) == 0:
        return f"{name}: none"
    line = f"{name} from {_utc(int(times[0]))} to {_utc(int(times[-1]))} (bar opens), {len(times):,} bars"
    step = series.interval.fixed_ms
    if step is None or len(times) < 2:
        return line  # monthly bars have no fixed length to find gaps by
    missing = np.diff(times) // step - 1
    gaps = np.flatnonzero(missing > 0)
    if len(gaps) == 0:
        return f"{line}, no gaps"
    widest = int(gaps[np.argmax(missing[gaps])])
    return (
        f"{line}, {int(missing[gaps].sum()):,} bars missing in {len(gaps):,} gaps "
        f"(the widest: {int(missing[widest]):,} bars after {_utc(int(times[widest]))})"
    )
