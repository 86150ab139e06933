"""The runtime's live loop (`run`) over in-memory feeds and a virtual clock: no sleeps, no sockets.

The feeds stand in for the ports (`MarketFeed`, `AccountFeed`); the paper venue pushes its account
events into the account feed as a private stream would. Real venues run the same loop in
tests/integration/test_strategy_sim.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Self

import pytest
from paper_venue import PaperVenue, linear_instrument
from runtime_kit import LINEAR, START_MS, SYMBOL, Script, klines

from bst.domain.account_events import AccountEvent
from bst.domain.clock import ManualClock
from bst.domain.errors import BybitConnectionError
from bst.domain.events import MarketEvent
from bst.domain.market import Interval
from bst.domain.ports import AccountFeed, MarketFeed, MarketSubscription
from bst.trading.context import Context
from bst.trading.execution import ExecutionPolicy
from bst.trading.market_view import ConfirmedBar
from bst.trading.order_tracker import OrderTracker
from bst.trading.runtime import RuntimeConfig, StrategyError, StrategyRuntime
from bst.trading.timers import TimerFired

WAIT_S = 10.0


class QueueFeed:
    """A feed whose events the test puts in; `end()` finishes it, `fail(e)` breaks it with `e`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[MarketEvent | AccountEvent | BaseException | None] = asyncio.Queue()
        self.subscribed: list[MarketSubscription] = []
        self.started = False

    async def subscribe(self, subscriptions: Sequence[MarketSubscription]) -> None:
        self.subscribed.extend(subscriptions)

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.end()

    def put(self, *events: MarketEvent | AccountEvent) -> None:
        for event in events:
            self.queue.put_nowait(event)

    def end(self) -> None:
        self.queue.put_nowait(None)

    def fail(self, error: BaseException) -> None:
        self.queue.put_nowait(error)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> MarketEvent | AccountEvent:
        item = await self.queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item


def buy_one(ctx: Context, _: object) -> None:
    ctx.buy(Decimal("0.01"))


def live(script: Script, clock: ManualClock) -> tuple[StrategyRuntime, QueueFeed, QueueFeed, PaperVenue]:
    venue = PaperVenue()
    market, account = QueueFeed(), QueueFeed()
    venue.listeners.append(account.put)
    runtime = StrategyRuntime(
        script,
        RuntimeConfig(LINEAR, (SYMBOL,), tag="live"),
        [linear_instrument()],
        ExecutionPolicy(venue, OrderTracker(), clock),
    )
    return runtime, market, account, venue


async def until(condition: object, what: str) -> None:
    """Let the other tasks run until `condition()` holds (at most 10,000 turns of the loop)."""
    assert callable(condition)
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


async def test_the_loop_trades_on_bars_and_hears_back_from_the_account_feed() -> None:
    def buy_on_second_bar(ctx: Context, bar: object) -> None:
        assert isinstance(bar, ConfirmedBar)
        if len(ctx.bars()) == 2:
            ctx.buy(Decimal("0.01"))

    clock = ManualClock(START_MS)
    script = Script(on_bar=buy_on_second_bar)
    runtime, market, account, venue = live(script, clock)
    bars = klines([100, 101, 102])
    for event in bars:
        venue.mark(SYMBOL, event.bars[0].bar.close, event.ts_ms)  # the venue's market moves alongside
    market.put(*bars)
    market_feed: MarketFeed = market
    account_feed: AccountFeed = account
    task = asyncio.create_task(runtime.run(market_feed, account_feed, clock))
    await until(lambda: "on_position" in script.names(), "the fill comes back over the account feed")
    market.end()
    await asyncio.wait_for(task, WAIT_S)

    assert account.started
    assert market.subscribed == [runtime.subscriptions()[0]]
    assert market.subscribed[0].interval is Interval.M1
    names = script.names()
    assert names[0] == "on_start"
    assert names[-1] == "on_stop"
    assert names.count("on_bar") == 3
    assert names.index("on_fill") > names.index("on_bar") + 1  # heard after the second bar's send
    assert venue.calls == ["place live-1"]
    assert runtime.context.position_size() == Decimal("0.010")
    assert runtime.stopped


async def test_when_the_market_ends_what_the_account_feed_already_said_is_still_handled() -> None:
    clock = ManualClock(START_MS)
    script = Script(on_bar=buy_one)
    runtime, market, account, venue = live(script, clock)
    venue.mark(SYMBOL, Decimal(100), START_MS)
    market.put(*klines([100]))
    market.end()

    await asyncio.wait_for(runtime.run(market, account, clock), WAIT_S)

    assert script.names() == ["on_start", "on_bar", "on_fill", "on_order", "on_position", "on_stop"]


async def test_timers_fire_when_the_clock_reaches_them_and_stop_ends_the_run() -> None:
    fired: list[tuple[str, int]] = []
    timer_seen = asyncio.Event()

    def arm(ctx: Context, _: object) -> None:
        ctx.every("heartbeat", 5_000)

    def on_timer(ctx: Context, timer: object) -> None:
        assert isinstance(timer, TimerFired)
        fired.append((timer.name, ctx.now_ms))
        timer_seen.set()

    clock = ManualClock(START_MS)
    script = Script(on_start=arm, on_timer=on_timer)
    runtime, market, account, _ = live(script, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(market, account, clock, stop=stop))

    await until(lambda: clock.slept_s == [5.0], "the loop waits for the heartbeat on the clock")
    clock.advance(4.999)
    await asyncio.sleep(0)
    assert fired == []
    clock.advance(0.001)
    await asyncio.wait_for(timer_seen.wait(), WAIT_S)
    await until(lambda: len(clock.slept_s) == 2, "the loop waits for the next heartbeat")
    stop.set()
    await asyncio.wait_for(task, WAIT_S)

    assert fired == [("heartbeat", START_MS + 5_000)]
    assert script.names() == ["on_start", "on_timer", "on_stop"]
    assert clock.slept_s == [5.0, 5.0]


async def test_a_broken_feed_ends_the_run_with_its_error() -> None:
    clock = ManualClock(START_MS)
    script = Script()
    runtime, market, account, _ = live(script, clock)
    market.put(*klines([100]))
    account.fail(BybitConnectionError("private stream gone for good"))

    with pytest.raises(BybitConnectionError, match="private stream gone for good"):
        await asyncio.wait_for(runtime.run(market, account, clock), WAIT_S)
    assert "on_stop" not in script.names()


async def test_a_strategy_error_ends_the_run() -> None:
    def fail(ctx: Context, _: object) -> None:
        raise KeyError("oops")

    clock = ManualClock(START_MS)
    runtime, market, account, _ = live(Script(on_bar=fail), clock)
    market.put(*klines([100]))

    with pytest.raises(StrategyError, match=r"failed in on_bar .*: KeyError: 'oops'$"):
        await asyncio.wait_for(runtime.run(market, account, clock), WAIT_S)
