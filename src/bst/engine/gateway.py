"""The trading ports over an in-process `MatchingEngine`: one `EngineGateway` per account (uid).

`EngineGateway` satisfies `OrderGateway` and `AccountFeed` (`bst.domain.ports`) for backtests and
paper venues, so a strategy written against the ports cannot tell the engine from Bybit or `bst sim`:

- Requests go straight to the engine and raise what the REST client raises for the same refusal:
  the engine's `BybitAPIError` subclasses with Bybit's retCode, and the client's local checks
  (`prepare_order`, an amend or cancel naming no order: `OrderValidationError`) are made here too.
  Nothing is ever lost in process, so no call reports `outcome_unknown`.
- The feed delivers the account's events (`OrdersEvent`, `ExecutionsEvent`, `PositionsEvent`,
  `WalletsEvent`) as the engine's outbox holds them (`bst.engine.events`: grouped as the private
  stream groups its messages), in engine order. `start()` first hands over the account's current
  state (open orders, positions, wallet, then a `ResyncEvent`), exactly as the private stream's
  first REST re-read does, so a consumer that waits for the hand-over works unchanged.

Time: the gateway never reads a clock. The engine's clock is the venue's clock; it moves only when
the driver feeds it (market events, which carry their timestamps, or `EngineHub.advance_time`).
Requests act at the engine's current time, and events are stamped with it (`ts_ms` and `recv_ms`
alike: in process there is no transport delay). A backtest therefore drives time by feeding the
market in time order and letting the strategy react between events:

    feeder = Feeder(hub.engine, [book_events, trade_events])
    for event in feeder.events(until_ms):   # applied to the engine, in time order
        hub.publish()                        # (or hub.apply(event) without a Feeder)
        await strategy.on_market(event)      # reads its EngineGateway feed, places orders

Several accounts may share one engine: the `EngineHub` owns the engine's outbox (drain it nowhere
else) and routes each account's events to that account's started feeds. It publishes after every
gateway request, on `advance_time`/`publish`, and whenever a feed is read, so market data fed to
the engine directly is delivered too, at the latest when a consumer next reads.

Every call runs the engine synchronously (microseconds to a few ms: no I/O, no threads, so the run
stays deterministic) and then yields to the event loop once, as a network call would.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Self, TypeVar

from bst.bybit.errors import error_for_code
from bst.bybit.retcodes import RetCode
from bst.domain.account_events import (
    AccountEvent,
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
    WalletsEvent,
)
from bst.domain.errors import BybitOrderNotFoundError, ConfigError, OrderValidationError
from bst.domain.events import MarketEvent
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.order_rules import prepare_order
from bst.domain.orders import AmendRequest, Execution, Order, OrderAck, OrderFilter, OrderRequest
from bst.domain.portfolio import Position, WalletBalance
from bst.engine.config import FeeSchedule
from bst.engine.core import MatchingEngine

T = TypeVar("T")
_RESYNC = AccountEventSource.RESYNC
DEFAULT_SETTLE_COIN = "USDT"
"""What a linear cancel-all naming no symbol or settle coin cancels (the REST client's default)."""


class EngineHub:
    """One engine's event router: drains its outbox and hands each account's events to its feeds.

    Invariant: the hub is the only reader of the engine's outbox (`drain_events`).
    """

    def __init__(self, engine: MatchingEngine) -> None:
        self._engine = engine
        self._feeds: dict[int, list[EngineGateway]] = {}

    @property
    def engine(self) -> MatchingEngine:
        """Return the engine (feed market data to it, then `publish`)."""
        return self._engine

    def gateway(self, uid: int) -> EngineGateway:
        """Return a new gateway of an existing account."""
        return EngineGateway(self, uid)

    def open_account(
        self, balances: Mapping[str, Decimal] | None = None, *, fees: FeeSchedule | None = None
    ) -> EngineGateway:
        """Open a funded account (coin -> amount) in the engine and return its gateway."""
        return EngineGateway(self, self._engine.open_account(balances, fees=fees))

    def apply(self, event: MarketEvent) -> None:
        """Feed one market event to the engine (`MatchingEngine.apply`) and publish what it caused."""
        self._engine.apply(event)
        self.publish()

    def advance_time(self, now_ms: int) -> None:
        """Move the engine's clock to `now_ms` (latency arrivals, funding) and publish the events."""
        self._engine.advance_time(now_ms)
        self.publish()

    def publish(self) -> None:
        """Drain the engine's outbox and deliver each account's events to its started feeds."""
        feeds = self._feeds
        for message in self._engine.drain_events():
            for feed in feeds.get(message.uid, ()):
                feed._deliver((message.event,))

    def _attach(self, feed: EngineGateway) -> None:
        self.publish()  # what happened before the feed started belongs to the hand-over, not the feed
        self._feeds.setdefault(feed.uid, []).append(feed)

    def _detach(self, feed: EngineGateway) -> None:
        feeds = self._feeds.get(feed.uid, [])
        if feed in feeds:
            feeds.remove(feed)
        if not feeds:
            self._feeds.pop(feed.uid, None)


class EngineGateway:
    """`OrderGateway` and `AccountFeed` of one engine account (see the module docstring)."""

    def __init__(self, hub: EngineHub, uid: int) -> None:
        if uid not in hub.engine.accounts():
            raise ConfigError(f"the engine has no account {uid}; open it first (EngineHub.open_account)")
        self.uid = uid
        self._hub = hub
        self._engine = hub.engine
        self._queue: deque[AccountEvent] = deque()
        self._wakeup = asyncio.Event()
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"EngineGateway(uid={self.uid}, started={self._started}, closed={self._closed})"

    # --- OrderGateway: requests --------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        """Place an order (an orderLinkId is generated when missing); raise the engine's refusal."""
        prepared = prepare_order(request, None)
        ack = self._engine.place_order(self.uid, prepared)
        return await self._answer(ack)

    async def amend_order(self, request: AmendRequest) -> OrderAck:
        """Change an open order's qty, price or TP/SL (by orderId, else orderLinkId)."""
        if not request.order_id and not request.order_link_id:
            raise OrderValidationError("amend needs an orderId or an orderLinkId")
        ack = self._engine.amend_order(self.uid, request)
        return await self._answer(ack)

    async def cancel_order(
        self,
        category: Category,
        symbol: str,
        *,
        order_id: str = "",
        order_link_id: str = "",
        order_filter: OrderFilter | None = None,
    ) -> OrderAck:
        """Cancel one open order (orderId wins over orderLinkId); 110001/170213 when it is not open."""
        if not order_id and not order_link_id:
            raise OrderValidationError("cancel needs an orderId or an orderLinkId")
        ack = self._engine.cancel_order(
            self.uid,
            category,
            symbol,
            order_id=order_id,
            order_link_id=order_link_id,
            order_filter=order_filter,
        )
        return await self._answer(ack)

    async def cancel_all_orders(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        """Cancel every open order of a symbol or settle coin (linear default: USDT); return them."""
        if category is Category.LINEAR and not symbol and not settle_coin:
            settle_coin = DEFAULT_SETTLE_COIN
        acks = self._engine.cancel_all(self.uid, category, symbol=symbol, settle_coin=settle_coin)
        return await self._answer(acks)

    # --- OrderGateway: queries ---------------------------------------------------------------------

    async def get_open_orders(self, category: Category, *, symbol: str | None = None) -> list[Order]:
        """Return the open orders of a symbol (or of the whole category), newest first."""
        return await self._answer(self._engine.open_orders(self.uid, category, symbol=symbol))

    async def find_order(
        self, category: Category, symbol: str, order_link_id: str = "", *, order_id: str = ""
    ) -> Order | None:
        """Return the order with this orderLinkId (or orderId), open or closed; None if there is none."""
        if not order_id and not order_link_id:
            raise OrderValidationError("an order lookup needs an orderId or an orderLinkId")
        found = self._lookup(category, order_id=order_id, order_link_id=order_link_id)
        if found is not None and found.symbol != symbol:
            found = None
        return await self._answer(found)

    async def get_positions(self, category: Category, *, symbol: str | None = None) -> list[Position]:
        """Return a linear symbol's position (flat included), or every non-flat linear position."""
        if category is not Category.LINEAR:
            raise error_for_code(
                RetCode.PARAMS_ERROR, f"positions exist for linear contracts, not {category.value}"
            )
        return await self._answer(self._engine.positions(self.uid, symbol=symbol))

    async def get_wallet_balance(self, *, coins: Sequence[str] = ()) -> WalletBalance:
        """Return the unified wallet (coins named in `coins` even when zero)."""
        return await self._answer(self._engine.wallet(self.uid, coins))

    async def get_executions(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Execution]:
        """Return the fills and funding settlements kept in history, newest first, filtered."""
        found = self._engine.executions(
            self.uid,
            category,
            symbol=symbol,
            order_id=order_id or "",
            order_link_id=order_link_id or "",
            start_ms=start_ms,
            end_ms=end_ms,
        )
        return await self._answer(found)

    async def get_instruments(self, category: Category, symbol: str | None = None) -> list[Instrument]:
        """Return the engine's instruments of a category (or the one named; none if unlisted)."""
        wanted = symbol.upper() if symbol else None
        found = [
            spec.instrument
            for spec in self._engine.symbols()
            if spec.category is category and (wanted is None or spec.symbol == wanted)
        ]
        return await self._answer(found)

    # --- AccountFeed -------------------------------------------------------------------------------

    async def start(self, since_ms: int | None = None) -> None:
        """Hand over the current state, then deliver every new event of the account.

        The hand-over (source RESYNC) holds fills executed at or after `since_ms` (default: now, so
        none), open orders and orders closed since `since_ms`, the non-flat positions and the wallet,
        then a `ResyncEvent`. Starting twice does nothing; a closed feed stays closed.
        """
        if self._started or self._closed:
            return
        self._hub._attach(self)
        self._started = True
        self._deliver(self._hand_over(self._engine.now_ms if since_ms is None else since_ms))

    async def close(self) -> None:
        """Stop receiving events; those already queued are still delivered, then iteration ends."""
        if self._closed:
            return
        self._closed = True
        self._hub._detach(self)
        self._wakeup.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AccountEvent:
        """Return the next event, oldest first, waiting for the driver when there is none yet."""
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StopAsyncIteration
            self._hub.publish()
            if self._queue:
                continue
            self._wakeup.clear()
            await self._wakeup.wait()

    def drain(self) -> list[AccountEvent]:
        """Return the events queued for this feed now, oldest first, without waiting.

        For drivers that step the engine themselves (the backtester): what the engine did so far
        is published first; the feed must be started.
        """
        self._hub.publish()
        events = list(self._queue)
        self._queue.clear()
        return events

    # --- internals ---------------------------------------------------------------------------------

    async def _answer(self, result: T) -> T:
        """Publish what the request caused, then yield to the loop once (as a network call would)."""
        self._hub.publish()
        await asyncio.sleep(0)
        return result

    def _deliver(self, events: Sequence[AccountEvent]) -> None:
        if self._closed or not events:
            return
        self._queue.extend(events)
        self._wakeup.set()

    def _lookup(self, category: Category, *, order_id: str = "", order_link_id: str = "") -> Order | None:
        try:
            return self._engine.get_order(self.uid, category, order_id=order_id, order_link_id=order_link_id)
        except BybitOrderNotFoundError:
            return None

    def _hand_over(self, since_ms: int) -> list[AccountEvent]:
        engine, uid = self._engine, self.uid
        now_ms = engine.now_ms
        fills: list[Execution] = []
        orders: list[Order] = []
        for category in sorted({spec.category for spec in engine.symbols()}):
            fills.extend(engine.executions(uid, category, start_ms=since_ms))
            orders.extend(engine.open_orders(uid, category))
            orders.extend(o for o in engine.closed_orders(uid, category) if o.updated_time_ms >= since_ms)
        fills.sort(key=lambda e: (e.exec_time_ms, e.seq, e.exec_id))
        orders.sort(key=lambda o: (o.updated_time_ms, o.created_time_ms))
        positions = tuple(engine.positions(uid))
        events: list[AccountEvent] = []
        if fills:
            events.append(ExecutionsEvent(tuple(fills), _RESYNC, now_ms, now_ms))
        if orders:
            events.append(OrdersEvent(tuple(orders), _RESYNC, now_ms, now_ms))
        events.append(PositionsEvent(positions, _RESYNC, now_ms, now_ms))
        events.append(WalletsEvent((engine.wallet(uid),), _RESYNC, now_ms, now_ms))
        events.append(
            ResyncEvent(
                connection=1,
                since_ms=since_ms,
                orders=len(orders),
                executions=len(fills),
                positions=len(positions),
                ts_ms=now_ms,
                recv_ms=now_ms,
            )
        )
        return events


__all__ = ["DEFAULT_SETTLE_COIN", "EngineGateway", "EngineHub"]
