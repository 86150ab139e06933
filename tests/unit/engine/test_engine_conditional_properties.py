"""Property tests of conditional orders: an untriggered order never fills; a reached trigger fires once.

Each example places conditional orders (market or limit, buy or sell, rising or falling, on the last,
mark or index price) at valid distances from the watched price, then moves the three prices at
random, amends triggers and cancels orders. A model replays the same prices and says, after every
step, which orders must have fired. The engine must agree exactly: `Triggered` reported once, at the
step where the watched price first reached the trigger, never for a cancelled order (`Deactivated`),
and no execution of any order before its trigger fired.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pytest
from enginekit import SYMBOL, D, make_engine, set_book
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bst.domain.account_events import ExecutionsEvent, OrdersEvent
from bst.domain.errors import BybitOrderError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    OrderRequest,
    OrderStatus,
    OrderType,
    TriggerBy,
    TriggerDirection,
    is_legal_transition,
)
from bst.engine import MatchingEngine

LINEAR = Category.LINEAR
MID = D(50_000)
STEP = D(10)
OPENING = D(10_000_000)
WATCHED = [TriggerBy.LAST_PRICE, TriggerBy.MARK_PRICE, TriggerBy.INDEX_PRICE]

offsets = st.integers(min_value=-40, max_value=40)
places = st.tuples(
    st.just("place"),
    st.sampled_from(WATCHED),
    st.sampled_from([TriggerDirection.RISE, TriggerDirection.FALL]),
    st.integers(min_value=1, max_value=25),  # distance from the watched price, in steps
    st.sampled_from([OrderType.MARKET, OrderType.LIMIT]),
    st.sampled_from([Side.BUY, Side.SELL]),
)
moves = st.one_of(
    st.tuples(st.just("trade"), offsets),
    st.tuples(st.just("mark"), offsets, st.one_of(st.none(), offsets)),
)
edits = st.one_of(
    st.tuples(st.just("touch"), st.integers(0, 30)),  # move a watched price exactly onto a trigger
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("amend"), st.integers(0, 30), st.integers(min_value=1, max_value=25)),
)
actions = st.one_of(places, moves, moves, moves, edits)


@dataclass
class Expected:
    """What the model says about one accepted conditional order."""

    order_id: str
    trigger: Decimal
    direction: TriggerDirection
    by: TriggerBy
    fired_at: int | None = None
    cancelled: bool = False

    @property
    def waiting(self) -> bool:
        return self.fired_at is None and not self.cancelled


class Model:
    """The watched prices and the orders that must have fired."""

    def __init__(self) -> None:
        self.prices = dict.fromkeys(WATCHED, MID)
        self.orders: list[Expected] = []

    def move(self, step: int) -> None:
        for order in self.orders:
            price = self.prices[order.by]
            rise = order.direction is TriggerDirection.RISE
            if order.waiting and (price >= order.trigger if rise else price <= order.trigger):
                order.fired_at = step

    def trigger_for(self, by: TriggerBy, direction: TriggerDirection, distance: int) -> Decimal:
        sign = 1 if direction is TriggerDirection.RISE else -1
        return self.prices[by] + sign * distance * STEP


def run_program(program: list[tuple[object, ...]]) -> Model:
    """Run `program` on a fresh engine, check it against the model, and return the model."""
    engine = make_engine()
    bids = [(str(MID - 5 - 10 * i), "50") for i in range(60)]
    asks = [(str(MID + 5 + 10 * i), "50") for i in range(60)]
    set_book(engine, bids=bids, asks=asks)
    engine.on_trade(SYMBOL, MID, D("0.01"), Side.SELL, engine.now_ms)
    engine.on_mark_price(SYMBOL, MID, engine.now_ms, index_price=MID)
    uid = engine.open_account({"USDT": OPENING})
    engine.drain_events()
    model = Model()
    seen: dict[str, list[tuple[int, OrderStatus]]] = defaultdict(list)
    first_fill: dict[str, int] = {}

    for step, action in enumerate(program):
        act(engine, uid, model, step, action)
        for message in engine.drain_events():
            event = message.event
            if isinstance(event, OrdersEvent):
                for order in event.orders:
                    seen[order.order_id].append((step, order.status))
            elif isinstance(event, ExecutionsEvent):
                for execution in event.executions:
                    first_fill.setdefault(execution.order_id, step)

    for order in model.orders:
        history = seen[order.order_id]
        triggered = [at for at, status in history if status is OrderStatus.TRIGGERED]
        assert triggered == ([] if order.fired_at is None else [order.fired_at]), order
        previous: OrderStatus | None = None
        for _, status in history:
            assert is_legal_transition(previous, status), (previous, status)
            previous = status
        if order.fired_at is None:
            assert order.order_id not in first_fill  # an untriggered order never fills
            assert previous is (OrderStatus.DEACTIVATED if order.cancelled else OrderStatus.UNTRIGGERED)
        elif order.order_id in first_fill:
            assert first_fill[order.order_id] >= order.fired_at
    assert {
        o.order_id
        for o in engine.open_orders(uid, LINEAR, symbol=SYMBOL)
        if o.status is OrderStatus.UNTRIGGERED
    } == {o.order_id for o in model.orders if o.waiting}
    check_ledger_and_releases(engine, uid)
    return model


def check_ledger_and_releases(engine: MatchingEngine, uid: int) -> None:
    """The wallet equals the opening balance plus every fill's PnL minus its fee; cancelling every
    order (waiting ones too) leaves no order margin behind."""
    booked = sum((e.exec_pnl - e.exec_fee for e in engine.executions(uid, LINEAR)), D(0))
    engine.cancel_all(uid, LINEAR, symbol=SYMBOL)
    usdt = engine.wallet(uid, coins=["USDT"]).coin("USDT")
    assert usdt is not None
    assert usdt.wallet_balance == OPENING + booked
    assert usdt.total_order_im == 0
    assert engine.open_orders(uid, LINEAR, symbol=SYMBOL) == []


def price_move(model: Model, action: tuple[object, ...]) -> tuple[TriggerBy, Decimal, Decimal | None] | None:
    """Return which price a market action moves (LAST: a trade; MARK: mark and maybe index) and to what."""
    kind = action[0]
    if kind == "trade":
        return TriggerBy.LAST_PRICE, MID + int(action[1]) * STEP, None
    if kind == "mark":
        index = None if action[2] is None else MID + int(action[2]) * STEP
        return TriggerBy.MARK_PRICE, MID + int(action[1]) * STEP, index
    if kind == "touch":
        waiting = [o for o in model.orders if o.waiting]
        if not waiting:
            return None
        target = waiting[int(action[1]) % len(waiting)]
        if target.by is TriggerBy.LAST_PRICE:
            return TriggerBy.LAST_PRICE, target.trigger, None
        if target.by is TriggerBy.MARK_PRICE:
            return TriggerBy.MARK_PRICE, target.trigger, None
        return TriggerBy.MARK_PRICE, model.prices[TriggerBy.MARK_PRICE], target.trigger
    return None


def act(engine: MatchingEngine, uid: int, model: Model, step: int, action: tuple[object, ...]) -> None:
    now = engine.now_ms + 1
    kind = action[0]
    if kind in ("trade", "mark", "touch"):
        move = price_move(model, action)
        if move is None:
            return
        by, price, index = move
        if by is TriggerBy.LAST_PRICE:
            engine.on_trade(SYMBOL, price, D("0.01"), Side.BUY, now)
            model.prices[TriggerBy.LAST_PRICE] = price
        else:
            engine.on_mark_price(SYMBOL, price, now, index_price=index)
            model.prices[TriggerBy.MARK_PRICE] = price
            if index is not None:
                model.prices[TriggerBy.INDEX_PRICE] = index
        model.move(step)
    elif kind == "place":
        _, by, direction, distance, order_type, side = action
        assert isinstance(by, TriggerBy)
        assert isinstance(direction, TriggerDirection)
        assert isinstance(order_type, OrderType)
        assert isinstance(side, Side)
        assert isinstance(distance, int)
        trigger = model.trigger_for(by, direction, distance)
        request = OrderRequest(
            LINEAR,
            SYMBOL,
            side,
            order_type,
            D("0.01"),
            trigger if order_type is OrderType.LIMIT else None,
            trigger_price=trigger,
            trigger_direction=direction,
            trigger_by=by,
        )
        if sum(o.waiting for o in model.orders) >= 10:  # Bybit's cap per symbol
            with pytest.raises(BybitOrderError, match="number of stop orders"):
                engine.place_order(uid, request)
            return
        ack = engine.place_order(uid, request)
        model.orders.append(Expected(ack.order_id, trigger, direction, by))
    else:
        waiting = [o for o in model.orders if o.waiting]
        if not waiting:
            return
        order = waiting[int(action[1]) % len(waiting)]
        if kind == "cancel":
            engine.cancel_order(uid, LINEAR, SYMBOL, order_id=order.order_id)
            order.cancelled = True
            return
        trigger = model.trigger_for(order.by, order.direction, int(action[2]))
        if trigger == order.trigger:
            return
        engine.amend_order(uid, AmendRequest(LINEAR, SYMBOL, order_id=order.order_id, trigger_price=trigger))
        order.trigger = trigger


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=5, max_size=60))
def test_triggers_fire_exactly_once_when_reached_and_untriggered_orders_never_fill(
    program: list[tuple[object, ...]],
) -> None:
    run_program(program)


def test_a_long_walk_fires_every_reachable_trigger() -> None:
    """A deterministic walk up and down through every trigger: all of them must fire, once each."""
    program: list[tuple[object, ...]] = []
    for by in WATCHED:
        for direction in (TriggerDirection.RISE, TriggerDirection.FALL):
            program.append(("place", by, direction, 3, OrderType.MARKET, Side.BUY))
    program += [("trade", 5), ("mark", 5, 5), ("trade", -5), ("mark", -5, -5)]
    model = run_program(program)
    assert [o.fired_at for o in model.orders] == [6, 8, 7, 9, 7, 9]
