"""The engine's outbox speaks the private stream's account events, grouped as Bybit groups a push."""

from __future__ import annotations

from enginekit import SYMBOL, T0, D, limit, make_engine, market, set_book

from bst.bybit.codec.ws_private import decode_private, encode_private_message, event_items
from bst.domain.account_events import (
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    WalletsEvent,
)
from bst.domain.market import Category, Side
from bst.domain.orders import OrderStatus
from bst.engine import AccountMessage, EngineConfig, LatencyModel


def kinds(messages: list[AccountMessage]) -> list[tuple[int, str, int]]:
    """Return (uid, kind, item count) of each message."""
    return [(m.uid, type(m.event).__name__, len(event_items(m.event)[1])) for m in messages]


def test_a_taker_walking_two_levels_is_one_message_per_kind() -> None:
    engine = make_engine()
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1"), ("50002", "1")])
    uid = engine.open_account({"USDT": D(100_000)})
    engine.drain_events()

    engine.place_order(uid, market(Side.BUY, "1.5"))

    messages = engine.drain_events()
    assert kinds(messages) == [
        (uid, "ExecutionsEvent", 2),
        (uid, "OrdersEvent", 1),
        (uid, "PositionsEvent", 1),
        (uid, "WalletsEvent", 1),
    ]
    executions = messages[0].event
    assert isinstance(executions, ExecutionsEvent)
    assert [(x.exec_price, x.exec_qty) for x in executions.executions] == [
        (D("50001"), D("1")),
        (D("50002"), D("0.5")),
    ]
    assert {(m.event.source, m.event.ts_ms, m.event.recv_ms) for m in messages} == {
        (AccountEventSource.STREAM, T0, T0)
    }


def test_one_trade_filling_two_accounts_keeps_each_accounts_order() -> None:
    engine = make_engine()
    first = engine.open_account({"USDT": D(100_000)})
    second = engine.open_account({"USDT": D(100_000)})
    engine.place_order(first, limit(Side.BUY, "0.1", "49990"))
    engine.place_order(second, limit(Side.BUY, "0.2", "49980"))
    engine.place_order(first, limit(Side.BUY, "0.3", "49970"))
    engine.drain_events()

    engine.on_trade(SYMBOL, D("49960"), D("5"), Side.SELL, T0 + 7)

    messages = engine.drain_events()
    assert kinds(messages) == [
        (first, "ExecutionsEvent", 2),  # the other account's fill between its two does not split it
        (second, "ExecutionsEvent", 1),
        (first, "OrdersEvent", 2),
        (second, "OrdersEvent", 1),
        (first, "PositionsEvent", 1),
        (first, "WalletsEvent", 1),
        (second, "PositionsEvent", 1),
        (second, "WalletsEvent", 1),
    ]
    assert {m.event.ts_ms for m in messages} == {T0 + 7}
    fills = messages[0].event
    assert isinstance(fills, ExecutionsEvent)
    assert [x.exec_price for x in fills.executions] == [D("49990"), D("49970")]
    orders = messages[2].event
    assert isinstance(orders, OrdersEvent)
    assert [(o.price, o.status) for o in orders.orders] == [
        (D("49990"), OrderStatus.FILLED),
        (D("49970"), OrderStatus.FILLED),
    ]


def test_latency_arrivals_at_one_instant_share_a_message_and_actions_never_merge() -> None:
    engine = make_engine(EngineConfig(latency=LatencyModel(order_ms=5)))
    uid = engine.open_account({"USDT": D(100_000)})
    engine.place_order(uid, limit(Side.BUY, "0.1", "49990"))
    engine.place_order(uid, limit(Side.BUY, "0.1", "49980"))

    engine.advance_time(T0 + 5)

    messages = engine.drain_events()
    assert kinds(messages) == [
        (uid, "OrdersEvent", 1),  # Created, first request
        (uid, "WalletsEvent", 1),
        (uid, "OrdersEvent", 1),  # Created, second request: another action
        (uid, "WalletsEvent", 1),
        (uid, "OrdersEvent", 2),  # both arrive at T0 + 5
    ]
    assert [m.event.ts_ms for m in messages] == [T0, T0, T0, T0, T0 + 5]
    arrived = messages[-1].event
    assert isinstance(arrived, OrdersEvent)
    assert [o.status for o in arrived.orders] == [OrderStatus.NEW, OrderStatus.NEW]


def test_funding_is_an_execution_message_then_position_and_wallet() -> None:
    engine = make_engine()
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")])
    uid = engine.open_account({"USDT": D(100_000)})
    engine.place_order(uid, market(Side.BUY, "0.5"))
    engine.drain_events()
    funding_ms = T0 + 6_400_000  # 2023-11-15 00:00 UTC

    engine.advance_time(funding_ms + 1)

    messages = engine.drain_events()
    assert kinds(messages) == [
        (uid, "ExecutionsEvent", 1),
        (uid, "PositionsEvent", 1),
        (uid, "WalletsEvent", 1),
    ]
    assert [m.event.ts_ms for m in messages] == [funding_ms, funding_ms + 1, funding_ms + 1]
    position = messages[1].event
    wallet = messages[2].event
    assert isinstance(position, PositionsEvent)
    assert isinstance(wallet, WalletsEvent)
    assert position.positions[0].size == D("0.5")


def test_a_message_survives_the_wire_unchanged() -> None:
    engine = make_engine(spot=True)
    for category in (Category.LINEAR, Category.SPOT):
        set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")], category=category)
    uid = engine.open_account({"USDT": D(100_000)})
    engine.place_order(uid, market(Side.BUY, "0.01"))
    engine.place_order(uid, market(Side.BUY, "100", category=Category.SPOT))

    messages = engine.drain_events()
    assert len(messages) == 7  # linear: executions, order, position, wallet; spot: no position
    for message in messages:
        topic, items = event_items(message.event)
        wire = encode_private_message(topic, items, message.event.ts_ms, "m1")
        assert decode_private(wire, message.event.recv_ms) == message.event
