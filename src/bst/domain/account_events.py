"""Account events: what the private stream (and its REST hand-over after a reconnect) delivers.

Each event carries the exchange time it describes (`ts_ms`: the stream's `creationTime`, or the
exchange clock when a REST re-read was answered) and the local receive time (`recv_ms`), both epoch
milliseconds. `source` tells a live push from a REST re-read: a re-read may repeat what the stream
already delivered, and may be older than a push that overtook it, so consumers deduplicate (fills by
execId) and keep the newest state (orders by filled quantity and update time, positions by `seq`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bst.domain.events import Received
from bst.domain.market import Category, Side
from bst.domain.orders import Execution, Order
from bst.domain.portfolio import Position, WalletBalance


class AccountEventSource(StrEnum):
    """Where an account event came from."""

    STREAM = "stream"
    """Pushed on the private WebSocket."""
    RESYNC = "resync"
    """Re-read over REST after a (re)connect, to cover what the stream may have missed."""


@dataclass(frozen=True, slots=True)
class OrdersEvent(Received):
    """Order states (private `order` topic, or open and recently closed orders re-read over REST)."""

    orders: tuple[Order, ...]
    source: AccountEventSource
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class ExecutionsEvent(Received):
    """Fills and funding settlements, oldest first within the event."""

    executions: tuple[Execution, ...]
    source: AccountEventSource
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class PositionsEvent(Received):
    """Position states (a flat position has side `""` and size 0).

    From a REST re-read (`source` RESYNC) the tuple is every open position of the re-read scopes:
    a position it does not list is flat (it may have closed while the stream was down).
    """

    positions: tuple[Position, ...]
    source: AccountEventSource
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class WalletsEvent(Received):
    """Wallet balances (Bybit pushes them on balance changes, not on unrealised-PnL moves)."""

    wallets: tuple[WalletBalance, ...]
    source: AccountEventSource
    ts_ms: int
    recv_ms: int


@dataclass(frozen=True, slots=True)
class ResyncEvent:
    """The REST hand-over after connection number `connection` is complete.

    Every fill executed since `since_ms` (exchange time) and every open or recently closed order has
    been delivered, by the stream or by the re-read events just before this one; from here on the
    stream alone keeps the consumer current until the next disconnect.
    """

    connection: int
    since_ms: int
    orders: int
    executions: int
    positions: int
    ts_ms: int
    recv_ms: int


AccountStateEvent = OrdersEvent | ExecutionsEvent | PositionsEvent | WalletsEvent
"""An account event that carries state: what one private-stream message (or the engine) pushes."""

AccountEvent = AccountStateEvent | ResyncEvent
"""Anything the private stream delivers."""


@dataclass(frozen=True, slots=True)
class FastExecution:
    """One fill as the low-latency `execution.fast` topic reports it: trades only, no fee or PnL.

    Maker fills always carry an empty `order_link_id` there. The full record (fee, closed size)
    follows on the `execution` topic (the private stream reads a fast message as an
    `ExecutionsEvent` whose fills have no fee and `exec_type` UNKNOWN).
    """

    category: Category
    symbol: str
    exec_id: str
    order_id: str
    order_link_id: str
    side: Side
    exec_price: Decimal
    exec_qty: Decimal
    is_maker: bool
    exec_time_ms: int
    seq: int
