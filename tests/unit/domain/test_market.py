"""Intervals, bar alignment and instrument rounding."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.errors import ConfigError
from bst.domain.instrument import Instrument
from bst.domain.market import MARKET_DATA_CATEGORIES, Category, Interval, parse_symbol


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("1", Interval.M1),
        ("60", Interval.H1),
        ("D", Interval.D1),
        ("d", Interval.D1),
        ("1h", Interval.H1),
        ("W", Interval.W1),
        ("M", Interval.MN1),
        ("1M", Interval.MN1),
        ("720", Interval.H12),
    ],
)
def test_interval_parse(text: str, interval: Interval) -> None:
    assert Interval.parse(text) is interval


@pytest.mark.parametrize("bad", ["2", "7", "0", "H", "abc", ""])
def test_interval_parse_rejects_what_bybit_lacks(bad: str) -> None:
    with pytest.raises(ConfigError, match="invalid interval"):
        Interval.parse(bad)


def test_week_bars_open_on_monday_and_month_bars_on_the_first() -> None:
    wed = ms(2024, 1, 3, 15, 30)
    assert Interval.W1.open_time_ms(wed) == ms(2024, 1, 1)
    assert Interval.MN1.open_time_ms(wed) == ms(2024, 1, 1)
    assert Interval.MN1.next_open_ms(ms(2024, 12, 1)) == ms(2025, 1, 1)
    assert Interval.MN1.next_open_ms(ms(2024, 2, 1)) == ms(2024, 3, 1)
    assert Interval.H4.open_time_ms(ms(2024, 1, 3, 15, 30)) == ms(2024, 1, 3, 12)


@given(st.integers(min_value=0, max_value=4_102_444_800_000), st.sampled_from(list(Interval)))
def test_open_time_contains_the_timestamp(ts: int, interval: Interval) -> None:
    start = interval.open_time_ms(ts)
    assert start <= ts < interval.next_open_ms(start)
    assert interval.open_time_ms(start) == start


@given(
    st.integers(min_value=86_400_000 * 400, max_value=4_102_444_800_000),
    st.sampled_from(list(Interval)),
    st.integers(min_value=0, max_value=40),
)
def test_step_back_is_the_inverse_of_next_open(ts: int, interval: Interval, count: int) -> None:
    start = interval.open_time_ms(ts)
    back = interval.step_back(start, count)
    assert interval.open_time_ms(back) == back
    forward = back
    for _ in range(count):
        forward = interval.next_open_ms(forward)
    assert forward == start


def test_step_back_crosses_months_of_different_lengths() -> None:
    assert Interval.MN1.step_back(ms(2024, 3, 1), 2) == ms(2024, 1, 1)
    assert Interval.MN1.step_back(ms(2024, 1, 1), 1) == ms(2023, 12, 1)
    assert Interval.H1.step_back(ms(2024, 1, 1), 3) == ms(2023, 12, 31, 21)
    assert Interval.W1.step_back(ms(2024, 1, 1), 0) == ms(2024, 1, 1)


@pytest.mark.parametrize(
    ("text", "category"),
    [("linear", Category.LINEAR), (" Spot ", Category.SPOT), ("INVERSE", Category.INVERSE)],
)
def test_category_parse_ignores_case_and_spaces(text: str, category: Category) -> None:
    assert Category.parse(text) is category
    assert Category.parse(text, MARKET_DATA_CATEGORIES) is category


def test_category_parse_names_the_choices_in_one_message() -> None:
    with pytest.raises(ConfigError) as everything:
        Category.parse("futures")
    assert str(everything.value) == "invalid category 'futures': use spot, linear, inverse or option"
    assert Category.parse("Option") is Category.OPTION
    with pytest.raises(ConfigError) as market_data:
        Category.parse("option", MARKET_DATA_CATEGORIES)
    assert str(market_data.value) == "invalid category 'option': use spot, linear or inverse"


@pytest.mark.parametrize(
    ("text", "symbol"),
    [
        ("btcusdt", "BTCUSDT"),
        (" ETHUSDT ", "ETHUSDT"),
        ("btc-26jun24", "BTC-26JUN24"),
        ("1000PEPEUSDT", "1000PEPEUSDT"),
    ],
)
def test_parse_symbol_spells_symbols_as_bybit_does(text: str, symbol: str) -> None:
    assert parse_symbol(text) == symbol


@pytest.mark.parametrize("bad", ["", "  ", "BTC USDT", "BTC/USDT", "-BTC", "x" * 41])
def test_parse_symbol_refuses_what_cannot_be_a_symbol(bad: str) -> None:
    with pytest.raises(ConfigError, match="invalid symbol"):
        parse_symbol(bad)


BTC = Instrument(
    symbol="BTCUSDT",
    category=Category.LINEAR,
    status="Trading",
    base_coin="BTC",
    quote_coin="USDT",
    settle_coin="USDT",
    tick_size=Decimal("0.10"),
    qty_step=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    max_qty=Decimal("100"),
    max_market_qty=Decimal("50"),
    min_notional=Decimal("5"),
    min_price=Decimal("0.10"),
    max_price=Decimal("199999.80"),
)


def test_rounding_to_tick_and_lot() -> None:
    assert BTC.round_price(Decimal("50000.06")) == Decimal("50000.1")
    assert BTC.round_qty(Decimal("0.0129")) == Decimal("0.012")


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=6))
def test_rounded_values_sit_on_the_grid(value: Decimal) -> None:
    price = BTC.round_price(value)
    qty = BTC.round_qty(value)
    assert price % BTC.tick_size == 0
    assert abs(price - value) <= BTC.tick_size / 2
    assert qty % BTC.qty_step == 0
    assert Decimal(0) <= value - qty < BTC.qty_step
