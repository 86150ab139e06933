"""One strategy runtime for every venue: events in, callbacks called in a defined order, intents out.

`StrategyRuntime` owns a strategy, its `Context`, the market view (bar windows, books, analytics,
tickers), the account view (the execution policy's order tracker, positions, wallet) and the timers.
The same object serves a backtest and a live bot; only the driver differs:

- step-wise (backtests: no await per event): `start(now_ms)`; then per event `on_market(event)` /
  `on_account(event)`, timers with `next_timer_ms()` / `fire_timers(now_ms)`; whenever
  `has_intents`, `await flush()` sends what the callbacks queued through the `ExecutionPolicy`
  (over the venue's `OrderGateway`); finally `stop(now_ms)` and one last `flush()`. A backtest
  driver fires the timers due at or before an event's time before it delivers that event:

      runtime.start(first_ms)
      for event in market_events:                        # time ordered
          while (due := runtime.next_timer_ms()) is not None and due <= event.ts_ms:
              runtime.fire_timers(due)                   # (move the venue's clock to `due` first)
              await runtime.flush()
          runtime.on_market(event)
          if runtime.has_intents:
              await runtime.flush()
          for account_event in venue_events():           # what the sends caused
              runtime.on_account(account_event)
          ...

- live: `await run(market_feed, account_feed, clock)` does the same over the ports, waiting for the
  timers on the injected clock.

Order of dispatch: an event is folded into the views first, then its callback runs (`on_bar` per
newly confirmed bar, oldest first; `on_book`; `on_trade`; `on_order` per order that changed,
`on_fill` per new fill, `on_position` per changed position, in the event's order). Intents are sent
in the order they were queued, one at a time, after the callback returned; `on_intent_failed` runs
for each failure once the whole batch was sent. The run's time (`ctx.now_ms`) is the time of what is
being handled: an event's exchange time `ts_ms`, a timer's due time, never earlier than before.

A callback that raises stops the run: the runtime drops what that callback queued and raises
`StrategyError` (one line: strategy, callback, time, cause).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from bst.domain.account_events import (
    AccountEvent,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
    WalletsEvent,
)
from bst.domain.clock import Clock
from bst.domain.errors import BstError, ConfigError, OrderValidationError
from bst.domain.events import BookUpdate, FundingUpdate, KlineUpdate, MarketEvent, TickerUpdate, TradesUpdate
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.ports import AccountFeed, MarketFeed, MarketSubscription
from bst.trading.account_view import AccountView
from bst.trading.context import Context
from bst.trading.execution import ExecutionPolicy, Resolution
from bst.trading.intents import (
    AmendIntent,
    CancelIntent,
    Intent,
    IntentResult,
    OrderIds,
    SubmitIntent,
)
from bst.trading.market_view import MarketView
from bst.trading.order_tracker import OrderTracker
from bst.trading.params import Params
from bst.trading.strategy import Strategy
from bst.trading.timers import Timers

__all__ = ["RuntimeConfig", "StrategyError", "StrategyRuntime"]


class StrategyError(BstError):
    """A strategy's callback raised; the run stops (the cause is chained)."""


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """Where a strategy runs: its category and symbols (the first is `ctx.symbol`), and the run tag.

    `tag` prefixes every orderLinkId (`{tag}-{n}`, n from `first_seq`): give a live run a tag no
    earlier run on the account used; a backtest may keep the default.
    """

    category: Category
    symbols: tuple[str, ...]
    tag: str = "bst"
    first_seq: int = 1

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("a run needs at least one symbol")
        if len(set(self.symbols)) != len(self.symbols):
            raise ConfigError(f"symbols are listed twice: {', '.join(self.symbols)}")


_ACCOUNT_EVENTS = (OrdersEvent, ExecutionsEvent, PositionsEvent, WalletsEvent, ResyncEvent)


class _End(Enum):
    MARKET_CLOSED = "market feed ended"
    TIMER = "timer due"
    STOP = "stop requested"


class StrategyRuntime:
    """Run one strategy over market and account events (see the module docstring)."""

    def __init__(
        self,
        strategy: Strategy[Params],
        config: RuntimeConfig,
        instruments: Mapping[str, Instrument] | Sequence[Instrument],
        execution: ExecutionPolicy,
    ) -> None:
        by_symbol = (
            dict(instruments) if isinstance(instruments, Mapping) else {i.symbol: i for i in instruments}
        )
        for symbol in config.symbols:
            instrument = by_symbol.get(symbol)
            if instrument is None:
                raise ConfigError(f"no instrument for {symbol}: load the run's instruments first")
            if instrument.category is not config.category or instrument.symbol != symbol:
                raise ConfigError(
                    f"the instrument given for {symbol} is {instrument.category.value} {instrument.symbol}"
                )
        self.strategy = strategy
        self.config = config
        self.execution = execution
        self.needs = strategy.needs()
        self.market = MarketView(config.category, config.symbols, self.needs)
        self.account = AccountView(config.category, config.symbols, execution.tracker)
        self._ids = OrderIds(config.tag, config.first_seq)
        self._timers = Timers()
        self.context = Context(
            strategy=strategy.name,
            category=config.category,
            symbols=config.symbols,
            instruments={s: by_symbol[s] for s in config.symbols},
            market=self.market,
            account=self.account,
            ids=self._ids,
            timers=self._timers,
        )
        self._now_ms = 0
        self._dispatches = 0
        self._started = False
        self._stopped = False

    # --- state --------------------------------------------------------------------------------

    @property
    def tracker(self) -> OrderTracker:
        """Return the order tracker (the execution policy's)."""
        return self.execution.tracker

    @property
    def now_ms(self) -> int:
        """Return the run's time: the latest event or timer time handled (epoch ms)."""
        return self._now_ms

    @property
    def started(self) -> bool:
        """Return whether `start` ran."""
        return self._started

    @property
    def stopped(self) -> bool:
        """Return whether `stop` ran."""
        return self._stopped

    @property
    def has_intents(self) -> bool:
        """Return whether callbacks queued intents that were not taken yet."""
        return self.context._pending > 0

    def subscriptions(self) -> list[MarketSubscription]:
        """Return the market subscriptions the strategy needs (feed them to the `MarketFeed`)."""
        return self.needs.subscriptions(self.config.category, self.config.symbols)

    # --- step-wise driving --------------------------------------------------------------------

    def start(self, now_ms: int) -> None:
        """Call `on_start` at `now_ms` (once, before any event)."""
        if self._started:
            raise ConfigError("the runtime was started already")
        self._started = True
        self._call(now_ms, self.strategy.on_start)

    def on_market(self, event: MarketEvent) -> None:
        """Fold one market event into the view and call the strategy's callback for it."""
        self._require_running()
        strategy = self.strategy
        if isinstance(event, KlineUpdate):
            for bar in self.market.on_kline(event):
                self._call(bar.end_ms, strategy.on_bar, bar)
        elif isinstance(event, BookUpdate):
            change = self.market.on_book(event)
            if change is not None:
                self._call(event.ts_ms, strategy.on_book, change)
        elif isinstance(event, TradesUpdate):
            if self.market.on_trades(event):
                self._call(event.ts_ms, strategy.on_trade, event)
        elif isinstance(event, TickerUpdate):
            self.market.on_ticker(event)
            self._advance(event.ts_ms)
        elif isinstance(event, FundingUpdate):
            self._advance(event.ts_ms)  # the venue settles funding; the account events tell

    def on_account(self, event: AccountEvent) -> None:
        """Fold one account event into the view and call `on_order`/`on_fill`/`on_position`."""
        self._require_running()
        account, strategy = self.account, self.strategy
        at_ms = event.ts_ms
        if isinstance(event, OrdersEvent):
            for order in account.on_orders(event, max(self._now_ms, at_ms)):
                self._call(at_ms, strategy.on_order, order)
        elif isinstance(event, ExecutionsEvent):
            for fill in account.on_executions(event, max(self._now_ms, at_ms)):
                self._call(at_ms, strategy.on_fill, fill)
        elif isinstance(event, PositionsEvent):
            for position in account.on_positions(event):
                self._call(at_ms, strategy.on_position, position)
        elif isinstance(event, WalletsEvent):
            account.on_wallets(event.wallets)
            self._advance(at_ms)
        elif isinstance(event, ResyncEvent):
            account.resyncs += 1
            self._advance(at_ms)

    def next_timer_ms(self) -> int | None:
        """Return when the next timer is due (epoch ms), or None when none is armed."""
        return self._timers.next_due_ms()

    def fire_timers(self, now_ms: int) -> int:
        """Call `on_timer` for every timer due at or before `now_ms`, in due order; return how many."""
        self._require_running()
        fired = 0
        while (timer := self._timers.pop_due(now_ms)) is not None:
            fired += 1
            self._call(timer.due_ms, self.strategy.on_timer, timer)
        self._advance(now_ms)
        return fired

    def stop(self, now_ms: int | None = None) -> None:
        """Call `on_stop` (once); events after it are refused. Send what it queued with `flush`."""
        self._require_running()
        self._stopped = True
        self._call(self._now_ms if now_ms is None else now_ms, self.strategy.on_stop)

    def take_intents(self) -> list[Intent]:
        """Return the queued intents, oldest first, and empty the queue; pass them to `execute`."""
        return self.context._take()

    # --- sending ------------------------------------------------------------------------------

    async def flush(self) -> list[IntentResult]:
        """Send every queued intent (`take_intents` + `execute`); return the results in order."""
        return await self.execute(self.take_intents())

    async def execute(self, intents: Sequence[Intent]) -> list[IntentResult]:
        """Send `intents` one by one through the execution policy, then report failures.

        `on_intent_failed` runs for each result that is not DONE once all were sent; what it
        queues waits for the next flush.
        """
        results = []
        for intent in intents:
            self.context._handed_over(intent)
            results.append(await self._send(intent))
        for result in results:
            if not result.ok:
                self._call(self._now_ms, self.strategy.on_intent_failed, result)
        return results

    async def _send(self, intent: Intent) -> IntentResult:
        policy = self.execution
        try:
            if isinstance(intent, SubmitIntent):
                instrument = self.context.instrument(intent.request.symbol)
                outcome = await policy.submit(intent.request, instrument)
            elif isinstance(intent, AmendIntent):
                outcome = await policy.amend(intent.request)
            elif isinstance(intent, CancelIntent):
                outcome = await policy.cancel(
                    intent.category, intent.symbol, order_link_id=intent.order_link_id
                )
            else:
                every = await policy.cancel_all(intent.category, symbol=intent.symbol)
                return IntentResult(intent, every.resolution, error=every.error)
        except OrderValidationError as e:  # refused by the gateway's own check: nothing was sent
            return IntentResult(intent, Resolution.REFUSED, error=e)
        return IntentResult(intent, outcome.resolution, outcome.order_id, outcome.error)

    # --- live driving -------------------------------------------------------------------------

    async def run(
        self,
        market: MarketFeed,
        account: AccountFeed,
        clock: Clock,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Run live: start the account feed, subscribe, then handle events and timers until `stop`.

        Also ends when the market feed ends (after the events already received); a feed's error
        ends the run with that error. Calls
        `on_start` first (unless started) and `on_stop` last, sending what each queued. Events are
        handled one at a time, in arrival order; a timer fires when the clock reaches it. The caller
        closes the feeds.
        """
        inbox: _Inbox = asyncio.Queue()
        await account.start()
        await market.subscribe(self.subscriptions())
        helpers = [
            asyncio.create_task(_pump(market, inbox, _End.MARKET_CLOSED)),
            asyncio.create_task(_pump(account, inbox, None)),
        ]
        if stop is not None:
            helpers.append(asyncio.create_task(_on_stop(stop, inbox)))
        alarm: tuple[int, asyncio.Task[None]] | None = None
        try:
            if not self._started:
                self.start(clock.now_ms())
            await self.flush()
            closing = False  # the market feed ended: handle what is already queued, then stop
            while stop is None or not stop.is_set():
                if closing:
                    await asyncio.sleep(0)  # let the feeds hand over what they already hold
                    if inbox.empty():
                        break
                due = self._timers.next_due_ms()
                if alarm is not None and alarm[0] != due:
                    alarm[1].cancel()
                    alarm = None
                if alarm is None and due is not None and not closing:
                    alarm = (due, asyncio.create_task(_alarm(clock, due, inbox)))
                item = inbox.get_nowait() if closing else await inbox.get()
                if isinstance(item, BaseException):
                    raise item
                if item is _End.STOP:
                    break
                if item is _End.MARKET_CLOSED:
                    closing = True
                    continue
                if item is _End.TIMER:
                    if alarm is not None and alarm[1].done():
                        alarm = None
                    self.fire_timers(max(self._now_ms, clock.now_ms()))
                elif isinstance(item, _ACCOUNT_EVENTS):
                    self.on_account(item)
                else:
                    self.on_market(item)
                if self.has_intents:
                    await self.flush()
        finally:
            if alarm is not None:
                helpers.append(alarm[1])
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
        if not self._stopped:
            self.stop(max(self._now_ms, clock.now_ms()))
        await self.flush()

    # --- helpers ------------------------------------------------------------------------------

    def _require_running(self) -> None:
        if not self._started:
            raise ConfigError("start the runtime (start(now_ms)) before feeding it events")
        if self._stopped:
            raise ConfigError("the runtime was stopped: it takes no more events")

    def _advance(self, at_ms: int) -> None:
        if at_ms > self._now_ms:
            self._now_ms = at_ms

    def _call(self, at_ms: int, callback: Callable[..., None], *args: object) -> None:
        """Run one callback at `at_ms` (never before the run's time); a raise becomes StrategyError."""
        self._advance(at_ms)
        self._dispatches += 1
        context = self.context
        mark = context._begin(self._now_ms, f"{self._ids.tag}:{self._dispatches}")
        try:
            callback(context, *args)
        except Exception as e:
            context._rollback(mark)
            when = datetime.fromtimestamp(self._now_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
            raise StrategyError(
                f"strategy {self.strategy.name} failed in {callback.__name__} at {when}: "
                f"{type(e).__name__}: {e}"
            ) from e


_Inbox = asyncio.Queue[MarketEvent | AccountEvent | _End | BaseException]
"""What the live loop handles, in arrival order: events, wake-ups, and the error that ended a feed."""


async def _alarm(clock: Clock, due_ms: int, inbox: _Inbox) -> None:
    """Wake the loop when the clock reaches `due_ms`."""
    delay_s = (due_ms - clock.now_ms()) / 1000
    if delay_s > 0:  # a virtual clock wakes sleepers only when moved: never sleep for nothing
        await clock.sleep(delay_s)
    inbox.put_nowait(_End.TIMER)


async def _on_stop(stop: asyncio.Event, inbox: _Inbox) -> None:
    """Wake the loop when `stop` is set."""
    await stop.wait()
    inbox.put_nowait(_End.STOP)


async def _pump(
    feed: AsyncIterable[MarketEvent] | AsyncIterable[AccountEvent],
    inbox: _Inbox,
    end: _End | None,
) -> None:
    """Copy a feed's events into the run's queue; then `end` (if any), or the error that ended it."""
    try:
        async for event in feed:
            inbox.put_nowait(event)
    except asyncio.CancelledError:
        raise
    except Exception as e:
        inbox.put_nowait(e)
        return
    if end is not None:
        inbox.put_nowait(end)
