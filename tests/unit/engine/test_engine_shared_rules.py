"""The engine applies the domain's order rules and rounding, so it refuses exactly what the client would."""

from __future__ import annotations

from decimal import Decimal

import pytest
from enginekit import BTC_LINEAR, SYMBOL, T0, D, make_engine, market, set_book
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.errors import BybitAPIError
from bst.domain.market import Category, Side
from bst.domain.order_rules import OrderRule, check_order
from bst.domain.orders import OrderRequest, OrderType

# Bybit's answer to each instrument rule on a linear symbol.
LINEAR_CODES = {
    OrderRule.QTY_INVALID: 10001,
    OrderRule.QTY_OFF_STEP: 10001,
    OrderRule.QTY_BELOW_MIN: 10001,
    OrderRule.QTY_ABOVE_MAX: 10001,
    OrderRule.PRICE_INVALID: 10001,
    OrderRule.PRICE_OFF_TICK: 10001,
    OrderRule.PRICE_BELOW_MIN: 110003,
    OrderRule.PRICE_ABOVE_MAX: 110003,
    OrderRule.NOTIONAL_BELOW_MIN: 110094,
}


@given(
    qty=st.decimals(min_value=Decimal("-1"), max_value=Decimal("2000"), places=4),
    price=st.decimals(min_value=Decimal("-1"), max_value=Decimal("2500000"), places=2),
    side=st.sampled_from(list(Side)),
    is_market=st.booleans(),
)
def test_the_engine_refuses_exactly_what_the_shared_rules_refuse(
    qty: Decimal, price: Decimal, side: Side, is_market: bool
) -> None:
    engine = make_engine()  # no book and no prices: no band, no margin limit in reach
    uid = engine.open_account({"USDT": D(10) ** 12})
    limit_price = None if is_market else price
    request = OrderRequest(
        Category.LINEAR, SYMBOL, side, OrderType.MARKET if is_market else OrderType.LIMIT, qty, limit_price
    )
    violation = check_order(BTC_LINEAR, qty, limit_price, side=side, market=is_market)

    if violation is None:
        engine.place_order(uid, request)  # accepted: raises nothing
        return
    with pytest.raises(BybitAPIError) as refused:
        engine.place_order(uid, request)
    assert refused.value.ret_code == LINEAR_CODES[violation.rule]


def test_market_protection_rounds_inside_the_band_on_both_sides() -> None:
    engine = make_engine(slippage="0.05")
    uid = engine.open_account({"USDT": D(100_000)})
    engine.on_mark_price(SYMBOL, D("50000.3"), T0)
    set_book(engine, [("40000", "1")], [("60000", "1")])  # nothing inside the band: both cancel unfilled

    engine.place_order(uid, market(Side.BUY, "0.01"))
    engine.place_order(uid, market(Side.SELL, "0.01"))

    limits = {o.side: o.price for o in engine.closed_orders(uid, Category.LINEAR)}
    # 50000.3 x 1.05 = 52500.315 -> down to 52500.3; 50000.3 x 0.95 = 47500.285 -> up to 47500.3
    assert limits == {Side.BUY: D("52500.3"), Side.SELL: D("47500.3")}
