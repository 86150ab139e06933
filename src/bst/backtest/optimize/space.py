"""The search space of an optimisation: a strategy's declared parameters, narrowed by the user.

    space = build_space(SmaCrossParams, ["fast=5:50", "slow=20:200:5", "long_only=true,false"])
    space.dimensions   # fast int 5..50, slow int 20..200 step 5, long_only one of false, true
    space.fixed        # the `name=value` texts that fix a parameter

Texts, as `--param` takes them: `name=lo:hi[:step]` searches a number in [lo, hi], which must lie
inside what the strategy declares (`param(low=, high=)`); `name=a,b,c` searches one of the listed
values; `name=value` fixes the parameter. With no range or list given, every declared searchable
parameter is searched: bounded numbers, bools, declared choices and enums, except `Interval` and
`Category` parameters, which describe the data (the bar interval follows the data's). With any
range or list given, only those parameters are searched; the others keep their defaults or fixed
values.

Values reach Optuna as ints, floats (a Decimal as a float snapped back onto its step) or, for
choices, as bools, numbers and text, and come back to the strategy as `--param` texts read by
`parse_params`, so an optimised value is read exactly as a typed one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum

import optuna

from bst.domain.errors import ConfigError
from bst.domain.market import Category, Interval
from bst.trading.params import Parameter, ParamKind, Params, ParamValue, parse_value, search_space

__all__ = ["GRID_LIMIT", "Choice", "Dimension", "SearchSpace", "build_space"]

Choice = bool | int | float | str
"""A categorical value as Optuna stores it (Decimals and enums as their text)."""

GRID_LIMIT = 100_000
"""Grid points at most: the grid sampler holds every combination in memory."""

_NUMERIC = (ParamKind.INT, ParamKind.FLOAT, ParamKind.DECIMAL)


@dataclass(frozen=True, slots=True)
class Dimension:
    """One searched parameter: a number in [low, high] (on `step`'s grid, or log-scaled) or a choice.

    Invariants: numbers have `low <= high` of the parameter's own type and `step > 0` when given;
    `log` implies `low > 0` and no step; choices are non-empty and distinct.
    """

    name: str
    kind: ParamKind
    low: int | float | Decimal | None = None
    high: int | float | Decimal | None = None
    step: int | float | Decimal | None = None
    log: bool = False
    choices: tuple[Choice, ...] = ()

    def suggest(self, trial: optuna.Trial) -> str:
        """Ask the trial for this parameter's value; return it as the `--param` text of the value."""
        if self.kind is ParamKind.CATEGORICAL:
            return self.text(trial.suggest_categorical(self.name, self.choices))
        assert self.low is not None
        assert self.high is not None
        if self.kind is ParamKind.INT:
            step = int(self.step) if self.step is not None else 1
            return self.text(
                trial.suggest_int(self.name, int(self.low), int(self.high), step=step, log=self.log)
            )
        step_f = float(self.step) if self.step is not None else None
        value = trial.suggest_float(self.name, float(self.low), float(self.high), step=step_f, log=self.log)
        return self.text(value)

    def text(self, value: object) -> str:
        """Return a value Optuna holds for this parameter as its `--param` text (numbers snapped to step)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if self.kind in (ParamKind.FLOAT, ParamKind.DECIMAL) and isinstance(value, int | float):
            snapped = self._snap(Decimal(repr(float(value))))
            return repr(float(snapped)) if self.kind is ParamKind.FLOAT else format(snapped.normalize(), "f")
        return str(value)

    def _snap(self, value: Decimal) -> Decimal:
        """Return `value` on the step grid from low, inside [low, high]; a float parameter as a float."""
        low, high = Decimal(str(self.low)), Decimal(str(self.high))
        if self.step is not None:
            step = Decimal(str(self.step))
            k = ((value - low) / step).to_integral_value(ROUND_HALF_EVEN)
            value = low + k * step
            if value > high:
                value -= step
        return min(max(value, low), high)

    def grid(self) -> list[Choice]:
        """Return every value of this dimension for a grid search (numbers need a step)."""
        if self.kind is ParamKind.CATEGORICAL:
            return list(self.choices)
        assert self.low is not None
        assert self.high is not None
        if self.kind is ParamKind.INT:
            if self.log:
                raise ConfigError(f"grid search needs a step for {self.name} (it is log-scaled)")
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise ConfigError(
                f"grid search needs a step for {self.name}: give --param {self.name}=LOW:HIGH:STEP"
            )
        low, step = Decimal(str(self.low)), Decimal(str(self.step))
        count = int((Decimal(str(self.high)) - low) / step) + 1
        if count > GRID_LIMIT:
            raise ConfigError(f"grid of {self.name} has {count:,} values: give a larger step")
        return [float(low + k * step) for k in range(count)]

    def describe(self) -> str:
        """Return one line: the name and what is searched (`fast: int 5..50 step 5`)."""
        if self.kind is ParamKind.CATEGORICAL:
            return f"{self.name}: one of {', '.join(self.text(c) for c in self.choices)}"
        text = f"{self.name}: {self.kind.value} {self.low}..{self.high}"
        if self.step is not None:
            text += f" step {self.step}"
        return text + (" (log)" if self.log else "")


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """What an optimisation searches (`dimensions`, in declaration order) and what it fixes (texts)."""

    dimensions: tuple[Dimension, ...]
    fixed: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Return the searched parameters' names."""
        return tuple(d.name for d in self.dimensions)

    def suggest(self, trial: optuna.Trial) -> list[str]:
        """Return the `--param` texts of one trial: the fixed ones, then a value for each dimension."""
        return [*self.fixed, *(f"{d.name}={d.suggest(trial)}" for d in self.dimensions)]

    def texts(self, values: Mapping[str, object]) -> list[str]:
        """Return the `--param` texts of a finished trial's values (Optuna's `trial.params`)."""
        by_name = {d.name: d for d in self.dimensions}
        return [*self.fixed, *(f"{n}={by_name[n].text(v)}" for n, v in values.items() if n in by_name)]

    def grid(self) -> dict[str, list[Choice]]:
        """Return the grid sampler's space; ConfigError when a number has no step or it is too large."""
        grid = {d.name: d.grid() for d in self.dimensions}
        size = math.prod(len(v) for v in grid.values())
        if size > GRID_LIMIT:
            raise ConfigError(f"the grid has {size:,} points (at most {GRID_LIMIT:,}): narrow or coarsen it")
        return grid


def build_space(params_type: type[Params], texts: Sequence[str] = ()) -> SearchSpace:
    """Return the space of `params_type` narrowed by `--param` texts (see the module docstring).

    Raises ConfigError with one line for an unknown parameter, a malformed text, a range outside
    the declared bounds, a parameter given twice, or a space with nothing to search.
    """
    declared = {p.name: p for p in search_space(params_type)}
    searched: dict[str, Dimension] = {}
    fixed: dict[str, str] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ConfigError(f"invalid --param {text!r}: use name=LOW:HIGH[:STEP], name=A,B,C or name=VALUE")
        parameter = declared.get(name)
        if parameter is None:
            known = ", ".join(declared) or "none"
            raise ConfigError(f"unknown parameter {name!r} for {params_type.__name__}: known are {known}")
        if name in searched or name in fixed:
            raise ConfigError(f"--param {name} is given twice")
        if ":" in value and _is_number(parameter):
            searched[name] = _range(params_type, parameter, value)
        elif "," in value:
            searched[name] = _listed(params_type, parameter, value)
        else:
            fixed[name] = f"{name}={value}"
    if searched:
        dimensions = [searched[name] for name in declared if name in searched]
    else:
        dimensions = [d for p in declared.values() if p.name not in fixed and (d := _declared(p)) is not None]
    if not dimensions:
        raise ConfigError(
            f"nothing to search: {params_type.__name__} declares no bounded parameter left free; "
            "give ranges with --param name=LOW:HIGH"
        )
    return SearchSpace(tuple(dimensions), tuple(fixed.values()))


def _is_number(p: Parameter) -> bool:
    return p.type in (int, float, Decimal)


def _kind(p: Parameter) -> ParamKind:
    return ParamKind.INT if p.type is int else ParamKind.FLOAT if p.type is float else ParamKind.DECIMAL


def _declared(p: Parameter) -> Dimension | None:
    """Return the dimension a parameter declares, None when it is not searched by default."""
    if p.kind in _NUMERIC:
        log = p.log
        return Dimension(p.name, p.kind, _num(p.low), _num(p.high), None if log else _num(p.step), log)
    if p.kind is ParamKind.CATEGORICAL and not (isinstance(p.default, Interval | Category)):
        return Dimension(p.name, p.kind, choices=tuple(_choice(c) for c in p.choices))
    return None


def _range(owner: type, p: Parameter, value: str) -> Dimension:
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(t.strip() for t in parts):
        raise ConfigError(f"invalid --param {p.name}={value}: use {p.name}=LOW:HIGH or LOW:HIGH:STEP")
    low, high = (_num(parse_value(p, t)) for t in parts[:2])
    step = _num(parse_value(p, parts[2])) if len(parts) == 3 else None
    assert low is not None
    assert high is not None
    where = f"--param {p.name}={value}"
    if high < low:
        raise ConfigError(f"{where}: LOW is above HIGH")
    if step is not None and step <= 0:
        raise ConfigError(f"{where}: STEP must be positive")
    declared = f"{owner.__name__}.{p.name} accepts {_bounds(p)}"
    if (p.low is not None and low < p.low) or (p.high is not None and high > p.high):  # type: ignore[operator]
        raise ConfigError(f"{where} is outside the declared range: {declared}")
    log = p.log and step is None and low > 0
    return Dimension(p.name, _kind(p), low, high, step, log)


def _listed(owner: type, p: Parameter, value: str) -> Dimension:
    texts = [t.strip() for t in value.split(",")]
    if not all(texts):
        raise ConfigError(f"invalid --param {p.name}={value}: use {p.name}=A,B,C")
    values = [parse_value(p, t) for t in texts]
    for v in values:
        if p.choices and v not in p.choices:
            listed = ", ".join(_show(c) for c in p.choices)
            raise ConfigError(f"--param {p.name}: {_show(v)} is not one of {listed}")
        if (p.low is not None and v < p.low) or (p.high is not None and v > p.high):  # type: ignore[operator]
            raise ConfigError(
                f"--param {p.name}: {_show(v)} is outside {owner.__name__}.{p.name}'s {_bounds(p)}"
            )
    choices = tuple(dict.fromkeys(_choice(v) for v in values))
    return Dimension(p.name, ParamKind.CATEGORICAL, choices=choices)


def _num(value: ParamValue | None) -> int | float | Decimal | None:
    if value is None:
        return None
    assert isinstance(value, int | float | Decimal)
    assert not isinstance(value, bool)
    return value


def _choice(value: ParamValue) -> Choice:
    if isinstance(value, bool | int | float) and not isinstance(value, Enum):
        return value
    return _show(value)


def _show(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def _bounds(p: Parameter) -> str:
    low = _show(p.low) if p.low is not None else "-inf"
    high = _show(p.high) if p.high is not None else "inf"
    return f"[{low}, {high}]"
