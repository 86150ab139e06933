"""Workers: processes that load the data once and run trials of a shared study until its budget is met.

`run_workers(plan, n)` runs one worker in this process (n = 1) or starts n worker processes
(`spawn`), each loading the market data once and then taking trials from the study in the RDB
storage; workers started elsewhere (`bst optimize --study NAME --storage URL` on another machine)
join the same study the same way. The budget is the study's, not a worker's: a worker starts a
trial while fewer than `trials` trials are finished (complete or pruned) and running, so the study
ends with `trials` finished trials (a few more when workers start their last trials at the same
moment). A worker that finds the remaining trials running elsewhere waits: if one of them belongs
to a dead worker, its heartbeat stops, it is failed after the grace period, queued again with the
same parameters, and run by whoever is alive. With walk-forward folds, every worker works through
the folds' studies in order.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.queues import SimpleQueue

import optuna

from bst.backtest.optimize.studies import (
    SamplerKind,
    StudyAccess,
    fail_dead_trials,
    finished_count,
    make_sampler,
    open_study,
    running_count,
    worker_seed,
)
from bst.backtest.optimize.trials import LoadedMarket, TrialJob, TrialRunner, Window
from bst.backtest.optimize.walk_forward import Fold
from bst.domain.errors import BstError, ConfigError

__all__ = ["Progress", "StudyPlan", "open_studies", "run_trials", "run_workers", "work"]

Progress = Callable[[str, int, int], None]
"""Told (study name, finished trials, budget) as trials finish."""

_POLL_S = 0.5
"""How often the parent of worker processes reads the study's progress."""


@dataclass(frozen=True, slots=True)
class StudyPlan:
    """An optimisation: the trials' job, the study (or one per fold) and how trials are chosen.

    `seed` None gives every worker a fresh seed (a worker joining a study started elsewhere);
    otherwise worker 0 uses `seed` (+ the fold number), so one worker reproduces its trials.
    """

    job: TrialJob
    access: StudyAccess
    definition: Mapping[str, object]
    trials: int = 100
    sampler: SamplerKind = SamplerKind.TPE
    seed: int | None = 0
    folds: tuple[Fold, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ConfigError(f"--trials must be at least 1, got {self.trials}")

    def studies(self) -> list[tuple[StudyAccess, Window, int]]:
        """Return each study with the window its trials see and its seed offset."""
        if not self.folds:
            return [(self.access, (None, None), 0)]
        return [(self.access.fold(f.index), f.in_sample, f.index) for f in self.folds]


def open_studies(plan: StudyPlan) -> list[optuna.Study]:
    """Create (or check) the plan's studies before any worker starts; return those trials run in.

    The study named by the plan always exists and holds the definition; with walk-forward folds
    the trials run in one study per fold (`NAME.fold1`, ...), each holding the definition too.
    """
    open_study(plan.access, plan.job.objectives, plan.definition)
    return [
        open_study(access, plan.job.objectives, plan.definition)[0]
        for access, _window, _offset in plan.studies()
    ]


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], list[float]],
    trials: int,
    wait_s: float,
    progress: Progress | None = None,
) -> int:
    """Run trials of `study` until it has `trials` finished ones; return how many this worker ran."""
    ran = 0
    callbacks = [_told(progress, trials)] if progress is not None else []
    while True:
        fail_dead_trials(study)
        done = finished_count(study)
        sampler = study.sampler
        if done >= trials or (
            isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)
        ):
            return ran
        if done + running_count(study) >= trials:
            time.sleep(wait_s)  # the last trials run elsewhere; a dead worker's is retried after its grace
            continue
        study.optimize(objective, n_trials=1, callbacks=callbacks, gc_after_trial=False)
        ran += 1


def _told(progress: Progress, trials: int) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    def callback(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        progress(study.study_name, finished_count(study), trials)

    return callback


def work(
    plan: StudyPlan, worker: int, market: LoadedMarket | None = None, progress: Progress | None = None
) -> int:
    """Run one worker: load the data (unless given), then trials of each study in turn; return the count."""
    runner = TrialRunner(plan.job, market if market is not None else plan.job.market.load())
    ran = 0
    for access, window, offset in plan.studies():
        seed = worker_seed(plan.seed + offset if plan.seed is not None else None, worker)
        sampler = make_sampler(plan.sampler, plan.job.space, len(plan.job.objectives), seed)
        study, _ = open_study(access, plan.job.objectives, plan.definition, sampler)
        ran += run_trials(study, runner.objective(window), plan.trials, access.heartbeat_s, progress)
    return ran


def _worker_main(plan: StudyPlan, worker: int, errors: SimpleQueue[str]) -> None:
    """Entry of a worker process: its data loaded once, its trials run, errors sent to the parent."""
    try:
        work(plan, worker)
    except BstError as e:
        errors.put(f"worker {worker}: {e}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def run_workers(
    plan: StudyPlan, workers: int = 1, market: LoadedMarket | None = None, progress: Progress | None = None
) -> list[tuple[int, int]]:
    """Run the plan's trials with `workers` workers (this process for 1, else `spawn`ed processes).

    Returns the workers that died (number, exit code): their trials were retried by the others
    (or will be when the study is resumed). Raises ConfigError with a worker's one-line error when
    one fails on bad input (the others are stopped), KeyboardInterrupt when interrupted.
    """
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    studies = open_studies(plan)
    if workers == 1:
        work(plan, 0, market, progress)
        return []
    context = multiprocessing.get_context("spawn")
    errors: SimpleQueue[str] = context.SimpleQueue()
    processes = [
        context.Process(target=_worker_main, args=(plan, i, errors), name=f"bst-optimize-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes) and errors.empty():
            for process in processes:
                process.join(_POLL_S / len(processes))
            if progress is not None:
                for study in studies:
                    progress(study.study_name, finished_count(study), plan.trials)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # its running trial is left to the heartbeat: retried on resume
        for process in processes:
            process.join()
    if not errors.empty():
        raise ConfigError(errors.get())
    return [(i, p.exitcode) for i, p in enumerate(processes) if p.exitcode not in (0, None)]
