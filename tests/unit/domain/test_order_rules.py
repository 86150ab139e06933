"""The instrument's order rules: one typed violation per broken rule, exact at any size, never raising."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.instrument import Instrument, on_step, to_step
from bst.domain.market import Category, Side
from bst.domain.order_rules import (
    OrderRule,
    RuleViolation,
    check_order,
    check_price,
    check_tpsl,
)

D = Decimal
BTC = Instrument(
    symbol="BTCUSDT",
    category=Category.LINEAR,
    status="Trading",
    base_coin="BTC",
    quote_coin="USDT",
    settle_coin="USDT",
    tick_size=D("0.10"),
    qty_step=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("100"),
    max_market_qty=D("50"),
    min_notional=D("5"),
    min_price=D("0.10"),
    max_price=D("199999.80"),
)


@pytest.mark.parametrize(
    ("qty", "price", "market", "expected"),
    [
        ("0.0001", "50000", False, RuleViolation(OrderRule.QTY_OFF_STEP, "BTCUSDT", D("0.0001"), D("0.001"))),
        ("0", "50000", False, RuleViolation(OrderRule.QTY_INVALID, "BTCUSDT", D("0"))),
        ("60", None, True, RuleViolation(OrderRule.QTY_ABOVE_MAX, "BTCUSDT", D("60"), D("50"))),
        ("101", "50000", False, RuleViolation(OrderRule.QTY_ABOVE_MAX, "BTCUSDT", D("101"), D("100"))),
        ("0.001", "1000", False, RuleViolation(OrderRule.NOTIONAL_BELOW_MIN, "BTCUSDT", D("1.000"), D("5"))),
        (
            "1",
            "300000",
            False,
            RuleViolation(OrderRule.PRICE_ABOVE_MAX, "BTCUSDT", D("300000"), D("199999.80")),
        ),
        ("1", "0.05", False, RuleViolation(OrderRule.PRICE_OFF_TICK, "BTCUSDT", D("0.05"), D("0.10"))),
        ("1", "-1", False, RuleViolation(OrderRule.PRICE_INVALID, "BTCUSDT", D("-1"))),
        ("1", "NaN", False, RuleViolation(OrderRule.PRICE_INVALID, "BTCUSDT", D("NaN"))),
        ("1e30", "50000", False, RuleViolation(OrderRule.QTY_ABOVE_MAX, "BTCUSDT", D("1e30"), D("100"))),
        (
            "1",
            "1e400",
            False,
            RuleViolation(OrderRule.PRICE_ABOVE_MAX, "BTCUSDT", D("1e400"), D("199999.80")),
        ),
        ("Infinity", "50000", False, RuleViolation(OrderRule.QTY_INVALID, "BTCUSDT", D("Infinity"))),
    ],
)
def test_each_broken_rule_is_named_with_its_value_and_bound(
    qty: str, price: str | None, market: bool, expected: RuleViolation
) -> None:
    found = check_order(BTC, D(qty), D(price) if price else None, side=Side.BUY, market=market)
    assert found is not None
    assert (found.rule, found.symbol, str(found.value), found.limit) == (
        expected.rule,
        expected.symbol,
        str(expected.value),
        expected.limit,
    )
    assert "\n" not in found.describe()


def test_a_valid_order_breaks_no_rule() -> None:
    assert check_order(BTC, D("0.01"), D("50000"), side=Side.BUY, market=False) is None
    assert check_order(BTC, D("0.01"), D("50000"), side=Side.SELL, market=False, reduce_only=True) is None


def test_reduce_only_orders_skip_the_minimum_notional() -> None:
    assert check_order(BTC, D("0.001"), D("1000"), side=Side.SELL, market=False, reduce_only=True) is None


@pytest.mark.parametrize(
    ("side", "tp", "sl", "rule"),
    [
        (Side.BUY, "49000", None, OrderRule.TAKE_PROFIT_WRONG_SIDE),
        (Side.BUY, None, "51000", OrderRule.STOP_LOSS_WRONG_SIDE),
        (Side.SELL, "51000", None, OrderRule.TAKE_PROFIT_WRONG_SIDE),
        (Side.SELL, None, "49000", OrderRule.STOP_LOSS_WRONG_SIDE),
        (Side.BUY, "1e30", None, OrderRule.TAKE_PROFIT_OUT_OF_RANGE),
        (Side.BUY, "-5", None, OrderRule.TAKE_PROFIT_OUT_OF_RANGE),
        (Side.BUY, "NaN", None, OrderRule.TAKE_PROFIT_OUT_OF_RANGE),
        (Side.SELL, None, "1e17", OrderRule.STOP_LOSS_OUT_OF_RANGE),
        (Side.SELL, None, "0.01", OrderRule.STOP_LOSS_OUT_OF_RANGE),
    ],
)
def test_take_profit_and_stop_loss_must_be_sane_and_on_their_side(
    side: Side, tp: str | None, sl: str | None, rule: OrderRule
) -> None:
    found = check_tpsl(BTC, side, D("50000"), D(tp) if tp else None, D(sl) if sl else None)
    assert found is not None
    assert found.rule is rule


def test_zero_take_profit_means_none() -> None:
    assert check_tpsl(BTC, Side.BUY, D("50000"), D(0), D(0)) is None


def test_the_band_refuses_only_the_aggressive_direction() -> None:
    band = {"reference": D("50000"), "band_ratio": D("0.1")}
    assert check_price(BTC, D("56000"), side=Side.BUY, **band) == RuleViolation(
        OrderRule.PRICE_ABOVE_BAND, "BTCUSDT", D("56000"), D("55000.0"), Side.BUY
    )
    assert check_price(BTC, D("56000"), side=Side.SELL, **band) is None
    assert check_price(BTC, D("44000"), side=Side.SELL, **band) == RuleViolation(
        OrderRule.PRICE_BELOW_BAND, "BTCUSDT", D("44000"), D("45000.0"), Side.SELL
    )
    assert check_price(BTC, D("44000"), side=Side.BUY, **band) is None


any_decimal = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-400, max_value=400).map(lambda e: D(1).scaleb(e)),
    st.integers(min_value=-400, max_value=400).map(lambda e: -D(7).scaleb(e)),
)


@given(qty=any_decimal, price=st.one_of(st.none(), any_decimal), tp=st.one_of(st.none(), any_decimal))
def test_the_rules_never_raise_whatever_the_numbers(
    qty: Decimal, price: Decimal | None, tp: Decimal | None
) -> None:
    for side in Side:
        found = check_order(BTC, qty, price, side=side, market=price is None, take_profit=tp, stop_loss=tp)
        if found is None:
            assert qty.is_finite()
            assert D("0.001") <= qty <= D("100")
        else:
            assert found.describe()


@given(value=any_decimal.filter(lambda d: d.is_finite() and abs(d.adjusted()) < 500))
def test_the_one_rounding_is_exact_at_any_size(value: Decimal) -> None:
    step = D("0.001")
    down = to_step(value, step, "ROUND_DOWN")
    assert on_step(down, step)
    assert abs(value - down) < step
