"""The order-status state machine, orderLinkId rule, and the position/PnL/margin arithmetic."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bst.domain.market import Category, Side
from bst.domain.orders import (
    LEGAL_TRANSITIONS,
    OrderStatus,
    cancelled_status,
    check_order_link_id,
    is_legal_transition,
)
from bst.domain.portfolio import (
    apply_fill,
    average_price,
    bankruptcy_price,
    funding_fee,
    order_cost,
    proportional_cost,
    round_to_tick,
    unrealised_pnl,
)

D = Decimal


def test_every_status_has_its_exits_and_terminal_ones_have_none() -> None:
    assert set(LEGAL_TRANSITIONS) == {None, *OrderStatus}
    for status in OrderStatus:
        assert (LEGAL_TRANSITIONS[status] == frozenset()) is status.is_terminal
        assert status.is_open is not status.is_terminal


def test_legal_and_illegal_transitions() -> None:
    assert is_legal_transition(None, OrderStatus.FILLED)  # a taker filled at once
    assert is_legal_transition(OrderStatus.CREATED, OrderStatus.NEW)
    assert is_legal_transition(OrderStatus.NEW, OrderStatus.NEW)  # amended
    assert is_legal_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.PARTIALLY_FILLED_CANCELED)
    assert is_legal_transition(OrderStatus.UNTRIGGERED, OrderStatus.TRIGGERED)
    assert not is_legal_transition(OrderStatus.FILLED, OrderStatus.CANCELLED)
    assert not is_legal_transition(OrderStatus.CANCELLED, OrderStatus.NEW)
    assert not is_legal_transition(OrderStatus.PARTIALLY_FILLED, OrderStatus.NEW)
    assert not is_legal_transition(OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED_CANCELED)
    assert not is_legal_transition(OrderStatus.NEW, OrderStatus.CREATED)


def test_cancelled_status_depends_on_category_and_fills() -> None:
    assert cancelled_status(Category.SPOT, D("0.1")) is OrderStatus.PARTIALLY_FILLED_CANCELED
    assert cancelled_status(Category.SPOT, D(0)) is OrderStatus.CANCELLED
    assert cancelled_status(Category.LINEAR, D("0.1")) is OrderStatus.CANCELLED


def test_order_link_id_rule() -> None:
    assert check_order_link_id("a" * 36) is None
    assert check_order_link_id("Bot_1-x") is None
    for bad in ("", "a" * 37, "has space", "dot.ted", "ünï"):
        assert check_order_link_id(bad) is not None


def test_order_cost_matches_bybits_worked_example() -> None:
    # Bybit help "Order Cost": 1 BTC long at 50,000 with 10x and 0.06 % taker = 5,000 + 30 + 27
    assert order_cost(Side.BUY, D(1), D(50_000), D(10), D("0.0006")) == D("5057")
    # a short closes at 55,000 (1 + 1/10): 5,000 + 30 + 33
    assert order_cost(Side.SELL, D(1), D(50_000), D(10), D("0.0006")) == D("5063")


def test_small_helpers() -> None:
    assert bankruptcy_price(D(1), D(50_000), D(10)) == D(45_000)
    assert bankruptcy_price(D(-1), D(50_000), D(10)) == D(55_000)
    assert unrealised_pnl(D("-0.5"), D(25_000), D(49_000)) == D(500)
    assert funding_fee(D("-2"), D(50_000), D("0.0001")) == D(-10)
    assert round_to_tick(D("123.456"), D("0.05"), up=True) == D("123.50")
    assert round_to_tick(D("123.456"), D("0.05"), up=False) == D("123.45")
    assert average_price(D("150.0005"), D("0.003")) == D("50000.16666667")
    assert average_price(D("150006"), D(-3)) == D(50002)
    assert proportional_cost(D(10), D(1), D(4)) == D("2.5")  # exact division stays exact
    assert proportional_cost(D(10), D(1), D(3)) == D("3.33333333")


def test_apply_fill_opens_adds_reduces_and_flips() -> None:
    opened = apply_fill(D(0), D(0), Side.BUY, D(1), D(100))
    added = apply_fill(opened.size, opened.entry_value, Side.BUY, D(1), D(110))
    reduced = apply_fill(added.size, added.entry_value, Side.SELL, D("0.5"), D(120))
    flipped = apply_fill(reduced.size, reduced.entry_value, Side.SELL, D(2), D(90))
    assert (added.size, added.entry_value) == (D(2), D(210))
    assert (reduced.size, reduced.entry_value, reduced.closed_size, reduced.realised_pnl) == (
        D("1.5"),
        D("157.5"),
        D("0.5"),
        D("7.5"),
    )
    assert (flipped.size, flipped.entry_value, flipped.closed_size, flipped.realised_pnl) == (
        D("-0.5"),
        D("45"),
        D("1.5"),
        D("-22.5"),
    )


fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=5_000).map(lambda n: D(n) / 1000),
        st.integers(min_value=1, max_value=200_000).map(lambda n: D(n) / 10),
    ),
    max_size=30,
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(fills)
def test_position_accounting_is_exact_for_any_fill_sequence(sequence: list[tuple[Side, D, D]]) -> None:
    size = entry = realised = cash = D(0)
    for side, qty, price in sequence:
        effect = apply_fill(size, entry, side, qty, price)
        assert effect.closed_size <= qty
        assert effect.entry_value >= 0
        assert (effect.entry_value == 0) == (effect.size == 0)
        size, entry = effect.size, effect.entry_value
        realised += effect.realised_pnl
        cash += -qty * price if side is Side.BUY else qty * price
    assert size == sum(((q if s is Side.BUY else -q) for s, q, _ in sequence), D(0))
    # every unit of cost either still sits in the position or has left through realised PnL
    signed_entry = entry if size >= 0 else -entry
    assert realised == cash + signed_entry
