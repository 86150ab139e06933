"""The execution policy's amend, cancel and cancel-all, over a scripted venue whose replies are lost on cue.

Each test scripts the venue's next answers and asserts the outcome, the calls made (sends and
lookups), the tracker's view and the venue's orders.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from execution_kit import BUSY, LINEAR, LINK, SYMBOL, placed, policy, request
from scripted_venue import Hide, Lose, Refuse, ScriptedVenue

from bst.domain.errors import (
    BybitAuthError,
    BybitInvalidParameterError,
    BybitOrderNotFoundError,
    OrderValidationError,
)
from bst.domain.orders import AmendRequest, OrderStatus
from bst.trading.execution import Resolution

# --- amend -------------------------------------------------------------------------------------


def amend(**fields: Decimal) -> AmendRequest:
    return AmendRequest(LINEAR, SYMBOL, order_link_id=LINK, **fields)


async def test_an_acknowledged_amend_is_done() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)

    outcome = await execution.amend(amend(price=Decimal(49_000)))

    assert (outcome.resolution, outcome.order_id, venue.calls) == (Resolution.DONE, "oid-1", ["amend"])
    assert venue.orders[LINK].price == Decimal(49_000)


async def test_a_refused_amend_asks_nothing_more_unless_the_order_is_gone() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    bad = BybitInvalidParameterError("params error: price invalid", ret_code=10001)
    venue.then("amend", Refuse(bad))

    refused = await execution.amend(amend(price=Decimal(1)))
    venue.fill(LINK)
    gone = await execution.amend(amend(price=Decimal(49_000)))

    assert (refused.resolution, refused.error, refused.lookups) == (Resolution.REFUSED, bad, 0)
    assert (gone.resolution, gone.lookups) == (Resolution.REFUSED, 1)
    assert isinstance(gone.error, BybitOrderNotFoundError)
    assert gone.order is not None
    assert gone.order.status is OrderStatus.FILLED
    assert venue.calls == ["amend", "amend", "find"]


async def test_a_lost_amend_that_applied_is_done() -> None:
    venue = ScriptedVenue()
    execution, tracker = await placed(venue)
    venue.then("amend", Lose(applied=True))

    outcome = await execution.amend(amend(qty=Decimal("0.02"), price=Decimal(49_000)))

    assert (outcome.resolution, outcome.sends, outcome.lookups, venue.calls) == (
        Resolution.DONE,
        1,
        1,
        ["amend", "find"],
    )
    tracked = tracker.get(LINK)
    assert tracked is not None
    assert tracked.order is not None
    assert tracked.order.qty == Decimal("0.02")


async def test_a_lost_amend_that_did_not_apply_is_sent_again() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("amend", Lose(applied=False))

    outcome = await execution.amend(amend(price=Decimal(49_000)))

    assert (outcome.resolution, outcome.sends, venue.calls) == (
        Resolution.DONE,
        2,
        ["amend", "find", "amend"],
    )
    assert venue.orders[LINK].price == Decimal(49_000)


async def test_a_lost_amend_of_an_order_that_filled_meanwhile_is_refused_with_the_final_state() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("amend", Lose(applied=False))
    venue.fill(LINK)

    outcome = await execution.amend(amend(price=Decimal(49_000)))

    assert outcome.resolution is Resolution.REFUSED
    assert isinstance(outcome.error, BybitOrderNotFoundError)
    assert "Filled" in str(outcome.error)
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.FILLED


async def test_a_lost_amend_of_an_order_the_venue_does_not_know_is_refused_by_the_resend() -> None:
    venue = ScriptedVenue()
    execution, _, _ = policy(venue)
    venue.then("amend", Lose(applied=False))

    outcome = await execution.amend(amend(price=Decimal(49_000)))

    assert (outcome.resolution, outcome.order, outcome.sends, outcome.lookups) == (
        Resolution.REFUSED,
        None,
        2,
        2,
    )
    assert isinstance(outcome.error, BybitOrderNotFoundError)
    assert outcome.error.ret_code == 110001
    assert venue.calls == ["amend", "find", "amend", "find"]


async def test_a_resent_amend_refused_after_a_lost_one_is_settled_by_the_order() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    unchanged = BybitInvalidParameterError("The order remains unchanged", ret_code=10001)
    venue.then("amend", Lose(applied=False), Refuse(unchanged))

    outcome = await execution.amend(amend(price=Decimal(49_000)))

    assert (outcome.resolution, outcome.error, outcome.sends, outcome.lookups) == (
        Resolution.REFUSED,
        unchanged,
        2,
        2,
    )
    assert venue.orders[LINK].price == Decimal(50_000)


async def test_amends_lost_every_time_stay_unknown() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("amend", *[Lose(applied=False)] * 3)

    outcome = await execution.amend(amend(price=Decimal(49_000)))

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.UNKNOWN, 3, 3)
    assert outcome.error is not None
    assert outcome.error.outcome_unknown


async def test_amend_and_cancel_need_an_id() -> None:
    execution, _, _ = policy(ScriptedVenue())
    with pytest.raises(OrderValidationError, match="amend needs"):
        await execution.amend(AmendRequest(LINEAR, SYMBOL, price=Decimal(1)))
    with pytest.raises(OrderValidationError, match="cancel needs"):
        await execution.cancel(LINEAR, SYMBOL)


# --- cancel ------------------------------------------------------------------------------------


async def test_an_acknowledged_cancel_is_done() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert (outcome.resolution, outcome.order_id, venue.calls) == (Resolution.DONE, "oid-1", ["cancel"])
    assert venue.orders[LINK].status is OrderStatus.CANCELLED


async def test_a_cancel_refused_as_not_found_reports_the_final_state() -> None:
    venue = ScriptedVenue()
    execution, tracker = await placed(venue)
    venue.fill(LINK)

    outcome = await execution.cancel(LINEAR, SYMBOL, order_id="oid-1")

    assert (outcome.resolution, outcome.order_id, outcome.lookups) == (Resolution.REFUSED, "oid-1", 1)
    assert isinstance(outcome.error, BybitOrderNotFoundError)
    assert outcome.error.ret_code == 110001
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.FILLED
    tracked = tracker.get(LINK)
    assert tracked is not None
    assert tracked.status is OrderStatus.FILLED


async def test_a_cancel_refused_because_something_else_cancelled_the_order_is_not_claimed() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.cancel_behind(LINK)

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert outcome.resolution is Resolution.REFUSED
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.CANCELLED


async def test_a_lost_cancel_that_applied_is_done() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("cancel", Lose(applied=True))

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert (outcome.resolution, outcome.sends, venue.calls) == (Resolution.DONE, 1, ["cancel", "find"])
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.CANCELLED


async def test_a_lost_cancel_of_a_still_open_order_is_sent_again() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("cancel", Lose(applied=False))

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert (outcome.resolution, outcome.sends, venue.calls) == (
        Resolution.DONE,
        2,
        ["cancel", "find", "cancel"],
    )


async def test_a_lost_cancel_then_a_not_found_refusal_is_done_when_the_order_is_cancelled() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("cancel", Lose(applied=True))
    venue.then("find", Hide())  # the first lookup misses the order; the re-sent cancel says 110001

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert (outcome.resolution, outcome.sends, outcome.error) == (Resolution.DONE, 2, None)
    assert venue.calls == ["cancel", "find", "cancel", "find"]
    assert outcome.order is not None
    assert outcome.order.status is OrderStatus.CANCELLED


async def test_a_lost_cancel_of_an_order_that_filled_meanwhile_is_refused_with_the_final_state() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("cancel", Lose(applied=False))
    venue.fill(LINK)

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert outcome.resolution is Resolution.REFUSED
    assert isinstance(outcome.error, BybitOrderNotFoundError)
    assert "Filled" in str(outcome.error)


async def test_a_cancel_refused_for_another_reason_asks_nothing_more() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("cancel", Refuse(BUSY))

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert (outcome.resolution, outcome.error, venue.calls) == (Resolution.REFUSED, BUSY, ["cancel"])


async def test_cancels_lost_while_lookups_fail_stay_unknown() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("cancel", Lose(applied=False))
    venue.then("find", Refuse(BybitAuthError("API key is invalid.", ret_code=10003)))

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.UNKNOWN, 1, 1)
    assert venue.orders[LINK].status is OrderStatus.NEW


async def test_cancels_lost_every_time_stay_unknown() -> None:
    venue = ScriptedVenue()
    execution, _ = await placed(venue)
    venue.then("cancel", *[Lose(applied=False)] * 3)

    outcome = await execution.cancel(LINEAR, SYMBOL, order_link_id=LINK)

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.UNKNOWN, 3, 3)


# --- cancel-all --------------------------------------------------------------------------------


async def test_cancel_all_lists_what_it_cancelled_and_a_lost_reply_is_sent_again() -> None:
    venue = ScriptedVenue()
    execution, _, _ = policy(venue)
    for link in ("a", "b"):
        await execution.submit(request(link))

    first = await execution.cancel_all(LINEAR, symbol=SYMBOL)
    await execution.submit(request("c"))
    venue.then("cancel_all", Lose(applied=True))
    second = await execution.cancel_all(LINEAR, symbol=SYMBOL)
    venue.then("cancel_all", Refuse(BUSY))
    refused = await execution.cancel_all(LINEAR)
    venue.then("cancel_all", *[Lose(applied=False)] * 3)
    unknown = await execution.cancel_all(LINEAR)

    assert (first.resolution, [a.order_link_id for a in first.cancelled], first.complete) == (
        Resolution.DONE,
        ["a", "b"],
        True,
    )
    # The lost reply's cancellation (c) is not listed: the re-send found nothing left to cancel.
    assert (second.resolution, second.cancelled, second.complete, second.sends) == (
        Resolution.DONE,
        (),
        False,
        2,
    )
    assert (refused.resolution, refused.error, refused.ok) == (Resolution.REFUSED, BUSY, False)
    assert (unknown.resolution, unknown.sends, unknown.complete) == (Resolution.UNKNOWN, 3, False)
    assert unknown.error is not None
    assert unknown.error.outcome_unknown
    assert {o.status for o in venue.orders.values()} == {OrderStatus.CANCELLED}
