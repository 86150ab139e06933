"""The engine's outbox: what changed for which account, in the order it happened.

For each matching step an account sees its executions, then the order's new state; position and
wallet updates follow once per action (a request, a market-data event or a funding settlement), in
that order. The simulator pushes them on the private WebSocket topics `execution`, `order`,
`position` and `wallet`; the backtester reads them directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from bst.domain.orders import Execution, Order
from bst.domain.portfolio import Position, WalletBalance


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order was accepted, changed, filled or closed."""

    uid: int
    order: Order


@dataclass(frozen=True, slots=True)
class ExecutionUpdate:
    """A trade or funding execution was booked."""

    uid: int
    execution: Execution


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position changed (fill, leverage, TP/SL, funding, liquidation)."""

    uid: int
    position: Position


@dataclass(frozen=True, slots=True)
class WalletUpdate:
    """Balances changed (fill, fee, funding, order margin or lock)."""

    uid: int
    wallet: WalletBalance


EngineEvent = OrderUpdate | ExecutionUpdate | PositionUpdate | WalletUpdate
