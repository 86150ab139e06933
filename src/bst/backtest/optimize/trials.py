"""One trial: the strategy with a trial's parameters, backtested on market data loaded once.

A worker loads its market data once (`MarketData.load`: stored candles or an OHLCV file, and the
funding history) and runs every trial on it (`TrialRunner`), each on a window of it (the whole
range, or a walk-forward fold). A trial's parameters that the strategy refuses (`fast` not below
`slow`), a strategy that fails on them, and a run whose objective is undefined (no trades, so no
Sharpe ratio) prune the trial with the reason in its user attributes; anything else is a fault and
fails it loudly.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np
import optuna

from bst.backtest.api import make_strategy, run_async
from bst.backtest.candles import CandleSeries, read_ohlcv
from bst.backtest.config import BacktestConfig
from bst.backtest.inputs import candles_from_store
from bst.backtest.optimize.objectives import Objective, objective_values
from bst.backtest.optimize.space import SearchSpace
from bst.backtest.result import BacktestResult
from bst.data.funding import FundingRate, FundingStore
from bst.domain.errors import ConfigError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Interval
from bst.trading.runtime import StrategyError

__all__ = [
    "KEY_METRICS",
    "LoadedMarket",
    "MarketData",
    "TrialJob",
    "TrialRunner",
    "Window",
    "worker_id",
]

KEY_METRICS = (
    "return_pct",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown_pct",
    "trades",
    "win_rate_pct",
    "profit_factor",
    "equity_final",
    "fees",
)
"""The metrics each trial keeps in its user attributes (the ranked table's columns)."""

Window = tuple[int | None, int | None]
"""[start ms, end ms) of the bars a run sees (None: unbounded)."""


def worker_id() -> str:
    """Return this process's name in trial records: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class MarketData:
    """Where a worker reads its market data: an OHLCV file (one symbol) or the Parquet store."""

    symbols: tuple[str, ...]
    data_dir: Path
    interval: Interval | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    data_file: Path | None = None
    category: Category = Category.LINEAR

    def load(self) -> LoadedMarket:
        """Read the bars and funding of every symbol in [start_ms, end_ms); ConfigError when absent."""
        candles: dict[str, CandleSeries] = {}
        for symbol in self.symbols:
            if self.data_file is not None:
                series = read_ohlcv(self.data_file, symbol, self.category)
                if self.interval is not None and series.interval is not self.interval:
                    raise ConfigError(
                        f"{self.data_file} has {series.interval.value} bars, not {self.interval.value}: "
                        "drop -i or give matching data"
                    )
                series = series.between(self.start_ms, self.end_ms)
            else:
                if self.interval is None:
                    raise ConfigError("give the bar interval (-i) of the stored candles to optimise on")
                series = candles_from_store(
                    self.data_dir, self.category, symbol, self.interval, self.start_ms, self.end_ms
                )
            if len(series) == 0:
                raise ConfigError(f"no bars of {symbol} in the requested time range ({series.source})")
            candles[symbol] = series
        store = FundingStore(self.data_dir)
        funding = {s: store.read(self.category, s, self.start_ms, self.end_ms) for s in self.symbols}
        return LoadedMarket(candles, funding)


@dataclass(frozen=True, slots=True, eq=False)
class LoadedMarket:
    """A worker's market data, in memory: each symbol's bars and funding rates."""

    candles: dict[str, CandleSeries]
    funding: dict[str, list[FundingRate]] = field(default_factory=dict)

    def open_times(self) -> np.ndarray:
        """Return every bar open time of every symbol, sorted and unique (ms)."""
        return np.unique(np.concatenate([s.open_time_ms for s in self.candles.values()]))

    def end_ms(self) -> int:
        """Return the end of the data: the last bar's close (exclusive, ms)."""
        return max(int(s.open_time_ms[-1]) + (s.interval.fixed_ms or 0) for s in self.candles.values())

    def fingerprint(self) -> str:
        """Return a digest of every bar (times and prices as stored) and funding rate.

        Workers that join a study compare it: trials are only comparable on the same data.
        """
        digest = hashlib.sha256()
        for symbol in sorted(self.candles):
            series = self.candles[symbol]
            digest.update(f"{symbol}|{series.interval.value}|".encode())
            digest.update(np.ascontiguousarray(series.open_time_ms, dtype=np.int64).tobytes())
            for column in (series.open, series.high, series.low, series.close, series.volume):
                digest.update("|".join(map(repr, column)).encode())
            digest.update(repr(self.funding.get(symbol, [])).encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class TrialJob:
    """What every trial of a study shares (picklable: it travels to worker processes)."""

    strategy: str
    market: MarketData
    space: SearchSpace
    objectives: tuple[Objective, ...]
    config: BacktestConfig = field(default_factory=BacktestConfig)
    instruments: Mapping[str, Instrument] = field(default_factory=dict)


class TrialRunner:
    """Run backtests of one job on data loaded once; make Optuna objectives of them."""

    def __init__(self, job: TrialJob, market: LoadedMarket) -> None:
        self.job = job
        self.market = market
        self.worker = worker_id()

    def backtest(
        self, texts: Sequence[str], window: Window = (None, None), *, save: bool = False
    ) -> BacktestResult:
        """Return the backtest of the strategy with parameter `texts` on `window` of the data."""
        job = self.job
        start_ms, end_ms = window
        funding = {
            s: [
                (t, r)
                for t, r in rates
                if (start_ms is None or t >= start_ms) and (end_ms is None or t < end_ms)
            ]
            for s, rates in self.market.funding.items()
        }
        return asyncio.run(
            run_async(
                job.strategy,
                job.market.symbols,
                data={s: c.between(start_ms, end_ms) for s, c in self.market.candles.items()},
                funding=funding,
                params=list(texts),
                config=job.config,
                instruments=dict(job.instruments),
                category=job.market.category,
                data_dir=job.market.data_dir,
                save=save,
            )
        )

    def objective(self, window: Window = (None, None)) -> Callable[[optuna.Trial], list[float]]:
        """Return the objective of trials on `window`: the metrics named by the job's objectives."""

        def evaluate(trial: optuna.Trial) -> list[float]:
            texts = self.job.space.suggest(trial)
            trial.set_user_attr("worker", self.worker)
            trial.set_user_attr("params", texts)
            interval = self.job.market.interval or next(iter(self.market.candles.values())).interval
            try:
                make_strategy(self.job.strategy, texts, interval)  # the strategy's own checks, before any run
            except ConfigError as e:
                _prune(trial, str(e))
            try:
                result = self.backtest(texts, window)
            except StrategyError as e:
                _prune(trial, f"the strategy failed: {e}")
            metrics = result.info.metrics
            trial.set_user_attr("metrics", {k: metrics.get(k) for k in KEY_METRICS})
            values = objective_values(self.job.objectives, metrics)
            if isinstance(values, str):
                _prune(trial, values)
            return values

        return evaluate


def _prune(trial: optuna.Trial, reason: str) -> NoReturn:
    """Record why a trial has no value and prune it (it counts towards the budget, unranked)."""
    trial.set_user_attr("pruned", reason)
    raise optuna.TrialPruned(reason)
