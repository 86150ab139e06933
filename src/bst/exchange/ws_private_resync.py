"""The private stream's gap-safe hand-over: what to re-read over REST after a (re)connect, and how.

Bybit sends no snapshot when a private topic is subscribed, so whatever happened while the stream
was down (a fill, a cancel) is only visible over REST. After each subscription the stream re-reads
the fills executed since it last knew itself current (minus an overlap), the open and recently
closed orders, the positions and the wallet, and hands them to the consumer as events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bst.domain.errors import ConfigError
from bst.domain.market import Category
from bst.domain.orders import Execution, Order
from bst.domain.portfolio import Position, WalletBalance

EXECUTION_WINDOW_MS = 7 * 86_400_000
"""Bybit's widest `/v5/execution/list` time range."""


class PrivateRestReader(Protocol):
    """The REST reads the hand-over needs (`BybitRestClient` has them)."""

    async def get_open_orders(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        settle_coin: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        open_only: int = 0,
    ) -> list[Order]:
        """Return open orders (open_only=0) or open and recently closed ones (open_only=1)."""
        ...

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
        """Return executions in the time range, every page."""
        ...

    async def get_positions(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[Position]:
        """Return positions of a symbol or of a settle coin."""
        ...

    async def get_wallet_balance(
        self, account_type: str = "UNIFIED", coins: list[str] | None = None
    ) -> WalletBalance:
        """Return the account's balances."""
        ...


@dataclass(frozen=True, slots=True)
class ResyncScope:
    """One slice of the account to re-read: a category, narrowed to a symbol or a settle coin."""

    category: Category
    symbol: str | None = None
    settle_coin: str | None = None

    def __post_init__(self) -> None:
        if self.category is Category.INVERSE and not (self.symbol or self.settle_coin):
            raise ConfigError("an inverse re-read scope needs a symbol or a settle coin")


def _default_scopes() -> tuple[ResyncScope, ...]:
    return (ResyncScope(Category.LINEAR, settle_coin="USDT"),)


@dataclass(frozen=True, slots=True)
class ResyncPlan:
    """What the hand-over re-reads; `overlap_ms` is re-read before the last moment known current.

    The overlap absorbs pushes still in flight when a connection died and the skew between our
    estimate of the exchange clock and its own; duplicates it causes are harmless (fills carry ids).
    """

    scopes: tuple[ResyncScope, ...] = field(default_factory=_default_scopes)
    closed_orders: bool = True
    positions: bool = True
    wallet: bool = True
    overlap_ms: int = 60_000

    def __post_init__(self) -> None:
        if self.overlap_ms < 0:
            raise ConfigError("overlap_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class ResyncSnapshot:
    """What one re-read found: fills oldest first, orders by last update, positions, the wallet.

    `positions` is None when none were read, else every open position of the scopes (a position
    missing from it is flat: a settle-coin query lists non-zero positions only).
    """

    executions: tuple[Execution, ...]
    orders: tuple[Order, ...]
    positions: tuple[Position, ...] | None
    wallet: WalletBalance | None


def _order_rank(order: Order) -> tuple[object, ...]:
    return (order.cum_exec_qty, order.updated_time_ms, order.status.is_terminal)


async def reread(rest: PrivateRestReader, plan: ResyncPlan, since_ms: int, now_ms: int) -> ResyncSnapshot:
    """Re-read the account over REST: fills since `since_ms`, orders, positions, wallet.

    `since_ms` is clamped to Bybit's 7-day execution window ending at `now_ms` (exchange times).
    """
    start_ms = max(since_ms, now_ms - EXECUTION_WINDOW_MS + 60_000)
    fills: dict[str, Execution] = {}
    orders: dict[str, Order] = {}
    positions: list[Position] | None = None
    for scope in plan.scopes:
        for execution in await rest.get_executions(scope.category, symbol=scope.symbol, start_ms=start_ms):
            fills[execution.exec_id] = execution
        modes = (0, 1) if plan.closed_orders else (0,)
        for open_only in modes:
            found = await rest.get_open_orders(
                scope.category, symbol=scope.symbol, settle_coin=scope.settle_coin, open_only=open_only
            )
            for order in found:
                known = orders.get(order.order_id)
                if known is None or _order_rank(order) > _order_rank(known):
                    orders[order.order_id] = order
        if plan.positions and scope.category is not Category.SPOT:
            found_positions = await rest.get_positions(
                scope.category, symbol=scope.symbol, settle_coin=scope.settle_coin
            )
            positions = [*(positions or []), *(p for p in found_positions if p.size != 0)]
    wallet = await rest.get_wallet_balance() if plan.wallet else None
    return ResyncSnapshot(
        executions=tuple(sorted(fills.values(), key=lambda e: (e.exec_time_ms, e.seq, e.exec_id))),
        orders=tuple(sorted(orders.values(), key=lambda o: (o.updated_time_ms, o.created_time_ms))),
        positions=None if positions is None else tuple(positions),
        wallet=wallet,
    )
