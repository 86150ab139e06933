"""The execution policy against `bst sim` over loopback, with real lost and held replies.

The sim's fault injection acts after the route ran (`drop`: the connection is cut after the headers;
`timeout`: the reply is held past the client's timeout) or before it (`error`: a 10016 refusal that
changes nothing), so each test knows what the venue really did and checks that the policy found it
out: one order per orderLinkId, the tracker and the outcome agreeing with the sim's books.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from test_trading_rest import (
    LINEAR,
    SYMBOL,
    Recorder,
    SimTime,
    fresh_desk,
    limit,
    market,
    top_of_book,
    trading_client,
)

from bst.domain.errors import BybitDuplicateOrderError, BybitOrderNotFoundError
from bst.domain.orders import AmendRequest, OrderStatus
from bst.exchange.config import RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.sim.faults import FaultConfig, FaultKind
from bst.trading.execution import ExecutionPolicy, Resolution
from bst.trading.order_tracker import LocalPhase, OrderTracker


def policy(sim: Any, client: BybitRestClient) -> tuple[ExecutionPolicy, OrderTracker]:
    tracker = OrderTracker()
    return ExecutionPolicy(client, tracker, SimTime(sim)), tracker


def codes(recorder: Recorder, *paths: str) -> list[tuple[str, int | None]]:
    """Return (endpoint, retCode or None for no reply) of the requests to `paths`, in order."""
    return [(p.rsplit("/", 1)[-1], c) for p, c, _ in recorder.replies if p in paths]


ORDER_PATHS = (
    "/v5/order/create",
    "/v5/order/amend",
    "/v5/order/cancel",
    "/v5/order/realtime",
    "/v5/order/history",
)


@pytest.fixture
def trading_sim(sim: Any) -> Any:
    return fresh_desk(sim)


async def test_a_lost_create_reply_is_resolved_to_the_one_order_the_sim_placed(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    trading_sim.set_faults(FaultConfig(script=(FaultKind.DROP,), path_prefixes=("/v5/order/create",)))
    recorder = Recorder()
    async with trading_client(trading_sim, transport=recorder) as client:
        execution, tracker = policy(trading_sim, client)
        outcome = await execution.submit(limit(bid - 400, order_link_id="x-lost-1"))
        sent = codes(recorder, *ORDER_PATHS)
        orders = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.DONE, 1, 1)
    assert [(o.order_id, o.order_link_id, o.status) for o in orders] == [
        (outcome.order_id, "x-lost-1", OrderStatus.NEW)
    ]
    assert sent == [("create", None), ("realtime", 0)]
    tracked = tracker.get("x-lost-1")
    assert tracked is not None
    assert (tracked.phase, tracked.order_id) == (LocalPhase.EXCHANGE, outcome.order_id)


async def test_a_create_held_past_the_timeout_is_resolved_by_lookup(sim_factory: Any) -> None:
    sim = fresh_desk(sim_factory(ip_limit_requests=1_000_000))
    _, _, ask, _ = top_of_book(sim)
    sim.set_faults(
        FaultConfig(script=(FaultKind.TIMEOUT,), timeout_hold_s=0.6, path_prefixes=("/v5/order/create",))
    )
    recorder = Recorder()
    async with trading_client(sim, transport=recorder, timeout_s=0.3) as client:
        execution, tracker = policy(sim, client)
        outcome = await execution.submit(market("0.001", order_link_id="x-held-1"))
        history = await client.get_order_history(LINEAR, symbol=SYMBOL)

    assert (outcome.resolution, outcome.sends) == (Resolution.DONE, 1)
    assert outcome.order is not None
    assert (outcome.order.status, outcome.order.cum_exec_qty, outcome.order.avg_price) == (
        OrderStatus.FILLED,
        Decimal("0.001"),
        ask,
    )
    assert [o.order_id for o in history] == [outcome.order_id]
    tracked = tracker.get("x-held-1")
    assert tracked is not None
    assert tracked.status is OrderStatus.FILLED


async def test_a_create_the_sim_refused_with_a_server_error_is_sent_again_once(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    trading_sim.set_faults(
        FaultConfig(script=(FaultKind.ERROR,), error_codes=(10016,), path_prefixes=("/v5/order/create",))
    )
    recorder = Recorder()
    async with trading_client(trading_sim, transport=recorder) as client:
        execution, _ = policy(trading_sim, client)
        outcome = await execution.submit(limit(bid - 400, order_link_id="x-srv-1"))
        sent = codes(recorder, *ORDER_PATHS)
        orders = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    # 10016 leaves the outcome unknown; the lookup finds nothing, so the same orderLinkId goes again.
    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.DONE, 2, 1)
    # One lookup: open orders, then open-or-recently-closed, then history, all empty.
    assert sent == [("create", 10016), ("realtime", 0), ("realtime", 0), ("history", 0), ("create", 0)]
    assert [(o.order_id, o.order_link_id) for o in orders] == [(outcome.order_id, "x-srv-1")]


async def test_a_reused_order_link_id_is_refused_and_the_existing_order_reported(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    async with trading_client(trading_sim) as client:
        execution, _ = policy(trading_sim, client)
        first = await execution.submit(limit(bid - 300, order_link_id="x-dup-1"))
        again = await ExecutionPolicy(client, OrderTracker(), SimTime(trading_sim)).submit(
            limit(bid - 301, order_link_id="x-dup-1")
        )
        orders = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    assert first.resolution is Resolution.DONE
    assert again.resolution is Resolution.REFUSED
    assert isinstance(again.error, BybitDuplicateOrderError)
    assert again.error.ret_code == 110072
    assert again.order is not None
    assert (again.order.order_id, again.order.price) == (first.order_id, bid - 300)
    assert [o.order_id for o in orders] == [first.order_id]


@pytest.mark.parametrize("fault", [FaultKind.DROP, FaultKind.TIMEOUT])
async def test_a_lost_or_held_amend_is_confirmed_by_the_amended_order(
    sim_factory: Any, fault: FaultKind
) -> None:
    sim = fresh_desk(sim_factory(ip_limit_requests=1_000_000))
    bid, _, _, _ = top_of_book(sim)
    recorder = Recorder()
    async with trading_client(sim, transport=recorder, timeout_s=0.3) as client:
        execution, tracker = policy(sim, client)
        await execution.submit(limit(bid - 400, order_link_id="x-amd-1"))
        sim.set_faults(FaultConfig(script=(fault,), timeout_hold_s=0.6, path_prefixes=("/v5/order/amend",)))
        outcome = await execution.amend(
            AmendRequest(LINEAR, SYMBOL, order_link_id="x-amd-1", qty=Decimal("0.003"), price=bid - 450)
        )
        sent = codes(recorder, "/v5/order/amend", "/v5/order/realtime")
        [order] = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.DONE, 1, 1)
    assert (order.qty, order.price) == (Decimal("0.003"), bid - 450)
    assert sent == [("amend", None), ("realtime", 0)]
    tracked = tracker.get("x-amd-1")
    assert tracked is not None
    assert tracked.order is not None
    assert tracked.order.qty == Decimal("0.003")


@pytest.mark.parametrize("fault", [FaultKind.DROP, FaultKind.TIMEOUT])
async def test_a_lost_or_held_cancel_is_confirmed_by_the_cancelled_order(
    sim_factory: Any, fault: FaultKind
) -> None:
    sim = fresh_desk(sim_factory(ip_limit_requests=1_000_000))
    bid, _, _, _ = top_of_book(sim)
    recorder = Recorder()
    async with trading_client(sim, transport=recorder, timeout_s=0.3) as client:
        execution, tracker = policy(sim, client)
        placed = await execution.submit(limit(bid - 400, order_link_id="x-cxl-1"))
        sim.set_faults(FaultConfig(script=(fault,), timeout_hold_s=0.6, path_prefixes=("/v5/order/cancel",)))
        outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id="x-cxl-1")
        still_open = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    assert (outcome.resolution, outcome.order_id, outcome.sends) == (Resolution.DONE, placed.order_id, 1)
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.CANCELLED
    assert still_open == []
    assert codes(recorder, "/v5/order/cancel", "/v5/order/realtime")[0] == ("cancel", None)
    tracked = tracker.get("x-cxl-1")
    assert tracked is not None
    assert tracked.status is OrderStatus.CANCELLED


async def test_a_cancel_refused_as_not_found_reports_how_the_order_ended(trading_sim: Any) -> None:
    recorder = Recorder()
    async with trading_client(trading_sim, transport=recorder) as client:
        execution, _ = policy(trading_sim, client)
        filled = await execution.submit(market("0.001", order_link_id="x-mkt-1"))
        outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id="x-mkt-1")
        never = await execution.cancel(LINEAR, SYMBOL, order_link_id="x-never")

    assert (outcome.resolution, outcome.order_id, outcome.lookups) == (Resolution.REFUSED, filled.order_id, 1)
    assert isinstance(outcome.error, BybitOrderNotFoundError)
    assert outcome.error.ret_code == 110001
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.FILLED
    assert (never.resolution, never.order) == (Resolution.REFUSED, None)
    assert isinstance(never.error, BybitOrderNotFoundError)


async def test_a_cancel_the_sim_refused_with_a_server_error_is_sent_again(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    recorder = Recorder()
    async with trading_client(trading_sim, transport=recorder) as client:
        execution, _ = policy(trading_sim, client)
        await execution.submit(limit(bid - 400, order_link_id="x-cxl-2"))
        trading_sim.set_faults(
            FaultConfig(script=(FaultKind.ERROR,), error_codes=(10000,), path_prefixes=("/v5/order/cancel",))
        )
        outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id="x-cxl-2")

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.DONE, 2, 1)
    assert codes(recorder, "/v5/order/cancel", "/v5/order/realtime") == [
        ("cancel", 10000),
        ("realtime", 0),  # still open: the 10000 changed nothing
        ("cancel", 0),
    ]


async def test_cancel_all_whose_reply_was_lost_leaves_nothing_open(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    # No retries in the client: the policy's own re-send is what is under test.
    async with trading_client(trading_sim, retry=RetryConfig(max_attempts=1)) as client:
        execution, _ = policy(trading_sim, client)
        for i in range(3):
            await execution.submit(limit(bid - 500 - i, order_link_id=f"x-all-{i}"))
        trading_sim.set_faults(FaultConfig(script=(FaultKind.DROP,), path_prefixes=("/v5/order/cancel-all",)))
        outcome = await execution.cancel_all(LINEAR, symbol=SYMBOL)
        left = await client.get_open_orders(LINEAR, symbol=SYMBOL)

    # The first send cancelled all three, its reply was cut; the second found nothing left.
    assert (outcome.resolution, outcome.sends, outcome.cancelled, outcome.complete) == (
        Resolution.DONE,
        2,
        (),
        False,
    )
    assert left == []


async def test_resolve_unresolved_after_a_restart_learns_what_the_sim_holds(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    async with trading_client(trading_sim) as client:
        before_crash = await client.place_order(limit(bid - 400, order_link_id="x-crash-1"))
        # A fresh process: its tracker was restored with two orders marked sent, one never arrived.
        tracker = OrderTracker()
        for link in ("x-crash-1", "x-crash-2"):
            tracker.register(limit(bid - 400, order_link_id=link), 0)
            tracker.mark_sent(link, 0)
        outcomes = await ExecutionPolicy(client, tracker, SimTime(trading_sim)).resolve_unresolved()

    assert [(o.order_link_id, o.resolution, o.order_id) for o in outcomes] == [
        ("x-crash-1", Resolution.DONE, before_crash.order_id),
        ("x-crash-2", Resolution.NOT_FOUND, ""),
    ]
    phases = [(t.order_link_id, t.phase, t.status) for t in tracker.all()]
    assert phases == [
        ("x-crash-1", LocalPhase.EXCHANGE, OrderStatus.NEW),
        ("x-crash-2", LocalPhase.NOT_FOUND, None),
    ]
