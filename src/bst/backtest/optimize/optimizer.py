"""`optimize`: one call from a trial job and a study to ranked trials and the best parameters' backtest.

    job = TrialJob("sma_cross", MarketData(("BTCUSDT",), data_dir, Interval.H1), space, objectives)
    result = optimize(job, StudyAccess(storage_url, "sma-h1"), trials=200)
    result.summaries[0].ranked[0]      # the best trial
    result.best_run                    # its backtest on the whole range (a BacktestResult)

The data is loaded once here: for the study's definition (a digest of the bars), the walk-forward
folds, the best parameters' backtest, and, with one worker, the trials themselves; each worker
process loads its own copy once. With `walk_forward=K`, each fold is a study of its own
(`NAME.fold1` ... `NAME.foldK`) optimised on its in-sample window; its best parameters are then
backtested on its out-of-sample window (`FoldResult`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import optuna

from bst.backtest.optimize.analysis import RankedTrial, StudySummary, summarise
from bst.backtest.optimize.studies import SamplerKind, StudyAccess, open_study
from bst.backtest.optimize.trials import LoadedMarket, TrialJob, TrialRunner
from bst.backtest.optimize.walk_forward import Fold, walk_forward_folds
from bst.backtest.optimize.workers import Progress, StudyPlan, run_workers
from bst.backtest.result import BacktestResult
from bst.domain.errors import ConfigError

__all__ = [
    "BUDGET_ATTR",
    "DEFAULT_TRIALS",
    "FoldResult",
    "OptimizeResult",
    "definition_of",
    "load_definition",
    "optimize",
    "study_budget",
]

BUDGET_ATTR = "bst.trials"
"""The study's user attribute holding its budget of finished trials (a joiner's default)."""
DEFAULT_TRIALS = 100


@dataclass(frozen=True, slots=True)
class FoldResult:
    """One walk-forward fold: its windows, its study's summary and the out-of-sample run of its best."""

    fold: Fold
    summary: StudySummary
    out_of_sample: BacktestResult | None
    """None when no trial of the fold completed."""

    @property
    def best(self) -> RankedTrial | None:
        """Return the fold's best in-sample trial."""
        return self.summary.best


@dataclass(frozen=True, slots=True)
class OptimizeResult:
    """A finished optimisation: the definition, each study's summary, the best runs."""

    definition: dict[str, object]
    summaries: tuple[StudySummary, ...]
    best_run: BacktestResult | None = None
    """The best trial's backtest on the whole range (None with walk-forward or without a complete trial)."""
    folds: tuple[FoldResult, ...] = ()
    dead_workers: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    """(worker number, exit code) of worker processes that died."""
    trials: int = 0
    """The study's budget of finished trials (each fold's, with walk-forward)."""


def definition_of(
    job: TrialJob,
    market: LoadedMarket,
    sampler: SamplerKind,
    walk_forward: int,
    anchored: bool,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Return the JSON a study stores of what it optimises (compared when a worker joins)."""
    data = job.market
    return {
        "strategy": job.strategy,
        "symbols": list(data.symbols),
        "category": data.category.value,
        "interval": data.interval.value if data.interval is not None else None,
        "since_ms": data.start_ms,
        "until_ms": data.end_ms,
        "space": [d.describe() for d in job.space.dimensions],
        "fixed": list(job.space.fixed),
        "objectives": [o.name for o in job.objectives],
        "sampler": sampler.value,
        "walk_forward": walk_forward,
        "anchored": anchored,
        "data": market.fingerprint(),
        **dict(extra or {}),
    }


def load_definition(access: StudyAccess) -> dict[str, object]:
    """Return the definition an existing study holds (ConfigError when there is no such study)."""
    _study, definition = open_study(access, None, None)
    return definition


def optimize(
    job: TrialJob,
    access: StudyAccess,
    *,
    trials: int | None = None,
    sampler: SamplerKind | None = None,
    seed: int | None = 0,
    workers: int = 1,
    walk_forward: int = 0,
    anchored: bool = False,
    extra_definition: Mapping[str, object] | None = None,
    heat_params: tuple[str, str] | None = None,
    save_best: bool = False,
    join: bool = False,
    market: LoadedMarket | None = None,
    progress: Progress | None = None,
) -> OptimizeResult:
    """Run (or resume, or `join`) the study until it has its budget of finished trials; return what it found.

    `trials` sets the study's budget (stored in it; None: the stored one, else DEFAULT_TRIALS).
    `join` takes the definition the study holds instead of making one, and only checks that this
    worker's data is the study's. Raises ConfigError with one line for bad input, a study of
    another definition under the same name, storage that cannot be reached, data unlike the
    study's, or data too short for the folds.
    """
    kind = sampler or SamplerKind.parse(None, len(job.objectives))
    if heat_params is not None:
        for name in heat_params:
            if name not in job.space.names:
                raise ConfigError(
                    f"--heat-map: {name} is not searched (searched: {', '.join(job.space.names)})"
                )
    if kind is SamplerKind.GRID:
        job.space.grid()  # refuse a space without steps before anything starts
    loaded = market if market is not None else job.market.load()
    folds = (
        tuple(walk_forward_folds(loaded.open_times(), loaded.end_ms(), walk_forward, anchored=anchored))
        if walk_forward
        else ()
    )
    definition = definition_of(job, loaded, kind, walk_forward, anchored, extra_definition)
    main, stored = open_study(access, job.objectives, None if join else definition)
    if join and stored.get("data") != definition["data"]:
        raise ConfigError(
            f"the market data here differs from study {access.name!r}'s "
            f"(its bars digest {stored.get('data')}, "
            f"here {definition['data']}): join with the same data (--data FILE or the same store range)"
        )
    budget = study_budget(main, trials)
    plan = StudyPlan(job, access, stored, budget, kind, seed, folds)
    dead = run_workers(plan, workers, loaded if workers == 1 else None, progress)
    runner = TrialRunner(job, loaded)
    summaries = []
    fold_results = []
    for (study_access, _window, _offset), fold in zip(plan.studies(), folds or (None,), strict=True):
        study = optuna.load_study(study_name=study_access.name, storage=study_access.storage)
        summary = summarise(study, job.objectives, job.space, heat_params)
        summaries.append(summary)
        if fold is not None:
            best = summary.best
            oos = runner.backtest(best.texts, fold.out_of_sample) if best is not None else None
            fold_results.append(FoldResult(fold, summary, oos))
    best_run = None
    if not folds and summaries[0].best is not None:
        best_run = runner.backtest(summaries[0].best.texts, save=save_best)
    return OptimizeResult(stored, tuple(summaries), best_run, tuple(fold_results), tuple(dead), budget)


def study_budget(study: optuna.Study, trials: int | None) -> int:
    """Return the study's budget of finished trials, storing `trials` when given."""
    if trials is not None:
        if trials < 1:
            raise ConfigError(f"--trials must be at least 1, got {trials}")
        study.set_user_attr(BUDGET_ATTR, trials)
        return trials
    stored = study.user_attrs.get(BUDGET_ATTR)
    return stored if isinstance(stored, int) else DEFAULT_TRIALS
