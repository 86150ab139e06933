"""A spot stop order placed and cancelled through the ports: the cancel finds it under its filter.

Bybit lists and cancels a spot conditional order only under its `orderFilter` (StopOrder); the
execution policy passes the filter of the order it tracks, so a strategy cancels its stop by
orderLinkId alone, in a backtest as on the exchange.
"""

from __future__ import annotations

from decimal import Decimal

from enginekit import BTC_SPOT, SYMBOL, D, make_engine, set_book

from bst.domain.clock import ManualClock
from bst.domain.errors import BybitOrderNotFoundError
from bst.domain.market import Category, Side
from bst.domain.orders import OrderFilter, OrderRequest, OrderStatus, OrderType
from bst.engine.gateway import EngineHub
from bst.trading.execution import ExecutionPolicy, Resolution
from bst.trading.order_tracker import OrderTracker

SPOT = Category.SPOT


def stop_request(link: str) -> OrderRequest:
    return OrderRequest(
        SPOT,
        SYMBOL,
        Side.SELL,
        OrderType.MARKET,
        Decimal("0.01"),
        order_link_id=link,
        trigger_price=D("45000"),
        order_filter=OrderFilter.STOP_ORDER,
    )


async def test_a_tracked_spot_stop_is_cancelled_by_its_link_id_alone() -> None:
    engine = make_engine(linear=False, spot=True)
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")], category=SPOT)
    engine.on_trade(SYMBOL, D("50000"), D("0.01"), Side.SELL, engine.now_ms, category=SPOT)
    hub = EngineHub(engine)
    gateway = hub.open_account({"USDT": D(100_000), "BTC": D(1)})
    policy = ExecutionPolicy(gateway, OrderTracker(), ManualClock(autojump=True))

    placed = await policy.submit(stop_request("spot-stop-1"), BTC_SPOT)
    waiting = await gateway.find_order(SPOT, SYMBOL, "spot-stop-1")
    plain_cancel_refused = None
    try:
        await gateway.cancel_order(SPOT, SYMBOL, order_link_id="spot-stop-1")
    except BybitOrderNotFoundError as e:
        plain_cancel_refused = e.ret_code
    cancelled = await policy.cancel(SPOT, SYMBOL, order_link_id="spot-stop-1")
    closed = await gateway.find_order(SPOT, SYMBOL, "spot-stop-1")

    assert placed.resolution is Resolution.DONE
    assert waiting is not None
    assert waiting.status is OrderStatus.UNTRIGGERED
    assert plain_cancel_refused == 170213  # without its filter Bybit does not find a spot stop
    assert cancelled.resolution is Resolution.DONE
    assert closed is not None
    assert closed.status is OrderStatus.DEACTIVATED
