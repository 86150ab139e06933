"""A minimal in-memory venue for strategy-runtime tests: the `OrderGateway` port plus account events.

One account, linear symbols, one-way positions, no fees. The test moves the market with
`mark(symbol, price, ts_ms)`: market orders fill at once at the last mark, resting limit orders fill
at their limit price when a later mark reaches it. Every change is recorded as the account events a
venue would push (`OrdersEvent`, `ExecutionsEvent`, `PositionsEvent`), which `drain()` hands over in
order. Deterministic: ids count up, times are the marks' times. The real venues (the engine, `bst
sim`) are tested elsewhere; this one exists so runtime tests need no matching engine.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from decimal import Decimal

from bst.domain.account_events import (
    AccountEventSource,
    AccountStateEvent,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
)
from bst.domain.errors import BybitDuplicateOrderError, BybitOrderError, BybitOrderNotFoundError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    ExecType,
    Execution,
    Order,
    OrderAck,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from bst.domain.portfolio import Position, PositionSide, PositionStatus, WalletBalance, apply_fill, side_of

STREAM = AccountEventSource.STREAM
ZERO = Decimal(0)


def linear_instrument(symbol: str = "BTCUSDT") -> Instrument:
    """Return a BTCUSDT-like linear instrument (tick 0.1, lot 0.001)."""
    return Instrument(
        symbol=symbol,
        category=Category.LINEAR,
        status="Trading",
        base_coin=symbol.removesuffix("USDT"),
        quote_coin="USDT",
        settle_coin="USDT",
        tick_size=Decimal("0.1"),
        qty_step=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1000"),
        max_market_qty=Decimal("100"),
        min_notional=Decimal("0.5"),
        min_price=Decimal("0.1"),
        max_price=Decimal("1999999"),
    )


class PaperVenue:
    """One account's orders, fills and positions over marked prices (see the module docstring)."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.prices: dict[str, Decimal] = {}
        self.now_ms = 0
        self.events: list[AccountStateEvent] = []
        self.calls: list[str] = []
        self.listeners: list[Callable[[AccountStateEvent], None]] = []
        """Called with every account event as it happens (a live feed's push)."""
        self._sizes: dict[str, tuple[Decimal, Decimal]] = {}
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)

    # --- what tests use ---------------------------------------------------------------------------

    def mark(self, symbol: str, price: Decimal, ts_ms: int) -> None:
        """Move `symbol`'s price to `price` at `ts_ms`; fill the resting limits it reaches."""
        self.now_ms = max(self.now_ms, ts_ms)
        self.prices[symbol] = price
        for order in list(self.orders.values()):
            if order.symbol != symbol or not order.is_open or order.order_type is not OrderType.LIMIT:
                continue
            if (order.side is Side.BUY and price <= order.price) or (
                order.side is Side.SELL and price >= order.price
            ):
                self._fill(order, order.price)

    def drain(self) -> list[AccountStateEvent]:
        """Return the account events since the last drain, oldest first."""
        events, self.events = self.events, []
        return events

    def size(self, symbol: str) -> Decimal:
        """Return the signed position of `symbol`."""
        return self._sizes.get(symbol, (ZERO, ZERO))[0]

    # --- the port ---------------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest) -> OrderAck:
        self.calls.append(f"place {request.order_link_id}")
        if request.order_link_id in self.orders:
            raise BybitDuplicateOrderError("OrderLinkedID is duplicate", ret_code=110072)
        price = self.prices.get(request.symbol)
        if request.order_type is OrderType.MARKET and price is None:
            raise BybitOrderError("no price to fill a market order", ret_code=110007)
        held = self.size(request.symbol)
        if request.reduce_only and (held == 0 or (held > 0) == (request.side is Side.BUY)):
            raise BybitOrderError(
                "current position is zero, cannot fix reduce-only order qty", ret_code=110017
            )
        order = Order(
            order_id=f"oid-{next(self._ids)}",
            order_link_id=request.order_link_id,
            category=request.category,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            price=request.price or ZERO,
            qty=request.qty,
            time_in_force=request.time_in_force or TimeInForce.GTC,
            status=OrderStatus.NEW,
            reject_reason="EC_NoError",
            cancel_type="UNKNOWN",
            create_type="CreateByUser",
            avg_price=None,
            leaves_qty=request.qty,
            leaves_value=ZERO,
            cum_exec_qty=ZERO,
            cum_exec_value=ZERO,
            cum_exec_fee=ZERO,
            fee_currency="",
            reduce_only=request.reduce_only,
            close_on_trigger=False,
            position_idx=0,
            created_time_ms=self.now_ms,
            updated_time_ms=self.now_ms,
        )
        self.orders[order.order_link_id] = order
        if request.order_type is OrderType.MARKET:
            assert price is not None
            self._fill(order, price)
        else:
            self._push_order(order)
            if price is not None and (
                (order.side is Side.BUY and price <= order.price)
                or (order.side is Side.SELL and price >= order.price)
            ):
                self._fill(self.orders[order.order_link_id], price)  # a crossing limit takes at the market
        return OrderAck(order.order_id, order.order_link_id)

    async def amend_order(self, request: AmendRequest) -> OrderAck:
        self.calls.append(f"amend {request.order_link_id}")
        order = self._open(request.order_link_id)
        qty = request.qty if request.qty is not None else order.qty
        amended = dataclasses.replace(
            order,
            qty=qty,
            leaves_qty=qty - order.cum_exec_qty,
            price=request.price if request.price is not None else order.price,
            updated_time_ms=self.now_ms,
        )
        self._push_order(amended)
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
        self.calls.append(f"cancel {order_link_id}")
        order = self._open(order_link_id)
        self._push_order(
            dataclasses.replace(
                order, status=OrderStatus.CANCELLED, leaves_qty=ZERO, updated_time_ms=self.now_ms
            )
        )
        return OrderAck(order.order_id, order.order_link_id)

    async def cancel_all_orders(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        self.calls.append(f"cancel_all {symbol}")
        acks = []
        for order in list(self.orders.values()):
            if order.is_open and symbol in (None, order.symbol):
                acks.append(
                    await self.cancel_order(category, order.symbol, order_link_id=order.order_link_id)
                )
        return acks

    async def get_open_orders(self, category: Category, *, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    async def find_order(
        self, category: Category, symbol: str, order_link_id: str = "", *, order_id: str = ""
    ) -> Order | None:
        return self.orders.get(order_link_id)

    async def get_positions(self, category: Category, *, symbol: str | None = None) -> list[Position]:
        return []

    async def get_wallet_balance(self, *, coins: Sequence[str] = ()) -> WalletBalance:
        raise NotImplementedError("runtime tests do not read balances")

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
        return [linear_instrument(symbol or "BTCUSDT")]

    # --- internals --------------------------------------------------------------------------------

    def _open(self, link: str) -> Order:
        order = self.orders.get(link)
        if order is None or not order.is_open:
            raise BybitOrderNotFoundError("order not exists or too late to cancel", ret_code=110001)
        return order

    def _push_order(self, order: Order) -> None:
        self.orders[order.order_link_id] = order
        self._emit(OrdersEvent((order,), STREAM, self.now_ms, self.now_ms))

    def _emit(self, event: AccountStateEvent) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener(event)

    def _fill(self, order: Order, price: Decimal) -> None:
        qty = order.leaves_qty
        size, entry = self._sizes.get(order.symbol, (ZERO, ZERO))
        if order.reduce_only:
            qty = min(qty, abs(size))
        effect = apply_fill(size, entry, order.side, qty, price)
        self._sizes[order.symbol] = (effect.size, effect.entry_value)
        seq = next(self._seq)
        execution = Execution(
            exec_id=f"exec-{seq}",
            order_id=order.order_id,
            order_link_id=order.order_link_id,
            category=order.category,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            order_price=order.price,
            order_qty=order.qty,
            leaves_qty=ZERO,
            exec_type=ExecType.TRADE,
            exec_price=price,
            exec_qty=qty,
            exec_value=qty * price,
            exec_fee=ZERO,
            fee_rate=ZERO,
            fee_currency="USDT",
            is_maker=order.order_type is OrderType.LIMIT,
            closed_size=effect.closed_size,
            exec_pnl=effect.realised_pnl,
            exec_time_ms=self.now_ms,
            seq=seq,
        )
        self._emit(ExecutionsEvent((execution,), STREAM, self.now_ms, self.now_ms))
        self._push_order(
            dataclasses.replace(
                order,
                status=OrderStatus.FILLED,
                cum_exec_qty=order.cum_exec_qty + qty,
                cum_exec_value=order.cum_exec_value + qty * price,
                leaves_qty=ZERO,
                avg_price=price,
                updated_time_ms=self.now_ms,
            )
        )
        self._emit(PositionsEvent((self._position(order, seq),), STREAM, self.now_ms, self.now_ms))

    def _position(self, order: Order, seq: int) -> Position:
        size, entry = self._sizes[order.symbol]
        mark = self.prices.get(order.symbol, ZERO)
        return Position(
            category=order.category,
            symbol=order.symbol,
            position_idx=0,
            side=side_of(size),
            size=abs(size),
            avg_price=entry / abs(size) if size else ZERO,
            position_value=entry,
            leverage=Decimal(1),
            mark_price=mark,
            liq_price=None,
            bust_price=None,
            position_im=ZERO,
            position_mm=ZERO,
            unrealised_pnl=ZERO,
            cur_realised_pnl=ZERO,
            cum_realised_pnl=ZERO,
            position_status=PositionStatus.NORMAL,
            created_time_ms=self.now_ms,
            updated_time_ms=self.now_ms,
            seq=seq,
        )


__all__ = ["PaperVenue", "PositionSide", "linear_instrument"]
