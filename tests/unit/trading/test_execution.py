"""The execution policy, branch by branch, over a scripted venue whose replies are lost on cue.

Each test scripts what the venue does with the next calls (lose the reply after or before acting,
refuse, hide an order from a lookup) and asserts the outcome, the tracker's phase, the calls made,
the venue's orders and the waits on the virtual clock. A property test drives random scripts and
checks the invariants that matter: never a second order under one orderLinkId, and never an
outcome the venue's state contradicts.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from execution_kit import BUSY, LINEAR, LINK, REFUSED_MARGIN, REFUSED_REDUCE, SYMBOL, phase, policy, request
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted_venue import Hide, Hold, Lose, Refuse, ScriptedVenue, Step

from bst.domain.errors import (
    BybitAuthError,
    BybitDuplicateOrderError,
    BybitOrderError,
    BybitRateLimitError,
    ConfigError,
    OrderValidationError,
)
from bst.domain.instrument import Instrument
from bst.trading.execution import ExecutionConfig, Resolution
from bst.trading.order_tracker import LocalPhase, TrackerError

# --- submit ------------------------------------------------------------------------------------


async def test_an_acknowledged_order_is_done_without_any_lookup() -> None:
    venue = ScriptedVenue()
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.order_id, outcome.error, outcome.sends, outcome.lookups) == (
        Resolution.DONE,
        "oid-1",
        None,
        1,
        0,
    )
    assert (outcome.ok, phase(tracker), venue.calls) == (True, LocalPhase.ACKED, ["place"])


async def test_a_plain_refusal_is_refused_and_asks_nothing_more() -> None:
    venue = ScriptedVenue()
    venue.then("place", Refuse(REFUSED_MARGIN))
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.error, outcome.order) == (Resolution.REFUSED, REFUSED_MARGIN, None)
    assert (phase(tracker), venue.calls, venue.orders) == (LocalPhase.REJECTED_LOCALLY, ["place"], {})
    with pytest.raises(BybitOrderError) as raised:
        outcome.raise_for_failure()
    assert raised.value is REFUSED_MARGIN


async def test_a_lost_reply_of_a_placed_order_is_resolved_by_one_lookup() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True))
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.order_id, outcome.sends, outcome.lookups) == (
        Resolution.DONE,
        "oid-1",
        1,
        1,
    )
    assert outcome.order == venue.orders[LINK]
    assert (phase(tracker), venue.calls) == (LocalPhase.EXCHANGE, ["place", "find"])


async def test_a_lost_request_the_venue_never_saw_is_sent_again_under_the_same_order_link_id() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=False))
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.order_id, outcome.sends, outcome.lookups) == (
        Resolution.DONE,
        "oid-1",
        2,
        1,
    )
    assert (phase(tracker), venue.calls, list(venue.orders)) == (
        LocalPhase.ACKED,
        ["place", "find", "place"],
        [LINK],
    )


async def test_a_resend_refused_as_duplicate_proves_the_lost_send_landed() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True))
    venue.then("find", Hide())  # the venue's order list lags behind its matching engine
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.order_id, outcome.sends, outcome.lookups) == (
        Resolution.DONE,
        "oid-1",
        2,
        2,
    )
    assert venue.calls == ["place", "find", "place", "find"]
    assert (phase(tracker), len(venue.orders)) == (LocalPhase.EXCHANGE, 1)


async def test_a_duplicate_the_venue_cannot_show_yet_stays_unknown() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True))
    venue.then("find", Hide(), Hide())
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert outcome.resolution is Resolution.UNKNOWN
    assert outcome.error is not None
    assert outcome.error.outcome_unknown
    assert isinstance(outcome.error.__cause__, BybitDuplicateOrderError)
    assert (phase(tracker), len(venue.orders)) == (LocalPhase.UNKNOWN, 1)


async def test_a_resend_refused_for_another_reason_is_settled_by_a_second_lookup() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=False), Refuse(REFUSED_MARGIN))
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.error, outcome.sends, outcome.lookups) == (
        Resolution.REFUSED,
        REFUSED_MARGIN,
        2,
        2,
    )
    assert (phase(tracker), venue.calls, venue.orders) == (
        LocalPhase.REJECTED_LOCALLY,
        ["place", "find", "place", "find"],
        {},
    )


async def test_a_resend_refused_because_the_lost_send_already_acted_finds_that_order() -> None:
    # A reduce-only order whose lost send filled and closed the position: the resend is refused.
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True), Refuse(REFUSED_REDUCE))
    venue.then("find", Hide())
    execution, tracker, _ = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.order_id, outcome.error) == (Resolution.DONE, "oid-1", None)
    assert phase(tracker) is LocalPhase.EXCHANGE


async def test_every_send_lost_and_never_found_ends_not_found_and_can_be_submitted_again() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=False), Lose(applied=False), Lose(applied=False))
    execution, tracker, _ = policy(venue, max_sends=3)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.NOT_FOUND, 3, 3)
    assert outcome.error is not None
    assert (outcome.error.retryable, outcome.error.outcome_unknown) == (
        True,
        False,
    )
    assert (phase(tracker), venue.orders) == (LocalPhase.NOT_FOUND, {})
    again = await execution.submit(request())
    assert (again.resolution, phase(tracker), list(venue.orders)) == (
        Resolution.DONE,
        LocalPhase.ACKED,
        [LINK],
    )


async def test_transient_lookup_failures_are_retried_with_growing_waits_on_the_clock() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True))
    venue.then("find", Refuse(BUSY), Refuse(BUSY), Refuse(BUSY))
    execution, tracker, clock = policy(venue, lookup_attempts=5, lookup_delay_s=0.25, lookup_max_delay_s=0.6)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.lookups, phase(tracker)) == (Resolution.DONE, 4, LocalPhase.EXCHANGE)
    assert clock.slept_s == [0.25, 0.5, 0.6]


async def test_lookups_that_keep_failing_leave_the_order_unknown() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True))
    venue.then("find", *[Refuse(BUSY)] * 3)
    execution, tracker, clock = policy(venue, lookup_attempts=3, lookup_delay_s=0.1)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.sends, outcome.lookups) == (Resolution.UNKNOWN, 1, 3)
    assert outcome.error is not None
    assert (outcome.error.outcome_unknown, outcome.error.__cause__) == (True, BUSY)
    assert (phase(tracker), clock.slept_s) == (LocalPhase.UNKNOWN, [0.1, 0.2])


async def test_a_lookup_refused_for_good_is_not_retried() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True))
    venue.then("find", Refuse(BybitAuthError("API key is invalid.", ret_code=10003)))
    execution, tracker, clock = policy(venue)

    outcome = await execution.submit(request())

    assert (outcome.resolution, outcome.lookups, clock.slept_s) == (Resolution.UNKNOWN, 1, [])
    assert phase(tracker) is LocalPhase.UNKNOWN


async def test_a_rate_limited_lookup_waits_until_the_reset_time() -> None:
    venue = ScriptedVenue()
    venue.then("place", Lose(applied=True))
    execution, _, clock = policy(venue, lookup_delay_s=0.1, lookup_max_delay_s=2.0)
    limited = BybitRateLimitError("Too many visits!", ret_code=10006)
    limited.reset_at_ms = clock.now_ms() + 1_500
    venue.then("find", Refuse(limited))

    outcome = await execution.submit(request())

    assert (outcome.resolution, clock.slept_s) == (Resolution.DONE, [1.5])


async def test_a_duplicate_on_the_first_send_is_refused_and_the_tracker_learns_the_existing_order() -> None:
    venue = ScriptedVenue()
    execution, tracker, _ = policy(venue)
    await venue.place_order(request(qty="0.5"))  # placed earlier, e.g. before a restart

    outcome = await execution.submit(request())

    assert outcome.resolution is Resolution.REFUSED
    assert isinstance(outcome.error, BybitDuplicateOrderError)
    assert outcome.order is not None
    assert outcome.order.qty == Decimal("0.5")
    assert (phase(tracker), venue.calls) == (LocalPhase.EXCHANGE, ["place", "place", "find"])


async def test_an_order_breaking_the_instrument_rules_is_refused_before_anything_is_tracked() -> None:
    venue = ScriptedVenue()
    execution, tracker, _ = policy(venue)
    instrument = Instrument(
        symbol=SYMBOL,
        category=LINEAR,
        status="Trading",
        base_coin="BTC",
        quote_coin="USDT",
        settle_coin="USDT",
        tick_size=Decimal("0.1"),
        qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal(100),
        max_market_qty=Decimal(50),
        min_notional=Decimal(5),
    )

    with pytest.raises(OrderValidationError, match="below the minimum"):
        await execution.submit(request(qty="0.0004"), instrument)
    rounded = await execution.submit(request(qty="0.0129", price="50000.07"), instrument)

    assert (len(tracker), venue.calls[:1], rounded.resolution) == (1, ["place"], Resolution.DONE)
    assert (venue.orders[LINK].qty, venue.orders[LINK].price) == (Decimal("0.012"), Decimal("50000.0"))


async def test_an_order_link_id_already_in_flight_is_refused_by_the_tracker() -> None:
    venue = ScriptedVenue()
    execution, _, _ = policy(venue)
    await execution.submit(request())

    with pytest.raises(TrackerError, match="already tracked"):
        await execution.submit(request())
    assert venue.calls == ["place"]


async def test_a_submit_cancelled_mid_flight_is_left_unknown_and_resolved_later() -> None:
    venue = ScriptedVenue()
    gate = asyncio.Event()
    venue.then("place", Hold(gate))
    execution, tracker, _ = policy(venue)
    task = asyncio.create_task(execution.submit(request()))
    await venue.holding.wait()

    skipped = await execution.resolve_unresolved()  # the order is in flight: nothing to ask yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    resolved = await execution.resolve_unresolved()

    assert skipped == []
    assert [(o.order_link_id, o.resolution) for o in resolved] == [(LINK, Resolution.NOT_FOUND)]
    assert phase(tracker) is LocalPhase.NOT_FOUND


# --- resolving what is left --------------------------------------------------------------------


async def test_resolve_unresolved_asks_about_every_sent_acked_or_unknown_order() -> None:
    venue = ScriptedVenue()
    execution, tracker, _ = policy(venue)
    links = ("sent-there", "sent-gone", "unknown-gone", "acked-hidden", "unanswered")
    for link in links:
        tracker.register(request(link), 0)
        tracker.mark_sent(link, 0)
    await venue.place_order(request("sent-there"))
    tracker.mark_unknown("unknown-gone", "reply lost", 0)
    tracker.mark_acked("acked-hidden", "oid-9", 0)
    tracker.register(request("pending"), 0)  # never sent: nothing to ask
    venue.then("find", None, None, None, None, Refuse(BybitAuthError("API key is invalid.", ret_code=10003)))

    outcomes = await execution.resolve_unresolved()

    assert [(o.order_link_id, o.resolution, o.order_id) for o in outcomes] == [
        ("sent-there", Resolution.DONE, "oid-1"),
        ("sent-gone", Resolution.NOT_FOUND, ""),
        ("unknown-gone", Resolution.NOT_FOUND, ""),
        ("acked-hidden", Resolution.UNKNOWN, "oid-9"),
        ("unanswered", Resolution.UNKNOWN, ""),
    ]
    assert [phase(tracker, link) for link in (*links, "pending")] == [
        LocalPhase.EXCHANGE,
        LocalPhase.NOT_FOUND,
        LocalPhase.NOT_FOUND,
        LocalPhase.ACKED,  # the venue acknowledged it: a missing lookup does not undo that
        LocalPhase.UNKNOWN,
        LocalPhase.PENDING,
    ]
    assert venue.calls == ["place"] + ["find"] * 5


def test_execution_config_refuses_nonsense() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        ExecutionConfig(max_sends=0)
    with pytest.raises(ConfigError, match="lookup_delay_s"):
        ExecutionConfig(lookup_delay_s=3.0, lookup_max_delay_s=1.0)


# --- invariants under random scripts -----------------------------------------------------------

PLACE_STEPS = st.sampled_from([Lose(applied=True), Lose(applied=False), Refuse(REFUSED_MARGIN), Refuse(BUSY)])
FIND_STEPS = st.sampled_from([Hide(), Refuse(BUSY)])


@settings(max_examples=300, deadline=None)
@given(
    place=st.lists(PLACE_STEPS, max_size=4),
    find=st.lists(FIND_STEPS, max_size=6),
    placed_before=st.booleans(),
)
def test_submit_never_makes_a_second_order_nor_claims_what_the_venue_contradicts(
    place: list[Step], find: list[Step], placed_before: bool
) -> None:
    venue = ScriptedVenue()
    execution, tracker, _ = policy(venue, lookup_attempts=2)

    async def run() -> None:
        if placed_before:
            await venue.place_order(request())  # an order placed under this orderLinkId earlier
            venue.journal.clear()
        venue.then("place", *place)
        venue.then("find", *find)
        outcome = await execution.submit(request())
        on_venue = list(venue.orders)
        tracked = tracker.get(LINK)
        assert tracked is not None
        assert len(on_venue) <= 1  # never a second order under one orderLinkId
        assert (outcome.error is None) == (outcome.resolution is Resolution.DONE)
        assert outcome.sends == [m for m, _ in venue.journal].count("place") <= 3
        if outcome.resolution is Resolution.DONE:
            assert on_venue == [LINK]
            assert tracked.phase in (LocalPhase.ACKED, LocalPhase.EXCHANGE)
            assert outcome.order_id == venue.orders[LINK].order_id
        if outcome.resolution is Resolution.UNKNOWN:
            assert tracked.phase is LocalPhase.UNKNOWN
        if outcome.resolution is Resolution.NOT_FOUND:
            assert tracked.phase is LocalPhase.NOT_FOUND
        if tracked.phase is LocalPhase.REJECTED_LOCALLY:
            assert outcome.resolution is Resolution.REFUSED
        if tracked.phase in (LocalPhase.REJECTED_LOCALLY, LocalPhase.NOT_FOUND):
            # "Nothing there" is concluded only from the venue's own last word: a refusal of a
            # first send that was never lost, or a lookup after the last send that saw nothing.
            lost_before = ("place", "lost") in venue.journal
            assert venue.journal[-1] in (("find", "none"), ("find", "hidden")) or not lost_before
            assert on_venue == [] or venue.journal[-1] == ("find", "hidden") or placed_before

    asyncio.run(run())
