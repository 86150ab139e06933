"""Conditional orders against `bst sim` over loopback: bst's client and private stream, and pybit.

The issue's scenario: a Market order with `triggerPrice` 50000 must rest `Untriggered` (reporting
`triggerPrice` "50000"), not fill at once at the market. Then the trigger is moved to a price the
generated market reaches in the next 30 minutes, the sim clock is advanced, and the `Triggered`
transition followed by the fill arrives on the private stream and shows over REST.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP
from test_trading_rest import KEY, LINEAR, NOW, SECRET, SYMBOL, fresh_desk, limit, market, trading_client
from test_trading_stream import WAIT_S, next_events, stream_for, until_resync

from bst.domain.account_events import ExecutionsEvent, OrdersEvent, PositionsEvent, WalletsEvent
from bst.domain.clock import ManualClock
from bst.domain.errors import BybitOrderError, BybitOrderNotFoundError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    CreateType,
    Order,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    OrderType,
    StopOrderType,
    TriggerBy,
    TriggerDirection,
)
from bst.domain.portfolio import PositionSide
from bst.exchange.rest import BybitRestClient
from bst.exchange.ws_private import PrivateStream

HALF_HOUR_MS = 30 * 60_000
RISE = TriggerDirection.RISE


def future_extremes(sim: Any, start_ms: int) -> tuple[Decimal, Decimal]:
    """Return the lowest and highest generated trade price in the 30 minutes after `start_ms`."""
    prices = [t.price for t in sim.generator.trades(SYMBOL, start_ms + 1, start_ms + HALF_HOUR_MS)]
    return min(prices), max(prices)


def only_order(event: Any) -> Order:
    assert isinstance(event, OrdersEvent)
    [order] = event.orders
    return order


@pytest.fixture
async def streaming(sim: Any) -> AsyncIterator[tuple[Any, BybitRestClient, PrivateStream]]:
    """A fresh desk, bst's REST client and its private stream, synced and past the first re-read."""
    fresh_desk(sim)
    async with trading_client(sim) as client:
        stream, _ = stream_for(sim, client)
        await stream.start()
        await asyncio.wait_for(stream.wait_synced(), WAIT_S)
        await until_resync(stream)
        yield sim, client, stream
        await stream.close()


async def test_a_market_order_with_a_trigger_waits_then_triggers_on_rest_and_stream(streaming: Any) -> None:
    sim, client, stream = streaming
    last = sim.generator.last_price(SYMBOL, NOW)
    lowest, _ = future_extremes(sim, NOW)
    assert Decimal(50_000) < lowest < last  # the market falls to `lowest` within the half hour
    request = market(
        "0.001",
        order_link_id="stop-1",
        trigger_price=Decimal(50_000),
        trigger_direction=TriggerDirection.FALL,
    )

    ack = await client.place_order(request, await client.get_instrument(LINEAR, SYMBOL))
    placed = await next_events(stream, 2)  # the order, then the wallet
    [waiting] = await client.get_open_orders(LINEAR, symbol=SYMBOL)
    await client.amend_order(AmendRequest(LINEAR, SYMBOL, order_link_id="stop-1", trigger_price=lowest))
    amended = await next_events(stream, 2)
    sim.clock.advance(HALF_HOUR_MS / 1000)  # no request follows: the sim's own tick syncs the market
    fired = await next_events(stream, 5)
    found = await client.find_order(LINEAR, SYMBOL, "stop-1")
    fills = await client.get_executions(LINEAR, symbol=SYMBOL)
    [position] = await client.get_positions(LINEAR, symbol=SYMBOL)

    assert (waiting.order_id, waiting.status, waiting.trigger_price, waiting.price) == (
        ack.order_id,
        OrderStatus.UNTRIGGERED,
        Decimal(50_000),
        Decimal(0),
    )
    assert (waiting.trigger_direction, waiting.trigger_by, waiting.stop_order_type, waiting.create_type) == (
        TriggerDirection.FALL,
        TriggerBy.LAST_PRICE,
        StopOrderType.STOP,
        CreateType.CREATE_BY_STOP_ORDER,
    )
    assert only_order(placed[0]) == waiting
    assert isinstance(placed[1], WalletsEvent)
    assert (only_order(amended[0]).status, only_order(amended[0]).trigger_price) == (
        OrderStatus.UNTRIGGERED,
        lowest,
    )
    assert [type(e) for e in fired] == [
        OrdersEvent,
        ExecutionsEvent,
        OrdersEvent,
        PositionsEvent,
        WalletsEvent,
    ]
    triggered, filled = only_order(fired[0]), only_order(fired[2])
    assert (triggered.status, filled.status) == (OrderStatus.TRIGGERED, OrderStatus.FILLED)
    assert filled.cum_exec_qty == Decimal("0.001")
    first_low = next(
        t for t in sim.generator.trades(SYMBOL, NOW + 1, NOW + HALF_HOUR_MS) if t.price <= lowest
    )
    assert triggered.updated_time_ms == first_low.ts_ms  # it fired on the trade that reached it
    assert found is not None
    assert (found.status, found.trigger_price, found.stop_order_type) == (OrderStatus.FILLED, lowest, "Stop")
    assert [f.order_id for f in fills] == [ack.order_id]
    assert (position.side, position.size) == (PositionSide.BUY, Decimal("0.001"))


async def test_a_limit_conditional_rests_as_new_after_its_trigger(trading_sim: Any) -> None:
    _, highest = future_extremes(trading_sim, NOW)
    below = highest - Decimal(2_000)
    request = limit(
        below,
        "0.002",
        order_link_id="stop-lim",
        trigger_price=highest,
        trigger_direction=TriggerDirection.RISE,
    )
    async with trading_client(trading_sim) as client:
        ack = await client.place_order(request, await client.get_instrument(LINEAR, SYMBOL))
        before = await client.get_wallet_balance(coins=["USDT"])
        trading_sim.clock.advance(HALF_HOUR_MS / 1000)
        [resting] = await client.get_open_orders(LINEAR, symbol=SYMBOL)
        after = await client.get_wallet_balance(coins=["USDT"])
        await client.cancel_order(LINEAR, SYMBOL, order_id=ack.order_id)
        [closed] = await client.get_order_history(LINEAR, symbol=SYMBOL)

    assert (resting.order_id, resting.status, resting.price, resting.trigger_price) == (
        ack.order_id,
        OrderStatus.NEW,
        below,
        highest,
    )
    assert before.coins[0].total_order_im == 0  # untriggered: no order margin
    assert after.coins[0].total_order_im > 0
    assert closed.status is OrderStatus.CANCELLED  # cancelled after it triggered: not Deactivated


async def test_cancelling_before_the_trigger_deactivates_and_refusals_carry_bybit_codes(
    trading_sim: Any,
) -> None:
    last = trading_sim.generator.last_price(SYMBOL, NOW)
    async with trading_client(trading_sim) as client:
        instrument = await client.get_instrument(LINEAR, SYMBOL)
        with pytest.raises(BybitOrderError) as wrong_side:
            await client.place_order(
                market("0.001", trigger_price=Decimal(50_000), trigger_direction=RISE), instrument
            )
        ack = await client.place_order(
            market("0.001", trigger_price=last + 1000, trigger_direction=RISE), instrument
        )
        await client.cancel_order(LINEAR, SYMBOL, order_id=ack.order_id)
        found = await client.find_order(LINEAR, SYMBOL, order_id=ack.order_id)

    assert wrong_side.value.ret_code == 110092
    assert (
        wrong_side.value.ret_msg == f"expect Rising, but trigger_price[50000] <= current[{last}]??LastPrice"
    )
    assert found is not None
    assert (found.status, found.cancel_type) == (OrderStatus.DEACTIVATED, "CancelByUser")


async def test_bst_places_and_cancels_a_spot_stop_order(trading_sim: Any) -> None:
    last = trading_sim.generator.last_price(SYMBOL, NOW, category=Category.SPOT)
    request = OrderRequest(
        Category.SPOT,
        SYMBOL,
        Side.BUY,
        OrderType.LIMIT,
        Decimal("0.001"),
        price=last - 1000,
        trigger_price=last - 500,
        order_filter=OrderFilter.STOP_ORDER,
    )
    async with trading_client(trading_sim) as client:
        ack = await client.place_order(request, await client.get_instrument(Category.SPOT, SYMBOL))
        [waiting] = await client.get_open_orders(Category.SPOT, symbol=SYMBOL)
        with pytest.raises(BybitOrderNotFoundError):  # a spot cancel looks among plain orders by default
            await client.cancel_order(Category.SPOT, SYMBOL, order_id=ack.order_id)
        await client.cancel_order(
            Category.SPOT, SYMBOL, order_id=ack.order_id, order_filter=OrderFilter.STOP_ORDER
        )
        found = await client.find_order(Category.SPOT, SYMBOL, order_id=ack.order_id)

    assert (waiting.status, waiting.trigger_price, waiting.trigger_direction) == (
        OrderStatus.UNTRIGGERED,
        last - 500,
        TriggerDirection.FALL,
    )
    assert found is not None
    assert found.status is OrderStatus.DEACTIVATED


@pytest.fixture
def trading_sim(sim: Any) -> Any:
    return fresh_desk(sim)


# --- pybit --------------------------------------------------------------------------------------


def test_pybit_sees_the_issue_scenario_exactly(sim_factory: Any) -> None:
    """pybit signs with the real clock: the sim's manual clock starts at real time and only moves ahead,
    and pybit's recv window covers the half hour the test advances it."""
    start = int(time.time() * 1000)
    sim = fresh_desk(sim_factory(clock=ManualClock(start), ip_limit_requests=1_000_000))
    session = HTTP(
        testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1, retry_delay=0, recv_window=3_600_000
    )
    session.endpoint = sim.base_url
    last = sim.generator.last_price(SYMBOL, start)
    lowest, _ = future_extremes(sim, start)

    placed = session.place_order(
        category="linear",
        symbol=SYMBOL,
        side="Buy",
        orderType="Market",
        qty="0.001",
        triggerPrice="50000",
        triggerDirection=2,
        orderLinkId="pybit-stop",
    )
    [waiting] = session.get_open_orders(category="linear", symbol=SYMBOL)["result"]["list"]
    plain_only = session.get_open_orders(category="linear", symbol=SYMBOL, orderFilter="Order")
    stops_only = session.get_open_orders(category="linear", symbol=SYMBOL, orderFilter="StopOrder")
    with pytest.raises(InvalidRequestError, match="110092"):
        session.place_order(
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="0.001",
            triggerPrice="50000",
            triggerDirection=1,
        )
    with pytest.raises(InvalidRequestError, match="triggerDirection is required"):
        session.place_order(
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="0.001",
            triggerPrice="50000",
        )
    session.amend_order(category="linear", symbol=SYMBOL, orderLinkId="pybit-stop", triggerPrice=str(lowest))
    sim.clock.advance(HALF_HOUR_MS / 1000)
    [done] = session.get_open_orders(category="linear", symbol=SYMBOL, orderLinkId="pybit-stop")["result"][
        "list"
    ]
    fills = session.get_executions(category="linear", symbol=SYMBOL)["result"]["list"]

    assert placed["retCode"] == 0
    assert {k: waiting[k] for k in ("orderId", "orderStatus", "orderType", "price", "triggerPrice")} == {
        "orderId": placed["result"]["orderId"],
        "orderStatus": "Untriggered",
        "orderType": "Market",
        "price": "0",
        "triggerPrice": "50000",
    }
    assert {k: waiting[k] for k in ("triggerDirection", "triggerBy", "stopOrderType", "createType")} == {
        "triggerDirection": 2,
        "triggerBy": "LastPrice",
        "stopOrderType": "Stop",
        "createType": "CreateByStopOrder",
    }
    assert Decimal(waiting["lastPriceOnCreated"]) == last
    assert plain_only["result"]["list"] == []
    assert [o["orderId"] for o in stops_only["result"]["list"]] == [placed["result"]["orderId"]]
    assert (done["orderStatus"], done["triggerPrice"], done["cumExecQty"]) == ("Filled", str(lowest), "0.001")
    assert [f["orderId"] for f in fills] == [placed["result"]["orderId"]]
    assert fills[0]["stopOrderType"] == "Stop"


def test_pybit_spot_stop_order_needs_its_order_filter_to_be_cancelled(sim_factory: Any) -> None:
    start = int(time.time() * 1000)
    sim = fresh_desk(sim_factory(clock=ManualClock(start), ip_limit_requests=1_000_000))
    session = HTTP(testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1, retry_delay=0)
    session.endpoint = sim.base_url
    last = sim.generator.last_price(SYMBOL, start, category=Category.SPOT)
    trigger = str(last + 500)

    with pytest.raises(InvalidRequestError, match="170201"):
        session.place_order(
            category="spot", symbol=SYMBOL, side="Buy", orderType="Market", qty="100", triggerPrice=trigger
        )
    placed = session.place_order(
        category="spot",
        symbol=SYMBOL,
        side="Buy",
        orderType="Market",
        qty="100",
        triggerPrice=trigger,
        orderFilter="StopOrder",
    )
    [waiting] = session.get_open_orders(category="spot", symbol=SYMBOL)["result"]["list"]
    with pytest.raises(InvalidRequestError, match="170213"):
        session.cancel_order(category="spot", symbol=SYMBOL, orderId=placed["result"]["orderId"])
    session.cancel_order(
        category="spot", symbol=SYMBOL, orderId=placed["result"]["orderId"], orderFilter="StopOrder"
    )
    [closed] = session.get_open_orders(category="spot", symbol=SYMBOL, openOnly=1)["result"]["list"]

    assert (waiting["orderStatus"], waiting["triggerPrice"], waiting["stopOrderType"]) == (
        "Untriggered",
        trigger,
        "Stop",
    )
    assert (closed["orderStatus"], closed["cancelType"]) == ("Deactivated", "CancelByUser")
