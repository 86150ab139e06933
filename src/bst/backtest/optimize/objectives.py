"""What an optimisation maximises or minimises: one or several of a run's metrics.

    parse_objectives("sharpe")            # one objective: TPE by default
    parse_objectives("return,drawdown")   # several: a Pareto front, NSGA-II by default

Each objective names a metric of `bst.backtest.metrics` and a direction. A trial whose metric is
undefined (a Sharpe ratio without two daily returns, a Calmar ratio without a drawdown) has no
value to rank: it is pruned with the reason, never given a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bst.domain.errors import ConfigError

__all__ = ["OBJECTIVES", "Direction", "Objective", "objective_values", "parse_objectives"]


class Direction(StrEnum):
    """Whether larger or smaller values are better (Optuna's direction names)."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass(frozen=True, slots=True)
class Objective:
    """One objective: its name as typed, the metric key it reads, the direction, a label."""

    name: str
    metric: str
    direction: Direction
    label: str


_O = Objective
_MAX, _MIN = Direction.MAXIMIZE, Direction.MINIMIZE
OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        _O("sharpe", "sharpe", _MAX, "Sharpe ratio"),
        _O("sortino", "sortino", _MAX, "Sortino ratio"),
        _O("calmar", "calmar", _MAX, "Calmar ratio"),
        _O("return", "return_pct", _MAX, "return %"),
        _O("annual_return", "annual_return_pct", _MAX, "annual return %"),
        _O("drawdown", "max_drawdown_pct", _MAX, "max drawdown % (<= 0, nearer 0 is better)"),
        _O("volatility", "volatility_pct", _MIN, "annual volatility %"),
        _O("profit_factor", "profit_factor", _MAX, "profit factor"),
        _O("win_rate", "win_rate_pct", _MAX, "win rate %"),
        _O("expectancy", "expectancy_pct", _MAX, "mean trade return %"),
        _O("trades", "trades", _MAX, "round-trip trades"),
    )
}
"""Every objective `--objective` accepts, by name."""


def parse_objectives(text: str | Sequence[str]) -> tuple[Objective, ...]:
    """Return the objectives named in `text` ("sharpe", "return,drawdown" or a list of names).

    Raises ConfigError with one line for an unknown or repeated name.
    """
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    if not names or not all(names):
        raise ConfigError(f"invalid --objective {text!r}: use one or more of {', '.join(OBJECTIVES)}")
    found = []
    for name in names:
        objective = OBJECTIVES.get(name)
        if objective is None:
            raise ConfigError(f"unknown objective {name!r}: use one or more of {', '.join(OBJECTIVES)}")
        if objective in found:
            raise ConfigError(f"objective {name!r} is given twice")
        found.append(objective)
    return tuple(found)


def objective_values(objectives: Sequence[Objective], metrics: Mapping[str, object]) -> list[float] | str:
    """Return each objective's value in a run's metrics, or the reason there is none (text)."""
    values = []
    for o in objectives:
        value = metrics.get(o.metric)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"{o.name} is undefined for this run ({o.metric} = {value})"
        values.append(float(value))
    return values
