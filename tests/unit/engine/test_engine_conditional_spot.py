"""Spot conditional orders: `orderFilter` StopOrder (holds nothing until triggered) and tpslOrder."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from enginekit import SYMBOL, D, fills_of, limit, make_engine, market, set_book, statuses

from bst.domain.errors import BybitInvalidParameterError, BybitOrderError, BybitOrderNotFoundError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    MarketUnit,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    StopOrderType,
    TriggerBy,
    TriggerDirection,
)
from bst.engine import AccountMessage, MatchingEngine

SPOT = Category.SPOT


def spot_stop(
    request: OrderRequest, trigger: str, kind: OrderFilter = OrderFilter.STOP_ORDER
) -> OrderRequest:
    return replace(request, trigger_price=D(trigger), order_filter=kind)


def locked(engine: MatchingEngine, uid: int, coin: str) -> Decimal:
    balance = engine.wallet(uid, coins=[coin]).coin(coin)
    assert balance is not None
    return balance.locked


@pytest.fixture
def engine() -> MatchingEngine:
    engine = make_engine(linear=False, spot=True)
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")], category=SPOT)
    engine.on_trade(SYMBOL, D("50000"), D("0.01"), Side.SELL, engine.now_ms, category=SPOT)
    return engine


@pytest.fixture
def uid(engine: MatchingEngine) -> int:
    uid = engine.open_account({"USDT": D(100_000), "BTC": D(1)})
    engine.drain_events()
    return uid


def trade(engine: MatchingEngine, price: str, side: Side = Side.BUY) -> list[AccountMessage]:
    engine.on_trade(SYMBOL, D(price), D("0.01"), side, engine.now_ms + 1, category=SPOT)
    return engine.drain_events()


def test_stop_order_holds_nothing_until_it_triggers(engine: MatchingEngine, uid: int) -> None:
    request = spot_stop(market(Side.BUY, "1000", category=SPOT), "50100")  # 1,000 USDT (quote coin)
    ack = engine.place_order(uid, request)

    waiting = engine.get_order(uid, SPOT, order_id=ack.order_id)
    assert (waiting.status, waiting.stop_order_type, waiting.trigger_direction, waiting.trigger_by) == (
        OrderStatus.UNTRIGGERED,
        StopOrderType.STOP,
        TriggerDirection.RISE,  # the trigger lies above the last price
        TriggerBy.LAST_PRICE,
    )
    assert waiting.market_unit is MarketUnit.QUOTE_COIN
    assert locked(engine, uid, "USDT") == 0
    engine.drain_events()

    set_book(engine, bids=[("50100", "1")], asks=[("50101", "1")], category=SPOT)
    events = trade(engine, "50100")

    # 1,000 USDT buys 0.019959 BTC at 50101; the rest cannot buy a lot step (as Bybit reports it)
    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.PARTIALLY_FILLED_CANCELED]
    fills = fills_of(events)
    assert [(f.exec_price, f.exec_qty) for f in fills] == [(D("50101"), D("0.019959"))]
    assert locked(engine, uid, "USDT") == 0


def test_tpsl_order_holds_its_coin_from_the_start(engine: MatchingEngine, uid: int) -> None:
    request = spot_stop(limit(Side.SELL, "0.5", "49800", category=SPOT), "49900", OrderFilter.TPSL_ORDER)
    ack = engine.place_order(uid, request)

    waiting = engine.get_order(uid, SPOT, order_id=ack.order_id)
    assert (waiting.stop_order_type, waiting.trigger_direction) == (
        StopOrderType.TPSL_ORDER,
        TriggerDirection.FALL,
    )
    assert locked(engine, uid, "BTC") == D("0.5")
    engine.drain_events()

    set_book(engine, bids=[("49850", "1")], asks=[("49851", "1")], category=SPOT)
    events = trade(engine, "49900", Side.SELL)

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert locked(engine, uid, "BTC") == 0
    btc = engine.wallet(uid, coins=["BTC"]).coin("BTC")
    assert btc is not None
    assert btc.wallet_balance == D("0.5")


def test_a_stop_order_the_account_cannot_afford_at_its_trigger_is_cancelled(
    engine: MatchingEngine, uid: int
) -> None:
    ack = engine.place_order(uid, spot_stop(limit(Side.SELL, "0.8", "49800", category=SPOT), "49900"))
    engine.place_order(uid, limit(Side.SELL, "0.5", "60000", category=SPOT))  # locks 0.5 of the 1 BTC
    engine.drain_events()

    events = trade(engine, "49900", Side.SELL)

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.CANCELLED]
    assert locked(engine, uid, "BTC") == D("0.5")


def test_spot_cancel_finds_conditional_orders_only_with_their_order_filter(
    engine: MatchingEngine, uid: int
) -> None:
    ack = engine.place_order(
        uid, spot_stop(limit(Side.SELL, "0.5", "49800", category=SPOT), "49900", OrderFilter.TPSL_ORDER)
    )

    with pytest.raises(BybitOrderNotFoundError) as caught:
        engine.cancel_order(uid, SPOT, SYMBOL, order_id=ack.order_id)  # default orderFilter: Order
    assert (caught.value.ret_code, caught.value.ret_msg) == (170213, "Order does not exist.")
    with pytest.raises(BybitOrderNotFoundError):
        engine.cancel_order(uid, SPOT, SYMBOL, order_id=ack.order_id, order_filter=OrderFilter.STOP_ORDER)

    engine.cancel_order(uid, SPOT, SYMBOL, order_id=ack.order_id, order_filter=OrderFilter.TPSL_ORDER)

    assert engine.get_order(uid, SPOT, order_id=ack.order_id).status is OrderStatus.DEACTIVATED
    assert locked(engine, uid, "BTC") == 0


def test_spot_cancel_all_takes_plain_orders_unless_told_otherwise(engine: MatchingEngine, uid: int) -> None:
    plain = engine.place_order(uid, limit(Side.BUY, "0.01", "45000", category=SPOT))
    conditional = engine.place_order(uid, spot_stop(market(Side.BUY, "100", category=SPOT), "50100"))

    assert [a.order_id for a in engine.cancel_all(uid, SPOT)] == [plain.order_id]
    assert [a.order_id for a in engine.cancel_all(uid, SPOT, order_filter=OrderFilter.STOP_ORDER)] == [
        conditional.order_id
    ]
    assert engine.open_orders(uid, SPOT) == []


def test_amending_a_spot_trigger_across_the_price_turns_its_direction(
    engine: MatchingEngine, uid: int
) -> None:
    request = market(Side.BUY, "0.001", category=SPOT, unit=MarketUnit.BASE_COIN)
    ack = engine.place_order(uid, spot_stop(request, "50100"))

    engine.amend_order(uid, AmendRequest(SPOT, SYMBOL, order_id=ack.order_id, trigger_price=D("49900")))

    assert engine.get_order(uid, SPOT, order_id=ack.order_id).trigger_direction is TriggerDirection.FALL
    engine.drain_events()
    assert statuses(trade(engine, "50200"), ack.order_id) == []
    assert statuses(trade(engine, "49900", Side.SELL), ack.order_id) == [
        OrderStatus.TRIGGERED,
        OrderStatus.FILLED,
    ]


def test_spot_trigger_at_the_last_price_fires_at_once(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, spot_stop(market(Side.SELL, "0.1", category=SPOT), "50000"))

    assert statuses(engine.drain_events(), ack.order_id) == [
        OrderStatus.UNTRIGGERED,
        OrderStatus.TRIGGERED,
        OrderStatus.FILLED,
    ]


def test_spot_trigger_needs_a_conditional_order_filter(engine: MatchingEngine, uid: int) -> None:
    with pytest.raises(BybitOrderError) as caught:
        engine.place_order(
            uid, replace(limit(Side.BUY, "0.01", "49000", category=SPOT), trigger_price=D("50100"))
        )
    assert (caught.value.ret_code, caught.value.ret_msg) == (170201, "Invalid orderFilter parameter")

    with pytest.raises(
        BybitInvalidParameterError, match="triggerPrice is required for orderFilter StopOrder"
    ):
        engine.place_order(
            uid, replace(limit(Side.BUY, "0.01", "49000", category=SPOT), order_filter=OrderFilter.STOP_ORDER)
        )
    assert engine.open_orders(uid, SPOT) == []


def test_spot_trigger_price_off_the_tick_grid_is_refused_as_spot_does(
    engine: MatchingEngine, uid: int
) -> None:
    with pytest.raises(BybitOrderError) as caught:
        engine.place_order(uid, spot_stop(market(Side.BUY, "100", category=SPOT), "50100.005"))
    assert (caught.value.ret_code, caught.value.ret_msg) == (170134, "Order price decimal too long.")


def test_a_waiting_tpsl_market_order_holds_coin_at_its_trigger_price(
    engine: MatchingEngine, uid: int
) -> None:
    request = market(Side.BUY, "0.1", category=SPOT, unit=MarketUnit.BASE_COIN)
    ack = engine.place_order(uid, spot_stop(request, "50100", OrderFilter.TPSL_ORDER))
    assert locked(engine, uid, "USDT") == D("5010")  # 0.1 x 50100 until it triggers
    engine.amend_order(uid, AmendRequest(SPOT, SYMBOL, order_id=ack.order_id, trigger_price=D("50200")))
    assert locked(engine, uid, "USDT") == D("5020")
    engine.drain_events()

    set_book(engine, bids=[("50199", "1")], asks=[("50201", "1")], category=SPOT)
    events = trade(engine, "50200")

    assert statuses(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    assert locked(engine, uid, "USDT") == 0
    usdt = engine.wallet(uid, coins=["USDT"]).coin("USDT")
    assert usdt is not None
    assert usdt.wallet_balance == D(100_000) - D("5020.1")  # 0.1 x 50201
