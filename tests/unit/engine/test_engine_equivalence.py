"""Feeding market events through the feeder books exactly what the engine's direct calls booked.

The scenario (two accounts, linear and spot BTCUSDT, a 5 ms order latency, queue model on) was run
through the direct calls (`on_book_snapshot`, `on_book_delta`, `on_trade`, `on_mark_price`,
`on_funding_rate`, `advance_time`) before `apply` existed; the numbers below are what that run
printed. Here the same market goes in as domain events, merged by one `Feeder` from per-kind
sources, with the same requests between the feeder's bounds: same ids, fills, fees, balances and
account events, item for item.
"""

from __future__ import annotations

from decimal import Decimal

from enginekit import BTC_LINEAR, BTC_SPOT, SYMBOL, T0, D
from marketkit import book, ticker, trade

from bst.domain.account_events import ExecutionsEvent, OrdersEvent, PositionsEvent
from bst.domain.market import Category, Side
from bst.domain.orders import OrderRequest, OrderType, TimeInForce
from bst.engine import AccountMessage, EngineConfig, Feeder, LatencyModel, MatchingEngine, SymbolSpec

L, S = Category.LINEAR, Category.SPOT
BUY, SELL = Side.BUY, Side.SELL
FUND = T0 + 6_400_000  # 2023-11-15 00:00 UTC

# (uid offset, kind, order link id / stop type / exec type, status or size, qty or price)
EXPECTED_ITEMS = [
    (0, "order", "m1", "Created", "0"),
    (0, "wallet"),
    (0, "order", "b1", "Created", "0"),
    (0, "wallet"),
    (0, "order", "s1", "Created", "0"),
    (0, "wallet"),
    (1, "order", "x1", "Created", "0"),
    (1, "wallet"),
    (0, "execution", "m1", "0.5", "50001"),
    (0, "order", "m1", "Filled", "0.5"),
    (0, "order", "b1", "New", "0"),
    (0, "order", "s1", "New", "0"),
    (1, "order", "x1", "New", "0"),
    (0, "position", "0.5"),
    (0, "wallet"),
    (0, "execution", "b1", "0.5", "49999"),
    (0, "order", "b1", "PartiallyFilled", "0.5"),
    (0, "position", "1.0"),
    (0, "wallet"),
    (0, "execution", "b1", "0.5", "49999"),
    (0, "order", "b1", "Filled", "1.0"),
    (0, "position", "1.5"),
    (0, "wallet"),
    (1, "execution", "x1", "0.01", "49995"),
    (1, "order", "x1", "Filled", "0.01"),
    (1, "wallet"),
    (0, "execution", "s1", "0.2", "50010"),
    (0, "order", "s1", "PartiallyFilled", "0.2"),
    (0, "position", "1.3"),
    (0, "wallet"),
    (0, "execution", "Funding", "1.3", "50050"),
    (0, "position", "1.3"),
    (0, "wallet"),
    (0, "position", "1.3"),
    (0, "wallet"),
    (0, "execution", "StopLoss", "1.3", "48900"),
    (0, "order", "StopLoss", "Filled", "1.3"),
    (0, "position", "0.0"),
    (0, "wallet"),
]

# exec id, link, type, side, price, qty, fee, maker/taker, ms after T0, exec PnL, mark price at the fill
EXPECTED_LINEAR_FILLS = [
    "3f0c0021-7d43-4aef-ba5d-c6d68d205191 m1 Trade Buy 50001 0.5 13.750275 taker +5 0 50000.5",
    "3f0c0021-7d43-4aef-9fa3-bb67dc8d2eae b1 Trade Buy 49999 0.5 4.99990 maker +20 0 50000.5",
    "3f0c0021-7d43-4aef-84e9-aff92bfa0bcb b1 Trade Buy 49999 0.5 4.99990 maker +40 0 50000.5",
    "3f0c0021-7d43-4aef-8f75-991bcad3c605 s1 Trade Sell 50010 0.2 2.00040 maker +1000 2.06666667 50100",
    "3f0c0021-7d43-4aef-b4bb-8dad1a40a322 - Funding Buy 50050 1.3 13.01300 taker +6400000 0 50050",
    "3f0c0021-7d43-4aef-a48d-6b6108873a79 - Trade Sell 48900 1.3 34.963500 taker +6403000 -1429.56666667"
    " 50050",
]
# order id, link, status, cum qty, cum value, cum fee, leaves qty, last price on created
EXPECTED_LINEAR_ORDERS = [
    "3f0c0021-7d43-4aef-a545-f4914f6cdd1d m1 Filled 0.5 25000.5 13.750275 0 50000",
    "3f0c0021-7d43-4aef-8a8b-e9229ed9ba3a b1 Filled 1.0 49999.0 9.99980 0 50000",
    "3f0c0021-7d43-4aef-bf47-76cfb91a5d5c - Filled 1.3 63570.0 34.963500 0 48950",
    "3f0c0021-7d43-4aef-afd1-ddb3ee469757 s1 PartiallyFilled 0.2 10002.0 2.00040 0.1 50000",
]


def _engine() -> tuple[MatchingEngine, int, int]:
    engine = MatchingEngine(EngineConfig(latency=LatencyModel(order_ms=5), seed=3))
    engine.add_symbol(SymbolSpec(BTC_LINEAR, market_slippage_ratio=D("0.05")))
    engine.add_symbol(SymbolSpec(BTC_SPOT, market_slippage_ratio=D("0.05")))
    engine.advance_time(T0)
    return engine, engine.open_account({"USDT": D(100_000)}), engine.open_account({"USDT": D(10_000)})


def _request(category: Category, side: Side, qty: str, price: str | None, link: str) -> OrderRequest:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    tif = TimeInForce.GTC if price is not None else None
    return OrderRequest(
        category, SYMBOL, side, kind, D(qty), None if price is None else D(price), tif, order_link_id=link
    )


def _flatten(messages: list[AccountMessage], first_uid: int) -> list[tuple[object, ...]]:
    items: list[tuple[object, ...]] = []
    for message in messages:
        who, event = message.uid - first_uid, message.event
        if isinstance(event, OrdersEvent):
            for o in event.orders:
                label = o.order_link_id or o.stop_order_type
                items.append((who, "order", label, o.status.value, str(o.cum_exec_qty)))
        elif isinstance(event, ExecutionsEvent):
            for x in event.executions:
                label = x.order_link_id or x.stop_order_type or x.exec_type.value
                items.append((who, "execution", label, str(x.exec_qty), str(x.exec_price)))
        elif isinstance(event, PositionsEvent):
            items.extend((who, "position", str(p.size)) for p in event.positions)
        else:
            items.append((who, "wallet"))
    return items


def test_the_feeder_books_exactly_what_the_direct_calls_booked() -> None:
    engine, a, b = _engine()
    linear_books = [
        book(
            T0,
            [("50000", "1"), ("49999", "2"), ("49998", "3")],
            [("50001", "1"), ("50002", "2"), ("50003", "3")],
        ),
        book(T0 + 30, [("49999", "0.5")], [("50001", "0")], snapshot=False),
        book(T0 + 40, [], [("49998.5", "2")], snapshot=False),
        book(FUND + 2000, [("48900", "5"), ("48800", "5")], [("49000", "5")]),
    ]
    spot_books = [book(T0, [("49990", "0.5")], [("50010", "0.5")], category=S)]
    tickers = [
        ticker(T0, "50000", mark="50000.5", rate="0.0003"),
        ticker(T0 + 1000, "49999", mark="50100"),
        ticker(FUND - 1, "50010", mark="50050", rate="0.0002", next_funding_ms=FUND),
    ]
    linear_trades = [
        trade(T0, "50000", "0.001", BUY),
        trade(T0 + 10, "49999", "1.5", SELL),
        trade(T0 + 20, "49999", "1", SELL),
        trade(T0 + 1000, "50010", "0.2", BUY),
        trade(FUND + 100, "50005", "0.1", BUY),
        trade(FUND + 3000, "48950", "0.1", SELL),
    ]
    spot_trades = [
        trade(T0, "50000", "0.001", BUY, category=S),
        trade(T0 + 50, "49995", "0.02", SELL, category=S),
    ]
    feeder = Feeder(engine, [linear_books, spot_books, tickers, linear_trades, spot_trades])

    feeder.run(T0)
    engine.place_order(a, _request(L, BUY, "0.5", None, "m1"))
    engine.place_order(a, _request(L, BUY, "1", "49999", "b1"))
    engine.place_order(a, _request(L, SELL, "0.3", "50010", "s1"))
    engine.place_order(b, _request(S, BUY, "0.01", "49995", "x1"))
    feeder.run(FUND + 1000)
    engine.set_trading_stop(a, SYMBOL, stop_loss=D("49000"))
    feeder.run(FUND + 4000)

    assert _flatten(engine.drain_events(), a) == EXPECTED_ITEMS
    fills = [
        f"{x.exec_id} {x.order_link_id or '-'} {x.exec_type.value} {x.side.value} {x.exec_price}"
        f" {x.exec_qty} {x.exec_fee} {'maker' if x.is_maker else 'taker'} +{x.exec_time_ms - T0}"
        f" {x.exec_pnl} {x.mark_price}"
        for x in reversed(engine.executions(a, L))
    ]
    assert fills == EXPECTED_LINEAR_FILLS
    orders = [
        f"{o.order_id} {o.order_link_id or '-'} {o.status.value} {o.cum_exec_qty} {o.cum_exec_value}"
        f" {o.cum_exec_fee} {o.leaves_qty} {o.last_price_on_created}"
        for o in [*reversed(engine.closed_orders(a, L)), *engine.open_orders(a, L)]
    ]
    assert orders == EXPECTED_LINEAR_ORDERS
    wallet_a = engine.wallet(a, coins=["USDT"]).coin("USDT")
    assert wallet_a is not None
    assert (wallet_a.wallet_balance, wallet_a.locked) == (D("98498.77302500"), 0)
    position = engine.positions(a, symbol=SYMBOL)[0]
    assert (position.size, position.cum_realised_pnl) == (0, D("-1501.22697500"))
    [spot_fill] = engine.executions(b, S)
    assert (spot_fill.exec_id, spot_fill.exec_price, spot_fill.exec_fee, spot_fill.exec_time_ms) == (
        "1600003000000000008",
        D("49995"),
        D("0.00001"),
        T0 + 50,
    )
    [spot_order] = engine.closed_orders(b, S)
    assert (spot_order.order_id, spot_order.status.value) == ("1600003000000000004", "Filled")
    wallet_b = engine.wallet(b, coins=["USDT", "BTC"])
    assert [(c.coin, c.wallet_balance, c.locked) for c in wallet_b.coins] == [
        ("BTC", D("0.00999"), 0),
        ("USDT", D("9500.05"), Decimal("0.00")),
    ]
    assert engine.now_ms == FUND + 4000
