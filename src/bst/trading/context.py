"""The context: everything a strategy may read and do, as of the runtime's now.

A strategy acts only through its context. Reads show the market and the account as the events
delivered so far describe them (never later data). Order methods do not send: they check the request
against the instrument (`bst.domain.order_rules`: rounded to the tick and lot grid, then the
instrument's rules), give it the run's next orderLinkId, queue an intent and return the id at once;
the runtime sends the queue after the callback returns. A request that breaks a rule raises
`OrderValidationError` in the callback, and nothing is queued.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import structlog

from bst.domain.errors import ConfigError, InvalidNumberError, OrderValidationError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Interval, Side, Ticker
from bst.domain.numbers import parse_decimal
from bst.domain.order_rules import check_price, check_qty, check_tpsl, prepare_order
from bst.domain.orderbook import OrderBook
from bst.domain.orders import AmendRequest, OrderRequest, OrderType, TimeInForce
from bst.domain.portfolio import CoinBalance, Position, WalletBalance
from bst.trading.account_view import AccountView, OrderState
from bst.trading.analytics import MarketMetrics
from bst.trading.intents import AmendIntent, CancelAllIntent, CancelIntent, Intent, OrderIds, SubmitIntent
from bst.trading.market_view import BarWindow, MarketView
from bst.trading.order_tracker import LocalPhase
from bst.trading.timers import Timers

__all__ = ["Amount", "Context"]

Amount = Decimal | int | float
"""A quantity or price as a strategy may give it; converted exactly (a float by its shortest repr)
and rounded to the instrument's grid before it is queued."""

_log = structlog.get_logger("bst.strategy")


class Context:
    """A strategy's window on the run: market, account, order intents, timers and a logger.

    The runtime creates one per run; do not keep references to the views it returns beyond the
    callback (bar windows and books keep changing as later events arrive).
    """

    def __init__(
        self,
        *,
        strategy: str,
        category: Category,
        symbols: Sequence[str],
        instruments: dict[str, Instrument],
        market: MarketView,
        account: AccountView,
        ids: OrderIds,
        timers: Timers,
    ) -> None:
        self._strategy = strategy
        self._category = category
        self._symbols = tuple(symbols)
        self._instruments = instruments
        self._market = market
        self._account = account
        self._ids = ids
        self._timers = timers
        self._now_ms = 0
        self._trace_id = ""
        self._queue: list[Intent] = []
        self._unsent: dict[str, SubmitIntent] = {}

    # --- where and when -----------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        """Return the run's time in epoch ms: the time of the event (or timer) being handled."""
        return self._now_ms

    @property
    def category(self) -> Category:
        """Return the run's product category."""
        return self._category

    @property
    def symbol(self) -> str:
        """Return the run's first symbol (the default of every `symbol=None` argument)."""
        return self._symbols[0]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return every symbol of the run."""
        return self._symbols

    @property
    def tag(self) -> str:
        """Return the run's tag (the prefix of its orderLinkIds)."""
        return self._ids.tag

    @property
    def trace_id(self) -> str:
        """Return the id of the event being handled (`{tag}:{n}`); intents and log lines carry it."""
        return self._trace_id

    @property
    def log(self) -> structlog.typing.FilteringBoundLogger:
        """Return a logger bound with the strategy, the run tag, the trace id and the run's time."""
        logger: structlog.typing.FilteringBoundLogger = _log.bind(
            strategy=self._strategy, run=self._ids.tag, trace_id=self._trace_id, at_ms=self._now_ms
        )
        return logger

    def instrument(self, symbol: str | None = None) -> Instrument:
        """Return the instrument (tick, lot, limits) of `symbol`."""
        return self._instruments[self._symbol(symbol)]

    # --- market -------------------------------------------------------------------------------

    def bars(self, interval: Interval | None = None, symbol: str | None = None) -> BarWindow:
        """Return the confirmed bars of `symbol` and `interval` (default: the only one asked for)."""
        if interval is None:
            asked = self._market.needs.bars
            if len(asked) != 1:
                raise ConfigError(f"name the interval: the strategy asks for {[i.value for i in asked]}")
            interval = asked[0]
        return self._market.window(self._symbol(symbol), interval)

    def book(self, symbol: str | None = None) -> OrderBook | None:
        """Return the order book of `symbol` (read only), or None before its first message."""
        return self._market.book(self._symbol(symbol))

    def metrics(self, symbol: str | None = None) -> MarketMetrics | None:
        """Return the analyzer's metrics of `symbol` (spread, imbalance, flow, VWAP, clusters...)."""
        return self._market.metrics(self._symbol(symbol))

    def ticker(self, symbol: str | None = None) -> Ticker | None:
        """Return the last ticker of `symbol` (DataNeeds.ticker), or None before the first."""
        return self._market.tickers.get(self._symbol(symbol))

    # --- account ------------------------------------------------------------------------------

    def position(self, symbol: str | None = None) -> Position | None:
        """Return the venue's last position record of `symbol`, or None before its first."""
        return self._account.position(self._symbol(symbol))

    def position_size(self, symbol: str | None = None) -> Decimal:
        """Return the signed position of `symbol` in base coin: positive long, negative short."""
        return self._account.position_size(self._symbol(symbol))

    def orders(self, symbol: str | None = None) -> list[OrderState]:
        """Return the run's working orders of `symbol` (all symbols: None), queued ones last."""
        wanted = None if symbol is None else self._symbol(symbol)
        states = self._account.open_orders(wanted)
        states.extend(
            _queued_state(i) for i in self._unsent.values() if wanted is None or i.request.symbol == wanted
        )
        return states

    def order(self, order_link_id: str) -> OrderState | None:
        """Return the state of one order of the run (queued, working or done), or None."""
        unsent = self._unsent.get(order_link_id)
        if unsent is not None:
            return _queued_state(unsent)
        return self._account.order(order_link_id)

    def balance(self, coin: str | None = None) -> CoinBalance | None:
        """Return the wallet balance of `coin` (default: the settle coin of the first symbol)."""
        return self._account.balance(coin or self.instrument().settle_coin)

    @property
    def wallet(self) -> WalletBalance | None:
        """Return the account's last wallet message, or None before the first."""
        return self._account.wallet

    # --- order intents ------------------------------------------------------------------------

    def buy(
        self,
        qty: Amount,
        price: Amount | None = None,
        *,
        symbol: str | None = None,
        time_in_force: TimeInForce | None = None,
        reduce_only: bool = False,
        take_profit: Amount | None = None,
        stop_loss: Amount | None = None,
    ) -> str:
        """Queue a buy (a limit order at `price`, else a market order); return its orderLinkId."""
        return self._order(Side.BUY, qty, price, symbol, time_in_force, reduce_only, take_profit, stop_loss)

    def sell(
        self,
        qty: Amount,
        price: Amount | None = None,
        *,
        symbol: str | None = None,
        time_in_force: TimeInForce | None = None,
        reduce_only: bool = False,
        take_profit: Amount | None = None,
        stop_loss: Amount | None = None,
    ) -> str:
        """Queue a sell (a limit order at `price`, else a market order); return its orderLinkId."""
        return self._order(Side.SELL, qty, price, symbol, time_in_force, reduce_only, take_profit, stop_loss)

    def submit(self, request: OrderRequest) -> str:
        """Queue `request` as given (all of Bybit's order fields); return the orderLinkId it gets.

        Leave `order_link_id` empty: the run assigns its deterministic ids.
        """
        if request.order_link_id:
            raise OrderValidationError(
                f"leave order_link_id empty (got {request.order_link_id!r}): the run assigns its ids"
            )
        if request.category is not self._category:
            raise OrderValidationError(
                f"this run trades {self._category.value}, not {request.category.value}"
            )
        instrument = self.instrument(request.symbol)
        link = self._ids.peek()
        prepared = prepare_order(dataclasses.replace(request, order_link_id=link), instrument)
        self._ids.take()
        intent = SubmitIntent(prepared, self._now_ms, self._trace_id)
        self._unsent[link] = intent
        self._queue.append(intent)
        return link

    def close_position(self, symbol: str | None = None) -> str | None:
        """Queue a reduce-only market order for the whole position of `symbol`; None when flat.

        The size is the venue's last report: an order still in flight is not counted.
        """
        size = self.position_size(symbol)
        if size == 0:
            return None
        side = Side.SELL if size > 0 else Side.BUY
        return self._order(side, abs(size), None, symbol, None, True, None, None)

    def amend(
        self,
        order_link_id: str,
        *,
        qty: Amount | None = None,
        price: Amount | None = None,
        take_profit: Amount | None = None,
        stop_loss: Amount | None = None,
    ) -> str:
        """Queue an amendment (absolute new values) of a working order of the run; return its id."""
        state = self._working(order_link_id, "amend")
        instrument = self.instrument(state.symbol)
        if qty is None and price is None and take_profit is None and stop_loss is None:
            raise OrderValidationError(f"amend of {order_link_id} changes nothing: give qty, price, TP or SL")
        new_qty = instrument.round_qty(_decimal(qty, "qty")) if qty is not None else None
        new_price = None
        if price is not None:
            rounding = ROUND_DOWN if state.side is Side.BUY else ROUND_UP
            new_price = instrument.round_price(_decimal(price, "price"), rounding)
        take = _decimal(take_profit, "take_profit") if take_profit is not None else None
        stop = _decimal(stop_loss, "stop_loss") if stop_loss is not None else None
        violation = None
        if new_qty is not None:
            violation = check_qty(instrument, new_qty, market=state.order_type is OrderType.MARKET)
        if violation is None and new_price is not None:
            violation = check_price(instrument, new_price)
        if violation is None:
            base = new_price if new_price is not None else state.price
            violation = check_tpsl(instrument, state.side, base, take, stop)
        if violation is not None:
            raise OrderValidationError(
                f"amend of {order_link_id} refused before sending: {violation.describe()}"
            )
        request = AmendRequest(
            self._category,
            state.symbol,
            order_link_id=order_link_id,
            qty=new_qty,
            price=new_price,
            take_profit=take,
            stop_loss=stop,
        )
        self._queue.append(AmendIntent(request, self._now_ms, self._trace_id))
        return order_link_id

    def cancel(self, order_link_id: str) -> str:
        """Queue the cancellation of a working order of the run; return its id."""
        state = self._working(order_link_id, "cancel")
        self._queue.append(
            CancelIntent(self._category, state.symbol, order_link_id, self._now_ms, self._trace_id)
        )
        return order_link_id

    def cancel_all(self, symbol: str | None = None) -> None:
        """Queue the cancellation of every open order of `symbol` on the account."""
        self._queue.append(
            CancelAllIntent(self._category, self._symbol(symbol), self._now_ms, self._trace_id)
        )

    # --- timers -------------------------------------------------------------------------------

    def set_timer(self, name: str, at_ms: int) -> None:
        """Call `on_timer` once at `at_ms` (epoch ms; a time already past fires at the next chance)."""
        self._timers.set(name, at_ms)

    def every(self, name: str, every_ms: int, *, first_ms: int | None = None) -> None:
        """Call `on_timer` every `every_ms`, first at `first_ms` (default: now + every_ms)."""
        if every_ms <= 0:
            raise ConfigError(f"timer {name}: the period must be positive, got {every_ms} ms")
        self._timers.set(name, first_ms if first_ms is not None else self._now_ms + every_ms, every_ms)

    def cancel_timer(self, name: str) -> bool:
        """Disarm timer `name`; return whether it was armed."""
        return self._timers.cancel(name)

    # --- the runtime's side -------------------------------------------------------------------

    def _begin(self, now_ms: int, trace_id: str) -> tuple[int, int]:
        """Set the time and trace of the next callback; return the rollback mark (queue, id seq)."""
        self._now_ms = now_ms
        self._trace_id = trace_id
        return len(self._queue), self._ids.next_seq

    def _rollback(self, mark: tuple[int, int]) -> None:
        """Drop what a failed callback queued and the ids it took."""
        queued, seq = mark
        for intent in self._queue[queued:]:
            if isinstance(intent, SubmitIntent):
                self._unsent.pop(intent.order_link_id, None)
        del self._queue[queued:]
        self._ids.rewind(seq)

    def _take(self) -> list[Intent]:
        """Return the queued intents and empty the queue (submits stay `queued` until handed over)."""
        taken, self._queue = self._queue, []
        return taken

    def _handed_over(self, intent: Intent) -> None:
        """Forget a submit's queued state: the tracker follows it from here."""
        if isinstance(intent, SubmitIntent):
            self._unsent.pop(intent.order_link_id, None)

    @property
    def _pending(self) -> int:
        return len(self._queue)

    # --- helpers ------------------------------------------------------------------------------

    def _symbol(self, symbol: str | None) -> str:
        if symbol is None:
            return self._symbols[0]
        if symbol not in self._instruments:
            raise ConfigError(f"{symbol} is not a symbol of this run ({', '.join(self._symbols)})")
        return symbol

    def _order(
        self,
        side: Side,
        qty: Amount,
        price: Amount | None,
        symbol: str | None,
        time_in_force: TimeInForce | None,
        reduce_only: bool,
        take_profit: Amount | None,
        stop_loss: Amount | None,
    ) -> str:
        request = OrderRequest(
            self._category,
            self._symbol(symbol),
            side,
            OrderType.LIMIT if price is not None else OrderType.MARKET,
            _decimal(qty, "qty"),
            _decimal(price, "price") if price is not None else None,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
            take_profit=_decimal(take_profit, "take_profit") if take_profit is not None else None,
            stop_loss=_decimal(stop_loss, "stop_loss") if stop_loss is not None else None,
        )
        return self.submit(request)

    def _working(self, order_link_id: str, what: str) -> OrderState:
        state = self.order(order_link_id)
        if state is None:
            raise OrderValidationError(f"cannot {what} {order_link_id!r}: no order of this run has that id")
        if (state.status is not None and not state.status.is_open) or state.phase in _FINISHED:
            shown = state.status.value if state.status is not None else str(state.phase)
            raise OrderValidationError(f"cannot {what} {order_link_id}: the order is {shown}")
        return state


_FINISHED = frozenset({LocalPhase.NOT_FOUND, LocalPhase.REJECTED_LOCALLY})


def _decimal(value: Amount, what: str) -> Decimal:
    if isinstance(value, bool):
        raise OrderValidationError(f"{what} must be a number, got {value!r}")
    try:
        return parse_decimal(value)
    except InvalidNumberError as e:
        raise OrderValidationError(f"{what} {value!r} refused: {e.reason}") from None


def _queued_state(intent: SubmitIntent) -> OrderState:
    r = intent.request
    return OrderState(
        r.order_link_id,
        r.category,
        r.symbol,
        r.side,
        r.order_type,
        r.qty,
        r.price,
        r.reduce_only,
        None,
        None,
        Decimal(0),
    )
