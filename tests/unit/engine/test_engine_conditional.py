"""Conditional (trigger) orders on linear BTCUSDT: waiting, triggering, amend/cancel, refusals, TP/SL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

import pytest
from enginekit import SYMBOL, D, fills_of, limit, make_engine, market, order_updates, set_book, statuses

from bst.domain.errors import BybitAPIError, BybitInvalidParameterError, BybitOrderError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    CancelType,
    CreateType,
    Order,
    OrderRequest,
    OrderStatus,
    RejectReason,
    StopOrderType,
    TriggerBy,
    TriggerDirection,
    is_legal_transition,
)
from bst.engine import AccountMessage, EngineConfig, LatencyModel, MatchingEngine

LINEAR = Category.LINEAR
RISE, FALL = TriggerDirection.RISE, TriggerDirection.FALL


def stop(
    request: OrderRequest,
    trigger: str,
    direction: TriggerDirection | None,
    by: TriggerBy | None = None,
) -> OrderRequest:
    """Return `request` as a conditional order."""
    return replace(request, trigger_price=D(trigger), trigger_direction=direction, trigger_by=by)


def fills(events: Sequence[AccountMessage], order_id: str) -> list[tuple[Decimal, Decimal, bool]]:
    """Return (price, qty, is_maker) of one order's executions among `events`."""
    return [(x.exec_price, x.exec_qty, x.is_maker) for x in fills_of(events) if x.order_id == order_id]


def assert_legal(orders: Sequence[Order], known: dict[str, OrderStatus | None] | None = None) -> None:
    """Every order moved only along Bybit's status edges (from `known` statuses, else from none)."""
    last = dict(known or {})
    for order in orders:
        previous = last.get(order.order_id)
        assert is_legal_transition(previous, order.status), (previous, order.status)
        last[order.order_id] = order.status


def trade(
    engine: MatchingEngine, price: str, side: Side = Side.BUY, size: str = "0.01"
) -> list[AccountMessage]:
    """Print one public trade; return the events it caused."""
    engine.on_trade(SYMBOL, D(price), D(size), side, engine.now_ms + 1)
    return engine.drain_events()


def order_im(engine: MatchingEngine, uid: int) -> Decimal:
    usdt = engine.wallet(uid, coins=["USDT"]).coin("USDT")
    assert usdt is not None
    return usdt.total_order_im


@pytest.fixture
def engine() -> MatchingEngine:
    engine = make_engine()
    set_book(engine, bids=[("50000", "5"), ("49990", "5")], asks=[("50001", "5"), ("50010", "5")])
    engine.on_trade(SYMBOL, D("50000"), D("0.01"), Side.SELL, engine.now_ms)
    return engine


@pytest.fixture
def uid(engine: MatchingEngine) -> int:
    uid = engine.open_account({"USDT": D(100_000)})
    engine.drain_events()
    return uid


def test_market_conditional_waits_untriggered_then_fills_as_a_market_order(
    engine: MatchingEngine, uid: int
) -> None:
    ack = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))

    created = order_updates(engine.drain_events(), ack.order_id)
    assert [o.status for o in created] == [OrderStatus.UNTRIGGERED]
    waiting = engine.get_order(uid, LINEAR, order_id=ack.order_id)
    assert (waiting.trigger_price, waiting.trigger_direction, waiting.trigger_by) == (
        D("50100"),
        RISE,
        TriggerBy.LAST_PRICE,
    )
    assert (waiting.stop_order_type, waiting.create_type) == (
        StopOrderType.STOP,
        CreateType.CREATE_BY_STOP_ORDER,
    )
    assert (waiting.price, waiting.leaves_qty, waiting.cum_exec_qty) == (D(0), D(1), D(0))
    assert order_im(engine, uid) == 0  # a conditional order holds no margin until it triggers

    # the book moving up does not move the last price; a trade one tick short does not reach it
    set_book(engine, bids=[("50099", "5")], asks=[("50101", "2"), ("50110", "5")])
    assert trade(engine, "50099.9") == []
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.UNTRIGGERED

    events = trade(engine, "50100")  # exactly at the trigger

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert fills(events, ack.order_id) == [(D("50101"), D("1"), False)]
    done = engine.get_order(uid, LINEAR, order_id=ack.order_id)
    assert done.price == D("52605.0")  # protected price at the trigger: last 50100 x 1.05
    assert (done.trigger_price, done.stop_order_type, done.avg_price) == (D("50100"), "Stop", D("50101"))
    assert engine.positions(uid, symbol=SYMBOL)[0].size == D(1)
    assert_legal(created + order_updates(events))


def test_falling_trigger_gapped_through_sells_at_the_book(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, stop(market(Side.SELL, "2"), "49900", FALL))
    engine.drain_events()
    assert trade(engine, "49900.1") == []

    set_book(engine, bids=[("49500", "1"), ("49400", "5")], asks=[("49501", "5")])
    events = trade(engine, "49450", Side.SELL)  # one trade far through the trigger

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert fills(events, ack.order_id) == [(D("49500"), D("1"), False), (D("49400"), D("1"), False)]


def test_limit_conditional_takes_what_crosses_and_rests_the_rest(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, stop(limit(Side.BUY, "2", "50150"), "50100", RISE))
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).price == D("50150")
    engine.drain_events()

    set_book(engine, bids=[("50110", "5")], asks=[("50120", "1"), ("50200", "5")])
    events = trade(engine, "50300")

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.PARTIALLY_FILLED]
    assert fills(events, ack.order_id) == [(D("50120"), D("1"), False)]
    resting = engine.open_orders(uid, LINEAR, symbol=SYMBOL)[0]
    assert (resting.status, resting.price, resting.leaves_qty) == (
        OrderStatus.PARTIALLY_FILLED,
        D("50150"),
        D(1),
    )

    later = trade(engine, "50150", Side.SELL, size="3")  # a maker fill at its own price
    assert fills(later, ack.order_id) == [(D("50150"), D("1"), True)]
    assert statuses(later, ack.order_id) == [OrderStatus.FILLED]


def test_limit_conditional_that_does_not_cross_rests_as_new_and_then_holds_margin(
    engine: MatchingEngine, uid: int
) -> None:
    ack = engine.place_order(uid, stop(limit(Side.BUY, "1", "49950"), "50100", RISE))
    assert order_im(engine, uid) == 0
    engine.drain_events()

    events = trade(engine, "50100")

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.NEW]
    assert fills(events, ack.order_id) == []
    assert order_im(engine, uid) > 0


def test_mark_price_trigger_ignores_trades(engine: MatchingEngine, uid: int) -> None:
    engine.on_mark_price(SYMBOL, D("50000"), engine.now_ms, index_price=D("49990"))
    ack = engine.place_order(uid, stop(market(Side.BUY, "0.5"), "50100", RISE, TriggerBy.MARK_PRICE))
    engine.drain_events()
    assert trade(engine, "50200") == []  # last price through the trigger: not the watched price

    engine.on_mark_price(SYMBOL, D("50100"), engine.now_ms + 1)
    events = engine.drain_events()

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).trigger_by is TriggerBy.MARK_PRICE


def test_index_price_trigger_watches_the_index_not_the_mark(engine: MatchingEngine, uid: int) -> None:
    engine.on_mark_price(SYMBOL, D("50000"), engine.now_ms, index_price=D("49990"))
    ack = engine.place_order(uid, stop(market(Side.SELL, "0.5"), "49900", FALL, TriggerBy.INDEX_PRICE))
    engine.drain_events()

    engine.on_mark_price(SYMBOL, D("49800"), engine.now_ms + 1, index_price=D("49950"))
    assert statuses(engine.drain_events(), ack.order_id) == []
    engine.on_mark_price(SYMBOL, D("49950"), engine.now_ms + 1, index_price=D("49900"))
    assert statuses(engine.drain_events(), ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]


@pytest.mark.parametrize(
    ("direction", "trigger", "code", "message"),
    [
        (RISE, "50000", 110092, "expect Rising, but trigger_price[50000] <= current[50000]??LastPrice"),
        (RISE, "49000", 110092, "expect Rising, but trigger_price[49000] <= current[50000]??LastPrice"),
        (FALL, "50000", 110093, "expect Falling, but trigger_price[50000] >= current[50000]??LastPrice"),
        (FALL, "50500", 110093, "expect Falling, but trigger_price[50500] >= current[50000]??LastPrice"),
    ],
)
def test_a_trigger_already_reached_is_refused(
    engine: MatchingEngine, uid: int, direction: TriggerDirection, trigger: str, code: int, message: str
) -> None:
    with pytest.raises(BybitOrderError) as caught:
        engine.place_order(uid, stop(market(Side.BUY, "1"), trigger, direction))
    assert (caught.value.ret_code, caught.value.ret_msg) == (code, message)
    assert engine.open_orders(uid, LINEAR, symbol=SYMBOL) == []
    assert engine.drain_events() == []


def test_the_wrong_side_check_uses_the_watched_price(engine: MatchingEngine, uid: int) -> None:
    engine.on_mark_price(SYMBOL, D("49000"), engine.now_ms)
    # 49500 is below the last price (50000) but above the mark: fine for a mark-price rise
    engine.place_order(uid, stop(market(Side.BUY, "1"), "49500", RISE, TriggerBy.MARK_PRICE))
    with pytest.raises(BybitOrderError) as caught:
        engine.place_order(uid, stop(market(Side.BUY, "1"), "48000", RISE, TriggerBy.MARK_PRICE))
    assert caught.value.ret_msg == "expect Rising, but trigger_price[48000] <= current[49000]??MarkPrice"


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (stop(market(Side.BUY, "1"), "50100", None), "triggerDirection is required"),
        (stop(market(Side.BUY, "1"), "50100.05", RISE), "not a multiple of tickSize 0.1"),
        (stop(market(Side.BUY, "1"), "-5", RISE), "triggerPrice must be a positive price"),
        (stop(market(Side.BUY, "1"), "2000000", RISE), "outside [0.1, 1999999.8]"),
    ],
)
def test_bad_trigger_parameters_are_parameter_errors(
    engine: MatchingEngine, uid: int, request_: OrderRequest, fragment: str
) -> None:
    with pytest.raises(BybitInvalidParameterError, match="params error") as caught:
        engine.place_order(uid, request_)
    assert caught.value.ret_code == 10001
    assert fragment in caught.value.ret_msg


def test_cancelling_an_untriggered_order_deactivates_it(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))
    engine.drain_events()

    engine.cancel_order(uid, LINEAR, SYMBOL, order_id=ack.order_id)

    events = engine.drain_events()
    assert statuses(events, ack.order_id) == [OrderStatus.DEACTIVATED]
    closed = engine.get_order(uid, LINEAR, order_id=ack.order_id)
    assert (closed.cancel_type, closed.reject_reason, closed.leaves_qty) == (
        CancelType.CANCEL_BY_USER,
        RejectReason.PER_CANCEL_REQUEST,
        D(0),
    )
    assert trade(engine, "50500") == []  # gone: the price reaching it does nothing
    assert engine.executions(uid, LINEAR) == []


def test_amending_the_trigger_moves_it(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, stop(limit(Side.BUY, "1", "50300"), "50100", RISE))
    engine.drain_events()

    engine.amend_order(
        uid, AmendRequest(LINEAR, SYMBOL, order_id=ack.order_id, trigger_price=D("50200"), qty=D("2"))
    )

    amended = order_updates(engine.drain_events(), ack.order_id)
    assert [(o.status, o.trigger_price, o.qty) for o in amended] == [
        (OrderStatus.UNTRIGGERED, D("50200"), D("2"))
    ]
    assert trade(engine, "50150") == []
    set_book(engine, bids=[("50190", "5")], asks=[("50201", "5")])
    events = trade(engine, "50200")
    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert fills(events, ack.order_id) == [(D("50201"), D("2"), False)]


def test_amending_the_watched_price(engine: MatchingEngine, uid: int) -> None:
    engine.on_mark_price(SYMBOL, D("49950"), engine.now_ms)
    ack = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))
    engine.amend_order(
        uid, AmendRequest(LINEAR, SYMBOL, order_id=ack.order_id, trigger_by=TriggerBy.MARK_PRICE)
    )
    engine.drain_events()
    assert trade(engine, "50100") == []

    engine.on_mark_price(SYMBOL, D("50100"), engine.now_ms + 1)

    assert statuses(engine.drain_events(), ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"trigger_price": D("49900")}, 110092, "expect Rising, but trigger_price[49900]"),
        ({"trigger_price": D("50100")}, 10001, "remains unchanged"),
        ({"price": D("50100")}, 10001, "has no price to amend"),
        ({}, 10001, "nothing to amend"),
    ],
)
def test_refused_amendments_of_an_untriggered_order(
    engine: MatchingEngine, uid: int, change: dict[str, Decimal], code: int, fragment: str
) -> None:
    ack = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))
    engine.drain_events()

    with pytest.raises(BybitAPIError) as caught:
        engine.amend_order(uid, AmendRequest(LINEAR, SYMBOL, order_id=ack.order_id, **change))

    assert caught.value.ret_code == code
    assert fragment in caught.value.ret_msg
    assert engine.drain_events() == []
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).trigger_price == D("50100")


def test_the_trigger_of_a_plain_order_cannot_be_amended(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "1", "49000"))
    with pytest.raises(BybitInvalidParameterError, match="only change before a conditional order triggers"):
        engine.amend_order(uid, AmendRequest(LINEAR, SYMBOL, order_id=ack.order_id, trigger_price=D("50100")))


def test_reduce_only_conditional_is_sized_against_the_position_when_it_triggers(
    engine: MatchingEngine, uid: int
) -> None:
    with pytest.raises(BybitOrderError) as caught:  # nothing to reduce yet
        engine.place_order(uid, stop(market(Side.SELL, "2", reduce_only=True), "49900", FALL))
    assert caught.value.ret_code == 110017
    engine.place_order(uid, market(Side.BUY, "1"))
    ack = engine.place_order(uid, stop(market(Side.SELL, "2", reduce_only=True), "49900", FALL))
    engine.drain_events()

    events = trade(engine, "49900", Side.SELL)

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert fills(events, ack.order_id) == [(D("50000"), D("1"), False)]  # trimmed to the position
    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0


def test_reduce_only_conditional_outlives_the_position_and_is_cancelled_at_its_trigger(
    engine: MatchingEngine, uid: int
) -> None:
    engine.place_order(uid, market(Side.BUY, "1"))
    ack = engine.place_order(uid, stop(market(Side.SELL, "1", reduce_only=True), "49900", FALL))
    engine.place_order(uid, market(Side.SELL, "1"))  # flat again: the stop stays untriggered
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.UNTRIGGERED
    engine.drain_events()

    events = trade(engine, "49800", Side.SELL)

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.CANCELLED]
    assert (
        engine.get_order(uid, LINEAR, order_id=ack.order_id).cancel_type == CancelType.CANCEL_BY_REDUCE_ONLY
    )
    assert_legal(order_updates(events), {ack.order_id: OrderStatus.UNTRIGGERED})


def test_close_on_trigger_only_reduces(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, market(Side.BUY, "1"))
    request = replace(stop(market(Side.SELL, "3"), "49900", FALL), close_on_trigger=True)
    ack = engine.place_order(uid, request)
    waiting = engine.get_order(uid, LINEAR, order_id=ack.order_id)
    assert (waiting.close_on_trigger, waiting.reduce_only) == (True, True)
    engine.drain_events()

    events = trade(engine, "49900", Side.SELL)

    assert fills(events, ack.order_id) == [(D("50000"), D("1"), False)]
    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0


def test_several_triggers_in_one_move_fire_in_the_order_the_price_reaches_them(
    engine: MatchingEngine, uid: int
) -> None:
    far = engine.place_order(uid, stop(market(Side.BUY, "1"), "50300", RISE))
    near = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))
    middle = engine.place_order(uid, stop(market(Side.BUY, "1"), "50200", RISE))
    twin = engine.place_order(uid, stop(market(Side.BUY, "1"), "50200", RISE))  # same trigger, later
    engine.drain_events()
    set_book(
        engine, bids=[("50090", "5")], asks=[("50101", "1"), ("50201", "1"), ("50301", "1"), ("50401", "1")]
    )

    events = trade(engine, "50450")

    triggered = [o.order_id for o in order_updates(events) if o.status is OrderStatus.TRIGGERED]
    ids = [near.order_id, middle.order_id, twin.order_id, far.order_id]
    assert triggered == ids
    assert [fills(events, i) for i in ids] == [
        [(D("50101"), D("1"), False)],
        [(D("50201"), D("1"), False)],
        [(D("50301"), D("1"), False)],
        [(D("50401"), D("1"), False)],
    ]


def test_falling_triggers_fire_highest_first(engine: MatchingEngine, uid: int) -> None:
    low = engine.place_order(uid, stop(market(Side.SELL, "1"), "49700", FALL))
    high = engine.place_order(uid, stop(market(Side.SELL, "1"), "49900", FALL))
    engine.drain_events()

    events = trade(engine, "49600", Side.SELL)

    triggered = [o.order_id for o in order_updates(events) if o.status is OrderStatus.TRIGGERED]
    assert triggered == [high.order_id, low.order_id]


def test_an_unaffordable_order_is_cancelled_when_it_triggers() -> None:
    engine = make_engine()
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    engine.on_trade(SYMBOL, D("50000"), D("0.01"), Side.SELL, engine.now_ms)
    uid = engine.open_account({"USDT": D(1_000)})  # 1 BTC at 10x needs about 5,000
    ack = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))  # accepted: holds nothing
    engine.drain_events()

    events = trade(engine, "50100")

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.CANCELLED]
    order = engine.get_order(uid, LINEAR, order_id=ack.order_id)
    assert order.cancel_type == CancelType.CANCEL_BY_CANNOT_AFFORD_ORDER_COST
    assert order.cum_exec_qty == 0
    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0


def test_at_most_ten_untriggered_orders_per_symbol(engine: MatchingEngine, uid: int) -> None:
    for i in range(10):
        engine.place_order(uid, stop(market(Side.BUY, "0.01"), str(50100 + i), RISE))
    with pytest.raises(BybitOrderError) as caught:
        engine.place_order(uid, stop(market(Side.BUY, "0.01"), "50200", RISE))
    assert caught.value.ret_code == 110009
    engine.place_order(uid, limit(Side.BUY, "0.01", "49000"))  # plain orders are not capped by it


def test_take_profit_on_a_conditional_order_attaches_when_it_fills(engine: MatchingEngine, uid: int) -> None:
    request = replace(stop(market(Side.BUY, "1"), "50100", RISE), take_profit=D("51000"))
    engine.place_order(uid, request)
    trade(engine, "50100")
    assert engine.positions(uid, symbol=SYMBOL)[0].take_profit == D("51000")

    set_book(engine, bids=[("50999", "5")], asks=[("51001", "5")])
    events = trade(engine, "51000")

    closing = [o for o in order_updates(events) if o.create_type == CreateType.CREATE_BY_TAKE_PROFIT]
    assert [o.status for o in closing] == [OrderStatus.FILLED]
    assert closing[0].stop_order_type == StopOrderType.TAKE_PROFIT
    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0


def test_position_stop_loss_and_a_conditional_order_on_the_same_move(
    engine: MatchingEngine, uid: int
) -> None:
    engine.place_order(uid, market(Side.BUY, "1"))
    engine.set_trading_stop(uid, SYMBOL, stop_loss=D("49900"))
    ack = engine.place_order(uid, stop(market(Side.SELL, "1"), "49900", FALL))
    engine.drain_events()

    events = trade(engine, "49900", Side.SELL)

    stop_loss = [o for o in order_updates(events) if o.create_type == CreateType.CREATE_BY_STOP_LOSS]
    assert [o.status for o in stop_loss] == [OrderStatus.FILLED]  # the position's SL closes it first
    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    position = engine.positions(uid, symbol=SYMBOL)[0]
    assert (position.side, position.size) == ("Sell", D(1))  # then the stop opens a short


def test_liquidation_deactivates_untriggered_orders(engine: MatchingEngine) -> None:
    uid = engine.open_account({"USDT": D(600)})
    engine.set_leverage(uid, SYMBOL, D(100))
    engine.place_order(uid, market(Side.BUY, "1"))
    ack = engine.place_order(uid, stop(market(Side.BUY, "0.1"), "60000", RISE))
    engine.drain_events()

    set_book(engine, bids=[("40000", "5")], asks=[("40001", "5")])
    engine.on_mark_price(SYMBOL, D("40000"), engine.now_ms + 1)
    events = engine.drain_events()

    order = order_updates(events, ack.order_id)[-1]
    assert (order.status, order.cancel_type) == (OrderStatus.DEACTIVATED, CancelType.CANCEL_ALL_BEFORE_LIQ)


def test_with_latency_a_conditional_order_is_created_then_untriggered() -> None:
    engine = make_engine(EngineConfig(latency=LatencyModel(order_ms=30)))
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    engine.on_trade(SYMBOL, D("50000"), D("0.01"), Side.SELL, engine.now_ms)
    uid = engine.open_account({"USDT": D(100_000)})
    start = engine.now_ms
    ack = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))
    engine.on_trade(SYMBOL, D("50150"), D("0.01"), Side.BUY, start + 10)  # reached while travelling

    engine.advance_time(start + 30)

    assert statuses(engine.drain_events(), ack.order_id) == [
        OrderStatus.CREATED,
        OrderStatus.UNTRIGGERED,
        OrderStatus.TRIGGERED,
        OrderStatus.FILLED,
    ]


def test_an_amendment_in_flight_and_the_trigger_survive_a_restart() -> None:
    config = EngineConfig(latency=LatencyModel(order_ms=30))
    original = make_engine(config)
    set_book(original, bids=[("50000", "5")], asks=[("50001", "5"), ("50201", "5")])
    original.on_trade(SYMBOL, D("50000"), D("0.01"), Side.SELL, original.now_ms)
    uid = original.open_account({"USDT": D(100_000)})
    ack = original.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))
    original.advance_time(original.now_ms + 30)
    original.amend_order(
        uid,
        AmendRequest(
            LINEAR, SYMBOL, order_id=ack.order_id, trigger_price=D("50200"), trigger_by=TriggerBy.MARK_PRICE
        ),
    )
    original.drain_events()

    restored = MatchingEngine.from_state(json.loads(json.dumps(original.to_state())))

    outcomes = []
    for engine in (original, restored):
        at = engine.now_ms
        engine.advance_time(at + 30)  # the amendment arrives
        engine.on_trade(SYMBOL, D("50300"), D("0.01"), Side.BUY, at + 40)  # last price: not watched now
        engine.on_mark_price(SYMBOL, D("50200"), at + 50)
        outcomes.append(
            [
                (o.status, o.trigger_price, o.trigger_by, o.updated_time_ms)
                for o in order_updates(engine.drain_events(), ack.order_id)
            ]
        )
    assert outcomes[0] == outcomes[1]
    assert [s for s, *_ in outcomes[0]] == [
        OrderStatus.UNTRIGGERED,
        OrderStatus.TRIGGERED,
        OrderStatus.FILLED,
    ]
    assert outcomes[0][0][1:3] == (D("50200"), TriggerBy.MARK_PRICE)


def test_an_untriggered_order_survives_a_restart_in_its_trigger_book(
    engine: MatchingEngine, uid: int
) -> None:
    ack = engine.place_order(uid, stop(market(Side.BUY, "1"), "50100", RISE))
    engine.drain_events()
    restored = MatchingEngine.from_state(json.loads(json.dumps(engine.to_state())))

    assert statuses(trade(restored, "50100"), ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert restored.get_order(uid, LINEAR, order_id=ack.order_id).trigger_direction is RISE
