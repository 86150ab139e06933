"""Shared pieces of the execution-policy unit tests: requests, a policy over a scripted venue, errors."""

from __future__ import annotations

from decimal import Decimal

from scripted_venue import ScriptedVenue

from bst.domain.clock import ManualClock
from bst.domain.errors import BybitOrderError, BybitServerError
from bst.domain.market import Category, Side
from bst.domain.orders import OrderRequest, OrderType
from bst.trading.execution import ExecutionConfig, ExecutionPolicy
from bst.trading.order_tracker import LocalPhase, OrderTracker

LINEAR = Category.LINEAR
SYMBOL = "BTCUSDT"
LINK = "ord-1"


def request(link: str = LINK, qty: str = "0.010", price: str = "50000") -> OrderRequest:
    return OrderRequest(
        LINEAR, SYMBOL, Side.BUY, OrderType.LIMIT, Decimal(qty), Decimal(price), order_link_id=link
    )


def policy(venue: ScriptedVenue, **config: int | float) -> tuple[ExecutionPolicy, OrderTracker, ManualClock]:
    clock = ManualClock(autojump=True)
    tracker = OrderTracker()
    return ExecutionPolicy(venue, tracker, clock, ExecutionConfig(**config)), tracker, clock  # type: ignore[arg-type]


def phase(tracker: OrderTracker, link: str = LINK) -> LocalPhase:
    tracked = tracker.get(link)
    assert tracked is not None
    return tracked.phase


REFUSED_MARGIN = BybitOrderError("ab not enough for new order", ret_code=110007)
REFUSED_REDUCE = BybitOrderError(
    "current position is zero, cannot fix reduce-only order qty", ret_code=110017
)
BUSY = BybitServerError("Internal server error.", ret_code=10016)


async def placed(venue: ScriptedVenue) -> tuple[ExecutionPolicy, OrderTracker]:
    """Return a policy whose venue holds one resting order (LINK, oid-1), with the calls log cleared."""
    execution, tracker, _ = policy(venue)
    await execution.submit(request())
    venue.calls.clear()
    return execution, tracker
