"""Indicators, incremental for strategies and vectorised for research, giving the same numbers.

Each incremental indicator takes one value per `update(...)` and returns its current value, or None
while it warms up; its vectorised twin (`sma`, `ema`, ...) takes whole numpy arrays and returns an
array with NaN where the incremental one returns None. Floats throughout: indicators are research
numbers, and orders convert to exact Decimals at the context.

Definitions (n = period):
- SMA: mean of the last n values (`Series.rolling(n).mean()`); first value at index n-1.
- EMA: y0 = x0, y = y + alpha (x - y) with alpha = 2 / (n + 1) (`ewm(span=n, adjust=False)`);
  reported from index n-1 (`min_periods=n`).
- RSI (Wilder): changes d; average gain and loss seeded with the mean of the first n, then
  avg = (avg (n-1) + value) / n; RSI = 100 - 100 / (1 + gain / loss) (100 when no losses, 50 when
  flat); first value at index n.
- ATR (Wilder): true range max(h - l, |h - prev close|, |l - prev close|), h - l for the first bar;
  seeded with the mean of the first n, then Wilder's average; first value at index n-1.
- Bollinger: SMA(n) +- k standard deviations of the same window (`ddof` 0, Bollinger's own, by
  default; `rolling(n).std(ddof=...)`).
- VWAP: sum(price x volume) / sum(volume) over the last n updates, or since the last `reset()` with
  n None; None while the window's volume is 0. Feed it the typical price (h + l + c) / 3 per bar.

Running sums are compensated (Neumaier) and re-anchored on the exactly rounded sum every n updates,
so a million updates drift no further than n do.
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from bst.domain.errors import ConfigError

__all__ = [
    "ATR",
    "EMA",
    "RSI",
    "SMA",
    "VWAP",
    "Bands",
    "Bollinger",
    "atr",
    "bollinger",
    "ema",
    "rsi",
    "sma",
    "vwap",
]

FloatArray = npt.NDArray[np.float64]


def _period(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"an indicator period must be a whole number >= 1, got {n!r}")
    return n


class _WindowSum:
    """The sum of the last n values, compensated, rebuilt with `math.fsum` every n updates."""

    __slots__ = ("_comp", "_since_rebuild", "_sum", "n", "values")

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: deque[float] = deque()
        self._sum = 0.0
        self._comp = 0.0
        self._since_rebuild = 0

    def push(self, x: float) -> None:
        values = self.values
        values.append(x)
        self._add(x)
        if len(values) > self.n:
            self._add(-values.popleft())
        self._since_rebuild += 1
        if self._since_rebuild >= self.n:
            # Re-anchor on the exactly rounded sum, keeping its rounding residual as the
            # compensation: one float alone would drop the digits a later removal uncovers.
            total = math.fsum(values)
            self._sum, self._comp, self._since_rebuild = total, math.fsum([*values, -total]), 0

    def _add(self, x: float) -> None:
        """Add `x` to the sum with Neumaier's compensation."""
        total = self._sum + x
        if abs(self._sum) >= abs(x):
            self._comp += (self._sum - total) + x
        else:
            self._comp += (x - total) + self._sum
        self._sum = total

    @property
    def full(self) -> bool:
        return len(self.values) == self.n

    @property
    def total(self) -> float:
        return self._sum + self._comp


class SMA:
    """Simple moving average of the last `n` values."""

    def __init__(self, n: int) -> None:
        self.n = _period(n)
        self._window = _WindowSum(self.n)
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        """Add a value; return the mean of the last n (None before n values)."""
        window = self._window
        window.push(x)
        self.value = window.total / self.n if len(window.values) == self.n else None
        return self.value


class EMA:
    """Exponential moving average, alpha = 2 / (n + 1), seeded with the first value."""

    def __init__(self, n: int) -> None:
        self.n = _period(n)
        self.alpha = 2.0 / (self.n + 1)
        self._ema: float | None = None
        self._count = 0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        """Add a value; return the average (None before n values)."""
        self._count += 1
        self._ema = x if self._ema is None else self._ema + self.alpha * (x - self._ema)
        self.value = self._ema if self._count >= self.n else None
        return self.value


class _Wilder:
    """Wilder's smoothing: the mean of the first n values, then avg = (avg (n-1) + x) / n."""

    __slots__ = ("_seed", "avg", "n")

    def __init__(self, n: int) -> None:
        self.n = n
        self._seed: list[float] = []
        self.avg: float | None = None

    def push(self, x: float) -> float | None:
        if self.avg is not None:
            self.avg = (self.avg * (self.n - 1) + x) / self.n
        else:
            self._seed.append(x)
            if len(self._seed) == self.n:
                self.avg = math.fsum(self._seed) / self.n
                self._seed = []
        return self.avg


class RSI:
    """Relative strength index (Wilder), 0..100."""

    def __init__(self, n: int = 14) -> None:
        self.n = _period(n)
        self._gain = _Wilder(self.n)
        self._loss = _Wilder(self.n)
        self._prev: float | None = None
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        """Add a close; return the RSI (None before n + 1 closes)."""
        prev, self._prev = self._prev, close
        if prev is None:
            return None
        change = close - prev
        gain = self._gain.push(max(change, 0.0))
        loss = self._loss.push(max(-change, 0.0))
        if gain is None or loss is None:
            return None
        self.value = _rsi(gain, loss)
        return self.value


def _rsi(gain: float, loss: float) -> float:
    if loss == 0.0:
        return 50.0 if gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


class ATR:
    """Average true range (Wilder)."""

    def __init__(self, n: int = 14) -> None:
        self.n = _period(n)
        self._avg = _Wilder(self.n)
        self._prev_close: float | None = None
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        """Add a bar; return the ATR (None before n bars)."""
        prev, self._prev_close = self._prev_close, close
        true_range = high - low if prev is None else max(high - low, abs(high - prev), abs(low - prev))
        self.value = self._avg.push(true_range)
        return self.value


class Bands(NamedTuple):
    """Bollinger bands: lower, middle (the SMA) and upper."""

    lower: float
    middle: float
    upper: float


class Bollinger:
    """Bollinger bands: SMA(n) +- k standard deviations of the window (population by default)."""

    def __init__(self, n: int = 20, k: float = 2.0, *, ddof: int = 0) -> None:
        self.n = _period(n)
        if ddof not in (0, 1) or ddof >= self.n:
            raise ConfigError(f"ddof must be 0 or 1 and below the period, got {ddof}")
        self.k = k
        self.ddof = ddof
        self._window = _WindowSum(self.n)
        self.value: Bands | None = None

    def update(self, x: float) -> Bands | None:
        """Add a value; return the bands (None before n values)."""
        window = self._window
        window.push(x)
        if not window.full:
            return None
        mean = window.total / self.n
        # Deviations from the mean of the window itself: exact enough at any price level, where
        # a running sum of squares would cancel catastrophically.
        variance = math.fsum((v - mean) ** 2 for v in window.values) / (self.n - self.ddof)
        width = self.k * math.sqrt(variance)
        self.value = Bands(mean - width, mean, mean + width)
        return self.value


class VWAP:
    """Volume-weighted average price over the last `n` updates, or cumulative when n is None."""

    def __init__(self, n: int | None = None) -> None:
        self.n = _period(n) if n is not None else None
        size = self.n if self.n is not None else 0
        self._notional = _WindowSum(size) if size else None
        self._volume = _WindowSum(size) if size else None
        self._cum_notional = 0.0
        self._cum_volume = 0.0
        self.value: float | None = None

    def reset(self) -> None:
        """Start a new session (cumulative VWAP only, e.g. at 00:00 UTC)."""
        self._cum_notional = self._cum_volume = 0.0
        self.value = None

    def update(self, price: float, volume: float) -> float | None:
        """Add a trade or bar; return the VWAP (None while the window holds no volume)."""
        if self._notional is not None and self._volume is not None:
            self._notional.push(price * volume)
            self._volume.push(volume)
            if not self._volume.full:
                return None
            notional, total = self._notional.total, self._volume.total
        else:
            self._cum_notional += price * volume
            self._cum_volume += volume
            notional, total = self._cum_notional, self._cum_volume
        self.value = notional / total if total > 0 else None
        return self.value


# --- vectorised twins ----------------------------------------------------------------------------


def _array(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def sma(x: npt.ArrayLike, n: int) -> FloatArray:
    """Return the SMA of every prefix of `x` (NaN for the first n-1)."""
    values, n = _array(x), _period(n)
    out = np.full(values.shape, np.nan)
    if len(values) >= n:
        out[n - 1 :] = sliding_window_view(values, n).mean(axis=1)
    return out


def ema(x: npt.ArrayLike, n: int) -> FloatArray:
    """Return the EMA of `x` (alpha = 2 / (n + 1), seeded with x[0]; NaN for the first n-1)."""
    values, n = _array(x), _period(n)
    out = _recursive(values, 2.0 / (n + 1))
    out[: n - 1] = np.nan
    return out


def _recursive(x: FloatArray, alpha: float) -> FloatArray:
    """Return y with y0 = x0, y = y + alpha (x - y): pandas' `ewm(alpha, adjust=False)`, in C."""
    import pandas as pd

    if len(x) == 0:
        return x.copy()
    return np.array(pd.Series(x).ewm(alpha=alpha, adjust=False).mean(), dtype=np.float64)  # a writable copy


def _wilder(x: FloatArray, n: int) -> FloatArray:
    """Return Wilder's average of `x`: NaN for the first n-1, the mean of the first n, then smoothed."""
    out = np.full(x.shape, np.nan)
    if len(x) < n:
        return out
    seeded = x[n - 1 :].copy()
    seeded[0] = math.fsum(x[:n]) / n
    out[n - 1 :] = _recursive(seeded, 1.0 / n)
    return out


def rsi(close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Return the Wilder RSI of every prefix of `close` (NaN for the first n)."""
    values, n = _array(close), _period(n)
    out = np.full(values.shape, np.nan)
    if len(values) <= n:
        return out
    change = np.diff(values)
    gain = _wilder(np.maximum(change, 0.0), n)
    loss = _wilder(np.maximum(-change, 0.0), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = np.where(loss == 0.0, np.where(gain == 0.0, 50.0, 100.0), value)
    value[np.isnan(gain)] = np.nan
    out[1:] = value
    return out


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, n: int = 14) -> FloatArray:
    """Return the Wilder ATR of every prefix of the bars (NaN for the first n-1)."""
    h, lo, c, n = _array(high), _array(low), _array(close), _period(n)
    true_range = h - lo
    if len(c) > 1:
        prev = c[:-1]
        true_range[1:] = np.maximum.reduce([h[1:] - lo[1:], np.abs(h[1:] - prev), np.abs(lo[1:] - prev)])
    return _wilder(true_range, n)


def bollinger(
    x: npt.ArrayLike, n: int = 20, k: float = 2.0, *, ddof: int = 0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return (lower, middle, upper) Bollinger bands of every prefix of `x` (NaN for the first n-1)."""
    values, n = _array(x), _period(n)
    lower, middle, upper = (np.full(values.shape, np.nan) for _ in range(3))
    if len(values) >= n:
        windows = sliding_window_view(values, n)
        mean = windows.mean(axis=1)
        width = k * windows.std(axis=1, ddof=ddof)
        middle[n - 1 :], lower[n - 1 :], upper[n - 1 :] = mean, mean - width, mean + width
    return lower, middle, upper


def vwap(price: npt.ArrayLike, volume: npt.ArrayLike, n: int | None = None) -> FloatArray:
    """Return the VWAP of every prefix (rolling over n, or cumulative); NaN where volume is 0."""
    p, v = _array(price), _array(volume)
    notional = p * v
    if n is None:
        num, den = np.cumsum(notional), np.cumsum(v)
    else:
        n = _period(n)
        num, den = np.full(p.shape, np.nan), np.full(p.shape, np.nan)
        if len(p) >= n:
            num[n - 1 :] = sliding_window_view(notional, n).sum(axis=1)
            den[n - 1 :] = sliding_window_view(v, n).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)
