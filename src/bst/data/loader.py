"""`load_klines`: read stored candles back in one line, as a DataFrame or numpy columns."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal, overload

import pandas as pd

from bst.data.arrays import KlineArrays
from bst.data.manifest import SeriesKey
from bst.data.ranges import first_open_at_or_after
from bst.data.resample import complete_mask, resample
from bst.data.store import KlineStore
from bst.domain.errors import BstError, ConfigError
from bst.domain.market import MARKET_DATA_CATEGORIES, Category, Interval, parse_symbol

TimeLike = int | float | str | datetime | date | pd.Timestamp | None
"""Epoch milliseconds, an ISO date/time string (naive = UTC), a datetime/date/Timestamp, or None."""


class DataNotFoundError(BstError):
    """The requested series is not in the local store."""


def default_data_dir() -> Path:
    """Return `$BYBIT_DATA_DIR`, or `./data` (the CLI's default store)."""
    return Path(os.environ.get("BYBIT_DATA_DIR") or "data")


def to_ms(value: TimeLike) -> int | None:
    """Return epoch milliseconds of a time argument; naive times are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"invalid time {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"invalid time {value!r}: use YYYY-MM-DD, an ISO time or epoch ms") from e
    if pd.isna(stamp):
        raise ConfigError(f"invalid time {value!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def _as_category(category: Category | str) -> Category:
    if isinstance(category, Category):
        return category
    return Category.parse(category, MARKET_DATA_CATEGORIES)


def _as_interval(interval: Interval | str | int) -> Interval:
    return interval if isinstance(interval, Interval) else Interval.parse(str(interval))


@overload
def load_klines(
    symbol: str,
    interval: Interval | str | int,
    start: TimeLike = ...,
    end: TimeLike = ...,
    *,
    category: Category | str = ...,
    data_dir: Path | str | None = ...,
    as_numpy: Literal[False] = ...,
    from_1m: bool | None = ...,
) -> pd.DataFrame: ...


@overload
def load_klines(
    symbol: str,
    interval: Interval | str | int,
    start: TimeLike = ...,
    end: TimeLike = ...,
    *,
    category: Category | str = ...,
    data_dir: Path | str | None = ...,
    as_numpy: Literal[True],
    from_1m: bool | None = ...,
) -> KlineArrays: ...


def load_klines(
    symbol: str,
    interval: Interval | str | int,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    category: Category | str = Category.LINEAR,
    data_dir: Path | str | None = None,
    as_numpy: bool = False,
    from_1m: bool | None = None,
) -> pd.DataFrame | KlineArrays:
    """Return the stored bars opening in `[start, end)`: a DataFrame, or KlineArrays with `as_numpy`.

    The frame has a UTC DatetimeIndex (`open_time`) and float64 open, high, low, close, volume and
    turnover. `from_1m=True` derives the interval from stored 1-minute bars (only bars whose every
    minute was downloaded); None (default) uses the stored interval, or derives it when only
    1-minute bars are stored. This is an edge for research code: the symbol, interval, category and
    times are parsed here (any case, aliases, ISO strings); `load_series` takes them typed.
    """
    store = KlineStore(Path(data_dir) if data_dir is not None else default_data_dir())
    key = SeriesKey(_as_category(category), parse_symbol(symbol), _as_interval(interval))
    bars = load_series(store, key, to_ms(start), to_ms(end), from_1m)
    return bars if as_numpy else bars.to_frame()


def load_series(
    store: KlineStore,
    key: SeriesKey,
    start_ms: int | None = None,
    end_ms: int | None = None,
    from_1m: bool | None = None,
) -> KlineArrays:
    """Return the stored bars of `key` opening in `[start_ms, end_ms)` (see `load_klines`).

    Raises DataNotFoundError when nothing is stored, ConfigError when start is not before end.
    """
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise ConfigError("start must be before end")
    stored = bool(store.partitions(key))
    minute_key = SeriesKey(key.category, key.symbol, Interval.M1)
    minutes_stored = key.interval is not Interval.M1 and bool(store.partitions(minute_key))
    derive = from_1m if from_1m is not None else (not stored and minutes_stored)
    if derive and key.interval is not Interval.M1:
        if not minutes_stored:
            raise DataNotFoundError(f"no stored 1-minute klines for {minute_key} under {store.data_dir}")
        return derive_from_minutes(store, minute_key, key.interval, start_ms, end_ms)
    if not stored:
        raise DataNotFoundError(
            f"no stored klines for {key} under {store.data_dir}; "
            f"run `bst download {key.symbol} -i {key.interval.value} --since YYYY-MM-DD`"
        )
    return store.read(key, start_ms, end_ms)


def derive_from_minutes(
    store: KlineStore, minute_key: SeriesKey, interval: Interval, start_ms: int | None, end_ms: int | None
) -> KlineArrays:
    """Return `interval` bars aggregated from stored 1-minute bars, complete bars only."""
    lo = first_open_at_or_after(interval, start_ms) if start_ms is not None else None
    minutes = store.read(minute_key, lo, end_ms)
    derived = resample(minutes, interval)
    if len(derived) == 0:
        return derived
    covered = store.manifest(minute_key).covered
    mask = complete_mask(interval, derived.open_time_ms, covered)
    if end_ms is not None:
        mask &= complete_mask(interval, derived.open_time_ms, covered.clip(-(2**62), end_ms))
    return derived.take(mask)
