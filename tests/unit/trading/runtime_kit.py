"""Drive a `StrategyRuntime` step-wise over scripted market events and a `PaperVenue`, as a backtest does.

Per event: the venue sees the market first (as the engine does in a backtest), timers due by then
fire, the runtime folds the event and calls the strategy, the queued intents are recorded as
decisions and sent through the execution policy, and the venue's account events go back to the
runtime until nothing more happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from paper_venue import PaperVenue, linear_instrument

from bst.domain.clock import ManualClock
from bst.domain.events import BookUpdate, KlineUpdate, MarketEvent, TradesUpdate
from bst.domain.market import Bar, Category, Interval
from bst.domain.orders import Execution, Order
from bst.domain.portfolio import Position
from bst.trading.execution import ExecutionPolicy
from bst.trading.intents import Intent, IntentResult
from bst.trading.order_tracker import OrderTracker
from bst.trading.params import Params
from bst.trading.runtime import RuntimeConfig, StrategyRuntime
from bst.trading.strategy import BookChange, ConfirmedBar, Context, DataNeeds, Strategy, TimerFired

LINEAR = Category.LINEAR
SYMBOL = "BTCUSDT"
START_MS = 1_700_000_040_000 - 1_700_000_040_000 % 3_600_000  # an hour boundary


def bar(open_ms: int, close: float | str, spread: str = "5") -> Bar:
    """Return a bar opening at `open_ms` whose open is its close (a flat-bodied candle)."""
    c = Decimal(str(close))
    return Bar(open_ms, c, c + Decimal(spread), c - Decimal(spread), c, Decimal("10"), c * 10)


def klines(
    closes: Sequence[float | str], interval: Interval = Interval.M1, start_ms: int = START_MS
) -> list[KlineUpdate]:
    """Return one confirmed kline per close, consecutive bars from `start_ms`."""
    step = interval.fixed_ms
    assert step is not None
    return [
        KlineUpdate.closed(LINEAR, SYMBOL, interval, bar(start_ms + i * step, c))
        for i, c in enumerate(closes)
    ]


@dataclass(frozen=True)
class Decision:
    """One intent as a test compares it: kind, id, time and the request's essentials."""

    kind: str
    order_link_id: str
    at_ms: int
    detail: str


def decision(intent: Intent) -> Decision:
    """Return the comparable form of an intent."""
    kind = type(intent).__name__.removesuffix("Intent").lower()
    detail = ""
    request = getattr(intent, "request", None)
    if request is not None:
        detail = repr(request)
    return Decision(kind, intent.order_link_id, intent.at_ms, detail)


class Driver:
    """A runtime over a paper venue, fed event by event; `decisions` logs every intent sent."""

    def __init__(
        self, strategy: Strategy[Params], *, tag: str = "t", symbols: Sequence[str] = (SYMBOL,)
    ) -> None:
        self.venue = PaperVenue()
        self.clock = ManualClock(START_MS, autojump=True)
        self.policy = ExecutionPolicy(self.venue, OrderTracker(), self.clock)
        self.runtime = StrategyRuntime(
            strategy,
            RuntimeConfig(LINEAR, tuple(symbols), tag=tag),
            [linear_instrument(s) for s in symbols],
            self.policy,
        )
        self.decisions: list[Decision] = []
        self.results: list[IntentResult] = []

    async def start(self, now_ms: int = START_MS) -> None:
        """Call on_start and send what it queued."""
        self.venue.now_ms = now_ms
        self.runtime.start(now_ms)
        await self.settle()

    async def feed(self, events: Iterable[MarketEvent]) -> None:
        """Feed market events in order (the venue first, then timers due, then the strategy)."""
        runtime = self.runtime
        for event in events:
            self._move_venue(event)
            while (due := runtime.next_timer_ms()) is not None and due <= event.ts_ms:
                runtime.fire_timers(due)
                await self.settle()
            runtime.on_market(event)
            await self.settle()

    async def stop(self) -> None:
        """Call on_stop and send what it queued."""
        self.runtime.stop()
        await self.settle()

    async def settle(self) -> None:
        """Send queued intents and hand the venue's account events back until both are quiet."""
        runtime = self.runtime
        for _ in range(100):
            if runtime.has_intents:
                intents = runtime.take_intents()
                self.decisions.extend(decision(i) for i in intents)
                self.results.extend(await runtime.execute(intents))
            events = self.venue.drain()
            for event in events:
                runtime.on_account(event)
            if not events and not runtime.has_intents:
                return
        raise AssertionError("the strategy and the venue keep answering each other")

    def _move_venue(self, event: MarketEvent) -> None:
        if isinstance(event, KlineUpdate):
            for live in event.bars:
                self.venue.mark(event.symbol, live.bar.close, live.end_ms)
        elif isinstance(event, TradesUpdate) and event.trades:
            self.venue.mark(event.symbol, event.trades[-1].price, event.ts_ms)
        elif isinstance(event, BookUpdate):
            self.venue.now_ms = max(self.venue.now_ms, event.ts_ms)


async def run_strategy(
    strategy: Strategy[Params], events: Sequence[MarketEvent], *, tag: str = "t"
) -> Driver:
    """Return a driver that started `strategy` and fed it `events` (not stopped)."""
    driver = Driver(strategy, tag=tag)
    await driver.start()
    await driver.feed(events)
    return driver


Action = Callable[[Context, object], None]


class Script(Strategy[Params]):
    """A strategy that records every callback as (name, ctx.now_ms, what) and runs `actions[name]`."""

    name = "script"

    def __init__(self, needs: DataNeeds | None = None, **actions: Action) -> None:
        super().__init__()
        self._needs = needs or DataNeeds(bars=(Interval.M1,))
        self.actions = actions
        self.seen: list[tuple[str, int, object]] = []

    def needs(self) -> DataNeeds:
        return self._needs

    def _record(self, name: str, ctx: Context, what: object) -> None:
        self.seen.append((name, ctx.now_ms, what))
        action = self.actions.get(name)
        if action is not None:
            action(ctx, what)

    def on_start(self, ctx: Context) -> None:
        self._record("on_start", ctx, None)

    def on_bar(self, ctx: Context, bar: ConfirmedBar) -> None:
        self._record("on_bar", ctx, bar)

    def on_book(self, ctx: Context, book: BookChange) -> None:
        self._record("on_book", ctx, book)

    def on_trade(self, ctx: Context, trades: TradesUpdate) -> None:
        self._record("on_trade", ctx, trades)

    def on_order(self, ctx: Context, order: Order) -> None:
        self._record("on_order", ctx, order)

    def on_fill(self, ctx: Context, fill: Execution) -> None:
        self._record("on_fill", ctx, fill)

    def on_position(self, ctx: Context, position: Position) -> None:
        self._record("on_position", ctx, position)

    def on_timer(self, ctx: Context, timer: TimerFired) -> None:
        self._record("on_timer", ctx, timer)

    def on_intent_failed(self, ctx: Context, result: IntentResult) -> None:
        self._record("on_intent_failed", ctx, result)

    def on_stop(self, ctx: Context) -> None:
        self._record("on_stop", ctx, None)

    def names(self) -> list[str]:
        """Return the callbacks seen, in order."""
        return [name for name, _, _ in self.seen]
