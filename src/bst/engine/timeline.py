"""The engine's clock: latency arrivals, funding settlements, deferred amend/cancel actions, triggers.

Everything time-driven happens here in time order: when the clock advances past a funding time and
the arrival of an in-flight request, the earlier one runs first (funding first on a tie, so positions
held at the settlement instant pay or receive it). After every market event the conditional orders
whose watched price reached their trigger fire, at that event's time: each reports `Triggered`, then
goes to the book as the market or limit order it describes (margin or coin checked then; an order
the account cannot afford is cancelled).
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from typing import Any

from bst.domain.errors import BybitAPIError
from bst.domain.market import Category
from bst.domain.orders import (
    AmendRequest,
    CancelType,
    OrderStatus,
    OrderType,
    RejectReason,
    TimeInForce,
    TriggerBy,
    TriggerDirection,
)
from bst.engine.accounts import spot_available
from bst.engine.conditional import TriggerAmend
from bst.engine.funding import settle_funding
from bst.engine.matching import Matcher
from bst.engine.triggers import is_reached
from bst.engine.validation import check_linear_margin
from bst.engine.venue import SymbolState, Venue
from bst.engine.working import WorkingOrder


class Timeline:
    """Time-ordered processing over a venue."""

    def __init__(self, venue: Venue, matcher: Matcher) -> None:
        self.venue = venue
        self.matcher = matcher

    # --- conditional orders -------------------------------------------------------------------

    def activate(self, order: WorkingOrder) -> None:
        """Bring an accepted order to the book, or a conditional one to its trigger watch."""
        if order.awaiting_trigger:
            self.arm(order)
        else:
            self.matcher.activate(order)

    def arm(self, order: WorkingOrder) -> None:
        """Start watching a conditional order's trigger (`Untriggered`); fire it if already reached."""
        venue = self.venue
        sym = venue.sym_of(order)
        order.status = OrderStatus.UNTRIGGERED
        order.updated_ms = venue.now_ms
        sym.triggers.add(order)
        venue.emit_order(order)
        if self._reached(sym, order):
            self.fire(order)

    def _reached(self, sym: SymbolState, order: WorkingOrder) -> bool:
        assert order.trigger_price is not None
        price = sym.watched_price(order.trigger_by or TriggerBy.LAST_PRICE)
        direction = order.trigger_direction or TriggerDirection.RISE
        return price is not None and is_reached(direction, order.trigger_price, price)

    def check_triggers(self, sym: SymbolState) -> None:
        """Fire every conditional order of `sym` whose watched price reached its trigger."""
        for order in sym.triggers.due(sym.watched_price):
            if order.awaiting_trigger and order.is_open:  # an earlier one may have closed it
                self.fire(order)

    def fire(self, order: WorkingOrder) -> None:
        """Trigger a conditional order now: report `Triggered`, then treat it as a new order.

        A market order gets its slippage-protected price now; the order joins the time priority now;
        then it must be affordable (order margin / spot coin) or it is cancelled.
        """
        venue = self.venue
        matcher = self.matcher
        sym = venue.sym_of(order)
        matcher.unreserve(order)  # while still untriggered: only a spot TP/SL order held anything
        sym.triggers.discard(order)
        order.awaiting_trigger = False
        order.status = OrderStatus.TRIGGERED
        order.priority = venue.next_priority()
        order.updated_ms = venue.now_ms
        if order.order_type is OrderType.MARKET:
            order.price = matcher.protected_price(sym, order.side)
        venue.emit_order(order)
        venue.touch(order.uid)
        if not self._affordable(order):
            matcher.cancel(order, CancelType.CANCEL_BY_CANNOT_AFFORD_ORDER_COST, RejectReason.OTHERS)
            return
        matcher.reserve(order)
        matcher.activate(order)

    def _affordable(self, order: WorkingOrder) -> bool:
        venue = self.venue
        account = venue.accounts[order.uid]
        if order.category is Category.SPOT:
            coin, need = self.matcher.spot_need(order)
            return need <= spot_available(account, coin, venue)
        if order.reduce_only or order.price is None:
            return True
        try:
            check_linear_margin(venue, account, order.symbol, order.side, (order.leaves_qty, order.price))
        except BybitAPIError:
            return False
        return True

    def _amend_untriggered(
        self,
        order: WorkingOrder,
        qty: Decimal | None,
        price: Decimal | None,
        trigger: tuple[Decimal | None, TriggerBy | None, TriggerDirection | None],
        take_profit: Decimal | None,
        stop_loss: Decimal | None,
    ) -> None:
        """Change an order that has not triggered; it fires at once if the change reached its trigger."""
        venue = self.venue
        sym = venue.sym_of(order)
        armed = order.status is OrderStatus.UNTRIGGERED
        if armed:
            sym.triggers.discard(order)
        self.matcher.unreserve(order)
        trigger_price, trigger_by, direction = trigger
        if qty is not None:
            order.qty = qty
        if price is not None:
            order.price = price
        if trigger_price is not None:
            order.trigger_price = trigger_price
        if trigger_by is not None:
            order.trigger_by = trigger_by
        if direction is not None:
            order.trigger_direction = direction
        if take_profit is not None:
            order.take_profit = take_profit if take_profit > 0 else None
        if stop_loss is not None:
            order.stop_loss = stop_loss if stop_loss > 0 else None
        self.matcher.reserve(order)
        order.updated_ms = venue.now_ms
        venue.touch(order.uid)
        if armed:
            sym.triggers.add(order)
        venue.emit_order(order)
        if armed and self._reached(sym, order):
            self.fire(order)

    # --- requests -----------------------------------------------------------------------------

    def request_amend(self, order: WorkingOrder, request: AmendRequest, change: TriggerAmend) -> None:
        """Amend an order by user request (checked already), now or after the latency."""
        if not self.venue.config.latency.enabled:
            self.apply_amend(
                order.order_id,
                request.qty,
                request.price,
                request.take_profit,
                request.stop_loss,
                (change.trigger_price, change.trigger_by, change.direction),
            )
            return
        self.venue.schedule(
            "amend",
            {
                "order_id": order.order_id,
                "qty": request.qty,
                "price": request.price,
                "take_profit": request.take_profit,
                "stop_loss": request.stop_loss,
                "trigger_price": change.trigger_price,
                "trigger_by": change.trigger_by.value if change.trigger_by else None,
                "trigger_direction": change.direction.value if change.direction else None,
            },
        )

    def request_cancel(self, order: WorkingOrder) -> None:
        """Cancel an order by user request, now or after the latency."""
        venue = self.venue
        if venue.config.latency.enabled:
            venue.schedule("cancel", {"order_id": order.order_id})
        else:
            self.matcher.cancel(order, CancelType.CANCEL_BY_USER, RejectReason.PER_CANCEL_REQUEST)

    def apply_amend(
        self,
        order_id: str,
        qty: Decimal | None,
        price: Decimal | None,
        take_profit: Decimal | None,
        stop_loss: Decimal | None,
        trigger: tuple[Decimal | None, TriggerBy | None, TriggerDirection | None] = (None, None, None),
    ) -> None:
        """Apply an amendment at the book (a no-op if the order closed meanwhile).

        A price change or a size increase loses time priority; a decrease keeps the queue place.
        A new price that crosses the book trades at once (PostOnly: cancelled instead). `trigger`
        (price, watched price, direction) only changes an order that has not triggered; one that
        triggered while the amendment travelled keeps its trigger fields.
        """
        venue = self.venue
        order = venue.orders.get(order_id)
        if order is None or not order.is_open:
            return
        if order.awaiting_trigger:
            self._amend_untriggered(order, qty, price, trigger, take_profit, stop_loss)
            return
        matcher = self.matcher
        sym = venue.sym_of(order)
        new_qty = qty if qty is not None else order.qty
        new_price = price if price is not None else order.price
        if new_qty <= order.cum_qty:
            return
        loses_priority = new_price != order.price or new_qty > order.qty
        was_resting = order.resting
        if was_resting:
            sym.resting(order.is_buy).remove(order)
        matcher.unreserve(order)
        order.qty = new_qty
        order.price = new_price
        if take_profit is not None:
            order.take_profit = take_profit if take_profit > 0 else None
        if stop_loss is not None:
            order.stop_loss = stop_loss if stop_loss > 0 else None
        matcher.reserve(order)
        order.updated_ms = venue.now_ms
        venue.touch(order.uid)
        if order.status is OrderStatus.CREATED or not was_resting:
            venue.emit_order(order)
            return
        if loses_priority:
            order.priority = venue.next_priority()
        assert order.price is not None
        other = sym.book.best_ask() if order.is_buy else sym.book.best_bid()
        crosses = other is not None and (order.price >= other if order.is_buy else order.price <= other)
        if crosses and order.tif is TimeInForce.POST_ONLY:
            matcher.cancel(order, CancelType.UNKNOWN, RejectReason.POST_ONLY_WILL_TAKE_LIQUIDITY)
            return
        if crosses:
            matcher.take(order, sym, order.price)
            if order.leaves_qty <= 0:
                matcher.complete(order)
                matcher.after_fills(sym, {order.uid})
                return
        matcher.rest(order, sym, keep_queue=not loses_priority and not crosses)
        venue.emit_order(order)
        if crosses:
            matcher.after_fills(sym, {order.uid})

    def advance(self, now_ms: int) -> None:
        """Move the clock to `now_ms` (never backwards), running everything due on the way."""
        venue = self.venue
        if not venue.started:
            venue.started = True
            venue.now_ms = max(venue.now_ms, now_ms)
            for sym in venue.symbols.values():
                self.init_funding(sym)
        if now_ms < venue.now_ms:
            return
        due = venue.funding_due_ms
        if not venue.pending and (due is None or due > now_ms):
            venue.now_ms = now_ms
            return
        while True:
            funding_sym = min(
                (s for s in venue.symbols.values() if s.next_funding_ms is not None),
                key=lambda s: (s.next_funding_ms or 0, s.spec.symbol),
                default=None,
            )
            funding_at = funding_sym.next_funding_ms if funding_sym is not None else None
            pending_at = venue.pending[0][0] if venue.pending else None
            if (
                funding_at is not None
                and funding_at <= now_ms
                and (pending_at is None or funding_at <= pending_at)
            ):
                assert funding_sym is not None
                venue.now_ms = max(venue.now_ms, funding_at)
                funding_sym.next_funding_ms = funding_at + funding_sym.spec.funding_period_ms
                venue.refresh_funding_due()
                for uid in settle_funding(venue, funding_sym, funding_at):
                    self.matcher.check_liquidation(venue.accounts[uid])
                continue
            if pending_at is not None and pending_at <= now_ms:
                _, _, action, arguments = heapq.heappop(venue.pending)
                venue.now_ms = max(venue.now_ms, pending_at)
                self.dispatch(action, arguments)
                continue
            break
        venue.now_ms = now_ms

    def dispatch(self, action: str, arguments: dict[str, Any]) -> None:
        """Run one in-flight request that reached the book."""
        venue = self.venue
        order = venue.orders.get(arguments["order_id"])
        if order is None or not order.is_open:
            return
        if action == "activate":
            if order.status is OrderStatus.CREATED:
                self.activate(order)
        elif action == "cancel":
            self.matcher.cancel(order, CancelType.CANCEL_BY_USER, RejectReason.PER_CANCEL_REQUEST)
        elif action == "amend":
            self.apply_amend(
                order.order_id,
                arguments["qty"],
                arguments["price"],
                arguments["take_profit"],
                arguments["stop_loss"],
                _trigger_arguments(arguments),
            )

    def init_funding(self, sym: SymbolState) -> None:
        """Schedule a linear symbol's first funding time after now."""
        if not sym.is_linear:
            return
        period = sym.spec.funding_period_ms
        sym.next_funding_ms = (self.venue.now_ms // period + 1) * period
        self.venue.refresh_funding_due()

    def after_price_move(self, sym: SymbolState, *, flush: bool = True) -> None:
        """Run TP/SL (last price), conditional-order triggers and liquidation (mark price) checks."""
        if sym.is_linear and sym.holders and sym.last_price != sym.checked_last:
            sym.checked_last = sym.last_price
            self.matcher.check_tpsl(sym)
        if sym.triggers:
            self.check_triggers(sym)
        if sym.is_linear and sym.holders:
            reference = sym.reference_price()
            if reference != sym.checked_reference:
                sym.checked_reference = reference
                for uid in sorted(sym.holders):
                    self.matcher.check_liquidation(self.venue.accounts[uid])
        if flush:
            self.venue.flush()


def _trigger_arguments(
    arguments: dict[str, Any],
) -> tuple[Decimal | None, TriggerBy | None, TriggerDirection | None]:
    """Return the trigger changes of a travelling amendment (absent in ones saved before triggers)."""
    by = arguments.get("trigger_by")
    direction = arguments.get("trigger_direction")
    return (
        arguments.get("trigger_price"),
        TriggerBy(by) if by else None,
        TriggerDirection(direction) if direction else None,
    )
