"""The backtest loop: one event queue on a virtual clock, the engine in process, the strategy runtime.

Everything that happens in a run is an item in one queue ordered by (time, phase, sequence):

    phase 0  ENGINE   a market event reaches the engine, at its exchange time (`ts_ms`); a
                      candle's four prints (open, extremes, close) each at its own time
    phase 1  REQUEST  a strategy's request reaches the engine (sent + request latency)
    phase 2  REPLY    the engine's answer reaches the strategy (answered + response latency)
    phase 3  ACCOUNT  the engine's account events reach the strategy (+ response latency)
    phase 4  TIMER    a strategy timer falls due
    phase 5  MARKET   a market event reaches the strategy, at its receive time (the recording's
                      own, else exchange time + feed latency)

Market events stream from their sources (merged lazily by time, one pending step per source), so
a recording of any length is replayed in constant memory; the queue only holds what is in flight.
Candles reach the engine print by print (`MatchingEngine.on_bar_print`): a request that arrives
inside a bar meets the market where it was then, and a fill at the open is reported at the open;
the strategy gets the bar when it has closed.
The engine (`MatchingEngine` behind an `EngineHub`) sees every market event at exchange time; the
strategy (`bst.trading.runtime.StrategyRuntime`, driven step by step with no await per event)
sees them at receive time, in order. A callback's intents go out through the runtime's execution
policy over `DelayedGateway`: each gateway call is a round trip through the queue, sent one after
the other as the live runtime sends them, so the engine acts on a request when it arrives and the
strategy learns the answer a response latency later. While a batch of intents is in flight, what
reaches the strategy waits (the live runtime handles nothing else while it sends) and is
delivered, in order, when the batch is done. The clock (`ManualClock`, which the policy reads)
follows the queue; time never goes back.

The end: when the data and the queue are exhausted the strategy is stopped (`on_stop`, its
intents sent); then, with `close_at_end`, each symbol's open orders are cancelled and positions
closed by market orders; on candle symbols a last print at the last price fills them (at the last
close) and fills any market order still waiting for a next open that never came.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import Any

from bst.backtest.bookkeeping import RunBook
from bst.backtest.candles import BarAggregator
from bst.backtest.config import BacktestConfig
from bst.backtest.latency import Latency
from bst.backtest.transport import Call, DelayedGateway
from bst.domain.account_events import AccountEvent
from bst.domain.clock import ManualClock
from bst.domain.errors import BstError, ConfigError
from bst.domain.events import KlineUpdate, MarketEvent, TradesUpdate
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Interval, Side, Trade
from bst.domain.orders import OrderRequest, OrderType
from bst.domain.portfolio import PositionSide
from bst.engine import EngineConfig, MatchingEngine, SymbolSpec
from bst.engine.gateway import EngineGateway, EngineHub
from bst.engine.market_input import bar_path
from bst.trading.execution import ExecutionPolicy
from bst.trading.intents import IntentResult
from bst.trading.order_tracker import OrderTracker
from bst.trading.params import Params
from bst.trading.runtime import RuntimeConfig, StrategyRuntime
from bst.trading.strategy import Strategy

__all__ = ["BacktestRunner", "MarketSource", "Phase", "RunOutcome"]

NO_FUNDING_GRID_MS = 10**15
"""The engine's funding period in a backtest (about 31,700 years: never). Funding settles only at
the times of the funding series fed to it (each `FundingUpdate` schedules its own settlement), so a
symbol without a series pays none and a gap in a series is a gap in the payments."""

SPIN_LIMIT = 10_000
"""Loop turns the strategy's sending task may take without waiting on a round trip (a stuck task)."""


class Phase(IntEnum):
    """The order of what happens at one instant (see the module docstring)."""

    ENGINE = 0
    REQUEST = 1
    REPLY = 2
    ACCOUNT = 3
    TIMER = 4
    MARKET = 5


@dataclass(frozen=True, slots=True)
class MarketSource:
    """One time-ordered stream of market events for a run, and where it goes.

    `receive_times`: the events carry their own receive time (bst recordings), else the strategy
    gets them at exchange time + the feed latency. `interval`: the bars' interval, for candles.
    """

    events: Iterable[MarketEvent]
    description: str
    to_engine: bool = True
    to_strategy: bool = True
    receive_times: bool = False
    symbol: str = ""
    interval: Interval | None = None


@dataclass(frozen=True, slots=True)
class _Step:
    """One move of the market at `at_ms`: a whole event, or one print of a bar's path.

    A candle source's bars reach the engine print by print at the prints' own times (open, the
    two extremes, the close), so requests arriving inside a bar meet the market where it was then;
    the strategy gets the bar with its last print (`last`), when it has closed.
    """

    at_ms: int
    event: MarketEvent
    source: MarketSource
    price: Decimal | None = None
    volume: Decimal = Decimal(0)
    previous: Decimal | None = None
    last: bool = True


def _steps(source: MarketSource) -> Iterator[_Step]:
    """Yield a source's steps in time order (a candle source's bars as their prints)."""
    by_prints = source.to_engine and source.interval is not None
    for event in source.events:
        if not (by_prints and isinstance(event, KlineUpdate)):
            yield _Step(event.ts_ms, event, source)
            continue
        bars = sorted((b for b in event.bars if b.confirmed), key=lambda b: b.bar.open_time_ms)
        if not bars:
            yield _Step(event.ts_ms, event, source)
            continue
        for index, live in enumerate(bars):
            previous: Decimal | None = None
            path = bar_path(live)
            for leg, (at_ms, price) in enumerate(path):
                last = index == len(bars) - 1 and leg == len(path) - 1
                yield _Step(at_ms, event, source, price, live.bar.volume, previous, last)
                previous = price


@dataclass(slots=True)
class RunOutcome:
    """What the loop leaves behind: the books, the run's span, counts and prices per symbol."""

    book: RunBook
    start_ms: int
    end_ms: int
    counts: dict[str, int]
    first_price: dict[str, Decimal] = field(default_factory=dict)
    last_price: dict[str, Decimal] = field(default_factory=dict)
    max_held: int = 0
    """The most items the queue and the waiting deliveries held at once (memory is bounded by it)."""


@dataclass(frozen=True, slots=True)
class _MarketDelivery:
    """A market event on its way to the strategy."""

    event: MarketEvent


@dataclass(frozen=True, slots=True)
class _AccountDelivery:
    """An account event on its way to the strategy."""

    event: AccountEvent


_Delivery = _MarketDelivery | _AccountDelivery | None
"""What reaches the strategy (None: a timer falling due)."""


class BacktestRunner:
    """One run of one strategy over market sources against an in-process engine."""

    def __init__(
        self,
        strategy: Strategy[Params],
        instruments: Mapping[str, Instrument],
        sources: Sequence[MarketSource],
        config: BacktestConfig,
        *,
        category: Category = Category.LINEAR,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if category is not Category.LINEAR:
            raise ConfigError("backtests trade linear perpetuals (USDT/USDC); spot is not supported yet")
        if not sources:
            raise ConfigError("a backtest needs market data: give candles, a recording or a data file")
        self.config = config
        self.category = category
        self.symbols = tuple(instruments)
        self._sources = list(sources)
        self._progress = progress
        candle_symbols = {s.symbol for s in sources if s.interval is not None and s.to_engine}
        engine = MatchingEngine(
            EngineConfig(
                fees=config.fee_schedule(),
                queue_model=config.queue_model,
                default_leverage=config.leverage,
                seed=config.seed,
            )
        )
        for symbol, instrument in instruments.items():
            engine.add_symbol(
                SymbolSpec(
                    instrument,
                    default_funding_rate=Decimal(0),
                    funding_interval_ms=NO_FUNDING_GRID_MS,
                    bar_fill=config.fill.bar_fill if symbol in candle_symbols else None,
                    bar_slippage_ratio=config.slippage,
                )
            )
        self.engine = engine
        self.hub = EngineHub(engine)
        self._candle_symbols = candle_symbols
        self._queue: list[tuple[int, int, int, Any]] = []
        self._seq = itertools.count()
        self._now = 0
        self._backlog: deque[_Delivery] = deque()
        self._batch: asyncio.Task[list[IntentResult]] | None = None
        self._timer_at: int | None = None
        self._last_account_ms = 0
        self._last_feed_ms: dict[int, int] = {}
        self._aggregators: dict[tuple[str, Interval], list[BarAggregator]] = {}
        self._stopped = False
        self._end_ms = 0
        self.counts: dict[str, int] = dict.fromkeys(
            ("market_events", "bars", "deliveries", "requests", "refusals", "timers"), 0
        )
        self._outcome_prices: dict[str, Decimal] = {}
        self._first_prices: dict[str, Decimal] = {}
        self._max_held = 0
        self.book = RunBook(config.settle_coin)
        self.clock = ManualClock(0)
        self.gateway = DelayedGateway(self._post)
        self.policy = ExecutionPolicy(self.gateway, OrderTracker(), self.clock)
        self.runtime = StrategyRuntime(
            strategy, RuntimeConfig(category, self.symbols, tag=config.tag), instruments, self.policy
        )
        self._account: EngineGateway | None = None
        self._plan_bars(strategy)
        lengths = [_length(s.interval) for s in self._sources if s.interval is not None]
        self._equity_step_ms = config.equity_step_ms or (min(lengths) if lengths else 1000)

    # --- set-up -------------------------------------------------------------------------------

    def _plan_bars(self, strategy: Strategy[Params]) -> None:
        """Build the coarser bars the strategy asks for from the candles of the data."""
        wanted = self.runtime.needs.bars
        for source in self._sources:
            data = source.interval
            if data is None or not source.to_strategy:
                continue
            for interval in wanted:
                if interval is data:
                    continue
                if _length(interval) < _length(data):
                    raise ConfigError(
                        f"{strategy.name} asks for {interval.value} bars but the data of {source.symbol} "
                        f"has {data.value} bars: give finer data (or a coarser interval)"
                    )
                aggregator = BarAggregator(self.category, source.symbol, interval)
                self._aggregators.setdefault((source.symbol, data), []).append(aggregator)

    # --- the loop -----------------------------------------------------------------------------

    async def run(self) -> RunOutcome:
        """Run to the end of the data; return the books. A strategy failure raises StrategyError."""
        merged = self._merged()
        pending = next(merged, None)
        if pending is None:
            raise ConfigError("the market data of this run is empty (check the dates and the data)")
        start_ms = pending.at_ms
        try:
            await self._begin(start_ms)
            while True:
                held = len(self._queue) + len(self._backlog)
                self._max_held = max(self._max_held, held)
                top = self._queue[0] if self._queue else None
                if pending is not None and (top is None or (max(pending.at_ms, self._now), 0) < top[:2]):
                    self._move_to(pending.at_ms)
                    self._to_engine(pending)
                    pending = next(merged, None)
                    if pending is None:
                        self._end_ms = self._now
                    continue
                if top is not None:
                    at, phase, _, item = heapq.heappop(self._queue)
                    self._move_to(at)
                    await self._handle(Phase(phase), item)
                    continue
                if not self._stopped:
                    await self._stop()
                    continue
                break
            await self._close_out()
        finally:
            if self._batch is not None and not self._batch.done():
                self._batch.cancel()
        return RunOutcome(
            self.book,
            start_ms,
            self._now,
            dict(self.counts),
            self._first_prices,
            dict(self._outcome_prices),
            self._max_held,
        )

    async def _begin(self, start_ms: int) -> None:
        self._now = start_ms
        self.clock.advance((start_ms - self.clock.now_ms()) / 1000)
        self.hub.advance_time(start_ms)
        self._account = self.hub.open_account({self.config.settle_coin: self.config.cash})
        await self._account.start()
        self.runtime.start(start_ms)
        self._collect()
        await self._pump()

    def _merged(self) -> Iterator[_Step]:
        """Yield every source's steps merged by exchange time (ties: source order, then own order).

        The run ends with the market the strategy sees: what engine-only sources (a funding series)
        hold beyond the last event of the others is not played.
        """
        seen = [s for s in self._sources if s.to_strategy]
        left = [len(seen)]

        def counted(source: MarketSource) -> Iterator[_Step]:
            yield from _steps(source)
            left[0] -= 1

        streams = [counted(s) if s.to_strategy else _steps(s) for s in self._sources]
        for step in heapq.merge(*streams, key=lambda step: step.at_ms):
            if seen and left[0] == 0:
                return
            yield step

    def _move_to(self, at_ms: int) -> None:
        """Move the run's time forward to `at_ms` (never back), sampling equity on the way."""
        if at_ms <= self._now:
            return
        self._maybe_sample(self._now, at_ms)
        self._now = at_ms
        self.clock.advance((at_ms - self.clock.now_ms()) / 1000)

    def _push(self, at_ms: int, phase: Phase, item: Any) -> None:
        heapq.heappush(self._queue, (max(at_ms, self._now), int(phase), next(self._seq), item))

    # --- the engine side ----------------------------------------------------------------------

    def _to_engine(self, step: _Step) -> None:
        """Apply a step of the market to the engine now; after an event's last, send it to the strategy."""
        event, source = step.event, step.source
        if source.to_engine:
            if step.price is None:
                self.hub.apply(event)
            else:
                self.engine.on_bar_print(
                    event.symbol,
                    step.price,
                    step.volume,
                    step.at_ms,
                    previous=step.previous,
                    category=event.category,
                )
            self._collect()
            if not step.last:
                return
            self.counts["market_events"] += 1
            self._note_prices(event)
            if self._progress is not None and self.counts["market_events"] % 1000 == 0:
                self._progress(self.counts["market_events"], self._now)
        if source.to_strategy and not self._stopped:
            if source.receive_times:
                at_ms = event.recv_ms
            else:
                at_ms = event.ts_ms + self.config.feed_latency.delay_ms(event.ts_ms)
            key = id(source)
            at_ms = max(at_ms, self._last_feed_ms.get(key, 0))  # one stream: it never overtakes itself
            self._last_feed_ms[key] = at_ms
            self._push(at_ms, Phase.MARKET, _MarketDelivery(event))

    def _note_prices(self, event: MarketEvent) -> None:
        if isinstance(event, KlineUpdate):
            self.counts["bars"] += len(event.bars)
            last = event.bars[-1].bar
            self._first_prices.setdefault(event.symbol, event.bars[0].bar.open)
            self._outcome_prices[event.symbol] = last.close
        elif isinstance(event, TradesUpdate) and event.trades:
            self._first_prices.setdefault(event.symbol, event.trades[0].price)
            self._outcome_prices[event.symbol] = event.trades[-1].price

    def _collect(self) -> None:
        """Book what the engine did and send the account events on to the strategy."""
        assert self._account is not None
        events = self._account.drain()
        if not events:
            return
        self.book.on_events(events)
        if self._stopped:
            return
        latency: Latency = self.config.response_latency
        at_ms = max(self._now + latency.delay_ms(self._now), self._last_account_ms)
        self._last_account_ms = at_ms  # one private stream: events never overtake each other
        for event in events:
            self._push(at_ms, Phase.ACCOUNT, _AccountDelivery(event))

    def _post(self, call: Call) -> None:
        """Send a gateway call of the strategy on its way to the engine."""
        call.sent_ms = self._now
        self.counts["requests"] += 1
        self._push(self._now + self.config.request_latency.delay_ms(self._now), Phase.REQUEST, call)

    async def _handle(self, phase: Phase, item: Any) -> None:
        if phase is Phase.REQUEST:
            assert self._account is not None
            self.hub.advance_time(self._now)
            self._collect()
            await item.run_on(self._account)
            self._collect()
            delay = self.config.response_latency.delay_ms(self._now)
            self._push(self._now + delay, Phase.REPLY, item)
        elif phase is Phase.REPLY:
            self.gateway.answer(item)
            await self._pump()
        elif self._stopped:
            return  # the strategy has stopped: nothing reaches it any more
        elif self._batch is not None:
            self._backlog.append(item)
        else:
            self._deliver(item)
            await self._pump()

    # --- the strategy side --------------------------------------------------------------------

    def _deliver(self, item: _Delivery) -> None:
        runtime = self.runtime
        self.counts["deliveries"] += 1
        if item is None:
            self._timer_at = None
            due = runtime.next_timer_ms()
            if due is not None and due <= self._now:
                self.counts["timers"] += runtime.fire_timers(self._now)
            return
        if isinstance(item, _AccountDelivery):
            runtime.on_account(item.event)
            return
        event = item.event
        runtime.on_market(event)
        if isinstance(event, KlineUpdate):
            for aggregator in self._aggregators.get((event.symbol, event.interval), ()):
                for coarse in aggregator.add_closed(event):
                    runtime.on_market(coarse)

    async def _pump(self) -> None:
        """Run the strategy side until it waits on a round trip or has nothing left to do."""
        runtime = self.runtime
        spins = 0
        while True:
            batch = self._batch
            if batch is not None:
                if not batch.done():
                    if self.gateway.waiting:
                        return
                    spins += 1
                    if spins > SPIN_LIMIT:
                        raise BstError(
                            "the strategy's order flow waits on something a backtest cannot drive "
                            "(only gateway calls and the run's clock move a backtest)"
                        )
                    await asyncio.sleep(0)
                    continue
                self._batch = None
                self.counts["refusals"] += sum(1 for r in batch.result() if not r.ok)
                continue
            if runtime.has_intents:
                self._batch = asyncio.ensure_future(runtime.execute(runtime.take_intents()))
                continue
            if self._backlog and not self._stopped:
                self._deliver(self._backlog.popleft())
                continue
            self._arm_timer()
            return

    def _arm_timer(self) -> None:
        """Keep one TIMER item in the queue for the strategy's next timer (none after the data)."""
        if self._stopped:
            return
        due = self.runtime.next_timer_ms()
        if due is None or due == self._timer_at:
            return
        if self._end_ms and due > self._end_ms:
            return
        self._timer_at = due
        self._push(due, Phase.TIMER, None)

    # --- the end ------------------------------------------------------------------------------

    async def _stop(self) -> None:
        """Stop the strategy (on_stop) and send what it queued."""
        self._end_ms = self._end_ms or self._now
        self.runtime.stop(self._now)
        self._stopped = True
        self._backlog.clear()
        await self._pump()

    async def _close_out(self) -> None:
        """Close everything at the last price when asked; take the final equity sample."""
        assert self._account is not None
        account = self._account
        if self.config.close_at_end:
            self._last_print()
            for symbol in self.symbols:
                await account.cancel_all_orders(self.category, symbol=symbol)
                self._collect()
                position = self.engine.positions(account.uid, symbol=symbol)[0]
                if position.size > 0:
                    side = Side.SELL if position.side is PositionSide.BUY else Side.BUY
                    request = OrderRequest(
                        self.category,
                        symbol,
                        side,
                        OrderType.MARKET,
                        position.size,
                        reduce_only=True,
                        order_link_id=f"{self.config.tag}-end-{symbol}"[:36],
                    )
                    await account.place_order(request)
                    self._collect()
            self._last_print()
        self.book.sample(self._now, self.engine, account.uid, self._marks())

    def _last_print(self) -> None:
        """Print each candle symbol's last price once more (orders waiting for a print fill there)."""
        for symbol in sorted(self._candle_symbols):
            price = self._outcome_prices.get(symbol)
            if price is None:
                continue
            trade = Trade(self._now, symbol, Side.BUY, price, Decimal(0), "bst-last-print")
            self.hub.apply(TradesUpdate(self.category, symbol, (trade,), self._now, self._now))
            self._collect()

    # --- equity -------------------------------------------------------------------------------

    def _marks(self) -> dict[str, Decimal]:
        """Return each symbol's reference price in the engine (mark, else last trade, else mid)."""
        marks = {}
        for symbol in self.symbols:
            price = self.engine.market(symbol, category=self.category).mark_price
            if price is not None:
                marks[symbol] = price
        return marks

    def _maybe_sample(self, now_ms: int, next_ms: int) -> None:
        """Sample equity at `now_ms` (time is about to move on to `next_ms`) at each step boundary.

        Boundaries are multiples of the step in exchange time, crossed in (now_ms, next_ms]: in a
        candle run the samples fall on each bar's close (its last millisecond, before the next bar
        opens), as bar-by-bar backtesters mark equity; the run's first move is sampled too.
        """
        step = self._equity_step_ms
        last = self.book.last_equity
        if last is not None and next_ms // step == now_ms // step:
            return
        assert self._account is not None
        self.book.sample(now_ms, self.engine, self._account.uid, self._marks())


def _length(interval: Interval) -> int:
    """Return an interval's length in ms (a month counts as 28 days: the shortest)."""
    return interval.fixed_ms or 28 * 86_400_000
