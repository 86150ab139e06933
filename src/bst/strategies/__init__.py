"""Concrete strategies, found by name (`sma_cross`), by class, or by a `module:Class` path.

`STRATEGIES` is a plain dict from registry name to class; add a strategy by importing it here and
listing it. A user's own strategy needs no registration: pass the class itself or its import path
(`my_package.my_module:MyStrategy`). Strategies import only `bst.trading` and `bst.domain`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence

from bst.domain.errors import ConfigError
from bst.strategies.sma_cross import SmaCross, SmaCrossParams
from bst.trading.params import Params, build_params, parse_params
from bst.trading.strategy import Strategy

__all__ = ["STRATEGIES", "SmaCross", "SmaCrossParams", "create_strategy", "resolve_strategy"]

StrategyType = type[Strategy[Params]]

STRATEGIES: dict[str, StrategyType] = {
    SmaCross.name: SmaCross,
}
"""Every strategy shipped with bst, by registry name."""


def resolve_strategy(spec: str | StrategyType) -> StrategyType:
    """Return the strategy class named by `spec`: a registry name, a `module:Class` path, or a class.

    Raises ConfigError with one line when nothing matches or the object is not a Strategy.
    """
    if isinstance(spec, type):
        return _checked(spec, spec.__name__)
    found = STRATEGIES.get(spec)
    if found is not None:
        return found
    module_name, sep, class_name = spec.partition(":")
    if not sep:
        known = ", ".join(sorted(STRATEGIES))
        raise ConfigError(f"unknown strategy {spec!r}: use one of {known}, or a module:Class path")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"cannot import module {module_name!r} of strategy {spec!r}: {e}") from None
    candidate = vars(module).get(class_name)
    if candidate is None:
        raise ConfigError(f"module {module_name!r} has no {class_name!r} (strategy {spec!r})")
    return _checked(candidate, spec)


def create_strategy(
    spec: str | StrategyType,
    params: Sequence[str] | Mapping[str, object] = (),
) -> Strategy[Params]:
    """Return a strategy instance: `spec` resolved, parameters from `name=value` texts or values.

    Texts (`["fast=12"]`, as `--param` gives them) are parsed by type; a mapping holds Python values
    (as the optimiser gives them). Unknown names, bad values and out-of-range values raise
    ConfigError with one line.
    """
    cls = resolve_strategy(spec)
    values = (
        build_params(cls.params_type, params)
        if isinstance(params, Mapping)
        else parse_params(cls.params_type, params)
    )
    return cls(values)


def _checked(candidate: object, spec: str) -> StrategyType:
    if not isinstance(candidate, type) or not issubclass(candidate, Strategy):
        raise ConfigError(f"{spec!r} is not a bst Strategy class")
    return candidate
