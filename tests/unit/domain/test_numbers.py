"""The one strict number parser: exact for what it accepts, a clear reason for what it refuses."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.errors import InvalidNumberError
from bst.domain.numbers import (
    MAX_FRACTION_DIGITS,
    MAX_INTEGER_DIGITS,
    NOT_A_NUMBER,
    NOT_FINITE,
    TOO_LARGE,
    TOO_PRECISE,
    parse_amount,
    parse_decimal,
)

LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", Decimal("1")),
        ("0.010", Decimal("0.010")),
        ("-2.5", Decimal("-2.5")),
        (".5", Decimal("0.5")),
        ("1e3", Decimal("1000")),
        ("999999999999999999", Decimal("999999999999999999")),
        ("0.000000000000000001", Decimal("1e-18")),
        ("1.50000000000000000000000", Decimal("1.5")),
        (7, Decimal(7)),
        (0.25, Decimal("0.25")),
        (Decimal("12.30"), Decimal("12.30")),
    ],
)
def test_plain_numbers_are_read_exactly(raw: object, expected: Decimal) -> None:
    assert parse_decimal(raw) == expected


def test_zero_padding_beyond_the_fraction_bound_is_dropped_not_refused() -> None:
    assert str(parse_decimal("1.50000000000000000000000")) == "1.500000000000000000"
    assert str(parse_decimal("0E-999")) == "0"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1e30", TOO_LARGE),
        ("1e400", TOO_LARGE),
        ("1000000000000000000", TOO_LARGE),
        (10**18, TOO_LARGE),
        ("NaN", NOT_FINITE),
        ("-Infinity", NOT_FINITE),
        ("inf", NOT_FINITE),
        (math.nan, NOT_FINITE),
        (math.inf, NOT_FINITE),
        (Decimal("sNaN"), NOT_FINITE),
        ("0.0000000000000000001", TOO_PRECISE),
        (Decimal("1e-30"), TOO_PRECISE),
        ("abc", NOT_A_NUMBER),
        ("", NOT_A_NUMBER),
        (" 1", NOT_A_NUMBER),
        ("1_000", NOT_A_NUMBER),
        ("0x10", NOT_A_NUMBER),
        ("\u0661", NOT_A_NUMBER),  # an Arabic-Indic digit: Decimal() would accept it
        ("1e1234567", NOT_A_NUMBER),  # an exponent of more than six digits
        (True, NOT_A_NUMBER),
        (None, NOT_A_NUMBER),
        ([1], NOT_A_NUMBER),
    ],
)
def test_what_is_not_a_sane_number_is_refused_with_its_reason(raw: object, reason: str) -> None:
    with pytest.raises(InvalidNumberError) as refused:
        parse_decimal(raw)
    assert refused.value.reason == reason


def test_overlong_text_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidNumberError, match="longer than 64"):
        parse_decimal("0" * 65)


@given(st.one_of(st.text(max_size=80), st.floats(), st.integers(), st.decimals(allow_nan=True)))
def test_any_input_gives_a_bounded_finite_decimal_or_a_refusal(raw: object) -> None:
    try:
        value = parse_decimal(raw)
    except InvalidNumberError:
        return
    assert value.is_finite()
    assert abs(value) < LIMIT
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    assert exponent >= -MAX_FRACTION_DIGITS


@given(
    st.decimals(
        min_value=-LIMIT + 1,
        max_value=LIMIT - 1,
        places=MAX_FRACTION_DIGITS,
        allow_nan=False,
        allow_infinity=False,
    )
)
def test_every_number_within_the_bounds_round_trips_through_its_text(value: Decimal) -> None:
    assert parse_decimal(format(value, "f")) == value
    assert parse_decimal(str(value)) == value


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1e30", "invalid quantity '1e30': too large"),
        ("NaN", "invalid quantity 'NaN': not a finite number"),
        ("abc", "invalid quantity 'abc': not a number"),
        ("-1", "invalid quantity '-1': must be a positive number"),
        ("0", "invalid quantity '0': must be a positive number"),
    ],
)
def test_amounts_typed_by_a_person_must_be_positive_and_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(InvalidNumberError) as refused:
        parse_amount(text, "quantity")
    assert str(refused.value).startswith(fragment)
    assert "\n" not in str(refused.value)


def test_a_good_amount_is_returned_exactly() -> None:
    assert parse_amount("0.0129", "quantity") == Decimal("0.0129")
