"""Intervals, bar alignment and instrument rounding."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.errors import ConfigError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Interval


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
