"""The optimiser's search space and objectives: declared ranges, narrowing texts, values back as texts."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.backtest.optimize import Direction, build_space, parse_objectives
from bst.backtest.optimize.objectives import objective_values
from bst.backtest.optimize.space import GRID_LIMIT, Dimension
from bst.domain.errors import ConfigError
from bst.strategies import SmaCrossParams
from bst.trading.params import ParamKind, Params, param


@dataclass(frozen=True)
class MixedParams(Params):
    """One parameter of each kind the optimiser handles."""

    period: int = param(10, low=2, high=100, step=2)
    ratio: float = param(0.5, low=0.1, high=0.9)
    size: Decimal = param(Decimal("0.01"), low=Decimal("0.001"), high=Decimal("0.1"), step=Decimal("0.001"))
    scale: Decimal = param(Decimal("1"), low=Decimal("0.01"), high=Decimal("100"), log=True)
    mode: str = param("fast", choices=["fast", "slow"])
    label: str = param("x")


def test_the_default_space_is_every_declared_searchable_parameter_but_the_data_interval() -> None:
    space = build_space(SmaCrossParams)
    assert [d.describe() for d in space.dimensions] == [
        "fast: int 2..200",
        "slow: int 3..500",
        "long_only: one of false, true",
    ]  # qty has no upper bound, interval follows the data
    assert space.fixed == ()
    mixed = build_space(MixedParams)
    assert mixed.names == ("period", "ratio", "size", "scale", "mode")
    assert mixed.dimensions[3] == Dimension(
        "scale", ParamKind.DECIMAL, Decimal("0.01"), Decimal("100"), None, True
    )


def test_ranges_choices_and_fixed_values_narrow_the_space_to_what_is_named() -> None:
    space = build_space(
        SmaCrossParams, ["fast=5:50", "slow=20:200:5", "long_only=true", "qty=0.5", "interval=60"]
    )
    assert [d.describe() for d in space.dimensions] == ["fast: int 5..50", "slow: int 20..200 step 5"]
    assert space.fixed == ("long_only=true", "qty=0.5", "interval=60")
    listed = build_space(MixedParams, ["mode=slow,fast", "period=4,8,8"])
    assert listed.dimensions == (
        Dimension("period", ParamKind.CATEGORICAL, choices=(4, 8)),
        Dimension("mode", ParamKind.CATEGORICAL, choices=("slow", "fast")),
    )  # declaration order, duplicates dropped


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (
            ["nope=1:2"],
            "unknown parameter 'nope' for SmaCrossParams: known are fast, slow, qty, interval, long_only",
        ),
        (
            ["fast=1:50"],
            "--param fast=1:50 is outside the declared range: SmaCrossParams.fast accepts [2, 200]",
        ),
        (
            ["slow=20:600"],
            "--param slow=20:600 is outside the declared range: SmaCrossParams.slow accepts [3, 500]",
        ),
        (["fast=50:5"], "--param fast=50:5: LOW is above HIGH"),
        (["fast=5:50:0"], "--param fast=5:50:0: STEP must be positive"),
        (["fast=5:50:1:2"], "invalid --param fast=5:50:1:2: use fast=LOW:HIGH or LOW:HIGH:STEP"),
        (["fast=a:9"], "invalid value 'a' for parameter fast: expected a whole number, e.g. 12"),
        (["fast"], "invalid --param 'fast': use name=LOW:HIGH[:STEP], name=A,B,C or name=VALUE"),
        (["fast=5:9", "fast=6"], "--param fast is given twice"),
        (["fast=3,500"], "--param fast: 500 is outside SmaCrossParams.fast's [2, 200]"),
        (
            ["fast=1", "slow=4", "long_only=true"],
            "nothing to search: SmaCrossParams declares no bounded parameter",
        ),
    ],
)
def test_bad_texts_are_refused_in_one_line(texts: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build_space(SmaCrossParams, texts)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_trial_becomes_param_texts_with_numbers_snapped_onto_their_step() -> None:
    space = build_space(MixedParams)
    trial = optuna.trial.FixedTrial(
        {
            "period": 14,
            "ratio": 0.30000000000000004,
            "size": 0.0030000000000000005,
            "scale": 2.5,
            "mode": "slow",
        }
    )
    assert space.suggest(trial) == [
        "period=14",
        "ratio=0.30000000000000004",
        "size=0.003",
        "scale=2.5",
        "mode=slow",
    ]
    assert space.texts({"size": 0.1, "mode": "fast", "gone": 3}) == ["size=0.1", "mode=fast"]
    parsed = MixedParams(size=Decimal(space.texts({"size": 0.0030000000000000005})[0].split("=")[1]))
    assert parsed.size == Decimal("0.003")


@given(st.floats(min_value=0.001, max_value=0.1))
def test_decimal_values_always_come_back_on_the_grid_and_inside_the_bounds(value: float) -> None:
    dimension = build_space(MixedParams, ["size=0.001:0.1:0.001"]).dimensions[0]
    snapped = Decimal(dimension.text(value))
    assert Decimal("0.001") <= snapped <= Decimal("0.1")
    assert snapped % Decimal("0.001") == 0
    assert abs(float(snapped) - value) <= 0.0005 + 1e-12


def test_the_grid_lists_every_value_and_needs_a_step_for_numbers() -> None:
    space = build_space(MixedParams, ["period=4:10:3", "size=0.01:0.03:0.01", "mode=fast,slow"])
    assert space.grid() == {"period": [4, 7, 10], "size": [0.01, 0.02, 0.03], "mode": ["fast", "slow"]}
    with pytest.raises(
        ConfigError, match=r"^grid search needs a step for ratio: give --param ratio=LOW:HIGH:STEP$"
    ):
        build_space(MixedParams, ["ratio=0.1:0.5"]).grid()
    with pytest.raises(ConfigError, match=f"at most {GRID_LIMIT:,}"):
        build_space(SmaCrossParams, ["fast=2:200", "slow=3:500", "long_only=true,false"]).grid()


def test_objectives_name_metrics_and_directions() -> None:
    assert [(o.metric, o.direction) for o in parse_objectives("sharpe")] == [("sharpe", Direction.MAXIMIZE)]
    several = parse_objectives("Return, drawdown,volatility")
    assert [(o.metric, o.direction) for o in several] == [
        ("return_pct", Direction.MAXIMIZE),
        ("max_drawdown_pct", Direction.MAXIMIZE),
        ("volatility_pct", Direction.MINIMIZE),
    ]
    with pytest.raises(ConfigError, match=r"^unknown objective 'profit': use one or more of sharpe, sortino"):
        parse_objectives("profit")
    with pytest.raises(ConfigError, match=r"^objective 'sharpe' is given twice$"):
        parse_objectives("sharpe,sharpe")
    assert objective_values(several, {"return_pct": 5.0, "max_drawdown_pct": -2.0, "volatility_pct": 10}) == [
        5.0,
        -2.0,
        10.0,
    ]
    assert objective_values(parse_objectives("sharpe"), {"sharpe": None}) == (
        "sharpe is undefined for this run (sharpe = None)"
    )
