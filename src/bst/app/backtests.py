"""Backtests from user input: check it, find the data and the instruments, run, save and report.

`parse_backtest` checks everything that needs neither data nor network (strategy, parameters,
symbols, interval, dates, amounts, fill and latency models) and raises ConfigError naming the first
bad argument. `run_backtest` reads the instruments (the local cache, else the configured venue,
which is cached for next time; a file of another market gets an instrument inferred from its
prices), runs `bst.backtest`, saves the run under `<data dir>/backtests/<run-id>/` and writes its
HTML report there (and to `--report`). Progress reaches the caller through a `BacktestObserver`;
nothing here prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import structlog

from bst.app.inputs import parse_symbols, parse_time
from bst.app.stores import data_dir as store_dir
from bst.app.venues import rest_client
from bst.backtest.api import make_strategy, run_async
from bst.backtest.config import BacktestConfig, CandleFill
from bst.backtest.latency import ZERO_LATENCY, Latency, parse_latency
from bst.backtest.report import REPORT_NAME, write_report
from bst.backtest.result import BacktestResult, RunInfo
from bst.backtest.runs import list_runs, load_run, run_directory
from bst.data.instruments import InstrumentCache
from bst.domain.errors import BybitAPIError, ConfigError, InvalidNumberError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Interval
from bst.domain.numbers import parse_decimal
from bst.settings import Settings
from bst.strategies import resolve_strategy

__all__ = [
    "BacktestJob",
    "BacktestObserver",
    "BacktestOutcome",
    "job_instruments",
    "list_backtests",
    "parse_backtest",
    "run_backtest",
    "show_backtest",
]

log = structlog.get_logger(__name__)

SIZE_PARAMS = ("qty", "size")
"""The strategy parameter `--size` sets, the first one the strategy declares."""


@dataclass(frozen=True, slots=True)
class BacktestJob:
    """A checked backtest request (nothing read or fetched yet)."""

    strategy: str
    symbols: tuple[str, ...]
    interval: Interval | None
    since_ms: int | None
    until_ms: int | None
    params: tuple[str, ...]
    config: BacktestConfig
    category: Category = Category.LINEAR
    data_file: Path | None = None
    recordings: tuple[Path, ...] = ()
    report: Path | None = None
    data_dir: Path | None = None


def _amount(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return parse_decimal(text.strip())
    except InvalidNumberError as e:
        raise ConfigError(f"invalid {what} {text!r}: {e.reason}") from None


def _latency(text: str | None, what: str, seed: int) -> Latency:
    if text is None:
        return ZERO_LATENCY
    try:
        return parse_latency(text, seed=seed)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None


def parse_backtest(
    strategy: str,
    symbols: Sequence[str],
    *,
    interval: str | None = None,
    since: str | None = None,
    until: str | None = None,
    params: Sequence[str] = (),
    cash: str | None = None,
    commission: str | None = None,
    size: str | None = None,
    fill: str = "next-open",
    slippage: str | None = None,
    leverage: str | None = None,
    feed_latency: str | None = None,
    latency: str | None = None,
    response_latency: str | None = None,
    close_at_end: bool = True,
    seed: int = 0,
    category: str = "linear",
    data: Path | None = None,
    recordings: Sequence[Path] = (),
    report: Path | None = None,
    data_dir: Path | None = None,
) -> BacktestJob:
    """Return the backtest typed in, or raise ConfigError naming the first bad argument."""
    cls = resolve_strategy(strategy)
    names = parse_symbols(symbols)
    cat = Category.parse(category)
    if cat is not Category.LINEAR:
        raise ConfigError(
            f"--category {cat.value}: backtests trade linear perpetuals; spot is not supported yet"
        )
    wanted = Interval.parse(interval) if interval else None
    if wanted is None and data is None and not recordings:
        raise ConfigError("give the bar interval with -i (e.g. -i 60), a --data file or a --book recording")
    since_ms = parse_time(since, "--since") if since else None
    until_ms = parse_time(until, "--until") if until else None
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise ConfigError("--since must be before --until")
    texts = list(params)
    if size is not None:
        fields = {f.name for f in dataclasses.fields(cls.params_type)}
        name = next((n for n in SIZE_PARAMS if n in fields), None)
        if name is None:
            raise ConfigError(
                f"--size: strategy {cls.name} has no size parameter ({' or '.join(SIZE_PARAMS)})"
            )
        if any(t.partition("=")[0].strip() == name for t in texts):
            raise ConfigError(f"--size sets {name}: do not also give --param {name}=...")
        texts.append(f"{name}={size}")
    try:
        fill_model = CandleFill(fill.strip().lower())
    except ValueError:
        raise ConfigError(f"invalid --fill {fill!r}: use next-open or close") from None
    values: dict[str, object] = {
        "fill": fill_model,
        "close_at_end": close_at_end,
        "seed": seed,
        "feed_latency": _latency(feed_latency, "--feed-latency", seed),
        "request_latency": _latency(latency, "--latency", seed + 1),
        "response_latency": _latency(response_latency, "--response-latency", seed + 2),
    }
    for key, text, what in (
        ("cash", cash, "--cash"),
        ("commission", commission, "--commission"),
        ("slippage", slippage, "--slippage"),
        ("leverage", leverage, "--leverage"),
    ):
        value = _amount(text, what)
        if value is not None:
            values[key] = value
    config = BacktestConfig(**values)  # type: ignore[arg-type]
    if data is not None and not data.is_file():
        raise ConfigError(f"--data: no such file {data}")
    if data is not None and len(names) != 1:
        raise ConfigError("--data holds one symbol's bars: name exactly one symbol")
    for path in recordings:
        if not path.exists():
            raise ConfigError(f"--book: no such recording {path}")
    # the strategy's own checks (unknown names, types, ranges) run now, not after loading data
    make_strategy(cls, texts, wanted)
    return BacktestJob(
        strategy,
        names,
        wanted,
        since_ms,
        until_ms,
        tuple(texts),
        config,
        cat,
        data,
        tuple(recordings),
        report,
        data_dir,
    )


class BacktestObserver(Protocol):
    """What a caller sees of a running backtest."""

    def progressed(self, done: int, total: int | None) -> None:
        """Take the count of market events processed (total: None when unknown)."""


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    """A finished, saved run: the result, its directory and its report."""

    result: BacktestResult
    directory: Path
    report: Path
    extra_report: Path | None = None


async def _instruments(settings: Settings, job: BacktestJob, root: Path) -> dict[str, Instrument]:
    """Return the run's instruments: cached, else from the venue (and cached); a data file: cache only."""
    cache = InstrumentCache(root)
    found: dict[str, Instrument] = {}
    missing = []
    for symbol in job.symbols:
        cached = cache.get(job.category, symbol)
        if cached is not None:
            found[symbol] = cached
        else:
            missing.append(symbol)
    if not missing or job.data_file is not None:
        return found
    try:
        async with rest_client(settings) as client:
            fetched = [await client.get_instrument(job.category, s) for s in missing]
    except BybitAPIError as e:
        log.warning("backtest.instruments_unavailable", symbols=missing, error=str(e))
        return found  # inferred from the data, and the assumptions say so
    cache.put(fetched)
    found.update({i.symbol: i for i in fetched})
    return found


async def job_instruments(settings: Settings, job: BacktestJob, root: Path) -> dict[str, Instrument]:
    """Return a checked job's instruments: cached, else from the venue (and cached); a file: cache only."""
    return await _instruments(settings, job, root)


async def run_backtest(
    settings: Settings, job: BacktestJob, observer: BacktestObserver | None = None
) -> BacktestOutcome:
    """Run the job, save it under the data dir and write its report; return where everything is."""
    root = store_dir(settings, job.data_dir)
    instruments = await _instruments(settings, job, root)
    result = await run_async(
        job.strategy,
        job.symbols,
        interval=job.interval,
        since=job.since_ms,
        until=job.until_ms,
        data=job.data_file,
        recordings=job.recordings,
        params=job.params,
        config=job.config,
        instruments=instruments,
        category=job.category,
        data_dir=root,
        save=True,
        progress=observer.progressed if observer is not None else None,
    )
    directory = run_directory(root, result.run_id)
    report = directory / REPORT_NAME  # written with the run (`bst.backtest.runs.save_run`)
    extra = write_report(result, job.report) if job.report is not None else None
    return BacktestOutcome(result, directory, report, extra)


def list_backtests(settings: Settings, data_dir: Path | None = None) -> list[RunInfo]:
    """Return the saved runs, newest first."""
    return list_runs(store_dir(settings, data_dir))


def show_backtest(settings: Settings, run_id: str, data_dir: Path | None = None) -> BacktestOutcome:
    """Return a saved run and where its files are (RunNotFoundError when there is none)."""
    root = store_dir(settings, data_dir)
    result = load_run(root, run_id)
    directory = run_directory(root, run_id)
    return BacktestOutcome(result, directory, directory / REPORT_NAME)
