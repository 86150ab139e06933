"""Order types, time in force, amend/cancel and Bybit's retCodes on linear BTCUSDT."""

from __future__ import annotations

from dataclasses import replace

import pytest
from enginekit import SYMBOL, D, fills_of, limit, make_engine, market, order_updates, set_book, statuses

from bst.domain.errors import BybitInvalidParameterError, BybitOrderError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    CancelType,
    ExecType,
    OrderStatus,
    RejectReason,
    TimeInForce,
)
from bst.engine import EngineConfig, LatencyModel, MatchingEngine


@pytest.fixture
def engine() -> MatchingEngine:
    engine = make_engine()
    set_book(
        engine,
        bids=[("50000", "1"), ("49999", "2")],
        asks=[("50001", "1"), ("50002", "2")],
    )
    return engine


@pytest.fixture
def uid(engine: MatchingEngine) -> int:
    return engine.open_account({"USDT": D(100_000)})


def test_market_buy_walks_the_book_level_by_level(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, market(Side.BUY, "1.5"))

    events = engine.drain_events()
    fills = fills_of(events)
    assert [(f.exec_price, f.exec_qty, f.exec_fee, f.is_maker) for f in fills] == [
        (D("50001"), D("1"), D("27.50055"), False),
        (D("50002"), D("0.5"), D("13.75055"), False),
    ]
    assert all(f.exec_type is ExecType.TRADE and f.fee_rate == D("0.00055") for f in fills)
    assert statuses(events, ack.order_id) == [OrderStatus.FILLED]
    order = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert order.time_in_force is TimeInForce.IOC
    assert order.avg_price == D("50001.33333333")
    assert (order.cum_exec_qty, order.cum_exec_value, order.cum_exec_fee) == (
        D("1.5"),
        D("75002"),
        D("41.2511"),
    )
    assert order.leaves_qty == 0
    # the protected price: mid 50000.5 x 1.05 = 52500.525, rounded down to the tick
    assert order.price == D("52500.5")


def test_market_order_stops_at_the_slippage_protection_and_cancels_the_rest() -> None:
    engine = make_engine(slippage="0.01")
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1"), ("50600", "5")])
    engine.on_mark_price(SYMBOL, D("50000"), engine.now_ms)

    ack = engine.place_order(engine.open_account({"USDT": D(100_000)}), market(Side.BUY, "2"))

    events = engine.drain_events()
    order = order_updates(events, ack.order_id)[-1]
    assert order.price == D("50500")  # mark 50000 x 1.01; the 50600 level is out of range
    assert order.status is OrderStatus.CANCELLED
    assert order.reject_reason == RejectReason.NO_IMMEDIATE_QTY_TO_FILL
    assert (order.cum_exec_qty, order.leaves_qty) == (D("1"), D("0"))


def test_market_order_without_any_liquidity_is_cancelled_unfilled() -> None:
    engine = make_engine()
    account = engine.open_account({"USDT": D(1000)})

    ack = engine.place_order(account, market(Side.SELL, "0.01"))

    order = engine.get_order(account, Category.LINEAR, order_id=ack.order_id)
    assert (order.status, order.cum_exec_qty, order.cancel_type) == (OrderStatus.CANCELLED, 0, "UNKNOWN")
    assert engine.positions(account, symbol=SYMBOL)[0].size == 0


def test_crossing_limit_takes_then_rests_the_remainder(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "2", "50001.5"))

    events = engine.drain_events()
    assert statuses(events, ack.order_id) == [OrderStatus.PARTIALLY_FILLED]
    order = engine.open_orders(uid, Category.LINEAR, symbol=SYMBOL)[0]
    assert (order.cum_exec_qty, order.leaves_qty, order.leaves_value) == (D("1"), D("1"), D("50001.5"))
    fills = engine.executions(uid, Category.LINEAR)
    assert [(f.exec_price, f.exec_qty, f.is_maker) for f in fills] == [(D("50001"), D("1"), False)]


def test_ioc_fills_what_it_can_and_cancels_the_rest(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.SELL, "1.5", "50000", TimeInForce.IOC))

    order = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert (order.status, order.cum_exec_qty, order.leaves_qty) == (OrderStatus.CANCELLED, D("1"), 0)
    assert order.reject_reason == RejectReason.NO_IMMEDIATE_QTY_TO_FILL
    assert engine.open_orders(uid, Category.LINEAR, symbol=SYMBOL) == []


def test_fok_is_all_or_nothing(engine: MatchingEngine, uid: int) -> None:
    short = engine.place_order(uid, limit(Side.BUY, "3.5", "50002", TimeInForce.FOK))
    assert engine.executions(uid, Category.LINEAR) == []
    killed = engine.get_order(uid, Category.LINEAR, order_id=short.order_id)
    assert (killed.status, killed.reject_reason) == (
        OrderStatus.CANCELLED,
        RejectReason.NO_ENOUGH_QTY_TO_FILL,
    )

    ok = engine.place_order(uid, limit(Side.BUY, "3", "50002", TimeInForce.FOK))
    filled = engine.get_order(uid, Category.LINEAR, order_id=ok.order_id)
    assert (filled.status, filled.cum_exec_qty, filled.cum_exec_value) == (
        OrderStatus.FILLED,
        D("3"),
        D("150005"),
    )


def test_post_only_that_would_take_is_cancelled_without_trading(engine: MatchingEngine, uid: int) -> None:
    taking = engine.place_order(uid, limit(Side.BUY, "0.1", "50001", TimeInForce.POST_ONLY))
    resting = engine.place_order(uid, limit(Side.BUY, "0.1", "50000.5", TimeInForce.POST_ONLY))

    events = engine.drain_events()
    cancelled = order_updates(events, taking.order_id)
    assert [(o.status, o.reject_reason, o.cancel_type) for o in cancelled] == [
        (OrderStatus.CANCELLED, "EC_PostOnlyWillTakeLiquidity", "UNKNOWN")
    ]
    assert statuses(events, resting.order_id) == [OrderStatus.NEW]
    assert engine.executions(uid, Category.LINEAR) == []


def test_resting_order_fills_as_maker_when_trades_print_through_it(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "1", "49990"))
    engine.on_trade(SYMBOL, D("49980"), D("0.4"), Side.SELL, engine.now_ms + 1)

    partial = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert (partial.status, partial.cum_exec_qty) == (OrderStatus.PARTIALLY_FILLED, D("0.4"))
    fill = engine.executions(uid, Category.LINEAR)[0]
    # makers fill at their own price, at the maker rate: 0.4 x 49990 x 0.0002
    assert (fill.exec_price, fill.is_maker, fill.exec_fee, fill.fee_rate) == (
        D("49990"),
        True,
        D("3.9992"),
        D("0.0002"),
    )

    engine.on_trade(SYMBOL, D("49985"), D("5"), Side.SELL, engine.now_ms + 1)
    done = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert (done.status, done.cum_exec_qty, done.avg_price) == (OrderStatus.FILLED, D("1"), D("49990"))


def test_trades_above_a_resting_buy_do_not_fill_it(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, limit(Side.BUY, "1", "49990"))
    engine.on_trade(SYMBOL, D("49990.1"), D("10"), Side.SELL, engine.now_ms + 1)
    engine.on_trade(SYMBOL, D("49980"), D("10"), Side.BUY, engine.now_ms + 1)

    assert engine.executions(uid, Category.LINEAR) == []


def test_queue_position_waits_for_the_volume_ahead(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "1", "50000"))  # joins behind 1 BTC on the bid

    engine.on_trade(SYMBOL, D("50000"), D("0.5"), Side.SELL, engine.now_ms + 1)
    assert engine.executions(uid, Category.LINEAR) == []
    engine.on_trade(SYMBOL, D("50000"), D("0.8"), Side.SELL, engine.now_ms + 1)

    order = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert order.cum_exec_qty == D("0.3")  # 0.5 + 0.8 traded, 1 was ahead


def test_queue_ahead_shrinks_when_the_level_shrinks(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "1", "50000"))
    engine.on_book_delta(SYMBOL, [(D("50000"), D("0.2"))], [], engine.now_ms + 1)
    engine.on_trade(SYMBOL, D("50000"), D("0.5"), Side.SELL, engine.now_ms + 1)

    assert engine.get_order(uid, Category.LINEAR, order_id=ack.order_id).cum_exec_qty == D("0.3")


def test_without_the_queue_model_a_trade_at_the_price_fills_at_once() -> None:
    engine = make_engine(EngineConfig(queue_model=False))
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    uid = engine.open_account({"USDT": D(100_000)})
    ack = engine.place_order(uid, limit(Side.BUY, "1", "50000"))

    engine.on_trade(SYMBOL, D("50000"), D("0.5"), Side.SELL, engine.now_ms + 1)

    assert engine.get_order(uid, Category.LINEAR, order_id=ack.order_id).cum_exec_qty == D("0.5")


def test_book_moving_through_a_resting_order_fills_it_once_per_liquidity(
    engine: MatchingEngine, uid: int
) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "1", "50000"))
    set_book(engine, bids=[("49990", "1")], asks=[("49999", "0.4"), ("50005", "1")])

    fill = engine.executions(uid, Category.LINEAR)[0]
    assert (fill.exec_price, fill.exec_qty, fill.is_maker) == (D("50000"), D("0.4"), True)

    set_book(engine, bids=[("49990", "1")], asks=[("49999", "0.4"), ("50005", "1")])  # same liquidity
    assert engine.get_order(uid, Category.LINEAR, order_id=ack.order_id).cum_exec_qty == D("0.4")

    engine.on_book_delta(SYMBOL, [], [(D("49999"), D("1"))], engine.now_ms)  # 0.6 more arrives
    order = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert (order.status, order.cum_exec_qty) == (OrderStatus.FILLED, D("1"))


def test_price_then_time_priority_among_resting_orders(engine: MatchingEngine, uid: int) -> None:
    first = engine.place_order(uid, limit(Side.SELL, "0.2", "50010"))
    second = engine.place_order(uid, limit(Side.SELL, "0.2", "50010"))
    better = engine.place_order(uid, limit(Side.SELL, "0.2", "50005"))
    engine.drain_events()

    engine.on_trade(SYMBOL, D("50011"), D("0.5"), Side.BUY, engine.now_ms + 1)

    filled = {o.order_id: o.cum_exec_qty for o in order_updates(engine.drain_events())}
    assert filled == {better.order_id: D("0.2"), first.order_id: D("0.2"), second.order_id: D("0.1")}


def test_order_link_id_must_be_unique_and_well_formed(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, limit(Side.BUY, "0.01", "49000", link="bot-1"))
    with pytest.raises(BybitOrderError) as duplicate:
        engine.place_order(uid, limit(Side.BUY, "0.01", "49000", link="bot-1"))
    assert duplicate.value.ret_code == 110072
    with pytest.raises(BybitInvalidParameterError) as bad:
        engine.place_order(uid, limit(Side.BUY, "0.01", "49000", link="has space"))
    assert bad.value.ret_code == 10001
    with pytest.raises(BybitInvalidParameterError):
        engine.place_order(uid, limit(Side.BUY, "0.01", "49000", link="x" * 37))
    other = engine.open_account({"USDT": D(1000)})
    assert engine.place_order(other, limit(Side.BUY, "0.01", "49000", link="bot-1")).order_link_id == "bot-1"


def test_refusals_carry_bybits_ret_codes(engine: MatchingEngine, uid: int) -> None:
    cases = [
        (limit(Side.BUY, "0.001", "4000"), 110094),  # 4 USDT < 5 USDT minimum notional
        (limit(Side.BUY, "0.01", "60000"), 110003),  # more than 10 % above the reference
        (limit(Side.SELL, "0.01", "40000"), 110003),
        (limit(Side.BUY, "0.0015", "50000"), 10001),  # not on the 0.001 step
        (limit(Side.BUY, "0.01", "50000.05"), 10001),  # not on the 0.1 tick
        (limit(Side.BUY, "1191", "50000"), 10001),  # above max qty
        (market(Side.BUY, "501"), 10001),  # above max market qty
        (limit(Side.BUY, "30", "50000"), 110007),  # 1.5 M notional at 10x needs ~150 k
        (limit(Side.SELL, "0.01", "50000", reduce_only=True), 110017),  # nothing to reduce
    ]
    for request, code in cases:
        with pytest.raises(BybitOrderError if code >= 110000 else BybitInvalidParameterError) as info:
            engine.place_order(uid, request)
        assert info.value.ret_code == code, request
    assert engine.open_orders(uid, Category.LINEAR) == []


def test_unknown_symbol_and_position_idx(engine: MatchingEngine, uid: int) -> None:
    request = limit(Side.BUY, "0.01", "49000")
    with pytest.raises(BybitInvalidParameterError, match="symbol invalid"):
        engine.place_order(uid, replace(request, symbol="ETHUSDT"))
    with pytest.raises(BybitInvalidParameterError, match="position idx"):
        engine.place_order(uid, replace(request, position_idx=1))


def test_amend_price_loses_priority_and_qty_decrease_keeps_it(engine: MatchingEngine, uid: int) -> None:
    a = engine.place_order(uid, limit(Side.SELL, "0.3", "50010", link="a"))
    b = engine.place_order(uid, limit(Side.SELL, "0.3", "50010", link="b"))
    engine.amend_order(uid, AmendRequest(Category.LINEAR, SYMBOL, order_link_id="a", qty=D("0.2")))
    engine.amend_order(uid, AmendRequest(Category.LINEAR, SYMBOL, order_id=b.order_id, price=D("50011")))
    engine.amend_order(uid, AmendRequest(Category.LINEAR, SYMBOL, order_id=b.order_id, price=D("50010")))
    engine.drain_events()

    engine.on_trade(SYMBOL, D("50010"), D("0.3"), Side.BUY, engine.now_ms + 1)

    assert engine.get_order(uid, Category.LINEAR, order_id=a.order_id).status is OrderStatus.FILLED
    assert engine.get_order(uid, Category.LINEAR, order_id=b.order_id).cum_exec_qty == D("0.1")
    amended = engine.get_order(uid, Category.LINEAR, order_id=b.order_id)
    assert (amended.qty, amended.price, amended.status) == (
        D("0.3"),
        D("50010"),
        OrderStatus.PARTIALLY_FILLED,
    )


def test_amend_to_a_crossing_price_trades_at_once(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "0.5", "49000"))
    engine.amend_order(uid, AmendRequest(Category.LINEAR, SYMBOL, order_id=ack.order_id, price=D("50001")))

    order = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert (order.status, order.cum_exec_qty, order.avg_price) == (OrderStatus.FILLED, D("0.5"), D("50001"))


def test_amend_refusals(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "0.5", "49000"))
    same = AmendRequest(Category.LINEAR, SYMBOL, order_id=ack.order_id, price=D("49000"))
    with pytest.raises(BybitInvalidParameterError, match="unchanged"):
        engine.amend_order(uid, same)
    with pytest.raises(BybitOrderError) as missing:
        engine.amend_order(uid, AmendRequest(Category.LINEAR, SYMBOL, order_id="nope", qty=D(1)))
    assert missing.value.ret_code == 110001
    filled = engine.place_order(uid, market(Side.BUY, "0.1"))
    with pytest.raises(BybitOrderError) as closed:
        engine.amend_order(uid, AmendRequest(Category.LINEAR, SYMBOL, order_id=filled.order_id, qty=D(1)))
    assert closed.value.ret_code == 110001


def test_cancel_and_cancel_all(engine: MatchingEngine, uid: int) -> None:
    one = engine.place_order(uid, limit(Side.BUY, "0.1", "49000", link="one"))
    engine.place_order(uid, limit(Side.BUY, "0.1", "48900"))
    engine.place_order(uid, limit(Side.SELL, "0.1", "51000"))

    engine.cancel_order(uid, Category.LINEAR, SYMBOL, order_link_id="one")
    cancelled = engine.get_order(uid, Category.LINEAR, order_id=one.order_id)
    assert (cancelled.status, cancelled.cancel_type, cancelled.reject_reason) == (
        OrderStatus.CANCELLED,
        CancelType.CANCEL_BY_USER,
        RejectReason.PER_CANCEL_REQUEST,
    )
    with pytest.raises(BybitOrderError) as again:
        engine.cancel_order(uid, Category.LINEAR, SYMBOL, order_id=one.order_id)
    assert again.value.ret_code == 110001
    with pytest.raises(BybitInvalidParameterError):
        engine.cancel_all(uid, Category.LINEAR)

    acks = engine.cancel_all(uid, Category.LINEAR, symbol=SYMBOL)

    assert len(acks) == 2
    assert engine.open_orders(uid, Category.LINEAR, symbol=SYMBOL) == []
    history = engine.closed_orders(uid, Category.LINEAR, symbol=SYMBOL)
    assert [o.status for o in history] == [OrderStatus.CANCELLED] * 3


def test_reduce_only_never_increases_the_position(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, market(Side.BUY, "0.5"))
    ack = engine.place_order(uid, limit(Side.SELL, "2", "49999", TimeInForce.IOC, reduce_only=True))

    order = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert (order.qty, order.cum_exec_qty, order.status) == (D("0.5"), D("0.5"), OrderStatus.FILLED)
    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0


def test_resting_reduce_only_orders_follow_the_position(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, market(Side.BUY, "1"))
    take_profit = engine.place_order(uid, limit(Side.SELL, "1", "51000", reduce_only=True))
    engine.place_order(uid, limit(Side.SELL, "0.6", "49999", TimeInForce.IOC))  # position 1 -> 0.4

    trimmed = engine.get_order(uid, Category.LINEAR, order_id=take_profit.order_id)
    assert (trimmed.qty, trimmed.status) == (D("0.4"), OrderStatus.NEW)

    engine.place_order(uid, limit(Side.SELL, "0.4", "49999", TimeInForce.IOC))  # flat
    gone = engine.get_order(uid, Category.LINEAR, order_id=take_profit.order_id)
    assert (gone.status, gone.cancel_type) == (OrderStatus.CANCELLED, CancelType.CANCEL_BY_REDUCE_ONLY)


def test_latency_delays_arrival_at_the_book() -> None:
    engine = make_engine(EngineConfig(latency=LatencyModel(order_ms=50)))
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")])
    uid = engine.open_account({"USDT": D(100_000)})
    t = engine.now_ms

    ack = engine.place_order(uid, limit(Side.BUY, "0.5", "50001"))
    assert engine.get_order(uid, Category.LINEAR, order_id=ack.order_id).status is OrderStatus.CREATED
    set_book(engine, bids=[("50000", "1")], asks=[("50002", "1")], ts_ms=t + 10)  # the ask moves away
    engine.advance_time(t + 50)

    order = engine.get_order(uid, Category.LINEAR, order_id=ack.order_id)
    assert (order.status, order.cum_exec_qty) == (OrderStatus.NEW, 0)
    assert statuses(engine.drain_events(), ack.order_id) == [OrderStatus.CREATED, OrderStatus.NEW]

    engine.cancel_order(uid, Category.LINEAR, SYMBOL, order_id=ack.order_id)
    assert engine.get_order(uid, Category.LINEAR, order_id=ack.order_id).status is OrderStatus.NEW
    engine.advance_time(t + 100)
    assert engine.get_order(uid, Category.LINEAR, order_id=ack.order_id).status is OrderStatus.CANCELLED
