"""`EngineGateway` and `EngineHub`: what the contract suite does not cover (it runs one account).

Routing between accounts sharing an engine, the hand-over of existing state, time stamps from the
engine's clock only, latency, the feed's start/close life cycle, and the refusals the REST client
makes locally. The shared behaviour of every `OrderGateway` is in `tests/contract/`.
"""

from __future__ import annotations

import asyncio

import pytest
from enginekit import SYMBOL, T0, D, limit, make_engine, market, set_book

from bst.bybit.retcodes import RetCode
from bst.domain.account_events import (
    AccountEvent,
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
    WalletsEvent,
)
from bst.domain.errors import (
    BybitInvalidParameterError,
    BybitOrderNotFoundError,
    ConfigError,
    OrderValidationError,
)
from bst.domain.events import BookUpdate, TradesUpdate
from bst.domain.market import Category, Side, Trade
from bst.domain.orders import OrderRequest, OrderStatus, OrderType
from bst.domain.ports import AccountFeed, OrderGateway
from bst.engine import EngineConfig, LatencyModel
from bst.engine.feeder import Feeder
from bst.engine.gateway import EngineGateway, EngineHub

RESYNC = AccountEventSource.RESYNC


def funded_hub(config: EngineConfig | None = None, *, spot: bool = False) -> EngineHub:
    engine = make_engine(config, spot=spot)
    set_book(engine, bids=[("50000", "1"), ("49999", "1")], asks=[("50001", "1"), ("50002", "1")])
    if spot:
        set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")], category=Category.SPOT)
    return EngineHub(engine)


async def take(feed: EngineGateway) -> list[AccountEvent]:
    """Return every event already queued on `feed` (reading publishes what the engine holds)."""
    found: list[AccountEvent] = []
    while True:
        task = asyncio.ensure_future(anext(feed))
        await asyncio.sleep(0)
        if not task.done():
            task.cancel()
            return found
        try:
            found.append(task.result())
        except StopAsyncIteration:
            return found


def test_the_gateway_satisfies_both_trading_ports() -> None:
    gateway = funded_hub().open_account({"USDT": D(1000)})
    as_gateway: OrderGateway = gateway
    as_feed: AccountFeed = gateway
    assert as_gateway is as_feed


def test_a_gateway_of_an_account_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ConfigError, match="no account 42"):
        EngineGateway(funded_hub(), 42)


async def test_each_account_gets_only_its_own_events_in_engine_order() -> None:
    hub = funded_hub()
    alice, bob = hub.open_account({"USDT": D(100_000)}), hub.open_account({"USDT": D(100_000)})
    for feed in (alice, bob):
        await feed.start()
        await take(feed)

    a_ack = await alice.place_order(limit(Side.BUY, "0.1", "49990", link="a-1"))
    b_ack = await bob.place_order(market(Side.BUY, "0.2", link="b-1"))
    hub.engine.on_trade(SYMBOL, D("49980"), D("5"), Side.SELL, T0 + 1_000)  # fills alice's bid

    a_events, b_events = await take(alice), await take(bob)

    assert [type(e) for e in a_events] == [
        OrdersEvent,  # New
        WalletsEvent,  # order margin
        ExecutionsEvent,
        OrdersEvent,  # Filled
        PositionsEvent,
        WalletsEvent,
    ]
    assert [type(e) for e in b_events] == [ExecutionsEvent, OrdersEvent, PositionsEvent, WalletsEvent]
    a_orders = {o.order_id for e in a_events if isinstance(e, OrdersEvent) for o in e.orders}
    b_orders = {o.order_id for e in b_events if isinstance(e, OrdersEvent) for o in e.orders}
    assert (a_orders, b_orders) == ({a_ack.order_id}, {b_ack.order_id})
    # The gateway reads no clock: every event carries the engine time of its action.
    stamps = [(e.ts_ms, e.recv_ms) for e in a_events if not isinstance(e, ResyncEvent)]
    assert stamps == [(T0, T0), (T0, T0)] + [(T0 + 1_000, T0 + 1_000)] * 4


async def test_two_feeds_of_one_account_both_receive_and_a_closed_one_stops() -> None:
    hub = funded_hub()
    first = hub.open_account({"USDT": D(100_000)})
    second = hub.gateway(first.uid)
    for feed in (first, second):
        await feed.start()
        await take(feed)

    await first.place_order(limit(Side.BUY, "0.1", "49990", link="x-1"))
    await second.close()
    await first.place_order(limit(Side.BUY, "0.1", "49980", link="x-2"))

    links_first = [o.order_link_id for e in await take(first) if isinstance(e, OrdersEvent) for o in e.orders]
    rest_second = [e async for e in second]  # queued before the close, then the end

    assert links_first == ["x-1", "x-2"]
    assert [o.order_link_id for e in rest_second if isinstance(e, OrdersEvent) for o in e.orders] == ["x-1"]


async def test_market_data_fed_to_the_engine_directly_is_delivered_when_the_feed_is_read() -> None:
    hub = funded_hub()
    gateway = hub.open_account({"USDT": D(100_000)})
    await gateway.start()
    await take(gateway)
    await gateway.place_order(limit(Side.BUY, "0.1", "49990"))
    await take(gateway)

    reader = asyncio.ensure_future(anext(gateway))
    await asyncio.sleep(0)
    assert not reader.done()  # nothing happened yet: the reader waits
    hub.engine.on_trade(SYMBOL, D("49980"), D("5"), Side.SELL, T0 + 5)  # bypasses the hub
    hub.publish()
    first = await asyncio.wait_for(reader, 1.0)

    assert isinstance(first, ExecutionsEvent)
    assert [x.exec_price for x in first.executions] == [D("49990")]


async def test_the_hand_over_carries_open_orders_positions_wallet_and_fills_since() -> None:
    hub = funded_hub()
    gateway = hub.open_account({"USDT": D(100_000)})
    await gateway.place_order(market(Side.BUY, "0.3", link="pos"))  # before the feed starts
    resting = await gateway.place_order(limit(Side.BUY, "0.1", "49000", link="rest"))

    await gateway.start(since_ms=T0)
    events = await take(gateway)

    assert [(type(e), getattr(e, "source", None)) for e in events] == [
        (ExecutionsEvent, RESYNC),
        (OrdersEvent, RESYNC),
        (PositionsEvent, RESYNC),
        (WalletsEvent, RESYNC),
        (ResyncEvent, None),
    ]
    fills, orders, positions, _, resync = events
    assert isinstance(fills, ExecutionsEvent)
    assert isinstance(orders, OrdersEvent)
    assert isinstance(positions, PositionsEvent)
    assert isinstance(resync, ResyncEvent)
    assert [x.order_link_id for x in fills.executions] == ["pos"]
    assert sorted((o.order_link_id, o.status, o.order_id == resting.order_id) for o in orders.orders) == [
        ("pos", OrderStatus.FILLED, False),
        ("rest", OrderStatus.NEW, True),
    ]
    assert [(p.symbol, p.size) for p in positions.positions] == [(SYMBOL, D("0.3"))]
    assert (resync.connection, resync.since_ms, resync.orders, resync.executions, resync.positions) == (
        1,
        T0,
        2,
        1,
        1,
    )


async def test_starting_twice_hands_over_once_and_a_closed_feed_stays_closed() -> None:
    gateway = funded_hub().open_account({"USDT": D(100_000)})

    await gateway.start()
    await gateway.start()
    events = await take(gateway)
    await gateway.close()
    await gateway.start()

    assert [type(e) for e in events] == [PositionsEvent, WalletsEvent, ResyncEvent]
    assert [e async for e in gateway] == []


async def test_closing_wakes_a_waiting_reader() -> None:
    gateway = funded_hub().open_account({"USDT": D(100_000)})
    await gateway.start()
    await take(gateway)

    reader = asyncio.ensure_future(anext(gateway))
    await asyncio.sleep(0)
    await gateway.close()

    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, 1.0)


async def test_with_latency_an_order_is_created_then_new_when_the_hub_advances_time() -> None:
    hub = funded_hub(EngineConfig(latency=LatencyModel(order_ms=30)))
    gateway = hub.open_account({"USDT": D(100_000)})
    await gateway.start()
    await take(gateway)

    ack = await gateway.place_order(limit(Side.BUY, "0.1", "49990"))
    before = await take(gateway)
    hub.advance_time(T0 + 30)
    after = await take(gateway)

    def statuses(events: list[AccountEvent]) -> list[OrderStatus]:
        return [o.status for e in events if isinstance(e, OrdersEvent) for o in e.orders]

    assert statuses(before) == [OrderStatus.CREATED]
    assert statuses(after) == [OrderStatus.NEW]
    assert {e.ts_ms for e in after} == {T0 + 30}
    found = await gateway.find_order(Category.LINEAR, SYMBOL, order_id=ack.order_id)
    assert found is not None
    assert found.status is OrderStatus.NEW


async def test_refusals_match_the_rest_path() -> None:
    gateway = funded_hub(spot=True).open_account({"USDT": D(100_000)})

    with pytest.raises(BybitInvalidParameterError) as positions:
        await gateway.get_positions(Category.SPOT)
    with pytest.raises(BybitOrderNotFoundError) as spot_cancel:
        await gateway.cancel_order(Category.SPOT, SYMBOL, order_link_id="none")
    with pytest.raises(OrderValidationError):
        await gateway.find_order(Category.LINEAR, SYMBOL)
    with pytest.raises(OrderValidationError):  # a limit order without a price
        await gateway.place_order(OrderRequest(Category.LINEAR, SYMBOL, Side.BUY, OrderType.LIMIT, D("0.1")))

    assert positions.value.ret_code == RetCode.PARAMS_ERROR
    assert spot_cancel.value.ret_code == RetCode.SPOT_ORDER_NOT_EXISTS
    assert await gateway.find_order(Category.SPOT, SYMBOL, "none") is None


async def test_an_order_without_a_link_id_gets_one_and_cancel_all_defaults_to_usdt_contracts() -> None:
    gateway = funded_hub().open_account({"USDT": D(100_000)})

    ack = await gateway.place_order(limit(Side.BUY, "0.1", "49990"))
    cancelled = await gateway.cancel_all_orders(Category.LINEAR)

    assert ack.order_link_id.startswith("bst-")
    assert cancelled == [ack]
    assert await gateway.get_open_orders(Category.LINEAR) == []


async def test_instruments_are_the_engines_listing() -> None:
    gateway = funded_hub(spot=True).open_account({"USDT": D(100_000)})

    linear = await gateway.get_instruments(Category.LINEAR)
    spot = await gateway.get_instruments(Category.SPOT, "btcusdt")

    assert [(i.symbol, i.category) for i in linear] == [(SYMBOL, Category.LINEAR)]
    assert [(i.symbol, i.category) for i in spot] == [(SYMBOL, Category.SPOT)]
    assert await gateway.get_instruments(Category.INVERSE) == []


async def test_a_feeder_driven_backtest_loop_reacts_between_market_events() -> None:
    """The loop the module docstring shows: the feeder applies, the hub publishes, the strategy acts."""
    engine = make_engine()
    hub = EngineHub(engine)
    gateway = hub.open_account({"USDT": D(100_000)})
    await gateway.start()
    await take(gateway)
    book = BookUpdate(Category.LINEAR, SYMBOL, 50, True, [["50000", "1"]], [["50001", "1"]], 1, 1, T0, T0, T0)
    prints = [
        TradesUpdate(
            Category.LINEAR, SYMBOL, (Trade(ts, SYMBOL, Side.SELL, D(price), D(1), f"t{ts}"),), ts, ts
        )
        for ts, price in ((T0 + 1_000, "49995"), (T0 + 2_000, "49989"))
    ]
    seen: list[tuple[int, str]] = []

    for event in Feeder(engine, [[book], prints]).events():
        hub.publish()
        if isinstance(event, BookUpdate):
            await gateway.place_order(limit(Side.BUY, "0.1", "49990", link="bt-1"))
        for account_event in await take(gateway):
            if isinstance(account_event, ExecutionsEvent):
                seen += [(x.exec_time_ms, str(x.exec_price)) for x in account_event.executions]

    assert seen == [(T0 + 2_000, "49990")]  # the first print stayed above the bid, the second went through
    assert engine.now_ms == T0 + 2_000
