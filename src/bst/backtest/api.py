"""`bst.backtest.run`: one call from a strategy and market data to a `BacktestResult`.

    import bst.backtest
    result = bst.backtest.run("sma_cross", "BTCUSDT", interval="60", since="2024-01-01")
    result.stats          # pandas Series of metrics
    result.trades         # one row per round trip
    result.equity         # the equity curve

Data: stored candles (the default: `BYBIT_DATA_DIR` or `data_dir`), an OHLCV file or a pandas frame
(`data=`, one symbol; a mapping for several), order-book recordings and Bybit history files
(`recordings=`). Funding: the stored history of each symbol when there is one (`bst download
--funding`), or `funding={symbol: [(time ms, rate), ...]}`. Instruments: `instruments=` (the CLI
asks the venue), else one inferred from the data (printed in the assumptions). `save=True` writes
the run under `<data dir>/backtests/<run-id>/`. Everything else is `BacktestConfig`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pandas as pd

from bst.backtest.assumptions import describe_assumptions, describe_config
from bst.backtest.candles import CandleSeries, read_ohlcv
from bst.backtest.config import BacktestConfig
from bst.backtest.frames import frames
from bst.backtest.inputs import (
    candle_source,
    candles_from_frame,
    candles_from_store,
    funding_source,
    recording_prices,
    recording_source,
)
from bst.backtest.instruments import candle_instrument, generic_instrument, tick_of
from bst.backtest.metrics import compute_metrics, compute_symbol_metrics
from bst.backtest.prices import candle_prices, describe_coverage, merge_prices
from bst.backtest.result import BacktestResult, RunInfo
from bst.backtest.runner import BacktestRunner, MarketSource
from bst.backtest.runs import new_run_id, save_run
from bst.data.funding import FundingRate, FundingStore
from bst.data.loader import TimeLike, default_data_dir, to_ms
from bst.domain.errors import ConfigError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Interval, parse_symbol
from bst.strategies import StrategyType, create_strategy, resolve_strategy
from bst.trading.params import Params
from bst.trading.strategy import Strategy

__all__ = ["Progress", "make_strategy", "run", "run_async"]

Progress = Callable[[int, int | None], None]
"""Told (market events done, total or None when unknown) every thousand events."""

P = ParamSpec("P")
T = TypeVar("T")
DataInput = str | Path | pd.DataFrame | CandleSeries
"""A file, a frame, or bars already loaded (the optimiser loads them once and runs many times)."""
StrategyInput = str | StrategyType | Strategy[Params]


async def run_async(
    strategy: StrategyInput,
    symbols: str | Sequence[str] = (),
    *,
    interval: Interval | str | int | None = None,
    since: TimeLike = None,
    until: TimeLike = None,
    data: DataInput | Mapping[str, DataInput] | None = None,
    recordings: Sequence[str | Path] = (),
    funding: Mapping[str, Sequence[FundingRate]] | None = None,
    params: Mapping[str, object] | Sequence[str] = (),
    config: BacktestConfig | None = None,
    instruments: Mapping[str, Instrument] | None = None,
    category: Category | str = Category.LINEAR,
    data_dir: str | Path | None = None,
    save: bool = False,
    created_ms: int | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Run `strategy` over the data of `symbols`; return the result (saved when `save`).

    Bad input raises ConfigError with one line (unknown strategy or parameter, missing data, a
    symbol without data, since not before until...); a failing strategy raises StrategyError.
    The run is CPU-bound and reads files: it awaits only the strategy's order round trips, so a
    process that must stay responsive (the service) runs it in a worker process.
    """
    config = config or BacktestConfig()
    cat = category if isinstance(category, Category) else Category.parse(category)
    store_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    start_ms, end_ms = to_ms(since), to_ms(until)
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise ConfigError("since must be before until")
    names = _symbols(symbols, data)
    wanted = (
        Interval.parse(str(interval.value if isinstance(interval, Interval) else interval))
        if interval
        else None
    )
    candles = _candles(names, data, recordings, cat, wanted, start_ms, end_ms, store_dir)
    data_interval = candles[0].interval if candles else wanted
    strategy_obj = make_strategy(strategy, params, data_interval)
    sources: list[MarketSource] = [candle_source(c) for c in candles]
    sources.extend(recording_source(Path(r), cat, names, start_ms, end_ms) for r in recordings)
    known = dict(instruments or {})
    inferred: list[Instrument] = []
    for series in candles:
        if series.symbol not in known:
            known[series.symbol] = candle_instrument(series, config.settle_coin)
            inferred.append(known[series.symbol])
    for symbol in names:
        if symbol not in known:
            prices = [p for r in recordings for p in recording_prices(Path(r), cat, symbol)]
            if not prices:
                raise ConfigError(f"no market data of {symbol} in {', '.join(map(str, recordings))}")
            known[symbol] = generic_instrument(symbol, cat, tick_of(prices), config.settle_coin)
            inferred.append(known[symbol])
    funding_notes: list[str] = []
    for symbol in names:
        rates = _funding(funding, store_dir, cat, symbol, start_ms, end_ms)
        if rates:
            sources.append(funding_source(cat, symbol, rates))
        else:
            funding_notes.append(symbol)
    total = sum(len(c) for c in candles) or None
    runner = BacktestRunner(
        strategy_obj,
        {s: known[s] for s in names},
        sources,
        config,
        category=cat,
        progress=(lambda done, _now: progress(done, total)) if progress is not None else None,
    )
    started = time.process_time()
    outcome = await runner.run()
    cpu_s = time.process_time() - started
    ledger = outcome.book.ledger()
    built = frames(ledger)
    closes = {c.symbol: (c.bar(0).close, c.bar(len(c) - 1).close) for c in candles if len(c)}
    for symbol in names:
        if symbol not in closes and symbol in outcome.first_price:
            closes[symbol] = (outcome.first_price[symbol], outcome.last_price[symbol])
    first_ms = min((int(c.open_time_ms[0]) for c in candles if len(c)), default=outcome.start_ms)
    metrics = compute_metrics(
        ledger, config.cash, first_ms, outcome.end_ms, closes, names, built["equity"], config.metrics
    )
    per_symbol = compute_symbol_metrics(ledger, first_ms, outcome.end_ms, closes, names)
    candle_symbols = {c.symbol for c in candles}
    drawn = merge_prices(
        [candle_prices(c) for c in candles]
        + [outcome.book.prices.frame(s) for s in names if s not in candle_symbols]
    )
    created = created_ms if created_ms is not None else int(time.time() * 1000)
    run_id = (
        new_run_id(store_dir, created, strategy_obj.name, names[0])
        if save
        else f"{strategy_obj.name}-{names[0]}"
    )
    counts = dict(outcome.counts)
    counts["max_held"] = outcome.max_held
    counts["cpu_ms"] = round(cpu_s * 1000)
    info = RunInfo(
        run_id=run_id,
        strategy=strategy_obj.name,
        params={k: _text(v) for k, v in strategy_obj.params.values().items()},
        symbols=names,
        category=cat,
        interval=data_interval.value if data_interval is not None else None,
        start_ms=first_ms,
        end_ms=outcome.end_ms,
        cash=config.cash,
        settle_coin=config.settle_coin,
        config=describe_config(config),
        assumptions=describe_assumptions(
            config, candles=bool(candles), books=bool(recordings), inferred=inferred, unfunded=funding_notes
        ),
        inputs=(*(s.description for s in sources), *(describe_coverage(c) for c in candles)),
        metrics=metrics,
        created_ms=created,
        counts=counts,
        symbol_metrics=per_symbol,
    )
    result = BacktestResult(info, ledger=ledger, prices=drawn, **built)
    if save:
        save_run(result, store_dir)
    return result


def _blocking(function: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Return `function` as a call that runs it to the end on a new event loop."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(function(*args, **kwargs))

    return call


run = _blocking(run_async)
"""`run_async` as a plain call that blocks until the run is done (not inside a running event loop:
a notebook awaits `run_async` instead)."""


def _symbols(symbols: str | Sequence[str], data: object) -> tuple[str, ...]:
    names = [symbols] if isinstance(symbols, str) else list(symbols)
    if not names and isinstance(data, Mapping):
        names = [str(k) for k in data]
    if not names and isinstance(data, str | Path):
        names = [Path(data).stem.split("_")[0].upper() or "DATA"]
    if not names:
        raise ConfigError("name at least one symbol to backtest")
    return tuple(
        parse_symbol(n) if not isinstance(data, pd.DataFrame | str | Path | CandleSeries) else n.upper()
        for n in names
    )


def _candles(
    names: tuple[str, ...],
    data: DataInput | Mapping[str, DataInput] | None,
    recordings: Sequence[str | Path],
    category: Category,
    interval: Interval | None,
    start_ms: int | None,
    end_ms: int | None,
    store_dir: Path,
) -> list[CandleSeries]:
    """Return each symbol's candles: from `data`, else from the store (none for a book-only run)."""
    if data is not None:
        given = data if isinstance(data, Mapping) else {names[0]: data}
        if len(given) != len(names) or set(given) != set(names):
            raise ConfigError("give one data file (or frame) per symbol: a mapping of symbol -> file")
        series = []
        for symbol in names:
            item = given[symbol]
            if isinstance(item, CandleSeries):
                loaded = item
            elif isinstance(item, pd.DataFrame):
                loaded = candles_from_frame(item, symbol, category)
            else:
                loaded = read_ohlcv(Path(item), symbol, category)
            if interval is not None and loaded.interval is not interval:
                raise ConfigError(
                    f"the data of {symbol} has {loaded.interval.value} bars, not {interval.value}: "
                    "drop -i or give matching data"
                )
            series.append(loaded.between(start_ms, end_ms))
    elif recordings:
        return []
    else:
        if interval is None:
            raise ConfigError("give the bar interval (-i) of the stored candles to backtest on")
        series = [candles_from_store(store_dir, category, s, interval, start_ms, end_ms) for s in names]
    for s in series:
        if len(s) == 0:
            raise ConfigError(f"no bars of {s.symbol} in the requested time range ({s.source})")
    return series


def make_strategy(
    spec: StrategyInput, params: Mapping[str, object] | Sequence[str], interval: Interval | None
) -> Strategy[Params]:
    """Return the strategy instance; an `interval` parameter defaults to the data's interval.

    Unknown strategies and parameters, bad values and values out of range raise ConfigError.
    """
    if isinstance(spec, Strategy):
        if params:
            raise ConfigError("give parameters either in the strategy object or in params, not both")
        return spec
    cls = resolve_strategy(spec)
    fields = {f.name: f for f in dataclasses.fields(cls.params_type)}
    if interval is not None and "interval" in fields:
        if isinstance(params, Mapping):
            if "interval" not in params:
                params = {**params, "interval": interval}
        elif not any(t.partition("=")[0].strip() == "interval" for t in params):
            params = [*params, f"interval={interval.value}"]
    return create_strategy(cls, params)


def _funding(
    given: Mapping[str, Sequence[FundingRate]] | None,
    store_dir: Path,
    category: Category,
    symbol: str,
    start_ms: int | None,
    end_ms: int | None,
) -> list[FundingRate]:
    if given is not None:
        rates = [(int(t), Decimal(r)) for t, r in given.get(symbol, ())]
        return [
            (t, r) for t, r in rates if (start_ms is None or t >= start_ms) and (end_ms is None or t < end_ms)
        ]
    return FundingStore(store_dir).read(category, symbol, start_ms, end_ms)


def _text(value: object) -> str:
    return str(value.value) if isinstance(value, Interval | Category) else str(value)
