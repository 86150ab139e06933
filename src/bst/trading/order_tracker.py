"""Order tracker: the bot's view of every order it placed, including the ones whose fate is unknown.

Each order is keyed by its `orderLinkId`, chosen before sending, so the tracker can always ask the
exchange about it. Local phases come before the exchange's own statuses:

    PENDING (registered) -> SENT (request on the wire) -> ACKED (exchange returned an orderId)
                                         \\-> UNKNOWN (no reply: timeout, dropped connection)
    SENT/ACKED/UNKNOWN -> the exchange's status (New, PartiallyFilled, Filled, Cancelled, ...)
    UNKNOWN -> NOT_FOUND (the exchange has no trace: safe to re-send the same orderLinkId)

Order updates may arrive twice, late or out of order (REST and WebSocket race); the tracker keeps the
newest (by cumulative filled quantity, then update time) and refuses transitions Bybit never makes.
Fills are deduplicated by execId; `missing_fill_qty` tells when fills were missed (the order says
more was filled than the fills we saw), so the caller re-reads executions over REST.

The execution policy (`bst.trading.execution`) moves orders through the local phases; the account
feed (private stream) brings the exchange's statuses and fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from bst.domain.errors import BstError
from bst.domain.orders import Execution, Order, OrderRequest, OrderStatus, is_legal_transition


class LocalPhase(StrEnum):
    """What we know before (or instead of) the exchange's own status."""

    PENDING = "Pending"
    SENT = "Sent"
    ACKED = "Acked"
    UNKNOWN = "Unknown"
    NOT_FOUND = "NotFound"
    REJECTED_LOCALLY = "RejectedLocally"
    EXCHANGE = "Exchange"


class TrackerError(BstError):
    """The tracker was asked to do something that would lose track of an order."""


@dataclass(slots=True)
class TrackedOrder:
    """One order's request, local phase, latest exchange view and fills."""

    request: OrderRequest
    phase: LocalPhase = LocalPhase.PENDING
    order_id: str = ""
    order: Order | None = None
    fills: dict[str, Execution] = field(default_factory=dict)
    reason: str = ""
    updated_ms: int = 0

    @property
    def order_link_id(self) -> str:
        """Return the orderLinkId that identifies this order everywhere."""
        return self.request.order_link_id

    @property
    def status(self) -> OrderStatus | None:
        """Return the last status the exchange reported, or None."""
        return self.order.status if self.order is not None else None

    @property
    def filled_qty(self) -> Decimal:
        """Return the quantity covered by the fills we have seen."""
        return sum((f.exec_qty for f in self.fills.values()), Decimal(0))

    @property
    def missing_fill_qty(self) -> Decimal:
        """Return how much the exchange says was filled beyond the fills we hold (0 when in sync)."""
        reported = self.order.cum_exec_qty if self.order is not None else Decimal(0)
        return max(Decimal(0), reported - self.filled_qty)

    @property
    def is_resolved(self) -> bool:
        """Return whether the exchange has told us this order's state (or that it has none)."""
        return self.phase in (LocalPhase.EXCHANGE, LocalPhase.NOT_FOUND, LocalPhase.REJECTED_LOCALLY)

    @property
    def is_done(self) -> bool:
        """Return whether nothing more can happen to this order."""
        if self.phase in (LocalPhase.NOT_FOUND, LocalPhase.REJECTED_LOCALLY):
            return True
        return self.order is not None and self.order.status.is_terminal and self.missing_fill_qty == 0


class OrderTracker:
    """All orders of one account, by orderLinkId."""

    def __init__(self) -> None:
        self._orders: dict[str, TrackedOrder] = {}
        self._by_order_id: dict[str, str] = {}
        self.ignored_updates = 0

    def __len__(self) -> int:
        return len(self._orders)

    def get(self, order_link_id: str) -> TrackedOrder | None:
        """Return the tracked order, or None."""
        return self._orders.get(order_link_id)

    def by_order_id(self, order_id: str) -> TrackedOrder | None:
        """Return the tracked order with the exchange's `order_id`, or None."""
        link = self._by_order_id.get(order_id)
        return self._orders.get(link) if link is not None else None

    def register(self, request: OrderRequest, now_ms: int) -> TrackedOrder:
        """Start tracking `request`; its orderLinkId must be set and new."""
        link = request.order_link_id
        if not link:
            raise TrackerError("an order must carry an orderLinkId before it is tracked")
        existing = self._orders.get(link)
        if existing is not None and existing.phase is not LocalPhase.NOT_FOUND:
            raise TrackerError(f"orderLinkId {link} is already tracked ({existing.phase.value})")
        tracked = TrackedOrder(request=request, updated_ms=now_ms)
        self._orders[link] = tracked
        return tracked

    def _require(self, order_link_id: str) -> TrackedOrder:
        tracked = self._orders.get(order_link_id)
        if tracked is None:
            raise TrackerError(f"orderLinkId {order_link_id} is not tracked")
        return tracked

    def mark_sent(self, order_link_id: str, now_ms: int) -> None:
        """Record that the create request went out."""
        tracked = self._require(order_link_id)
        if tracked.phase in (LocalPhase.PENDING, LocalPhase.NOT_FOUND, LocalPhase.UNKNOWN):
            tracked.phase = LocalPhase.SENT
            tracked.updated_ms = now_ms

    def mark_acked(self, order_link_id: str, order_id: str, now_ms: int) -> None:
        """Record the exchange's acknowledgement (its orderId)."""
        tracked = self._require(order_link_id)
        self._link_order_id(tracked, order_id)
        if tracked.phase is not LocalPhase.EXCHANGE:
            tracked.phase = LocalPhase.ACKED
        tracked.updated_ms = now_ms

    def mark_unknown(self, order_link_id: str, reason: str, now_ms: int) -> None:
        """Record that the request may or may not have reached the exchange."""
        tracked = self._require(order_link_id)
        if tracked.phase in (LocalPhase.PENDING, LocalPhase.SENT):
            tracked.phase = LocalPhase.UNKNOWN
            tracked.reason = reason
            tracked.updated_ms = now_ms

    def mark_rejected_locally(self, order_link_id: str, reason: str, now_ms: int) -> None:
        """Record that the exchange refused the request outright (a definite, non-ambiguous error)."""
        tracked = self._require(order_link_id)
        if tracked.phase is not LocalPhase.EXCHANGE:
            tracked.phase = LocalPhase.REJECTED_LOCALLY
            tracked.reason = reason
            tracked.updated_ms = now_ms

    def mark_not_found(self, order_link_id: str, now_ms: int) -> None:
        """Record that the exchange has no trace of an UNKNOWN order: re-sending it is safe."""
        tracked = self._require(order_link_id)
        if tracked.phase is LocalPhase.UNKNOWN:
            tracked.phase = LocalPhase.NOT_FOUND
            tracked.updated_ms = now_ms

    def on_order(self, order: Order, now_ms: int) -> bool:
        """Apply an order update (REST or stream); return False when it is stale or not ours."""
        tracked = self._orders.get(order.order_link_id) or self.by_order_id(order.order_id)
        if tracked is None:
            self.ignored_updates += 1
            return False
        current = tracked.order
        if current is not None and not _is_newer(current, order):
            self.ignored_updates += 1
            return False
        previous_status = current.status if current is not None else None
        if previous_status != order.status and not is_legal_transition(previous_status, order.status):
            # A terminal order never reopens; a late "New" after "Filled" is an old message.
            self.ignored_updates += 1
            return False
        self._link_order_id(tracked, order.order_id)
        tracked.order = order
        tracked.phase = LocalPhase.EXCHANGE
        tracked.updated_ms = now_ms
        return True

    def on_execution(self, execution: Execution, now_ms: int) -> bool:
        """Record a fill once; return False for a duplicate or a fill of an order we do not track."""
        tracked = self._orders.get(execution.order_link_id) or self.by_order_id(execution.order_id)
        if tracked is None or execution.exec_id in tracked.fills:
            self.ignored_updates += 1
            return False
        tracked.fills[execution.exec_id] = execution
        self._link_order_id(tracked, execution.order_id)
        tracked.updated_ms = now_ms
        return True

    def unresolved(self) -> list[TrackedOrder]:
        """Return orders whose outcome we must ask the exchange about (sent or unknown, no status)."""
        waiting = (LocalPhase.SENT, LocalPhase.UNKNOWN, LocalPhase.ACKED)
        return [t for t in self._orders.values() if t.phase in waiting]

    def with_missing_fills(self) -> list[TrackedOrder]:
        """Return orders whose reported filled quantity exceeds the fills we hold."""
        return [t for t in self._orders.values() if t.missing_fill_qty > 0]

    def open_orders(self) -> list[TrackedOrder]:
        """Return orders that may still trade (including unresolved ones)."""
        return [t for t in self._orders.values() if not t.is_done and (t.order is None or t.order.is_open)]

    def all(self) -> list[TrackedOrder]:
        """Return every tracked order."""
        return list(self._orders.values())

    def _link_order_id(self, tracked: TrackedOrder, order_id: str) -> None:
        if order_id:
            tracked.order_id = order_id
            self._by_order_id[order_id] = tracked.order_link_id


def _is_newer(current: Order, update: Order) -> bool:
    # Filled quantity never decreases; among equal fills a later update time wins, and at equal
    # times a terminal status supersedes an open one (a cancel acknowledged in the same ms).
    if update.cum_exec_qty != current.cum_exec_qty:
        return update.cum_exec_qty > current.cum_exec_qty
    if update.updated_time_ms != current.updated_time_ms:
        return update.updated_time_ms > current.updated_time_ms
    return update.status.is_terminal and not current.status.is_terminal
