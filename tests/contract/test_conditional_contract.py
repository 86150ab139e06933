"""Conditional orders through the trading ports: the same cases against `bst sim` and the engine.

A strategy that places a stop through `OrderGateway` must see the same thing on both venues: the
order waits `Untriggered` holding no margin, a cancel deactivates it, a trigger already passed is
refused with 110092, and when the market reaches the trigger it reports `Triggered` and fills.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from venues import LINEAR, SYMBOL, TradingVenue, engine_venue, sim_venue

from bst.domain.account_events import AccountEvent, OrdersEvent, PositionsEvent
from bst.domain.errors import BybitOrderError
from bst.domain.market import Side
from bst.domain.orders import (
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    TriggerBy,
    TriggerDirection,
)
from bst.domain.portfolio import PositionSide


@pytest.fixture(params=["sim", "engine"])
async def stop_venue(request: pytest.FixtureRequest) -> AsyncIterator[TradingVenue]:
    """Yield each venue with a funded account and its feed started and current."""
    source = sim_venue(request.getfixturevalue("sim")) if request.param == "sim" else engine_venue()
    venue = await anext(source)
    await venue.feed.start()
    await venue.hand_over()
    yield venue
    await source.aclose()


def stop(
    trigger: Decimal, direction: TriggerDirection, link: str, by: TriggerBy | None = None
) -> OrderRequest:
    return OrderRequest(
        LINEAR,
        SYMBOL,
        Side.BUY,
        OrderType.MARKET,
        Decimal("0.001"),
        order_link_id=link,
        trigger_price=trigger,
        trigger_direction=direction,
        trigger_by=by,
    )


def statuses_of(events: list[AccountEvent], order_id: str) -> list[OrderStatus]:
    return [
        o.status for e in events if isinstance(e, OrdersEvent) for o in e.orders if o.order_id == order_id
    ]


def reached(order_id: str, status: OrderStatus) -> Callable[[list[AccountEvent]], bool]:
    return lambda seen: status in statuses_of(seen, order_id)


async def test_a_stop_waits_without_margin_and_a_cancel_deactivates_it(stop_venue: TradingVenue) -> None:
    venue = stop_venue
    trigger = venue.instrument.round_price(venue.best_bid * Decimal("0.7"))
    ack = await venue.gateway.place_order(stop(trigger, TriggerDirection.FALL, "k-stop-1"))
    await venue.events_until(reached(ack.order_id, OrderStatus.UNTRIGGERED))
    [waiting] = await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL)
    wallet = await venue.gateway.get_wallet_balance()

    await venue.gateway.cancel_order(LINEAR, SYMBOL, order_link_id="k-stop-1")
    await venue.events_until(reached(ack.order_id, OrderStatus.DEACTIVATED))
    closed = await venue.gateway.find_order(LINEAR, SYMBOL, "k-stop-1")

    assert (waiting.order_id, waiting.status, waiting.trigger_price, waiting.stop_order_type) == (
        ack.order_id,
        OrderStatus.UNTRIGGERED,
        trigger,
        "Stop",
    )
    assert wallet.total_initial_margin == 0
    assert isinstance(closed, Order)
    assert (closed.status, closed.cancel_type) == (OrderStatus.DEACTIVATED, "CancelByUser")
    assert await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL) == []


async def test_a_trigger_already_passed_is_refused_110092(stop_venue: TradingVenue) -> None:
    below = stop_venue.best_bid - 500 * stop_venue.instrument.tick_size
    with pytest.raises(BybitOrderError) as caught:
        await stop_venue.gateway.place_order(
            stop(below, TriggerDirection.RISE, "k-stop-2", TriggerBy.MARK_PRICE)
        )
    assert caught.value.ret_code == 110092
    assert caught.value.ret_msg.startswith(f"expect Rising, but trigger_price[{below}] <= current[")


async def test_a_stop_the_market_reaches_triggers_and_fills(stop_venue: TradingVenue) -> None:
    venue = stop_venue
    ack = await venue.gateway.place_order(stop(venue.resting_fill_price, TriggerDirection.FALL, "k-stop-3"))
    await venue.events_until(reached(ack.order_id, OrderStatus.UNTRIGGERED))

    await venue.trade_through()
    events = await venue.events_until(
        lambda seen: (
            OrderStatus.FILLED in statuses_of(seen, ack.order_id)
            and any(isinstance(e, PositionsEvent) for e in seen)
        )
    )

    assert statuses_of(events, ack.order_id) == [OrderStatus.TRIGGERED, OrderStatus.FILLED]
    [position] = await venue.gateway.get_positions(LINEAR, symbol=SYMBOL)
    assert (position.side, position.size) == (PositionSide.BUY, Decimal("0.001"))
