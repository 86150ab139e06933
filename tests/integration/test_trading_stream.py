"""`PrivateStream` against `bst sim`: every order event on its topic, reconnects with the REST hand-over.

The stream runs on a ManualClock of its own (pings and reconnect backoff move only when the test
says), reads the exchange time from the REST client, and re-reads over that client after connects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from test_trading_rest import (
    KEY,
    LINEAR,
    NOW,
    SECRET,
    SYMBOL,
    fresh_desk,
    limit,
    market,
    top_of_book,
    trading_client,
)

from bst.domain.account_events import (
    AccountEvent,
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
    WalletsEvent,
)
from bst.domain.clock import ManualClock
from bst.domain.errors import BybitAuthError, BybitSignatureError, ConfigError
from bst.domain.orders import AmendRequest, OrderStatus
from bst.domain.portfolio import PositionSide
from bst.exchange.config import Credentials
from bst.exchange.rest import BybitRestClient
from bst.exchange.ws_private import PrivateStream, PrivateStreamConfig
from bst.exchange.ws_private_resync import ResyncPlan
from bst.sim.ws_private import streams_of
from bst.trading.order_tracker import OrderTracker

WAIT_S = 5.0  # real-time safety net; every wait below normally ends in milliseconds
STREAM = AccountEventSource.STREAM
RESYNC = AccountEventSource.RESYNC


def stream_for(
    sim: Any, client: BybitRestClient | None, *, key: str = KEY, secret: str = SECRET, **overrides: Any
) -> tuple[PrivateStream, ManualClock]:
    clock = ManualClock(NOW)
    config = PrivateStreamConfig(sim.ws_url, Credentials(key, secret), **{"seed": 7, **overrides})
    exchange_time = None if client is not None else sim.clock.now_ms
    return PrivateStream(config, rest=client, clock=clock, exchange_time=exchange_time), clock


async def next_events(stream: PrivateStream, count: int) -> list[AccountEvent]:
    return [await asyncio.wait_for(anext(stream), WAIT_S) for _ in range(count)]


async def until_resync(stream: PrivateStream) -> list[AccountEvent]:
    """Return the events up to and including the next ResyncEvent."""
    seen: list[AccountEvent] = []
    while not seen or not isinstance(seen[-1], ResyncEvent):
        seen.append(await asyncio.wait_for(anext(stream), WAIT_S))
    return seen


@pytest.fixture
async def live(sim: Any) -> AsyncIterator[tuple[Any, BybitRestClient, PrivateStream, ManualClock]]:
    fresh_desk(sim)
    async with trading_client(sim) as client:
        stream, clock = stream_for(sim, client)
        await stream.start()
        await asyncio.wait_for(stream.wait_synced(), WAIT_S)
        first = await until_resync(stream)
        assert [type(e) for e in first] == [PositionsEvent, WalletsEvent, ResyncEvent]
        yield sim, client, stream, clock
        await stream.close()


async def test_a_market_fill_arrives_as_execution_order_position_wallet(live: Any) -> None:
    sim, client, stream, _ = live
    _, _, ask, _ = top_of_book(sim)

    ack = await client.place_order(market("0.002", order_link_id="ws-mkt"))
    events = await next_events(stream, 4)

    assert [(type(e), e.source) for e in events] == [  # type: ignore[union-attr]
        (ExecutionsEvent, STREAM),
        (OrdersEvent, STREAM),
        (PositionsEvent, STREAM),
        (WalletsEvent, STREAM),
    ]
    fills, orders, positions, wallets = events
    assert isinstance(fills, ExecutionsEvent)
    assert isinstance(orders, OrdersEvent)
    assert isinstance(positions, PositionsEvent)
    assert isinstance(wallets, WalletsEvent)
    rest_fills = await client.get_executions(LINEAR, symbol=SYMBOL)
    assert list(fills.executions) == rest_fills
    [order] = orders.orders
    assert (order.order_id, order.order_link_id, order.status, order.cum_exec_qty) == (
        ack.order_id,
        "ws-mkt",
        OrderStatus.FILLED,
        Decimal("0.002"),
    )
    rest_order = await client.find_order(LINEAR, SYMBOL, "ws-mkt")
    assert rest_order is not None
    # The topic adds feeCurrency and closedPnl to the REST fields; everything else is equal.
    assert order == replace(rest_order, fee_currency="USDT", closed_pnl=order.closed_pnl)
    [position] = positions.positions
    assert (position.side, position.size, position.avg_price) == (PositionSide.BUY, Decimal("0.002"), ask)
    [wallet] = wallets.wallets
    assert wallet.total_wallet_balance == Decimal(100_000) - rest_fills[0].exec_fee
    assert all(e.ts_ms == NOW for e in (fills, orders, positions, wallets))


async def test_new_amended_cancelled_and_resting_fill_each_arrive_as_order_updates(live: Any) -> None:
    sim, client, stream, _ = live
    gen = sim.generator
    lowest = min(t.price for t in gen.trades(SYMBOL, NOW + 1, NOW + 30 * 60_000))
    fill_price = lowest + Decimal("0.1")
    bid, _, _, _ = top_of_book(sim)

    resting = await client.place_order(limit(bid - 3000, "0.01", order_link_id="ws-rest"))
    [placed, *_] = await next_events(stream, 2)  # the order, then the wallet (order margin)
    await client.amend_order(AmendRequest(LINEAR, SYMBOL, order_link_id="ws-rest", qty=Decimal("0.02")))
    [amended, *_] = await next_events(stream, 2)
    await client.cancel_order(LINEAR, SYMBOL, order_link_id="ws-rest")
    [cancelled, *_] = await next_events(stream, 2)
    filling = await client.place_order(limit(fill_price, order_link_id="ws-fill"))
    [new_fill_order, *_] = await next_events(stream, 2)
    sim.clock.advance(30 * 60)  # the generated market trades through the price; no request follows
    fill_events = await next_events(stream, 4)

    def only_order(event: AccountEvent) -> Any:
        assert isinstance(event, OrdersEvent)
        [order] = event.orders
        return order

    assert [
        (o.order_id, o.status, o.qty, o.cum_exec_qty)
        for o in map(only_order, (placed, amended, cancelled, new_fill_order))
    ] == [
        (resting.order_id, OrderStatus.NEW, Decimal("0.01"), Decimal(0)),
        (resting.order_id, OrderStatus.NEW, Decimal("0.02"), Decimal(0)),
        (resting.order_id, OrderStatus.CANCELLED, Decimal("0.02"), Decimal(0)),
        (filling.order_id, OrderStatus.NEW, Decimal("0.001"), Decimal(0)),
    ]
    assert [type(e) for e in fill_events] == [ExecutionsEvent, OrdersEvent, PositionsEvent, WalletsEvent]
    fills = fill_events[0]
    assert isinstance(fills, ExecutionsEvent)
    assert [(f.order_id, f.exec_price, f.is_maker) for f in fills.executions] == [
        (filling.order_id, fill_price, True)
    ]
    assert only_order(fill_events[1]).status is OrderStatus.FILLED


async def test_a_fill_while_disconnected_is_delivered_by_the_rest_hand_over(live: Any) -> None:
    sim, client, stream, clock = live
    tracker = OrderTracker()
    request = market("0.003", order_link_id="gap-1")
    tracker.register(request, NOW)

    streams_of(sim.state).drop_connections()
    await asyncio.wait_for(stream.wait_state(lambda: not stream.live), WAIT_S)
    ack = await client.place_order(request)  # fills while nobody listens
    tracker.mark_acked("gap-1", ack.order_id, NOW)
    clock.advance(1.0)  # past the reconnect backoff
    await asyncio.wait_for(stream.wait_synced(), WAIT_S)
    handed_over = await until_resync(stream)
    for event in handed_over:
        if isinstance(event, ExecutionsEvent):
            for fill in event.executions:
                tracker.on_execution(fill, NOW)
        elif isinstance(event, OrdersEvent):
            for order in event.orders:
                tracker.on_order(order, NOW)

    assert [(type(e), getattr(e, "source", None)) for e in handed_over] == [
        (ExecutionsEvent, RESYNC),
        (OrdersEvent, RESYNC),
        (PositionsEvent, RESYNC),
        (WalletsEvent, RESYNC),
        (ResyncEvent, None),
    ]
    resync = handed_over[-1]
    assert isinstance(resync, ResyncEvent)
    assert (resync.connection, resync.executions, resync.orders) == (2, 1, 1)
    assert resync.since_ms == NOW - ResyncPlan().overlap_ms
    tracked = tracker.get("gap-1")
    assert tracked is not None
    assert (tracked.status, tracked.filled_qty, tracked.missing_fill_qty, tracked.is_done) == (
        OrderStatus.FILLED,
        Decimal("0.003"),
        Decimal(0),
        True,
    )
    assert (stream.stats.connects, stream.stats.reconnects, stream.stats.resyncs) == (2, 1, 2)
    assert streams_of(sim.state).connections == 1
    # Re-subscribed: the next event comes on the stream again.
    await client.place_order(market("0.001"))
    assert isinstance(await asyncio.wait_for(anext(stream), WAIT_S), ExecutionsEvent)


async def test_pings_are_answered_and_keep_the_connection(live: Any) -> None:
    _, _, stream, clock = live
    stats = stream.stats
    for n in (1, 2, 3):
        clock.advance(20.0 if n == 1 else 10.0)  # first ping after 20 s, then every 20 s
        await asyncio.wait_for(stream.wait_state(lambda n=n: stats.pongs == stats.pings_sent == n), WAIT_S)
        clock.advance(10.0)  # the pong deadline passes: the connection is alive
        await asyncio.sleep(0.01)
    assert (stats.pings_sent, stats.pongs, stats.dead_connections) == (3, 3, 0)
    assert stream.connection == 1


@pytest.mark.parametrize(
    ("key", "secret", "error", "code"),
    [(KEY, "wrong-secret", BybitSignatureError, 10004), ("nobody", SECRET, BybitAuthError, 10003)],
)
async def test_refused_credentials_end_the_stream_without_a_reconnect_loop(
    sim: Any, key: str, secret: str, error: type[Exception], code: int
) -> None:
    fresh_desk(sim)
    stream, clock = stream_for(sim, None, key=key, secret=secret)
    await stream.start()
    with pytest.raises(error) as refused:
        await asyncio.wait_for(stream.wait_live(), WAIT_S)
    clock.advance(60.0)  # no backoff sleeper is waiting: nothing reconnects
    await asyncio.sleep(0.05)
    with pytest.raises(error):
        await asyncio.wait_for(anext(stream), WAIT_S)
    await stream.close()

    assert type(refused.value) is error
    assert getattr(refused.value, "ret_code", None) == code
    assert "wrong-secret" not in str(refused.value)
    assert (stream.stats.connects, stream.stats.auth_failures) == (1, 1)


async def test_an_expired_auth_is_retried_then_reported(sim: Any) -> None:
    fresh_desk(sim)
    config = PrivateStreamConfig(sim.ws_url, Credentials(KEY, SECRET), reconnect_initial_s=0.01, seed=1)
    stream = PrivateStream(config, exchange_time=lambda: sim.clock.now_ms() - 60_000)
    await stream.start()
    with pytest.raises(BybitAuthError, match="3 times in a row: Params Error"):
        await asyncio.wait_for(stream.wait_live(), WAIT_S)
    await stream.close()
    assert (stream.stats.connects, stream.stats.auth_failures) == (3, 3)


async def test_per_category_topics_and_a_stream_without_rest(sim: Any) -> None:
    fresh_desk(sim)
    async with trading_client(sim) as client:
        stream, _ = stream_for(sim, None, topics=("order.linear", "execution.linear"))
        await stream.start()
        await asyncio.wait_for(stream.wait_synced(), WAIT_S)
        await client.place_order(market("0.001", order_link_id="cat-1"))
        events = await next_events(stream, 2)
        await stream.close()
    assert [type(e) for e in events] == [ExecutionsEvent, OrdersEvent]
    assert stream.stats.resyncs == 0
    with pytest.raises(ConfigError, match="cannot be mixed"):
        PrivateStreamConfig(sim.ws_url, Credentials(KEY, SECRET), topics=("order", "execution.linear"))
