"""Strategies are found by registry name, by class or by `module:Class`; parameters come from text."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from bst.domain.errors import ConfigError
from bst.domain.market import Interval
from bst.strategies import STRATEGIES, create_strategy, resolve_strategy
from bst.strategies.sma_cross import SmaCross, SmaCrossParams
from bst.trading.params import Params, param
from bst.trading.strategy import Strategy


@dataclass(frozen=True)
class BreakoutParams(Params):
    lookback: int = param(20, low=5, high=100)


class Breakout(Strategy[BreakoutParams]):
    """A user's own strategy, not registered."""


class Plain(Strategy[Params]):
    name = "plain_one"


def test_a_strategy_is_found_by_name_path_or_class() -> None:
    assert resolve_strategy("sma_cross") is SmaCross
    assert resolve_strategy("bst.strategies.sma_cross:SmaCross") is SmaCross
    assert resolve_strategy(Breakout) is Breakout
    assert resolve_strategy(f"{__name__}:Breakout") is Breakout


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("smacross", "unknown strategy 'smacross': use one of sma_cross, or a module:Class path"),
        ("no_such_module_xyz:Thing", "cannot import module 'no_such_module_xyz' of strategy"),
        ("bst.strategies.sma_cross:Nope", "module 'bst.strategies.sma_cross' has no 'Nope'"),
        ("bst.strategies.sma_cross:SmaCrossParams", "'bst.strategies.sma_cross:SmaCrossParams' is not a bst"),
    ],
)
def test_a_spec_that_names_no_strategy_is_one_line(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        resolve_strategy(spec)

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_parameters_come_from_texts_or_values() -> None:
    from_texts = create_strategy("sma_cross", ["fast=12", "slow=26", "qty=0.5", "interval=1h"])
    from_values = create_strategy(
        SmaCross, {"fast": 12, "slow": 26, "qty": Decimal("0.5"), "interval": Interval.H1}
    )

    assert from_texts.params == SmaCrossParams(12, 26, Decimal("0.5"), Interval.H1)
    assert from_values.params == from_texts.params
    assert create_strategy(Breakout).params == BreakoutParams(20)
    with pytest.raises(ConfigError, match="unknown parameter 'fats' for SmaCrossParams"):
        create_strategy("sma_cross", ["fats=12"])


def test_the_parameter_type_and_name_are_read_from_the_class() -> None:
    assert Breakout.params_type is BreakoutParams
    assert Breakout.name == "breakout"
    assert Plain.name == "plain_one"
    assert Plain().params == Params()
    with pytest.raises(ConfigError, match=r"^Breakout takes BreakoutParams, got SmaCrossParams$"):
        Breakout(SmaCrossParams())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_registered_strategy_builds_with_its_defaults(name: str) -> None:
    cls = STRATEGIES[name]
    strategy = cls()

    assert cls.name == name
    assert isinstance(strategy.params, cls.params_type)
    assert strategy.needs().history >= 1
