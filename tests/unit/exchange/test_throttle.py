"""The sliding-window budget never exceeds N requests in any window, on a virtual clock."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from bst.bybit.endpoints import RateGroup
from bst.domain.clock import ManualClock
from bst.exchange.throttle import RateLimiter, SlidingWindow


async def send(window: SlidingWindow) -> None:
    """One instantaneous request: take a slot and complete at once."""
    await window.acquire()
    window.release()


async def test_burst_up_to_the_limit_then_wait_for_the_window() -> None:
    clock = ManualClock(autojump=True)
    window = SlidingWindow(5, 1.0, clock)
    starts = []
    for _ in range(12):
        await send(window)
        starts.append(clock.monotonic() - 1_700_000_000)
    assert starts[:5] == [0.0] * 5
    assert starts[5:10] == [1.0] * 5
    assert starts[10:] == [2.0] * 2


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=0.7, allow_nan=False), min_size=1, max_size=60),
)
def test_no_window_ever_holds_more_than_the_limit(limit: int, gaps: list[float]) -> None:
    async def scenario() -> list[float]:
        clock = ManualClock(autojump=True)
        window = SlidingWindow(limit, 1.0, clock)
        sent: list[float] = []
        for gap in gaps:
            clock.advance(gap)
            await send(window)
            sent.append(clock.monotonic())
        return sent

    sent = asyncio.run(scenario())
    for i, t in enumerate(sent):
        in_window = [s for s in sent[: i + 1] if s > t - 1.0 + 1e-9]
        assert len(in_window) <= limit


async def test_concurrent_waiters_are_served_in_order() -> None:
    clock = ManualClock(autojump=True)
    window = SlidingWindow(2, 1.0, clock)
    order: list[int] = []

    async def worker(i: int) -> None:
        await send(window)
        order.append(i)

    await asyncio.gather(*(worker(i) for i in range(6)))
    assert order == [0, 1, 2, 3, 4, 5]
    assert clock.monotonic() - 1_700_000_000 == 2.0


async def test_server_remaining_count_tightens_the_local_budget() -> None:
    clock = ManualClock(autojump=True)
    limiter = RateLimiter(clock, 600, 5.0, {RateGroup.ORDER_CREATE: 10})
    limiter.observe_headers(RateGroup.ORDER_CREATE, 10, 0)
    before = clock.monotonic()
    async with limiter.slot(RateGroup.ORDER_CREATE):
        assert clock.monotonic() - before == 1.0


async def test_back_off_blocks_everything_for_the_ip_limit() -> None:
    clock = ManualClock(autojump=True)
    limiter = RateLimiter(clock, 600, 5.0, {RateGroup.ORDER_CREATE: 10})
    limiter.back_off(RateGroup.PUBLIC, 3.0, ip_wide=True)
    before = clock.monotonic()
    async with limiter.slot(RateGroup.ORDER_CREATE):
        assert clock.monotonic() - before == 3.0
    assert limiter.waited_s == 3.0


async def test_requests_in_flight_hold_their_slot_and_are_dated_on_completion() -> None:
    clock = ManualClock(autojump=True)
    window = SlidingWindow(2, 1.0, clock)
    await window.acquire()
    await window.acquire()
    assert window.wait_time() is None  # both slots are in flight: wait for one to end
    clock.advance(5.0)  # a slow reply
    window.release()
    # It counts from its completion: a full window before a third request may go.
    assert window.wait_time() == 1.0
    clock.advance(1.0)
    assert window.wait_time() == 0
    window.release()
    await window.acquire()
    window.release()
    # Two completions at this instant fill the window again.
    assert window.wait_time() == 1.0


async def test_a_waiter_wakes_when_a_request_in_flight_completes() -> None:
    clock = ManualClock()
    window = SlidingWindow(1, 1.0, clock)
    await window.acquire()
    waiter = asyncio.create_task(window.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    window.release()
    await asyncio.sleep(0)
    clock.advance(1.0)
    await asyncio.wait_for(waiter, 1)
    assert window.wait_time() is None


async def test_manual_clock_wakes_sleepers_only_when_advanced() -> None:
    clock = ManualClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("a", 2)), asyncio.create_task(sleeper("b", 1))]
    await asyncio.sleep(0)
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert woke == ["b"]
    clock.advance(1)
    await asyncio.gather(*tasks)
    assert woke == ["b", "a"]


async def test_public_headers_only_ever_tighten_the_ip_budget() -> None:
    clock = ManualClock(autojump=True)
    limiter = RateLimiter(clock, 5, 1.0)
    limiter.observe_headers(RateGroup.PUBLIC, 600, 599)  # the server has seen one request: no change
    assert limiter.ip.limit == 5
    assert limiter.ip.wait_time() == 0
    limiter.observe_headers(RateGroup.PUBLIC, 600, 0)  # the server's window is full
    before = clock.monotonic()
    async with limiter.slot(RateGroup.PUBLIC):
        assert clock.monotonic() - before == 1.0


def test_a_lowered_limit_with_requests_in_flight_waits_for_a_release() -> None:
    clock = ManualClock()
    window = SlidingWindow(3, 1.0, clock)

    async def take_three() -> None:
        for _ in range(3):
            await window.acquire()

    asyncio.run(take_three())
    window.release()
    window.limit = 1
    assert window.wait_time() is None


async def test_implausible_limit_headers_are_not_believed() -> None:
    clock = ManualClock(autojump=True)
    limiter = RateLimiter(clock, 600, 5.0, {RateGroup.ORDER_CREATE: 10})
    limiter.observe_headers(RateGroup.ORDER_CREATE, 1_000_000, 999_999)
    assert limiter.groups[RateGroup.ORDER_CREATE].limit == 10
    limiter.observe_headers(RateGroup.ORDER_CREATE, 20, 19)  # a VIP budget is adopted
    assert limiter.groups[RateGroup.ORDER_CREATE].limit == 20
