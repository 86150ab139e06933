"""Orders are rounded to the instrument's grid and refused locally when they break its limits."""

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.errors import OrderValidationError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Side
from bst.domain.order_rules import new_order_link_id, prepare_order
from bst.domain.orders import OrderRequest, OrderType, TimeInForce

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
)


def limit(side: Side, qty: str, price: str, link: str = "") -> OrderRequest:
    return OrderRequest(
        Category.LINEAR, "BTCUSDT", side, OrderType.LIMIT, Decimal(qty), Decimal(price), TimeInForce.GTC, link
    )


def test_prices_round_toward_the_passive_side_and_qty_down() -> None:
    buy = prepare_order(limit(Side.BUY, "0.0129", "50000.09"), BTC)
    sell = prepare_order(limit(Side.SELL, "0.0129", "50000.01"), BTC)
    assert (buy.qty, buy.price) == (Decimal("0.012"), Decimal("50000.0"))
    assert (sell.qty, sell.price) == (Decimal("0.012"), Decimal("50000.1"))


def test_an_order_link_id_is_always_attached_and_kept_when_given() -> None:
    generated = prepare_order(limit(Side.BUY, "0.01", "50000"), BTC).order_link_id
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,36}", generated)
    assert prepare_order(limit(Side.BUY, "0.01", "50000", "my-id_1"), BTC).order_link_id == "my-id_1"
    assert new_order_link_id() != new_order_link_id()


@pytest.mark.parametrize(
    ("req", "fragment"),
    [
        (limit(Side.BUY, "0.0004", "50000"), "below the minimum 0.001"),
        (limit(Side.BUY, "0.001", "1000"), "minimum notional"),
        (limit(Side.BUY, "101", "50000"), "above the maximum 100"),
        (limit(Side.BUY, "0.01", "50000", "bad id!"), "orderLinkId"),
        (limit(Side.BUY, "0.01", "50000", "x" * 37), "orderLinkId"),
    ],
)
def test_orders_breaking_the_rules_are_refused_locally(req: OrderRequest, fragment: str) -> None:
    with pytest.raises(OrderValidationError, match=fragment):
        prepare_order(req, BTC)


def test_market_orders_use_the_market_quantity_limit() -> None:
    req = OrderRequest(Category.LINEAR, "BTCUSDT", Side.SELL, OrderType.MARKET, Decimal("60"))
    with pytest.raises(OrderValidationError, match="above the maximum 50"):
        prepare_order(req, BTC)


@given(
    qty=st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99"), places=6),
    price=st.decimals(min_value=Decimal("100"), max_value=Decimal("100000"), places=4),
    side=st.sampled_from(list(Side)),
)
def test_prepared_orders_are_on_the_grid_and_never_more_aggressive(
    qty: Decimal, price: Decimal, side: Side
) -> None:
    try:
        out = prepare_order(limit(side, str(qty), str(price)), BTC)
    except OrderValidationError:
        return
    assert out.price is not None
    assert out.price % BTC.tick_size == 0
    assert out.qty % BTC.qty_step == 0
    assert out.qty <= qty
    assert (out.price <= price) if side is Side.BUY else (out.price >= price)
