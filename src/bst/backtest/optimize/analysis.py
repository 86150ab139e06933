"""What a finished study says: its trials ranked, the parameters' importance, a two-parameter heat map.

Ranking: complete trials by the objective (best first); with several objectives, by Pareto front
(the non-dominated trials first, then the front left when those are removed, ...) and inside a
front by the first objective. Importance: Optuna's default evaluator (PED-ANOVA) on the first
objective, normalised to sum to 1. The heat map puts two parameters on a grid (each distinct value
a cell when there are few, else equal-width ranges) and shows the best first-objective value
reached in each cell (None where no trial fell).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import optuna
from optuna.trial import FrozenTrial, TrialState

from bst.backtest.optimize.objectives import Direction, Objective
from bst.backtest.optimize.space import SearchSpace
from bst.backtest.optimize.studies import retried_from

__all__ = [
    "MAX_CELLS",
    "HeatMap",
    "RankedTrial",
    "StudySummary",
    "heat_map",
    "importances",
    "rank",
    "summarise",
]

MAX_CELLS = 10
"""Cells per heat-map axis at most (numbers with more distinct values are put in ranges)."""


@dataclass(frozen=True, slots=True)
class RankedTrial:
    """One complete trial in rank order (1 = best)."""

    rank: int
    number: int
    values: tuple[float, ...]
    params: dict[str, object]
    texts: tuple[str, ...]
    metrics: dict[str, object]
    worker: str
    front: int = 1
    """The Pareto front the trial is on (1 with one objective)."""
    retry_of: int | None = None


@dataclass(frozen=True, slots=True)
class HeatMap:
    """The best first-objective value per cell of two parameters (rows: y, columns: x)."""

    x: str
    y: str
    x_labels: tuple[str, ...]
    y_labels: tuple[str, ...]
    cells: tuple[tuple[float | None, ...], ...]
    objective: Objective


@dataclass(frozen=True, slots=True)
class StudySummary:
    """A study's state and results: counts by state, ranked trials, importances, heat map."""

    name: str
    objectives: tuple[Objective, ...]
    counts: dict[str, int]
    ranked: tuple[RankedTrial, ...]
    importances: dict[str, float] = field(default_factory=dict)
    heat_map: HeatMap | None = None
    pruned: tuple[tuple[int, str], ...] = ()
    """(trial number, reason) of every pruned trial."""
    retries: tuple[tuple[int, int], ...] = ()
    """(trial number, number of the dead trial it retried)."""

    @property
    def best(self) -> RankedTrial | None:
        """Return the best trial (None when no trial completed)."""
        return self.ranked[0] if self.ranked else None


def _better(objective: Objective, a: float, b: float) -> bool:
    return a > b if objective.direction is Direction.MAXIMIZE else a < b


def _key(objective: Objective, value: float) -> float:
    return -value if objective.direction is Direction.MAXIMIZE else value


def _dominates(objectives: Sequence[Objective], a: Sequence[float], b: Sequence[float]) -> bool:
    no_worse = all(not _better(o, y, x) for o, x, y in zip(objectives, a, b, strict=True))
    return no_worse and any(_better(o, x, y) for o, x, y in zip(objectives, a, b, strict=True))


def _fronts(objectives: Sequence[Objective], trials: Sequence[FrozenTrial]) -> list[int]:
    """Return each trial's Pareto front number (1-based), by repeated non-dominated filtering."""
    front = [0] * len(trials)
    left = set(range(len(trials)))
    number = 0
    while left:
        number += 1
        current = [
            i
            for i in left
            if not any(_dominates(objectives, trials[j].values, trials[i].values) for j in left if j != i)
        ]
        for i in current:
            front[i] = number
        left -= set(current)
    return front


def rank(
    objectives: Sequence[Objective], space: SearchSpace, trials: Sequence[FrozenTrial]
) -> list[RankedTrial]:
    """Return the complete trials ranked best first (ties: the earlier trial first)."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE and t.values is not None]
    fronts = _fronts(objectives, complete) if len(objectives) > 1 else [1] * len(complete)
    order = sorted(
        range(len(complete)),
        key=lambda i: (fronts[i], _key(objectives[0], complete[i].values[0]), complete[i].number),
    )
    ranked = []
    for position, i in enumerate(order, start=1):
        t = complete[i]
        metrics = t.user_attrs.get("metrics")
        ranked.append(
            RankedTrial(
                rank=position,
                number=t.number,
                values=tuple(t.values),
                params=dict(t.params),
                texts=tuple(space.texts(t.params)),
                metrics=dict(metrics) if isinstance(metrics, Mapping) else {},
                worker=str(t.user_attrs.get("worker", "")),
                front=fronts[i],
                retry_of=retried_from(t),
            )
        )
    return ranked


def importances(
    study: optuna.Study, objectives: Sequence[Objective], names: Sequence[str]
) -> dict[str, float]:
    """Return each searched parameter's importance for the first objective (empty when undecidable)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = [n for n in names if len({repr(t.params.get(n)) for t in complete}) > 1]
    if len(complete) < 2 or not varied:
        return {}
    target = None
    if len(objectives) > 1:  # the evaluator explains low target values: turn a maximised one round
        sign = -1.0 if objectives[0].direction is Direction.MAXIMIZE else 1.0
        target = lambda t: sign * t.values[0]  # noqa: E731
    try:
        with warnings.catch_warnings():  # it warns whenever a target is given, even a turned one
            warnings.simplefilter("ignore", UserWarning)
            found = optuna.importance.get_param_importances(study, params=varied, target=target)
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every value equal: nothing to explain
        return {}
    return {k: float(v) for k, v in found.items() if math.isfinite(v)}


def _axis(values: Sequence[object]) -> tuple[list[str], list[int]]:
    """Return an axis's labels and each value's cell index."""
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < len(values):  # choices: one cell per label
        labels = sorted({_label(v) for v in values})
        where = {label: i for i, label in enumerate(labels)}
        return labels, [where[_label(v)] for v in values]
    distinct = sorted(set(numbers))
    if len(distinct) <= MAX_CELLS:
        at = {v: i for i, v in enumerate(distinct)}
        return [_label(v) for v in distinct], [at[v] for v in numbers]
    low, high = distinct[0], distinct[-1]
    width = (high - low) / MAX_CELLS
    index = [min(int((v - low) / width), MAX_CELLS - 1) for v in numbers]
    return [f"{_label(low + k * width)}-{_label(low + (k + 1) * width)}" for k in range(MAX_CELLS)], index


def _label(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def heat_map(
    objectives: Sequence[Objective], trials: Sequence[RankedTrial], x: str, y: str
) -> HeatMap | None:
    """Return the heat map of `x` against `y` over the ranked trials (None without any)."""
    usable = [t for t in trials if x in t.params and y in t.params]
    if not usable:
        return None
    objective = objectives[0]
    x_labels, xs = _axis([t.params[x] for t in usable])
    y_labels, ys = _axis([t.params[y] for t in usable])
    grid: list[list[float | None]] = [[None] * len(x_labels) for _ in y_labels]
    for t, i, j in zip(usable, xs, ys, strict=True):
        current = grid[j][i]
        if current is None or _better(objective, t.values[0], current):
            grid[j][i] = t.values[0]
    return HeatMap(x, y, tuple(x_labels), tuple(y_labels), tuple(tuple(row) for row in grid), objective)


def summarise(
    study: optuna.Study,
    objectives: Sequence[Objective],
    space: SearchSpace,
    heat_params: tuple[str, str] | None = None,
) -> StudySummary:
    """Return the summary of `study`; the heat map shows `heat_params` or the two most important."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    ranked = rank(objectives, space, trials)
    found = importances(study, objectives, space.names)
    pair = heat_params
    if pair is None and len(space.names) >= 2:
        by_importance = [n for n in found if n in space.names] + [n for n in space.names if n not in found]
        pair = (by_importance[0], by_importance[1])
    drawn = heat_map(objectives, ranked, *pair) if pair is not None else None
    pruned = tuple(
        (t.number, str(t.user_attrs.get("pruned", ""))) for t in trials if t.state is TrialState.PRUNED
    )
    retries = tuple((t.number, n) for t in trials if (n := retried_from(t)) is not None)
    return StudySummary(
        study.study_name, tuple(objectives), counts, tuple(ranked), found, drawn, pruned, retries
    )
