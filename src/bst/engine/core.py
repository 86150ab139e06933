"""`MatchingEngine`: the public face of the simulated exchange (pure, deterministic, no I/O).

Feed it market data (`apply(event)` with the domain's market events, e.g. through
`bst.engine.feeder.Feeder`; `on_book_snapshot`, `on_book_delta`, `on_trade`, `on_mark_price`,
`on_funding_rate` are shorthands over the same handlers) and time (`advance_time`); send it
requests (`place_order`, `amend_order`, `cancel_order`, `cancel_all`, `set_leverage`,
`set_trading_stop`); read state back (`get_order`, `open_orders`, `closed_orders`, `executions`,
`positions`, `wallet`, `fee_rates`) and drain the event outbox (`drain_events`). Refused requests
raise the same `BybitAPIError` subclasses the live client raises, carrying Bybit's retCode, so
callers handle both venues alike.

Time only moves forward: every input carries its timestamp and first advances the engine's clock,
which processes due latency arrivals and funding settlements (00/08/16 UTC for 8 h symbols) in
time order. Requests act at the engine's current time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from bst.bybit.retcodes import SYMBOL_INVALID_MSG, RetCode
from bst.domain.errors import ConfigError
from bst.domain.events import MarketEvent
from bst.domain.instrument import Instrument
from bst.domain.market import Category, PriceLevel, Side
from bst.domain.orders import (
    AmendRequest,
    ExecType,
    Execution,
    Order,
    OrderAck,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    order_filter_of,
)
from bst.domain.portfolio import FeeRate, Position, WalletBalance
from bst.engine import state as persist
from bst.engine.accounts import (
    Account,
    margin_summary,
    position_snapshot,
    wallet_snapshot,
)
from bst.engine.conditional import check_amend, prepare_trigger
from bst.engine.config import EngineConfig, FeeSchedule, SymbolSpec
from bst.engine.events import AccountMessage
from bst.engine.ids import IdFactory
from bst.engine.market_input import MarketInput
from bst.engine.matching import Matcher
from bst.engine.positions import change_leverage, change_trading_stop
from bst.engine.timeline import Timeline
from bst.engine.validation import (
    check_linear_margin,
    find_open_order,
    prepare_create,
    symbol_of,
)
from bst.engine.venue import SymbolState, Venue, fail
from bst.engine.working import WorkingOrder

_ZERO = Decimal(0)
FIRST_UID = 100_000_001


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the engine knows about one symbol's market right now."""

    symbol: str
    last_price: Decimal | None
    mark_price: Decimal | None
    index_price: Decimal | None
    funding_rate: Decimal
    next_funding_ms: int | None
    best_bid: Decimal | None
    best_ask: Decimal | None


class MatchingEngine:
    """A Bybit-like exchange for linear USDT perpetuals (one-way) and spot, matched against a feed."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self._venue = Venue(config or EngineConfig())
        self._matcher = Matcher(self._venue)
        self._timeline = Timeline(self._venue, self._matcher)
        self._input = MarketInput(self._venue, self._matcher, self._timeline)

    # --- setup --------------------------------------------------------------------------------

    @property
    def config(self) -> EngineConfig:
        """Return the engine's configuration."""
        return self._venue.config

    @property
    def now_ms(self) -> int:
        """Return the engine's current time (epoch ms)."""
        return self._venue.now_ms

    def add_symbol(self, spec: SymbolSpec | Instrument) -> None:
        """Make a symbol tradable (linear or spot); an Instrument gets default risk parameters."""
        if isinstance(spec, Instrument):
            spec = SymbolSpec(spec)
        if spec.category not in (Category.LINEAR, Category.SPOT):
            raise ConfigError(f"{spec.symbol}: the engine trades linear and spot, not {spec.category}")
        venue = self._venue
        key = (spec.category, spec.symbol)
        if key in venue.symbols:
            raise ConfigError(f"{spec.category} symbol {spec.symbol} is already listed")
        sym = venue.symbols[key] = SymbolState(spec)
        if venue.started:
            self._timeline.init_funding(sym)

    def symbols(self) -> list[SymbolSpec]:
        """Return the listed symbols."""
        return [s.spec for s in self._venue.symbols.values()]

    def open_account(
        self,
        balances: Mapping[str, Decimal] | None = None,
        *,
        uid: int | None = None,
        fees: FeeSchedule | None = None,
    ) -> int:
        """Create an account funded with `balances` (coin -> amount); return its uid."""
        venue = self._venue
        if uid is None:
            uid = max(venue.accounts, default=FIRST_UID - 1) + 1
        if uid in venue.accounts:
            raise ConfigError(f"account {uid} already exists")
        account = Account(uid, fees or venue.config.fees, venue.config.default_leverage)
        venue.accounts[uid] = account
        for coin, amount in (balances or {}).items():
            if amount < 0:
                raise ConfigError(f"opening balance of {coin} must not be negative, got {amount}")
            account.coin(coin).wallet += amount
        return uid

    @property
    def id_position(self) -> tuple[int, int]:
        """Return (epoch, counter) of the order/execution id sequence (see `bst.engine.ids`)."""
        ids = self._venue.ids
        return ids.epoch, ids.counter

    def resume_ids(self, epoch: int, counter: int) -> None:
        """Issue the next ids from (epoch, counter) on: a persistent venue starts an epoch per run."""
        if counter < self._venue.ids.counter and epoch == self._venue.ids.epoch:
            raise ConfigError(f"the id counter may not move back in epoch {epoch}")
        self._venue.ids = IdFactory(self._venue.config.seed, counter, epoch)

    def accounts(self) -> list[int]:
        """Return the uids of every account."""
        return list(self._venue.accounts)

    def deposit(self, uid: int, coin: str, amount: Decimal) -> None:
        """Credit `amount` (> 0) of `coin` to an account."""
        if amount <= 0:
            raise ConfigError(f"deposit must be positive, got {amount}")
        account = self._account(uid)
        account.coin(coin).wallet += amount
        self._venue.touch(uid)
        self._venue.flush()

    # --- time and market data -----------------------------------------------------------------

    def advance_time(self, now_ms: int) -> None:
        """Move the clock to `now_ms`, running due latency arrivals and funding settlements in order."""
        self._timeline.advance(now_ms)
        self._venue.flush()

    def apply(self, event: MarketEvent) -> None:
        """Apply one market event: move the clock to it, then let it move the market.

        `BookUpdate` (snapshot/delta, exact decimal strings), `TradesUpdate`, `TickerUpdate`
        (last/mark/index, funding rate and time), `FundingUpdate`, `KlineUpdate` (confirmed bars
        move the market along open, nearer extreme, other extreme, close); see
        `bst.engine.market_input`. The symbol must be listed; ConfigError on malformed levels.
        """
        self._input.apply(event)

    def on_book_snapshot(
        self,
        symbol: str,
        bids: Iterable[PriceLevel],
        asks: Iterable[PriceLevel],
        ts_ms: int,
        *,
        category: Category | None = None,
    ) -> None:
        """Replace a symbol's book (bids/asks as (price, size)); fill resting orders it crossed.

        `category` may be omitted while the symbol name is listed in one category only.
        """
        self._input.book(self._sym(symbol, category), bids, asks, True, ts_ms)

    def on_book_delta(
        self,
        symbol: str,
        bids: Iterable[PriceLevel],
        asks: Iterable[PriceLevel],
        ts_ms: int,
        *,
        category: Category | None = None,
    ) -> None:
        """Apply level updates (size 0 deletes); fill resting orders the book moved through."""
        self._input.book(self._sym(symbol, category), bids, asks, False, ts_ms)

    def on_trade(
        self,
        symbol: str,
        price: Decimal,
        size: Decimal,
        taker_side: Side,
        ts_ms: int,
        *,
        category: Category | None = None,
    ) -> None:
        """Record a public trade; fill resting orders it reached; check TP/SL and liquidation."""
        self._input.trade(self._sym(symbol, category), price, size, taker_side, ts_ms)

    def on_bar_print(
        self,
        symbol: str,
        price: Decimal,
        volume: Decimal,
        ts_ms: int,
        *,
        previous: Decimal | None = None,
        category: Category | None = None,
    ) -> None:
        """Apply one of a confirmed bar's four prints (`market_input.bar_path`) at its time, as `apply`
        does; `previous` is the bar's print before it (None for the open: a gap from the last bar)."""
        sym = self._sym(symbol, category)
        self._input.bar_print(sym, price, volume, ts_ms, previous)

    def on_mark_price(
        self,
        symbol: str,
        mark_price: Decimal,
        ts_ms: int,
        index_price: Decimal | None = None,
        *,
        category: Category | None = None,
    ) -> None:
        """Set a symbol's mark (and index) price; check TP/SL and liquidation."""
        self._input.prices(self._sym(symbol, category), ts_ms, mark=mark_price, index=index_price)

    def on_funding_rate(self, symbol: str, rate: Decimal, ts_ms: int) -> None:
        """Set the funding rate the next settlement of linear `symbol` will apply."""
        self._input.prices(self._sym(symbol, Category.LINEAR), ts_ms, funding_rate=rate)

    def market(self, symbol: str, *, category: Category | None = None) -> MarketState:
        """Return what the engine knows about a symbol's market."""
        sym = self._sym(symbol, category)
        rate = sym.funding_rate if sym.funding_rate is not None else sym.spec.default_funding_rate
        return MarketState(
            symbol=symbol,
            last_price=sym.last_price,
            mark_price=sym.reference_price(),
            index_price=sym.index_price,
            funding_rate=rate,
            next_funding_ms=sym.next_funding_ms,
            best_bid=sym.book.best_bid(),
            best_ask=sym.book.best_ask(),
        )

    def book_levels(
        self, symbol: str, *, category: Category | None = None
    ) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """Return the external book's raw (bids, asks), best first."""
        sym = self._sym(symbol, category)
        return sym.book.levels(True), sym.book.levels(False)

    # --- trading ------------------------------------------------------------------------------

    def place_order(self, uid: int, request: OrderRequest) -> OrderAck:
        """Accept an order (or raise with Bybit's retCode); its outcome arrives as order updates."""
        venue = self._venue
        account = self._account(uid)
        sym = symbol_of(venue, request.category, request.symbol)
        if request.close_on_trigger and sym.is_linear and not request.reduce_only:
            request = replace(request, reduce_only=True)  # Bybit: a close-on-trigger order only reduces
        trigger = prepare_trigger(account, sym, request)
        protected = self._matcher.protected_price(sym, request.side) if trigger is None else None
        prepared = prepare_create(venue, account, request, protected)
        if sym.is_linear and not request.reduce_only and prepared.price is not None and trigger is None:
            check_linear_margin(venue, account, sym.spec.symbol, request.side, (request.qty, prepared.price))
        instrument = sym.spec.instrument
        if sym.is_linear:
            fee_coin = instrument.settle_coin
        else:
            fee_coin = instrument.base_coin if request.side is Side.BUY else instrument.quote_coin
        order = WorkingOrder(
            uid=uid,
            order_id=venue.new_order_id(request.category),
            order_link_id=request.order_link_id,
            category=request.category,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            price=prepared.price,
            qty=request.qty,
            tif=prepared.tif,
            reduce_only=request.reduce_only,
            close_on_trigger=request.close_on_trigger,
            market_unit=prepared.market_unit,
            created_ms=venue.now_ms,
            priority=venue.next_priority(),
            fee_currency=fee_coin,
            last_price_on_created=sym.last_price,
            take_profit=request.take_profit,
            stop_loss=request.stop_loss,
        )
        if trigger is not None:
            trigger.apply_to(order)
        if request.order_link_id:
            account.links[f"{request.category}:{request.order_link_id}"] = order.order_id
        account.add_open(order)
        venue.orders[order.order_id] = order
        self._matcher.reserve(order)
        venue.touch(uid)
        if venue.config.latency.enabled:
            venue.emit_order(order)
            venue.schedule("activate", {"order_id": order.order_id})
        else:
            self._timeline.activate(order)
        venue.flush()
        return OrderAck(order.order_id, order.order_link_id)

    def amend_order(self, uid: int, request: AmendRequest) -> OrderAck:
        """Change an open order's qty/price/TP/SL (or raise); the change arrives as an order update.

        An order that has not triggered may also change its trigger price and watched price.
        """
        venue = self._venue
        account = self._account(uid)
        symbol_of(venue, request.category, request.symbol)
        order = find_open_order(
            venue,
            account,
            request.category,
            request.symbol,
            request.order_id,
            request.order_link_id,
            "replace",
        )
        change = check_amend(venue, account, order, request)
        self._timeline.request_amend(order, request, change)
        venue.flush()
        return OrderAck(order.order_id, order.order_link_id)

    def cancel_order(
        self,
        uid: int,
        category: Category,
        symbol: str,
        *,
        order_id: str = "",
        order_link_id: str = "",
        order_filter: OrderFilter | None = None,
    ) -> OrderAck:
        """Cancel one open order (orderId wins over orderLinkId), or raise 110001 / 170213.

        Spot looks among the `order_filter` kind only (default plain orders), as Bybit does.
        """
        venue = self._venue
        account = self._account(uid)
        symbol_of(venue, category, symbol)
        order = find_open_order(venue, account, category, symbol, order_id, order_link_id, "cancel")
        if category is Category.SPOT and order_filter_of(order.stop_order_type) is not (
            order_filter or OrderFilter.ORDER
        ):
            fail(RetCode.SPOT_ORDER_NOT_EXISTS, "Order does not exist.")
        self._timeline.request_cancel(order)
        venue.flush()
        return OrderAck(order.order_id, order.order_link_id)

    def cancel_all(
        self,
        uid: int,
        category: Category,
        *,
        symbol: str | None = None,
        base_coin: str | None = None,
        settle_coin: str | None = None,
        order_filter: OrderFilter | None = None,
        stop_order_type: str | None = None,
    ) -> list[OrderAck]:
        """Cancel every open order matching the filter; linear needs symbol, baseCoin or settleCoin.

        `order_filter` picks a kind of order (spot default: plain orders only; linear: all kinds);
        `stop_order_type` narrows further (e.g. `Stop`: conditional orders but not TP/SL).
        """
        venue = self._venue
        account = self._account(uid)
        if category is Category.LINEAR and not (symbol or base_coin or settle_coin):
            fail(RetCode.PARAMS_ERROR, "symbol, baseCoin or settleCoin is required for linear cancel-all")
        if symbol:
            symbol_of(venue, category, symbol)
        kind = order_filter or (OrderFilter.ORDER if category is Category.SPOT else None)
        chosen = [
            o
            for o in account.open_orders.values()
            if self._matches(o, category, symbol, base_coin, settle_coin)
            and (kind is None or order_filter_of(o.stop_order_type) is kind)
            and (stop_order_type is None or o.stop_order_type == stop_order_type)
        ]
        for order in chosen:
            self._timeline.request_cancel(order)
        venue.flush()
        return [OrderAck(o.order_id, o.order_link_id) for o in chosen]

    def set_leverage(
        self, uid: int, symbol: str, buy_leverage: Decimal, sell_leverage: Decimal | None = None
    ) -> None:
        """Set a linear symbol's leverage (one-way: buy == sell); 110043 when unchanged."""
        account = self._account(uid)
        sym = symbol_of(self._venue, Category.LINEAR, symbol)
        change_leverage(self._venue, account, sym, buy_leverage, sell_leverage)
        self._venue.flush()

    def set_trading_stop(
        self,
        uid: int,
        symbol: str,
        *,
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
    ) -> None:
        """Set (or with 0, clear) a linear position's full-size TP/SL, triggered by last price."""
        account = self._account(uid)
        sym = symbol_of(self._venue, Category.LINEAR, symbol)
        change_trading_stop(self._venue, account, sym, take_profit, stop_loss)
        self._venue.flush()

    # --- queries ------------------------------------------------------------------------------

    def get_order(
        self, uid: int, category: Category, *, order_id: str = "", order_link_id: str = ""
    ) -> Order:
        """Return one order, open or closed, by orderId (wins) or orderLinkId; 110001/170213 if none."""
        account = self._account(uid)
        if not order_id:
            order_id = account.links.get(f"{category}:{order_link_id}", "")
        working = account.open_orders.get(order_id)
        found = working.snapshot() if working is not None else account.closed.get(order_id)
        if found is None or found.category is not category:
            if category is Category.SPOT:
                fail(RetCode.SPOT_ORDER_NOT_EXISTS, "Order does not exist.")
            fail(RetCode.ORDER_NOT_EXISTS, "Order does not exist")
        return found

    def open_orders(
        self,
        uid: int,
        category: Category,
        *,
        symbol: str | None = None,
        base_coin: str | None = None,
        settle_coin: str | None = None,
    ) -> list[Order]:
        """Return the account's open orders, newest first."""
        account = self._account(uid)
        chosen = [
            o
            for o in account.open_orders.values()
            if self._matches(o, category, symbol, base_coin, settle_coin)
        ]
        chosen.sort(key=lambda o: (o.created_ms, o.priority), reverse=True)
        return [o.snapshot() for o in chosen]

    def closed_orders(
        self,
        uid: int,
        category: Category,
        *,
        symbol: str | None = None,
        status: OrderStatus | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Order]:
        """Return the account's closed orders kept in history, newest first, filtered."""
        account = self._account(uid)
        chosen = [
            o
            for o in reversed(account.closed.values())
            if o.category is category
            and (symbol is None or o.symbol == symbol)
            and (status is None or o.status is status)
            and (start_ms is None or o.created_time_ms >= start_ms)
            and (end_ms is None or o.created_time_ms <= end_ms)
        ]
        chosen.sort(key=lambda o: o.created_time_ms, reverse=True)
        return chosen

    def executions(
        self,
        uid: int,
        category: Category,
        *,
        symbol: str | None = None,
        order_id: str = "",
        order_link_id: str = "",
        exec_type: ExecType | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Execution]:
        """Return the account's executions kept in history, newest first, filtered."""
        account = self._account(uid)
        return [
            e
            for e in reversed(account.executions)
            if e.category is category
            and (symbol is None or e.symbol == symbol)
            and (not order_id or e.order_id == order_id)
            and (not order_link_id or e.order_link_id == order_link_id)
            and (exec_type is None or e.exec_type is exec_type)
            and (start_ms is None or e.exec_time_ms >= start_ms)
            and (end_ms is None or e.exec_time_ms <= end_ms)
        ]

    def positions(
        self, uid: int, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[Position]:
        """Return linear positions: the symbol's row even when flat, else every non-zero one."""
        venue = self._venue
        account = self._account(uid)
        if symbol is not None:
            symbol_of(venue, Category.LINEAR, symbol)
            return [position_snapshot(account, symbol, venue)]
        summary = margin_summary(account, venue)
        rows = []
        for name in sorted(account.positions):
            state = account.positions[name]
            spec = venue.spec(name)
            if state.size != 0 and (settle_coin is None or spec.instrument.settle_coin == settle_coin):
                rows.append(position_snapshot(account, name, venue, summary))
        return rows

    def wallet(self, uid: int, coins: Iterable[str] = ()) -> WalletBalance:
        """Return the account's unified wallet balance (named coins even when zero)."""
        return wallet_snapshot(self._account(uid), self._venue, tuple(coins))

    def fee_rates(self, uid: int, category: Category, *, symbol: str | None = None) -> list[FeeRate]:
        """Return the account's fee rates for the category's symbols (or one symbol)."""
        account = self._account(uid)
        specs = [s.spec for s in self._venue.symbols.values() if s.spec.category is category]
        if symbol is not None:
            specs = [s for s in specs if s.symbol == symbol]
            if not specs:
                fail(RetCode.PARAMS_ERROR, SYMBOL_INVALID_MSG)
        return [account.fee_rate(spec) for spec in specs]

    def leverage(self, uid: int, symbol: str) -> Decimal:
        """Return the account's leverage on a linear symbol."""
        return self._account(uid).leverage_of(symbol)

    def drain_events(self) -> list[AccountMessage]:
        """Return every account message since the last drain, oldest first, and clear the outbox."""
        return self._venue.drain()

    # --- persistence --------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Return the whole engine (config, markets, accounts, orders, history) as JSON-compatible data."""
        return persist.dump(self._venue)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> MatchingEngine:
        """Rebuild an engine saved by `to_state`; it continues exactly where the original was."""
        engine = cls.__new__(cls)
        engine._venue = persist.load(data)
        engine._matcher = Matcher(engine._venue)
        engine._timeline = Timeline(engine._venue, engine._matcher)
        engine._input = MarketInput(engine._venue, engine._matcher, engine._timeline)
        return engine

    # --- internals ----------------------------------------------------------------------------

    def _account(self, uid: int) -> Account:
        account = self._venue.accounts.get(uid)
        if account is None:
            fail(RetCode.API_KEY_INVALID, f"account {uid} does not exist")
        return account

    def _sym(self, symbol: str, category: Category | None) -> SymbolState:
        return self._input.symbol(symbol, category)

    def _matches(
        self,
        order: WorkingOrder,
        category: Category,
        symbol: str | None,
        base_coin: str | None,
        settle_coin: str | None,
    ) -> bool:
        if order.category is not category:
            return False
        instrument = self._venue.sym_of(order).spec.instrument
        return (
            (symbol is None or order.symbol == symbol)
            and (base_coin is None or instrument.base_coin == base_coin)
            and (settle_coin is None or instrument.settle_coin == settle_coin)
        )


__all__ = ["FIRST_UID", "MarketState", "MatchingEngine"]
