"""Candles for a backtest: from the Parquet store or any OHLCV file, as exact confirmed klines.

`CandleSeries` holds one symbol's bars as columns (open times and float prices, as the store and
pandas keep them) and turns them lazily into `KlineUpdate.closed` events with exact Decimals: a
stored float is read by its shortest repr, which is the decimal text the exchange (or the file)
printed, so 0.1234 stays 0.1234.

`read_ohlcv(path)` reads a CSV, Parquet or Feather file a user has: a time column (the index, or a
column named time, timestamp, date, datetime, open_time or ts; text or epoch s/ms/us/ns) and
open/high/low/close (any case), volume optional. Times are bar open times, UTC. The interval is
the most common step between bars (gaps such as weekends are fine); it must be one of Bybit's.
CSV prices are read as text, so they are exact.

`BarAggregator` builds the coarser bars a strategy asks for (e.g. 60-minute bars from 1-minute
data) as the finer ones close.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bst.data.arrays import KlineArrays
from bst.domain.errors import ConfigError
from bst.domain.events import KlineUpdate
from bst.domain.market import Bar, Category, Interval

__all__ = [
    "BarAggregator",
    "CandleSeries",
    "infer_interval",
    "read_ohlcv",
]

_TIME_COLUMNS = ("open_time", "time", "timestamp", "datetime", "date", "ts")
_PRICE_COLUMNS = ("open", "high", "low", "close")


def _exact(value: float | str) -> Decimal:
    """Return a price as the decimal it was printed as (floats by their shortest repr)."""
    return Decimal(value) if isinstance(value, str) else Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True, eq=False)
class CandleSeries:
    """One symbol's bars of one interval; prices as text (exact files) or floats (store, binary files)."""

    category: Category
    symbol: str
    interval: Interval
    open_time_ms: np.ndarray
    open: Sequence[float] | Sequence[str]
    high: Sequence[float] | Sequence[str]
    low: Sequence[float] | Sequence[str]
    close: Sequence[float] | Sequence[str]
    volume: Sequence[float] | Sequence[str]
    source: str

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    @classmethod
    def from_arrays(
        cls, category: Category, symbol: str, interval: Interval, bars: KlineArrays, source: str
    ) -> CandleSeries:
        """Return stored bars (`bst.data` columns) as a series."""
        return cls(
            category,
            symbol,
            interval,
            bars.open_time_ms,
            bars.open.tolist(),
            bars.high.tolist(),
            bars.low.tolist(),
            bars.close.tolist(),
            bars.volume.tolist(),
            source,
        )

    def between(self, start_ms: int | None, end_ms: int | None) -> CandleSeries:
        """Return the bars opening in [start_ms, end_ms) (None: unbounded)."""
        times = self.open_time_ms
        lo = 0 if start_ms is None else int(np.searchsorted(times, start_ms, side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(times, end_ms, side="left"))
        return CandleSeries(
            self.category,
            self.symbol,
            self.interval,
            times[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
            self.source,
        )

    def bar(self, index: int) -> Bar:
        """Return bar `index` with exact prices (turnover: volume x close)."""
        close, volume = _exact(self.close[index]), _exact(self.volume[index])
        return Bar(
            int(self.open_time_ms[index]),
            _exact(self.open[index]),
            _exact(self.high[index]),
            _exact(self.low[index]),
            close,
            volume,
            volume * close,
        )

    def events(self) -> Iterator[KlineUpdate]:
        """Yield each bar as the confirmed kline of its last millisecond, oldest first."""
        for index in range(len(self)):
            yield KlineUpdate.closed(self.category, self.symbol, self.interval, self.bar(index))

    def first_close(self) -> Decimal | None:
        """Return the first bar's close (None without bars)."""
        return _exact(self.close[0]) if len(self) else None

    def last_close(self) -> Decimal | None:
        """Return the last bar's close (None without bars)."""
        return _exact(self.close[-1]) if len(self) else None

    def closes(self) -> Iterator[Decimal]:
        """Yield every close, exact, oldest first."""
        for value in self.close:
            yield _exact(value)


def infer_interval(open_time_ms: np.ndarray, source: str) -> Interval:
    """Return the Bybit interval of the most common step between bar open times."""
    if open_time_ms.shape[0] < 2:
        raise ConfigError(f"{source}: need at least two bars to tell the interval")
    steps = np.diff(open_time_ms)
    if (steps <= 0).any():
        raise ConfigError(f"{source}: bar times must increase (sort the file, drop duplicate bars)")
    values, counts = np.unique(steps, return_counts=True)
    step = int(values[int(np.argmax(counts))])
    for interval in Interval:
        if interval.fixed_ms == step:
            return interval
    if 28 * 86_400_000 <= step <= 31 * 86_400_000:
        return Interval.MN1
    raise ConfigError(
        f"{source}: bars are {step / 60_000:g} minutes apart, which is no Bybit interval "
        f"(1 3 5 15 30 60 120 240 360 720 minutes, D, W, M)"
    )


def read_ohlcv(path: Path, symbol: str, category: Category = Category.LINEAR) -> CandleSeries:
    """Read an OHLCV file (CSV, Parquet, Feather) as `symbol`'s bars; ConfigError says what is wrong."""
    if not path.is_file():
        raise ConfigError(f"no data file {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".feather", ".arrow", ".ipc"):
            frame = pd.read_feather(path)
        else:
            raise ConfigError(
                f"{path}: unknown data format {suffix!r}: give a .csv, .parquet or .feather file"
            )
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index()
    columns = {str(c).strip().lower(): c for c in frame.columns}
    missing = [name for name in _PRICE_COLUMNS if name not in columns]
    if missing:
        raise ConfigError(
            f"{path}: no {', '.join(missing)} column (columns: {', '.join(map(str, frame.columns))})"
        )
    time_column = next((columns[name] for name in _TIME_COLUMNS if name in columns), None)
    if time_column is None:
        first = frame.columns[0]
        if str(first).startswith("Unnamed") or str(first).strip() in ("", "index"):
            time_column = first
        else:
            raise ConfigError(f"{path}: no time column (name it one of {', '.join(_TIME_COLUMNS)})")
    times = _epoch_ms(frame[time_column], path)
    order = np.argsort(times, kind="stable")
    times = times[order]
    interval = infer_interval(times, str(path))

    def column(name: str) -> list[str] | list[float]:
        values = frame[columns[name]].iloc[order] if name in columns else None
        if values is None:
            return ["0"] * len(times)
        if not pd.api.types.is_numeric_dtype(values):
            texts = [str(v).strip() for v in values]
            _check_numbers(texts, name, path)
            return texts
        return [float(v) for v in values.astype("float64")]

    return CandleSeries(
        category,
        symbol,
        interval,
        times,
        column("open"),
        column("high"),
        column("low"),
        column("close"),
        column("volume"),
        str(path),
    )


def _check_numbers(texts: Sequence[str], name: str, path: Path) -> None:
    for row, text in enumerate(texts, start=2):
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise ConfigError(f"{path}: row {row}: {name} {text!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise ConfigError(f"{path}: row {row}: {name} {text!r} must be a finite, non-negative number")


def _epoch_ms(values: pd.Series, path: Path) -> np.ndarray:
    """Return epoch ms of a time column: text, datetimes, or epoch s/ms/us/ns numbers."""
    if pd.api.types.is_numeric_dtype(values) or all(str(v).strip().isdigit() for v in values[:5]):
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            raise ConfigError(f"{path}: a time value is not a number")
        raw = numbers.astype("int64").to_numpy()
        magnitude = int(np.abs(raw).max()) if raw.size else 0
        if magnitude < 10**11:  # seconds (until the year 5138)
            return raw * 1000
        if magnitude >= 10**17:  # nanoseconds
            return raw // 1_000_000
        if magnitude >= 10**14:  # microseconds
            return raw // 1000
        return raw
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": dateutil reads it
            stamps = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{path}: cannot read the time column: {e}") from e
    if stamps.isna().any():
        raise ConfigError(f"{path}: a time value is empty or unreadable")
    return (stamps.astype("datetime64[ms, UTC]").astype("int64")).to_numpy()


class BarAggregator:
    """Coarser confirmed bars built from finer ones as they close (calendar-aligned, as Bybit's).

    A coarse bar is emitted with the fine bar that ends it, or, after a gap, with the first fine
    bar of a later coarse bar (it is complete then, and stamped with its own last millisecond).
    """

    def __init__(self, category: Category, symbol: str, interval: Interval) -> None:
        self.category = category
        self.symbol = symbol
        self.interval = interval
        self._open_ms: int | None = None
        self._bar: Bar | None = None

    def _fold(self, bar: Bar) -> KlineUpdate | None:
        """Fold one fine bar in; return the coarse bar a gap completed before it, if any."""
        done = None
        open_ms = self.interval.open_time_ms(bar.open_time_ms)
        if self._bar is not None and open_ms != self._open_ms:
            done = KlineUpdate.closed(self.category, self.symbol, self.interval, self._bar)
            self._bar = None
        b = self._bar
        if b is None:
            self._open_ms = open_ms
            self._bar = Bar(open_ms, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.turnover)
        else:
            self._bar = Bar(
                open_ms,
                b.open,
                max(b.high, bar.high),
                min(b.low, bar.low),
                bar.close,
                b.volume + bar.volume,
                b.turnover + bar.turnover,
            )
        return done

    def add_closed(self, update: KlineUpdate) -> list[KlineUpdate]:
        """Fold a confirmed fine kline in; return the coarse bars complete after it."""
        done: list[KlineUpdate] = []
        for live in update.bars:
            if not live.confirmed:
                continue
            gap = self._fold(live.bar)
            if gap is not None:
                done.append(gap)
            assert self._bar is not None  # _fold always leaves a bar
            assert self._open_ms is not None
            coarse_end = self.interval.next_open_ms(self._open_ms) - 1
            if live.end_ms >= coarse_end:
                done.append(KlineUpdate.closed(self.category, self.symbol, self.interval, self._bar))
                self._bar = None
                self._open_ms = None
        return done
