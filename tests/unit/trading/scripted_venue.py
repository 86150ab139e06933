"""A tiny in-memory venue behind the `OrderGateway` port whose replies can be lost on cue.

Lost replies are the one thing a unit test cannot make real, so each call may follow a scripted step
instead of answering normally: `Lose` (act or not, then raise an unknown outcome), `Refuse` (raise,
no effect), `Hide` (a lookup answers "no such order" although the venue has it: a lagging list),
`Hold` (wait for an event first), None (answer normally). The venue keeps orders by orderLinkId
and refuses a second one under the same id, as Bybit does; tests move orders along with `fill` and
`cancel_behind`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from bst.domain.errors import (
    BybitAPIError,
    BybitDuplicateOrderError,
    BybitOrderNotFoundError,
    BybitTimeoutError,
)
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.orders import (
    AmendRequest,
    Execution,
    Order,
    OrderAck,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    TimeInForce,
)
from bst.domain.portfolio import Position, WalletBalance
from bst.domain.ports import OrderGateway


@dataclass(frozen=True)
class Lose:
    """The reply is lost: after the venue acted (`applied`) or before it saw the request."""

    applied: bool = True


@dataclass(frozen=True)
class Refuse:
    """The venue answers with `error` and changes nothing."""

    error: BybitAPIError


@dataclass(frozen=True)
class Hide:
    """A lookup answers None although the venue holds the order."""


@dataclass(frozen=True)
class Hold:
    """The call waits for `event`, then answers normally."""

    event: asyncio.Event


Step = Lose | Refuse | Hide | Hold


def lost() -> BybitTimeoutError:
    """Return the error of a reply that never came."""
    return BybitTimeoutError("no reply within 1.0 s (scripted)")


class ScriptedVenue:
    """One account's orders; `script[method]` holds the steps of the next calls of `method`."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.script: defaultdict[str, deque[Step | None]] = defaultdict(deque)
        self.calls: list[str] = []
        self.journal: list[tuple[str, str]] = []
        """(method, what the venue answered) of each create and lookup: ok, lost, refused, duplicate,
        found, none (no such order), hidden (an existing order hidden by a `Hide` step)."""
        self.holding = asyncio.Event()
        """Set once a call waits on a `Hold` step."""
        self._ids = itertools.count(1)
        self._time_ms = 1_700_000_000_000

    # -- what tests use ---------------------------------------------------------------------------

    def then(self, method: str, *steps: Step | None) -> None:
        """Queue `steps` for the next calls of `method` (place, amend, cancel, cancel_all, find).

        None answers normally (to script a later call only).
        """
        self.script[method].extend(steps)

    def fill(self, link: str) -> None:
        """Fill an order completely."""
        order = self.orders[link]
        self._update(order, status=OrderStatus.FILLED, cum_exec_qty=order.qty, leaves_qty=Decimal(0))

    def cancel_behind(self, link: str) -> None:
        """Cancel an order the way the venue would on its own (an IOC's rest, a user elsewhere)."""
        self._update(self.orders[link], status=OrderStatus.CANCELLED, leaves_qty=Decimal(0))

    # -- the port ---------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        step = await self._next("place")
        if isinstance(step, Lose) and not step.applied:
            self.journal.append(("place", "lost"))
            raise lost()
        if request.order_link_id in self.orders:
            self.journal.append(("place", "duplicate"))
            raise BybitDuplicateOrderError("OrderLinkedID is duplicate", ret_code=110072)
        order = _new_order(request, f"oid-{next(self._ids)}", self._tick())
        self.orders[request.order_link_id] = order
        self.journal.append(("place", "lost" if isinstance(step, Lose) else "ok"))
        if isinstance(step, Lose):
            raise lost()
        return OrderAck(order.order_id, order.order_link_id)

    async def amend_order(self, request: AmendRequest) -> OrderAck:
        step = await self._next("amend")
        if isinstance(step, Lose) and not step.applied:
            raise lost()
        order = self._open(request.order_id, request.order_link_id)
        self._update(
            order,
            qty=request.qty or order.qty,
            leaves_qty=(request.qty or order.qty) - order.cum_exec_qty,
            price=request.price or order.price,
            take_profit=request.take_profit or order.take_profit,
            stop_loss=request.stop_loss or order.stop_loss,
        )
        if isinstance(step, Lose):
            raise lost()
        return OrderAck(order.order_id, order.order_link_id)

    async def cancel_order(
        self,
        category: Category,
        symbol: str,
        *,
        order_id: str = "",
        order_link_id: str = "",
        order_filter: OrderFilter | None = None,
    ) -> OrderAck:
        step = await self._next("cancel")
        if isinstance(step, Lose) and not step.applied:
            raise lost()
        order = self._open(order_id, order_link_id)
        self.cancel_behind(order.order_link_id)
        if isinstance(step, Lose):
            raise lost()
        return OrderAck(order.order_id, order.order_link_id)

    async def cancel_all_orders(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        step = await self._next("cancel_all")
        if isinstance(step, Lose) and not step.applied:
            raise lost()
        acks = []
        for order in list(self.orders.values()):
            if order.is_open and symbol in (None, order.symbol):
                self.cancel_behind(order.order_link_id)
                acks.append(OrderAck(order.order_id, order.order_link_id))
        if isinstance(step, Lose):
            raise lost()
        return acks

    async def get_open_orders(self, category: Category, *, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    async def find_order(
        self, category: Category, symbol: str, order_link_id: str = "", *, order_id: str = ""
    ) -> Order | None:
        step = await self._next("find")
        order = self._lookup(order_id, order_link_id)
        if isinstance(step, Hide):
            self.journal.append(("find", "none" if order is None else "hidden"))
            return None
        self.journal.append(("find", "none" if order is None else "found"))
        return order

    async def get_positions(self, category: Category, *, symbol: str | None = None) -> list[Position]:
        return []

    async def get_wallet_balance(self, *, coins: Sequence[str] = ()) -> WalletBalance:
        raise NotImplementedError("the execution policy never reads balances")

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
        return []

    async def get_instruments(self, category: Category, symbol: str | None = None) -> list[Instrument]:
        return []

    # -- inside -----------------------------------------------------------------------------------

    async def _next(self, method: str) -> Step | None:
        self.calls.append(method)
        queue = self.script[method]
        step = queue.popleft() if queue else None
        if isinstance(step, Hold):
            self.holding.set()
            await step.event.wait()
            return None
        if isinstance(step, Refuse):
            self.journal.append((method, "refused"))
            raise step.error
        return step

    def _lookup(self, order_id: str, link: str) -> Order | None:
        if order_id:
            return next((o for o in self.orders.values() if o.order_id == order_id), None)
        return self.orders.get(link)

    def _open(self, order_id: str, link: str) -> Order:
        order = self._lookup(order_id, link)
        if order is None or not order.is_open:
            raise BybitOrderNotFoundError("order not exists or too late to cancel", ret_code=110001)
        return order

    def _update(self, order: Order, **changes: object) -> None:
        updated = dataclasses.replace(order, updated_time_ms=self._tick(), **changes)  # type: ignore[arg-type]
        self.orders[order.order_link_id] = updated

    def _tick(self) -> int:
        self._time_ms += 1
        return self._time_ms


def _new_order(request: OrderRequest, order_id: str, now_ms: int) -> Order:
    return Order(
        order_id=order_id,
        order_link_id=request.order_link_id,
        category=request.category,
        symbol=request.symbol,
        side=request.side,
        order_type=request.order_type,
        price=request.price or Decimal(0),
        qty=request.qty,
        time_in_force=request.time_in_force or TimeInForce.GTC,
        status=OrderStatus.NEW,
        reject_reason="EC_NoError",
        cancel_type="UNKNOWN",
        create_type="CreateByUser",
        avg_price=None,
        leaves_qty=request.qty,
        leaves_value=Decimal(0),
        cum_exec_qty=Decimal(0),
        cum_exec_value=Decimal(0),
        cum_exec_fee=Decimal(0),
        fee_currency="USDT",
        reduce_only=request.reduce_only,
        close_on_trigger=False,
        position_idx=0,
        created_time_ms=now_ms,
        updated_time_ms=now_ms,
    )


def _conforms(venue: ScriptedVenue) -> OrderGateway:
    return venue  # mypy proves the fake satisfies the port (run mypy on this file)
