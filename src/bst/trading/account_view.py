"""The account as a strategy sees it: its orders (by orderLinkId), fills, positions and wallet.

Built only from account events (`bst.domain.account_events`) and the execution policy's tracker, so
it holds what the venue has said so far and nothing else. Updates that arrive twice, late or out of
order (a REST re-read racing the stream) are dropped here, so a strategy's `on_order`, `on_fill`
and `on_position` each see a change once: orders by the tracker's rules (filled quantity, then
update time), fills by execId, positions by their sequence number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bst.domain.account_events import AccountEventSource, ExecutionsEvent, OrdersEvent, PositionsEvent
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, Execution, Order, OrderStatus, OrderType
from bst.domain.portfolio import CoinBalance, Position, PositionSide, WalletBalance
from bst.trading.order_tracker import LocalPhase, OrderTracker, TrackedOrder

__all__ = ["AccountView", "OrderState"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OrderState:
    """A snapshot of one order of the run: what was asked, and what the venue said about it.

    `phase` is None while the order is still queued (decided in this callback, not yet sent);
    `status` is the venue's last status, None until it reported one. `qty`/`price` are the venue's
    current values once it reported the order (amendments included), else the request's.
    """

    order_link_id: str
    category: Category
    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    price: Decimal | None
    reduce_only: bool
    phase: LocalPhase | None
    status: OrderStatus | None
    filled_qty: Decimal
    order_id: str = ""

    @property
    def queued(self) -> bool:
        """Return whether the order is still waiting to be sent."""
        return self.phase is None

    @property
    def leaves_qty(self) -> Decimal:
        """Return the quantity still to fill."""
        return max(_ZERO, self.qty - self.filled_qty)

    @classmethod
    def of(cls, tracked: TrackedOrder) -> OrderState:
        """Return the state of a tracked order."""
        request, order = tracked.request, tracked.order
        if order is not None:
            price = order.price if order.order_type is OrderType.LIMIT else request.price
            return cls(
                tracked.order_link_id,
                order.category,
                order.symbol,
                order.side,
                order.order_type,
                order.qty,
                price,
                order.reduce_only,
                tracked.phase,
                order.status,
                order.cum_exec_qty,
                order.order_id,
            )
        return cls(
            tracked.order_link_id,
            request.category,
            request.symbol,
            request.side,
            request.order_type,
            request.qty,
            request.price,
            request.reduce_only,
            tracked.phase,
            None,
            tracked.filled_qty,
            tracked.order_id,
        )


class AccountView:
    """Positions and wallet of the run's symbols, and its orders through the policy's tracker."""

    def __init__(self, category: Category, symbols: Sequence[str], tracker: OrderTracker) -> None:
        self.category = category
        self.symbols = frozenset(symbols)
        self.tracker = tracker
        self.positions: dict[str, Position] = {}
        self.wallet: WalletBalance | None = None
        self.resyncs = 0
        """How many REST hand-overs (`ResyncEvent`) the account feed has completed."""

    # --- folding events -----------------------------------------------------------------------

    def on_orders(self, event: OrdersEvent, now_ms: int) -> list[Order]:
        """Apply order updates; return those of the run's orders that told something new."""
        return [order for order in event.orders if self.tracker.on_order(order, now_ms)]

    def on_executions(self, event: ExecutionsEvent, now_ms: int) -> list[Execution]:
        """Record trade fills once each; return the new fills of the run's orders (funding excluded)."""
        fresh = []
        for execution in event.executions:
            if execution.exec_type is ExecType.FUNDING:
                continue
            if self.tracker.on_execution(execution, now_ms):
                fresh.append(execution)
        return fresh

    def on_positions(self, event: PositionsEvent) -> list[Position]:
        """Keep the newest position of each run symbol; return those that changed.

        A REST re-read lists every open position: a run symbol it leaves out is flat now.
        """
        changed = []
        listed = set()
        for position in event.positions:
            if position.category is not self.category or position.symbol not in self.symbols:
                continue
            listed.add(position.symbol)
            current = self.positions.get(position.symbol)
            if current is not None and (position.seq < current.seq or position == current):
                continue
            self.positions[position.symbol] = position
            changed.append(position)
        if event.source is AccountEventSource.RESYNC:
            for symbol, current in sorted(self.positions.items()):
                if symbol not in listed and current.size != 0:
                    flat = dataclasses.replace(
                        current,
                        side=PositionSide.NONE,
                        size=_ZERO,
                        position_value=_ZERO,
                        unrealised_pnl=_ZERO,
                        position_im=_ZERO,
                        position_mm=_ZERO,
                        updated_time_ms=event.ts_ms,
                    )
                    self.positions[symbol] = flat
                    changed.append(flat)
        return changed

    def on_wallets(self, wallets: Sequence[WalletBalance]) -> None:
        """Keep the latest wallet (the unified account's)."""
        if wallets:
            self.wallet = wallets[-1]

    # --- reading ------------------------------------------------------------------------------

    def position(self, symbol: str) -> Position | None:
        """Return the venue's last position record of `symbol`, or None before its first."""
        return self.positions.get(symbol)

    def position_size(self, symbol: str) -> Decimal:
        """Return the signed size of `symbol`'s position: positive long, negative short, 0 flat."""
        position = self.positions.get(symbol)
        if position is None:
            return _ZERO
        return -position.size if position.side is PositionSide.SELL else position.size

    def balance(self, coin: str) -> CoinBalance | None:
        """Return the wallet's balance of `coin`, or None before the first wallet message."""
        return self.wallet.coin(coin) if self.wallet is not None else None

    def order(self, order_link_id: str) -> OrderState | None:
        """Return the state of one order of the run, or None if the tracker does not know it."""
        tracked = self.tracker.get(order_link_id)
        return OrderState.of(tracked) if tracked is not None else None

    def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        """Return the run's orders that may still trade (unresolved ones included), oldest first."""
        return [
            OrderState.of(t)
            for t in self.tracker.open_orders()
            if symbol is None or t.request.symbol == symbol
        ]
