"""Strategy parameters: declarations read back for the optimiser, values checked, texts parsed."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass
from decimal import Decimal
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.errors import ConfigError
from bst.domain.market import Interval
from bst.strategies.sma_cross import SmaCrossParams
from bst.trading.params import Parameter, ParamKind, Params, build_params, param, parse_params, search_space


class Mode(StrEnum):
    TAKER = "taker"
    MAKER = "maker"


@dataclass(frozen=True)
class Sample(Params):
    period: int = param(14, low=2, high=100, step=2)
    ratio: float = param(0.5, low=0.01, high=10.0, log=True, help="a ratio")
    size: Decimal = param(Decimal("0.01"), low=Decimal("0.001"), high=Decimal("5"), step=Decimal("0.001"))
    mode: Mode = param(Mode.TAKER)
    interval: Interval = param(Interval.M5, choices=(Interval.M1, Interval.M5, Interval.H1))
    hedge: bool = param(False)
    label: str = param("x")
    depth: int = 5


def test_the_search_space_lists_every_declaration_in_field_order() -> None:
    space = search_space(Sample)

    assert [p.name for p in space] == [
        "period",
        "ratio",
        "size",
        "mode",
        "interval",
        "hedge",
        "label",
        "depth",
    ]
    assert space[0] == Parameter("period", int, ParamKind.INT, 14, 2, 100, 2)
    assert space[1] == Parameter("ratio", float, ParamKind.FLOAT, 0.5, 0.01, 10.0, None, True, (), "a ratio")
    assert space[2].kind is ParamKind.DECIMAL
    assert (space[2].low, space[2].high, space[2].step) == (Decimal("0.001"), Decimal("5"), Decimal("0.001"))
    assert space[3].kind is ParamKind.CATEGORICAL
    assert space[3].choices == (Mode.TAKER, Mode.MAKER)
    assert space[4].choices == (Interval.M1, Interval.M5, Interval.H1)
    assert space[5].choices == (False, True)
    assert (space[6].kind, space[7].kind) == (ParamKind.FIXED, ParamKind.FIXED)
    assert space[7].default == 5


def test_the_sma_cross_declares_a_searchable_space() -> None:
    by_name = {p.name: p for p in search_space(SmaCrossParams)}

    assert (by_name["fast"].kind, by_name["fast"].low, by_name["fast"].high) == (ParamKind.INT, 2, 200)
    assert (by_name["slow"].kind, by_name["slow"].low, by_name["slow"].high) == (ParamKind.INT, 3, 500)
    assert by_name["interval"].kind is ParamKind.CATEGORICAL
    assert by_name["qty"].default == Decimal("0.001")
    assert by_name["fast"].describe() == "fast: int = 10, in [2, 200] (bars of the fast average)"


def test_texts_are_parsed_by_type_over_the_defaults() -> None:
    parsed = parse_params(
        Sample,
        ["period=20", "ratio=2.5", "size=0.25", "mode=maker", "interval=1h", "hedge=yes", "label=abc"],
    )

    assert parsed == Sample(20, 2.5, Decimal("0.25"), Mode.MAKER, Interval.H1, True, "abc")
    assert parse_params(Sample, {"depth": "7"}).depth == 7
    assert parse_params(Sample, []) == Sample()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speed=3", "unknown parameter 'speed' for Sample: known are period, ratio, size, mode,"),
        ("period", "invalid parameter 'period': use name=value, e.g. fast=12"),
        ("period=1.5", "invalid value '1.5' for parameter period: expected a whole number, e.g. 12"),
        ("period=101", "Sample.period = 101 is out of range [2, 100]"),
        ("ratio=nan", "invalid value 'nan' for parameter ratio: expected a finite number"),
        ("ratio=abc", "invalid value 'abc' for parameter ratio: expected a number, e.g. 0.5"),
        ("size=1e400", "invalid value '1e400' for parameter size: too large"),
        ("size=9", "Sample.size = 9 is out of range [0.001, 5]"),
        ("mode=both", "invalid value 'both' for parameter mode: use one of taker, maker"),
        ("interval=7m", "invalid interval '7m': use one of"),
        ("interval=D", "Sample.interval = D is not one of 1, 5, 60"),
        ("hedge=maybe", "invalid value 'maybe' for parameter hedge: use true or false"),
    ],
)
def test_bad_texts_get_one_line_naming_the_parameter(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_params(Sample, [text])

    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


def test_values_are_checked_when_the_dataclass_is_built() -> None:
    with pytest.raises(ConfigError, match=r"^Sample.period must be a int, got '3'$"):
        Sample(period="3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^Sample.period must be a int, got True$"):
        build_params(Sample, {"period": True})
    with pytest.raises(ConfigError, match=r"^Sample.ratio = 20.0 is out of range \[0.01, 10.0\]$"):
        build_params(Sample, {"ratio": 20.0})
    with pytest.raises(ConfigError, match=r"^Sample.size must be a finite number, got NaN$"):
        Sample(size=Decimal("NaN"))
    with pytest.raises(ConfigError, match="unknown parameter 'nope'"):
        build_params(Sample, {"nope": 1})
    assert build_params(Sample, {"ratio": 2}).ratio == 2  # an int is a float


def test_rules_across_fields_are_the_validate_hook() -> None:
    with pytest.raises(ConfigError, match=r"^fast \(30\) must be below slow \(20\)$"):
        parse_params(SmaCrossParams, ["fast=30"])
    assert parse_params(SmaCrossParams, ["fast=30", "slow=40"]).values()["fast"] == 30


def test_params_are_frozen() -> None:
    params = Sample()

    with pytest.raises(FrozenInstanceError):
        params.period = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: param(5, low=10, high=20), "default 5 is outside [10, 20]"),
        (lambda: param(5, low=10), "default 5 is outside [10, inf]"),
        (lambda: param(15, low=20, high=10), "low 20 is above high 10"),
        (lambda: param(1.0, low=0.0, high=2.0, log=True), "a log-scale parameter needs 0 < low <= high"),
        (lambda: param(1, low=0, high=2, step=0), "step must be positive, got 0"),
        (lambda: param("a", choices=("b", "c")), "default a is not one of the choices ['b', 'c']"),
        (
            lambda: param(1, low=0, choices=(1, 2)),
            "a parameter takes either choices or low/high/step/log, not both",
        ),
    ],
)
def test_contradictory_declarations_fail_at_import(declare: object, message: str) -> None:
    assert callable(declare)
    with pytest.raises(ConfigError) as refused:
        declare()

    assert str(refused.value) == message


def test_a_class_left_undecorated_or_with_odd_types_is_named() -> None:
    class Undecorated(Params):
        period: int = param(3)

    @dataclass(frozen=True)
    class Listy(Params):
        periods: tuple[int, ...] = param((1,))  # type: ignore[type-var]

    @dataclass(frozen=True)
    class Mismatch(Params):
        period: int = param("3")  # type: ignore[assignment]

    with pytest.raises(ConfigError, match=r"^decorate Undecorated with @dataclass\(frozen=True\)$"):
        search_space(Undecorated)
    with pytest.raises(
        ConfigError, match=r"^Listy.periods: parameters are int, float, Decimal, bool, str or"
    ):
        search_space(Listy)
    with pytest.raises(ConfigError, match=r"^Mismatch.period: default '3' is not a int$"):
        search_space(Mismatch)


@given(st.integers(min_value=-1000, max_value=1000))
def test_an_int_parses_exactly_when_it_is_in_range(value: int) -> None:
    if 2 <= value <= 100:
        assert parse_params(Sample, [f"period={value}"]).period == value
    else:
        with pytest.raises(ConfigError, match=r"out of range \[2, 100\]"):
            parse_params(Sample, [f"period={value}"])


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("5"), places=6))
def test_a_decimal_text_round_trips_exactly(value: Decimal) -> None:
    assert parse_params(Sample, [f"size={value}"]).size == value
