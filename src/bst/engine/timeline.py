"""The engine's clock: latency arrivals, funding settlements, and deferred amend/cancel actions.

Everything time-driven happens here in time order: when the clock advances past a funding time and
the arrival of an in-flight request, the earlier one runs first (funding first on a tie, so positions
held at the settlement instant pay or receive it).
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from typing import Any

from bst.domain.orders import CancelType, OrderStatus, RejectReason, TimeInForce
from bst.engine.funding import settle_funding
from bst.engine.matching import Matcher
from bst.engine.venue import SymbolState, Venue
from bst.engine.working import WorkingOrder


class Timeline:
    """Time-ordered processing over a venue."""

    def __init__(self, venue: Venue, matcher: Matcher) -> None:
        self.venue = venue
        self.matcher = matcher

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
    ) -> None:
        """Apply an amendment at the book (a no-op if the order closed meanwhile).

        A price change or a size increase loses time priority; a decrease keeps the queue place.
        A new price that crosses the book trades at once (PostOnly: cancelled instead).
        """
        venue = self.venue
        order = venue.orders.get(order_id)
        if order is None or not order.is_open:
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
                self.matcher.activate(order)
        elif action == "cancel":
            self.matcher.cancel(order, CancelType.CANCEL_BY_USER, RejectReason.PER_CANCEL_REQUEST)
        elif action == "amend":
            self.apply_amend(
                order.order_id,
                arguments["qty"],
                arguments["price"],
                arguments["take_profit"],
                arguments["stop_loss"],
            )

    def init_funding(self, sym: SymbolState) -> None:
        """Schedule a linear symbol's first funding time after now."""
        if not sym.is_linear:
            return
        period = sym.spec.funding_period_ms
        sym.next_funding_ms = (self.venue.now_ms // period + 1) * period
        self.venue.refresh_funding_due()

    def after_price_move(self, sym: SymbolState, *, flush: bool = True) -> None:
        """Run TP/SL (last price) and liquidation (mark price) checks when those prices changed."""
        if sym.is_linear and sym.holders:
            if sym.last_price != sym.checked_last:
                sym.checked_last = sym.last_price
                self.matcher.check_tpsl(sym)
            reference = sym.reference_price()
            if reference != sym.checked_reference:
                sym.checked_reference = reference
                for uid in sorted(sym.holders):
                    self.matcher.check_liquidation(self.venue.accounts[uid])
        if flush:
            self.venue.flush()
