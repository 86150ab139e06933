"""Optuna studies in an RDB storage: where they live, how workers share them, how dead ones are met.

A study lives in Optuna's RDB storage: by default a SQLite file on this machine, or PostgreSQL
(`postgresql://user@host/db`), where workers on several machines join the same study by name.
Heartbeats are on: a worker's running trial is beaten every `heartbeat_s`; a trial not beaten for
`grace_s` (its worker died, e.g. `kill -9`) is failed by the next worker that starts a trial, and
Optuna's `RetryHeartbeatStaleTrialCallback` queues it again with the same parameters (`max_retry` times).

A study records what it optimises (`definition`, plain JSON given by the caller) in its user
attributes, so a worker that joins by name alone can rebuild the job, and a worker given a
different job under the same name is refused instead of mixing incomparable trials.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from bst.backtest.optimize.objectives import Objective
from bst.backtest.optimize.space import SearchSpace
from bst.domain.errors import ConfigError

__all__ = [
    "DEFINITION_ATTR",
    "FINISHED",
    "SamplerKind",
    "StudyAccess",
    "finished_count",
    "make_sampler",
    "open_study",
    "safe_url",
    "sqlite_url",
    "storage_url",
]

DEFINITION_ATTR = "bst.definition"
"""The study's user attribute holding the job it optimises (JSON)."""
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
"""Trial states that count towards a study's budget (a failed trial is retried or lost, not counted)."""

optuna.logging.set_verbosity(optuna.logging.WARNING)


class SamplerKind(StrEnum):
    """How trials' parameters are chosen."""

    TPE = "tpe"
    """Tree-structured Parzen estimator (the default for one objective)."""
    GRID = "grid"
    """Every combination of the space's values, each once (numbers need a step)."""
    NSGA2 = "nsga2"
    """A genetic algorithm for several objectives (their Pareto front; the default for several)."""
    RANDOM = "random"
    """Uniform random draws."""

    @classmethod
    def parse(cls, text: str | None, objectives: int) -> SamplerKind:
        """Return the sampler named in `text`, or the default for this many objectives."""
        if text is None:
            return cls.NSGA2 if objectives > 1 else cls.TPE
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ConfigError(f"unknown sampler {text!r}: use {', '.join(k.value for k in cls)}") from None


@dataclass(frozen=True, slots=True)
class StudyAccess:
    """Where a study is and how its workers watch each other (seconds)."""

    storage: str
    name: str
    heartbeat_s: int = 10
    grace_s: int = 60
    max_retry: int = 3

    def __post_init__(self) -> None:
        if self.heartbeat_s < 1 or self.grace_s <= self.heartbeat_s:
            raise ConfigError("the heartbeat must be at least 1 s and the grace period longer than it")

    def fold(self, index: int) -> StudyAccess:
        """Return the access of walk-forward fold `index` (1-based): a study of its own."""
        return StudyAccess(
            self.storage, f"{self.name}.fold{index}", self.heartbeat_s, self.grace_s, self.max_retry
        )


def storage_url(text: str) -> str:
    """Return an SQLAlchemy URL for Optuna from what a user typed (`postgresql://` uses psycopg 3).

    Raises ConfigError for a URL that is neither PostgreSQL nor SQLite.
    """
    url = text.strip()
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("postgresql+", "sqlite:///")):
        return url
    raise ConfigError(
        f"unsupported --storage {safe_url(url)}: use postgresql://user@host/db or sqlite:///path"
    )


def sqlite_url(path: Path) -> str:
    """Return the SQLite URL of a study file (its directory created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def safe_url(url: str) -> str:
    """Return `url` with any password masked (for messages and logs)."""
    try:
        return sqlalchemy.make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return "<unreadable storage URL>"


def _storage(access: StudyAccess) -> RDBStorage:
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if access.storage.startswith("sqlite"):
        # several local workers share one file: wait for its lock instead of failing at once
        kwargs["connect_args"] = {"timeout": 60}
    try:
        with (
            warnings.catch_warnings()
        ):  # heartbeats are "experimental" in Optuna since 2.9: used as documented
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                access.storage,
                engine_kwargs=kwargs,
                heartbeat_interval=access.heartbeat_s,
                grace_period=access.grace_s,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=access.max_retry),
            )
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"cannot open the study storage {safe_url(access.storage)}: {reason}") from None


def open_study(
    access: StudyAccess,
    objectives: Sequence[Objective] | None,
    definition: Mapping[str, object] | None,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> tuple[optuna.Study, dict[str, object]]:
    """Return the study and its definition: created with `definition`, or joined.

    `definition` None joins an existing study (ConfigError when there is none) and returns the
    definition it holds. A definition given for an existing study must equal the stored one
    (ConfigError naming the first difference otherwise).
    """
    storage = _storage(access)
    try:
        study = optuna.load_study(study_name=access.name, storage=storage, sampler=sampler)
    except KeyError:
        if definition is None or objectives is None:
            raise ConfigError(
                f"no study {access.name!r} in {safe_url(access.storage)}: "
                "give the strategy and symbols to create it"
            ) from None
        study = optuna.create_study(
            study_name=access.name,
            storage=storage,
            sampler=sampler,
            directions=[o.direction.value for o in objectives],
            load_if_exists=True,  # another worker may create it at the same moment
        )
        if DEFINITION_ATTR not in study.user_attrs:
            study.set_user_attr(DEFINITION_ATTR, dict(definition))
    stored = study.user_attrs.get(DEFINITION_ATTR)
    if not isinstance(stored, dict):
        raise ConfigError(f"study {access.name!r} was not made by bst optimize: choose another --study name")
    if definition is not None and stored != dict(definition):
        key, was, now = _difference(stored, dict(definition))
        raise ConfigError(
            f"study {access.name!r} exists with another {key} ({was!r}, not {now!r}): "
            "choose another --study name, or give only --study (and --storage) to join it"
        )
    return study, stored


def _difference(
    stored: dict[str, object], given: dict[str, object], prefix: str = ""
) -> tuple[str, object, object]:
    """Return the first key (dotted into nested mappings) whose values differ, and both values."""
    for key in [*stored, *(k for k in given if k not in stored)]:
        was, now = stored.get(key), given.get(key)
        if was != now:
            if isinstance(was, dict) and isinstance(now, dict):
                return _difference(was, now, f"{prefix}{key}.")
            return f"{prefix}{key}", was, now
    return prefix.rstrip(".") or "definition", stored, given


def make_sampler(
    kind: SamplerKind, space: SearchSpace, objectives: int, seed: int | None
) -> optuna.samplers.BaseSampler:
    """Return a sampler of `kind` (seeded: the same seed, one worker, the same trials)."""
    if kind is SamplerKind.GRID:
        return optuna.samplers.GridSampler(dict(space.grid()), seed=seed)
    if kind is SamplerKind.NSGA2:
        return optuna.samplers.NSGAIISampler(seed=seed)
    if kind is SamplerKind.RANDOM:
        return optuna.samplers.RandomSampler(seed=seed)
    # constant_liar: parallel workers see each other's running trials and spread out
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def worker_seed(seed: int | None, worker: int) -> int:
    """Return the sampler seed of worker `worker`: `seed` for worker 0, else (or with None) a fresh one."""
    return seed if seed is not None and worker == 0 else random.SystemRandom().randrange(2**31)


def finished_count(study: optuna.Study) -> int:
    """Return the trials that count towards the budget (complete or pruned)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def running_count(study: optuna.Study) -> int:
    """Return the trials running now (or left running by a worker not yet found dead)."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def fail_dead_trials(study: optuna.Study) -> None:
    """Fail the trials whose worker stopped beating (and queue their retries)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fail_stale_trials(study)


def retried_from(trial: FrozenTrial) -> int | None:
    """Return the number of the dead trial `trial` retries (None when it is not a retry)."""
    value = trial.system_attrs.get("failed_trial")
    return int(value) if isinstance(value, int) else None
