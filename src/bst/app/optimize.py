"""Optimisations from user input (`bst optimize`): check it, create, resume or join a study, write results.

`parse_optimize` checks everything that needs no data (strategy, `--param` ranges, objectives,
sampler, backtest options through `parse_backtest`, study name and storage) and raises
ConfigError naming the first bad argument. Without a strategy it joins an existing study: the
study holds the request that made it (`request`, the texts typed), so `bst optimize --study NAME
--storage URL` on another machine rebuilds the same job. `run_optimize` reads the instruments
(cache, else the venue), runs the workers (`bst.backtest.optimize.optimize`), saves the best
parameters' backtest under `<data dir>/backtests/` with its report, and writes the study's files
under `<data dir>/optuna/<study>/` (or `--out`). Nothing here prints; progress reaches an
`OptimizeObserver`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bst.app.backtests import BacktestJob, job_instruments, parse_backtest
from bst.app.stores import data_dir as store_dir
from bst.backtest.optimize import (
    HeatMap,
    MarketData,
    Objective,
    OptimizeResult,
    SamplerKind,
    SearchSpace,
    StudyAccess,
    StudySummary,
    TrialJob,
    build_space,
    load_definition,
    optimize,
    parse_objectives,
    safe_url,
    sqlite_url,
    storage_url,
    write_outputs,
)
from bst.backtest.optimize.outputs import fold_rows, summary_json
from bst.backtest.report import REPORT_NAME, write_report
from bst.backtest.runs import run_directory
from bst.domain.errors import ConfigError
from bst.settings import Settings
from bst.strategies import resolve_strategy

__all__ = [
    "HeatMap",
    "OptimizeJob",
    "OptimizeObserver",
    "OptimizeOutcome",
    "StudySummary",
    "fold_rows",
    "parse_optimize",
    "run_optimize",
    "safe_url",
    "study_files",
    "summary_json",
]

STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A study name: also a file and directory name, so letters, digits, `_`, `.` and `-`."""
OPTUNA_DIR = "optuna"
"""Under the data dir: `<study>.db` (the default SQLite storage) and `<study>/` (the results)."""


@dataclass(frozen=True, slots=True)
class OptimizeJob:
    """A checked optimisation request (no data read yet)."""

    request: dict[str, object]
    """The texts that define the study (stored in it; a joiner rebuilds the job from them)."""
    backtest: BacktestJob
    space: SearchSpace
    objectives: tuple[Objective, ...]
    sampler: SamplerKind
    access: StudyAccess
    out_dir: Path
    data_dir: Path
    trials: int | None = None
    workers: int = 1
    seed: int | None = 0
    walk_forward: int = 0
    anchored: bool = False
    heat_params: tuple[str, str] | None = None
    join: bool = False


def study_files(settings: Settings, study: str, data_dir: Path | None = None) -> tuple[Path, Path]:
    """Return the default SQLite file and results directory of `study` under the data dir."""
    root = store_dir(settings, data_dir) / OPTUNA_DIR
    return root / f"{study}.db", root / study


def _study_name(text: str | None, strategy: str | None, request: dict[str, object]) -> str:
    if text is None:
        if strategy is None:
            raise ConfigError(
                "give the study to join with --study NAME (or a strategy and symbols to create one)"
            )
        symbols = "-".join(str(s) for s in request["symbols"])  # type: ignore[attr-defined]
        text = f"{strategy.rsplit(':', 1)[-1]}-{symbols}-{request.get('interval') or 'data'}".lower()
    if not STUDY_NAME.fullmatch(text):
        raise ConfigError(f"invalid --study {text!r}: use letters, digits, '_', '.' and '-' (at most 100)")
    return text


def _heat(text: str | None, space: SearchSpace) -> tuple[str, str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if len(names) != 2 or len(set(names)) != 2:
        raise ConfigError(f"invalid --heat-map {text!r}: name two searched parameters, e.g. fast,slow")
    for name in names:
        if name not in space.names:
            raise ConfigError(f"--heat-map: {name} is not searched (searched: {', '.join(space.names)})")
    return names[0], names[1]


def _build(request: dict[str, object], root: Path) -> tuple[BacktestJob, SearchSpace, tuple[Objective, ...]]:
    """Return the backtest job, the space and the objectives a request describes."""
    strategy = str(request["strategy"])
    cls = resolve_strategy(strategy)
    texts = [str(t) for t in request.get("params") or []]  # type: ignore[attr-defined]
    space = build_space(cls.params_type, texts)
    size = request.get("size")
    if size is not None and any(n in space.names for n in ("qty", "size")):
        raise ConfigError(
            "--size fixes the order size, which is searched here: drop --size or its --param range"
        )
    data = request.get("data")
    job = parse_backtest(
        strategy,
        [str(s) for s in request["symbols"]],  # type: ignore[attr-defined]
        interval=_text(request.get("interval")),
        since=_text(request.get("since")),
        until=_text(request.get("until")),
        params=space.fixed,
        cash=_text(request.get("cash")),
        commission=_text(request.get("commission")),
        size=_text(size),
        fill=str(request.get("fill") or "next-open"),
        slippage=_text(request.get("slippage")),
        leverage=_text(request.get("leverage")),
        feed_latency=_text(request.get("feed_latency")),
        latency=_text(request.get("latency")),
        response_latency=_text(request.get("response_latency")),
        close_at_end=bool(request.get("close_at_end", True)),
        seed=int(request.get("seed") or 0),  # type: ignore[call-overload]
        category=str(request.get("category") or "linear"),
        data=Path(str(data)) if data is not None else None,
        data_dir=root,
    )
    objectives = parse_objectives(str(request.get("objective") or "sharpe"))
    return job, SearchSpace(space.dimensions, job.params), objectives


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def parse_optimize(
    settings: Settings,
    strategy: str | None,
    symbols: Sequence[str] = (),
    *,
    study: str | None = None,
    storage: str | None = None,
    trials: int | None = None,
    workers: int = 1,
    objective: str = "sharpe",
    sampler: str | None = None,
    walk_forward: int = 0,
    anchored: bool = False,
    heat_map: str | None = None,
    seed: int = 0,
    heartbeat_s: int = 10,
    grace_s: int = 60,
    out: Path | None = None,
    data_dir: Path | None = None,
    data: Path | None = None,
    interval: str | None = None,
    since: str | None = None,
    until: str | None = None,
    params: Sequence[str] = (),
    **backtest_options: object,
) -> OptimizeJob:
    """Return the optimisation typed in (or the study to join), or raise ConfigError naming the bad argument.

    `backtest_options`: cash, commission, size, fill, slippage, leverage, feed_latency, latency,
    response_latency, close_at_end, category (as `parse_backtest` takes them).
    """
    root = store_dir(settings, data_dir)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if walk_forward < 0:
        raise ConfigError(f"--walk-forward must be 0 (off) or a number of folds, got {walk_forward}")
    join = strategy is None
    if join:
        if symbols or params:
            raise ConfigError(
                "to join a study give only --study (and --storage): "
                "its strategy, symbols and ranges are stored in it"
            )
        name = _study_name(study, None, {})
        access = _access(settings, name, storage, data_dir, heartbeat_s, grace_s)
        stored = load_definition(access).get("request")
        if not isinstance(stored, dict):
            raise ConfigError(
                f"study {name!r} holds no bst optimize request: it was not made by bst optimize"
            )
        request = dict(stored)
        if data is not None:
            request["data"] = str(data.resolve())
        elif request.get("data") is not None and not Path(str(request["data"])).is_file():
            raise ConfigError(
                f"study {name!r} was made from the file {request['data']}: give --data PATH to join"
            )
    else:
        assert strategy is not None
        if not symbols:
            raise ConfigError("name at least one symbol: bst optimize STRATEGY SYMBOL... -i 60 --since ...")
        request = {
            "strategy": strategy,
            "symbols": list(symbols),
            "interval": interval,
            "since": since,
            "until": until,
            "params": list(params),
            "data": str(data.resolve()) if data is not None else None,
            "objective": objective,
            "sampler": sampler,
            "walk_forward": walk_forward,
            "anchored": anchored,
            "seed": seed,
            **{k: v for k, v in backtest_options.items() if v is not None},
        }
        name = _study_name(study, strategy, request)
        access = _access(settings, name, storage, data_dir, heartbeat_s, grace_s)
    job, space, objectives = _build(request, root)
    kind = SamplerKind.parse(_text(request.get("sampler")), len(objectives))
    return OptimizeJob(
        request=request,
        backtest=job,
        space=space,
        objectives=objectives,
        sampler=kind,
        access=access,
        out_dir=out if out is not None else study_files(settings, name, data_dir)[1],
        data_dir=root,
        trials=trials,
        workers=workers,
        seed=None if join else seed,
        walk_forward=int(str(request.get("walk_forward") or 0)),
        anchored=bool(request.get("anchored")),
        heat_params=_heat(heat_map, space),
        join=join,
    )


def _access(
    settings: Settings, name: str, storage: str | None, data_dir: Path | None, heartbeat_s: int, grace_s: int
) -> StudyAccess:
    url = storage_url(storage) if storage else sqlite_url(study_files(settings, name, data_dir)[0])
    return StudyAccess(url, name, heartbeat_s=heartbeat_s, grace_s=grace_s)


class OptimizeObserver(Protocol):
    """What a caller sees of a running optimisation."""

    def progressed(self, study: str, done: int, budget: int) -> None:
        """Take a study's count of finished trials."""


@dataclass(frozen=True, slots=True)
class OptimizeOutcome:
    """A finished optimisation: the result, its files, and the best parameters' saved run."""

    job: OptimizeJob
    result: OptimizeResult
    files: dict[str, Path]
    best_directory: Path | None = None
    best_report: Path | None = None
    fold_reports: tuple[Path, ...] = field(default_factory=tuple)


def run_optimize(
    settings: Settings, job: OptimizeJob, observer: OptimizeObserver | None = None
) -> OptimizeOutcome:
    """Run the job to its budget, save the best run and write every file; return where they are."""
    bt = job.backtest
    instruments = asyncio.run(job_instruments(settings, bt, job.data_dir))
    market = MarketData(
        bt.symbols, job.data_dir, bt.interval, bt.since_ms, bt.until_ms, bt.data_file, bt.category
    )
    trial_job = TrialJob(bt.strategy, market, job.space, job.objectives, bt.config, instruments)
    result = optimize(
        trial_job,
        job.access,
        trials=job.trials,
        sampler=job.sampler,
        seed=job.seed,
        workers=job.workers,
        walk_forward=job.walk_forward,
        anchored=job.anchored,
        extra_definition={"request": job.request},
        heat_params=job.heat_params,
        save_best=True,
        join=job.join,
        progress=observer.progressed if observer is not None else None,
    )
    title = f"bst optimize {job.access.name}: {bt.strategy} on {', '.join(bt.symbols)}"
    files = write_outputs(result, job.out_dir, title)
    best_directory = best_report = None
    if result.best_run is not None:
        best_directory = run_directory(job.data_dir, result.best_run.run_id)
        write_report(result.best_run, best_directory / REPORT_NAME)
        best_report = write_report(result.best_run, job.out_dir / "best-report.html")
    fold_reports = tuple(
        write_report(f.out_of_sample, job.out_dir / f"fold{f.fold.index}-report.html")
        for f in result.folds
        if f.out_of_sample is not None
    )
    return OptimizeOutcome(job, result, files, best_directory, best_report, fold_reports)
