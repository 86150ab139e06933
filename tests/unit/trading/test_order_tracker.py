"""The order tracker keeps the newest truth whatever order, duplication or loss the updates suffer."""

import dataclasses
import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.domain.market import Category, Side
from bst.domain.orders import (
    ExecType,
    Execution,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
    is_legal_transition,
)
from bst.trading.order_tracker import LocalPhase, OrderTracker, TrackerError

REQ = OrderRequest(
    Category.LINEAR,
    "BTCUSDT",
    Side.BUY,
    OrderType.LIMIT,
    Decimal("1.0"),
    Decimal("50000"),
    TimeInForce.GTC,
    "link-1",
)


def order(status: OrderStatus, filled: str, t: int, link: str = "link-1", order_id: str = "oid-1") -> Order:
    cum = Decimal(filled)
    return Order(
        order_id=order_id,
        order_link_id=link,
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=Decimal("50000"),
        qty=Decimal("1.0"),
        time_in_force=TimeInForce.GTC,
        status=status,
        reject_reason="EC_NoError",
        cancel_type="UNKNOWN",
        create_type="CreateByUser",
        avg_price=Decimal("50000") if cum else None,
        leaves_qty=Decimal(0) if status.is_terminal else Decimal("1.0") - cum,
        leaves_value=Decimal(0),
        cum_exec_qty=cum,
        cum_exec_value=cum * 50000,
        cum_exec_fee=Decimal(0),
        fee_currency="USDT",
        reduce_only=False,
        close_on_trigger=False,
        position_idx=0,
        created_time_ms=1,
        updated_time_ms=t,
    )


def fill(exec_id: str, qty: str, link: str = "link-1") -> Execution:
    return Execution(
        exec_id=exec_id,
        order_id="oid-1",
        order_link_id=link,
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        order_price=Decimal("50000"),
        order_qty=Decimal("1.0"),
        leaves_qty=Decimal(0),
        exec_type=ExecType.TRADE,
        exec_price=Decimal("50000"),
        exec_qty=Decimal(qty),
        exec_value=Decimal(qty) * 50000,
        exec_fee=Decimal(0),
        fee_rate=Decimal("0.0002"),
        fee_currency="USDT",
        is_maker=True,
        closed_size=Decimal(0),
        exec_pnl=Decimal(0),
        exec_time_ms=1,
        seq=1,
    )


def test_happy_path_from_register_to_filled() -> None:
    tracker = OrderTracker()
    tracked = tracker.register(REQ, 0)
    tracker.mark_sent("link-1", 1)
    assert tracker.unresolved() == [tracked]
    tracker.mark_acked("link-1", "oid-1", 2)
    assert tracker.on_order(order(OrderStatus.NEW, "0", 3), 3)
    assert tracker.on_execution(fill("e1", "0.4"), 4)
    assert tracker.on_order(order(OrderStatus.PARTIALLY_FILLED, "0.4", 4), 4)
    assert tracker.on_execution(fill("e2", "0.6"), 5)
    assert tracker.on_order(order(OrderStatus.FILLED, "1.0", 5), 5)
    assert tracked.is_done
    assert tracked.filled_qty == Decimal("1.0")
    assert tracker.unresolved() == []
    assert tracker.by_order_id("oid-1") is tracked


def test_a_lost_reply_leaves_the_order_unknown_until_the_exchange_answers() -> None:
    tracker = OrderTracker()
    tracked = tracker.register(REQ, 0)
    tracker.mark_sent("link-1", 1)
    tracker.mark_unknown("link-1", "timeout", 2)
    assert tracked.phase is LocalPhase.UNKNOWN
    assert tracked in tracker.open_orders()
    # The private stream (or a REST query by orderLinkId) resolves it.
    assert tracker.on_order(order(OrderStatus.NEW, "0", 3), 3)
    assert tracked.phase is LocalPhase.EXCHANGE
    assert tracked.order_id == "oid-1"


def test_not_found_allows_a_safe_resend_with_the_same_link_id() -> None:
    tracker = OrderTracker()
    tracker.register(REQ, 0)
    tracker.mark_sent("link-1", 1)
    tracker.mark_unknown("link-1", "dropped", 2)
    tracker.mark_not_found("link-1", 3)
    assert tracker.get("link-1").phase is LocalPhase.NOT_FOUND  # type: ignore[union-attr]
    again = tracker.register(REQ, 4)
    assert again.phase is LocalPhase.PENDING


def test_duplicate_registration_is_refused() -> None:
    tracker = OrderTracker()
    tracker.register(REQ, 0)
    with pytest.raises(TrackerError, match="already tracked"):
        tracker.register(REQ, 1)
    with pytest.raises(TrackerError, match="orderLinkId"):
        tracker.register(dataclasses.replace(REQ, order_link_id=""), 1)


def test_missing_fills_are_detected_and_duplicates_ignored() -> None:
    tracker = OrderTracker()
    tracked = tracker.register(REQ, 0)
    tracker.on_order(order(OrderStatus.FILLED, "1.0", 5), 5)
    tracker.on_execution(fill("e1", "0.4"), 5)
    assert not tracker.on_execution(fill("e1", "0.4"), 6)
    assert tracked.missing_fill_qty == Decimal("0.6")
    assert tracker.with_missing_fills() == [tracked]
    assert not tracked.is_done
    tracker.on_execution(fill("e2", "0.6"), 7)
    assert tracked.is_done


def test_updates_for_unknown_orders_are_counted_not_applied() -> None:
    tracker = OrderTracker()
    assert not tracker.on_order(order(OrderStatus.NEW, "0", 1, link="other", order_id="x"), 1)
    assert not tracker.on_execution(fill("e9", "1", link="other"), 1)
    assert tracker.ignored_updates == 2


LIFECYCLE = [
    order(OrderStatus.NEW, "0", 10),
    order(OrderStatus.PARTIALLY_FILLED, "0.3", 20),
    order(OrderStatus.PARTIALLY_FILLED, "0.7", 30),
    order(OrderStatus.CANCELLED, "0.7", 40),
]


@given(st.lists(st.sampled_from(range(len(LIFECYCLE))), min_size=1, max_size=12))
def test_any_order_of_delivery_converges_on_the_newest_update(indices: list[int]) -> None:
    tracker = OrderTracker()
    tracked = tracker.register(REQ, 0)
    seen: list[OrderStatus] = []
    for i in indices:
        if tracker.on_order(LIFECYCLE[i], i):
            seen.append(LIFECYCLE[i].status)
    newest = max(indices)
    assert tracked.order == LIFECYCLE[newest]
    # The statuses the tracker accepted form a legal Bybit sequence with non-decreasing fills.
    for before, after in itertools.pairwise(seen):
        assert before == after or is_legal_transition(before, after)
