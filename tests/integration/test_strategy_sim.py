"""The SMA cross runs unchanged on `bst sim`: the live loop over the real ports, as a bot would run it.

`StrategyRuntime.run` consumes the public stream (`PublicMarketFeed`) and the private stream
(`PrivateStream`), and sends through the execution policy over the REST client, all against the sim
over loopback. The sim's clock moves one minute at a time, each step closing one generated candle;
the test waits until the strategy's orders of that minute are settled (filled, and the position
reported) before the next minute, as a slow market would. Then:

- the decisions (ids, times, sides, sizes) equal those of the same strategy run step-wise over the
  generator's candles, as a backtest runs it: one strategy object, two venues, the same decisions;
- the venue's own position and orders agree with what the strategy's context says.
"""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bst.bybit.endpoints import UID_LIMITS_PER_S
from bst.domain.events import KlineUpdate
from bst.domain.market import Category, Interval, Side
from bst.domain.orders import OrderStatus
from bst.exchange.config import ClientConfig, Credentials, RetryConfig
from bst.exchange.market_feed import PublicMarketFeed
from bst.exchange.rest import BybitRestClient
from bst.exchange.throttle import RateLimiter
from bst.exchange.ws_private import PrivateStream, PrivateStreamConfig
from bst.exchange.ws_public import PublicStreamConfig
from bst.sim.trading_desk import ApiAccount, desk_of
from bst.sim.ws_public import streams_of
from bst.strategies.sma_cross import SmaCross, SmaCrossParams
from bst.trading.context import Context
from bst.trading.execution import ExecutionPolicy
from bst.trading.intents import SubmitIntent
from bst.trading.market_view import ConfirmedBar
from bst.trading.order_tracker import OrderTracker
from bst.trading.runtime import RuntimeConfig, StrategyRuntime

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "trading"))
from runtime_kit import Driver

LINEAR = Category.LINEAR
SYMBOL = "BTCUSDT"
KEY, SECRET = "strategy-key", "strategy-secret"
MINUTES = 24
WAIT_S = 30.0  # a safety net per minute on a loaded machine; normally well under a second
PARAMS = SmaCrossParams(fast=2, slow=3, qty=Decimal("0.002"), interval=Interval.M1)

Decision = tuple[str, int, Side, Decimal, bool]


class SimTime:
    """The client's and the runtime's clock: the sim's frozen clock, real sleeps (retry backoff)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    def now_ms(self) -> int:
        return int(self.sim.clock.now_ms())

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class RecordedSmaCross(SmaCross):
    """The SMA cross, recording each order it decides on a bar (the strategy itself is unchanged)."""

    def on_start(self, ctx: Context) -> None:
        super().on_start(ctx)
        self.bars_seen = 0
        self.decided: list[Decision] = []

    def on_bar(self, ctx: Context, bar: ConfirmedBar) -> None:
        super().on_bar(ctx, bar)
        self.bars_seen += 1
        self.decided.extend(
            (o.order_link_id, ctx.now_ms, o.side, o.qty, o.reduce_only) for o in ctx.orders() if o.queued
        )


def settled(runtime: StrategyRuntime) -> bool:
    """Return whether every order of the run is filled and the position reflects all its fills."""
    tracked = runtime.tracker.all()
    if any(t.status is not OrderStatus.FILLED or t.missing_fill_qty for t in tracked):
        return False
    filled = sum(
        (f.exec_qty if f.side is Side.BUY else -f.exec_qty for t in tracked for f in t.fills.values()),
        Decimal(0),
    )
    return runtime.context.position_size() == filled


async def until(condition: Any, what: str) -> None:
    """Poll `condition()` while the streams work (a generous real-time safety net, not a timing check)."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 - the sim runs in another thread: poll it
            await asyncio.sleep(0.01)


async def test_the_sma_cross_runs_unchanged_on_bst_sim(sim: Any) -> None:
    streams_of(sim.state).reset()
    desk = desk_of(sim.state)
    desk.reset()
    desk.add_account(ApiAccount(KEY, SECRET, {"USDT": Decimal(100_000)}))
    clock = SimTime(sim)
    start_ms = clock.now_ms()
    config = ClientConfig(
        base_url=sim.base_url,
        credentials=Credentials(KEY, SECRET),
        retry=RetryConfig(
            max_attempts=3, initial_delay_s=0.01, backoff_factor=2.0, max_delay_s=0.2, jitter_s=0
        ),
        timeout_s=10.0,
    )
    client = BybitRestClient(
        config, clock=clock, limiter=RateLimiter(clock, 1_000_000, 5.0, dict(UID_LIMITS_PER_S))
    )
    stream = PrivateStream(
        PrivateStreamConfig(sim.ws_url, Credentials(KEY, SECRET), seed=7), rest=client, clock=clock
    )
    market = PublicMarketFeed(PublicStreamConfig(sim.ws_url, LINEAR, seed=3), clock=clock)
    [instrument] = await client.get_instruments(LINEAR, SYMBOL)
    strategy = RecordedSmaCross(PARAMS)
    runtime = StrategyRuntime(
        strategy,
        RuntimeConfig(LINEAR, (SYMBOL,), tag="simrun"),
        [instrument],
        ExecutionPolicy(client, OrderTracker(), clock),
    )
    stop = asyncio.Event()
    try:
        async with market:
            run = asyncio.create_task(runtime.run(market, stream, clock, stop=stop))
            await until(lambda: runtime.account.resyncs > 0 or run.done(), "the private stream hands over")
            for minute in range(1, MINUTES + 1):
                sim.clock.advance(60)
                await until(lambda m=minute: strategy.bars_seen >= m or run.done(), f"bar {minute} arrives")
                await until(lambda: settled(runtime) or run.done(), f"the orders of minute {minute} settle")
            stop.set()
            await asyncio.wait_for(run, WAIT_S)
        venue_position = await client.get_positions(LINEAR, symbol=SYMBOL)
    finally:
        await stream.close()
        await client.aclose()

    # The same strategy, step-wise over the generator's candles (as a backtest runs it).
    first_open = Interval.M1.open_time_ms(start_ms)
    candles = sim.generator.bars(SYMBOL, Interval.M1, first_open, first_open + (MINUTES - 1) * 60_000)
    assert len(candles) == MINUTES
    backtest = await replay([KlineUpdate.closed(LINEAR, SYMBOL, Interval.M1, c) for c in candles], instrument)

    assert strategy.bars_seen == MINUTES
    assert len(strategy.decided) >= 3  # the generated market crossed its averages: there was trading
    assert strategy.decided == backtest
    [position] = venue_position
    signed = position.size if position.side == "Buy" else -position.size
    assert signed == runtime.context.position_size()
    assert all(t.status is OrderStatus.FILLED for t in runtime.tracker.all())
    assert [t.order_link_id for t in runtime.tracker.all()] == [d[0] for d in strategy.decided]


async def replay(events: list[KlineUpdate], instrument: Any) -> list[Decision]:
    """Return the decisions of the SMA cross fed `events` step-wise over a paper venue."""
    driver = Driver(SmaCross(PARAMS), tag="simrun")
    await driver.start(events[0].ts_ms)
    await driver.feed(events)
    out = []
    for result in driver.results:
        intent = result.intent
        assert isinstance(intent, SubmitIntent)
        r = intent.request
        out.append((r.order_link_id, intent.at_ms, r.side, r.qty, r.reduce_only))
    return out
