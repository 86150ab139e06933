"""A run's market data as `MarketSource`s: candles, order-book recordings, funding history.

- candles: from the Parquet store (`candles_from_store`), an OHLCV file (`read_ohlcv`) or a pandas
  frame with Open/High/Low/Close[/Volume] columns and a time index, as backtesting.py takes it
  (`candles_from_frame`); `candle_source` makes them the confirmed klines the engine and the
  strategy see.
- order books: bst recordings (`.bstrec.gz` files or directories: they carry receive times) and
  Bybit's history files (`*_ob500.data`, `.zip`: exchange time only) through `bst.data.replay`,
  read lazily, so a recording of any size streams in constant memory (`recording_source`).
- funding: a series of (settlement time, rate) pairs, stored (`bst.data.funding`) or given, as the
  `FundingUpdate`s that schedule each settlement in the engine (`funding_source`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bst.backtest.candles import CandleSeries, infer_interval
from bst.backtest.runner import MarketSource
from bst.data.funding import FundingRate
from bst.data.loader import load_series
from bst.data.manifest import SeriesKey
from bst.data.recording import SUFFIX as RECORDING_SUFFIX
from bst.data.replay import replay
from bst.data.store import KlineStore
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate, FundingUpdate, MarketEvent, TickerUpdate, TradesUpdate
from bst.domain.market import Category, Interval

__all__ = [
    "candle_source",
    "candles_from_frame",
    "candles_from_store",
    "funding_events",
    "funding_source",
    "recording_prices",
    "recording_source",
]


def candles_from_store(
    data_dir: Path,
    category: Category,
    symbol: str,
    interval: Interval,
    start_ms: int | None,
    end_ms: int | None,
) -> CandleSeries:
    """Return the stored bars of a symbol opening in [start_ms, end_ms); DataNotFoundError if none."""
    bars = load_series(KlineStore(data_dir), SeriesKey(category, symbol, interval), start_ms, end_ms)
    if len(bars) == 0:
        raise ConfigError(
            f"no stored {interval.value} bars of {symbol} in the requested range under {data_dir}; "
            f"run `bst download {symbol} -i {interval.value} --since YYYY-MM-DD`"
        )
    return CandleSeries.from_arrays(category, symbol, interval, bars, f"store {category.value} {symbol}")


def candles_from_frame(
    frame: pd.DataFrame, symbol: str, category: Category = Category.LINEAR
) -> CandleSeries:
    """Return a frame of Open/High/Low/Close[/Volume] (any case) with a time index as bars."""
    columns = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in ("open", "high", "low", "close") if c not in columns]
    if missing:
        raise ConfigError(f"the data frame has no {', '.join(missing)} column")
    index = pd.DatetimeIndex(frame.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    times = index.as_unit("ms").asi8.astype("int64")
    order = np.argsort(times, kind="stable")
    times = times[order]
    interval = infer_interval(times, "the data frame")

    def values(name: str) -> list[float]:
        if name not in columns:
            return [0.0] * len(times)
        return [float(v) for v in frame[columns[name]].to_numpy(dtype="float64")[order]]

    return CandleSeries(
        category,
        symbol,
        interval,
        times,
        values("open"),
        values("high"),
        values("low"),
        values("close"),
        values("volume"),
        "a data frame",
    )


def candle_source(series: CandleSeries) -> MarketSource:
    """Return candles as a source the engine (bar fills) and the strategy (on_bar) both get."""
    return MarketSource(
        series.events(),
        f"{series.symbol}: {len(series):,} {series.interval.value} bars from {series.source}",
        symbol=series.symbol,
        interval=series.interval,
    )


def funding_events(category: Category, symbol: str, rates: Iterable[FundingRate]) -> Iterator[FundingUpdate]:
    """Yield each settlement as the event that schedules it (stamped a millisecond before it)."""
    for at_ms, rate in sorted(rates):
        yield FundingUpdate.settlement(category, symbol, rate, at_ms)


def funding_source(category: Category, symbol: str, rates: Sequence[FundingRate]) -> MarketSource:
    """Return a funding series as a source for the engine alone (the account feed reports payments)."""
    span = ""
    if rates:
        first, last = min(t for t, _ in rates), max(t for t, _ in rates)
        span = f" from {_day(first)} to {_day(last)}"
    return MarketSource(
        funding_events(category, symbol, rates),
        f"{symbol}: {len(rates):,} funding settlements{span}",
        to_strategy=False,
        symbol=symbol,
    )


def _day(ts_ms: int) -> str:
    return pd.Timestamp(ts_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")


def _wanted(
    events: Iterable[MarketEvent], symbols: frozenset[str], start_ms: int | None, end_ms: int | None
) -> Iterator[MarketEvent]:
    """Yield the events of `symbols` in [start_ms, end_ms) of exchange time."""
    for event in events:
        if event.symbol not in symbols:
            continue
        if start_ms is not None and event.ts_ms < start_ms:
            continue
        if end_ms is not None and event.ts_ms >= end_ms:
            return
        yield event


def is_bst_recording(path: Path) -> bool:
    """Return whether `path` is a bst recording (it carries receive times), not a Bybit history file."""
    return path.is_dir() or path.name.endswith(RECORDING_SUFFIX)


def recording_source(
    path: Path,
    category: Category,
    symbols: Sequence[str],
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> MarketSource:
    """Return a recording's (or a Bybit history file's) events of `symbols`, read lazily from disk."""
    if not path.exists():
        raise ConfigError(f"no recording {path}")
    events = replay(path, category=None if is_bst_recording(path) else category)
    return MarketSource(
        _wanted(events, frozenset(symbols), start_ms, end_ms),
        f"{', '.join(symbols)}: order book and trades from {path}",
        receive_times=is_bst_recording(path),
        symbol=symbols[0] if len(symbols) == 1 else "",
    )


def recording_prices(path: Path, category: Category, symbol: str, limit: int = 2000) -> list[Decimal]:
    """Return prices seen in the first `limit` events of `symbol` (to infer a tick size)."""
    prices: list[Decimal] = []
    events = replay(path, category=None if is_bst_recording(path) else category)
    for event in itertools.islice((e for e in events if e.symbol == symbol), limit):
        if isinstance(event, BookUpdate):
            prices.extend(Decimal(level[0]) for level in itertools.chain(event.bids, event.asks))
        elif isinstance(event, TradesUpdate):
            prices.extend(t.price for t in event.trades)
        elif isinstance(event, TickerUpdate) and event.ticker.last_price > 0:
            prices.append(event.ticker.last_price)
    return prices
