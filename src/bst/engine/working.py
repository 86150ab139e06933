"""Mutable engine-side order state, its frozen snapshots, and the per-side queue of resting orders."""

from __future__ import annotations

import bisect
from decimal import Decimal
from enum import Enum
from typing import Any

from bst.domain.market import Category, Side
from bst.domain.orders import (
    CancelType,
    CreateType,
    MarketUnit,
    Order,
    OrderStatus,
    OrderType,
    RejectReason,
    StopOrderType,
    TimeInForce,
    TriggerBy,
    TriggerDirection,
)
from bst.domain.portfolio import average_price

_ZERO = Decimal(0)


class WorkingOrder:
    """One order while the engine owns it; `snapshot()` renders what Bybit would report.

    `price` is the limit price, or for market orders the slippage-protected price (None when no
    reference price existed; None too for a market order that has not triggered). `priority` is the
    time-priority sequence (renewed by a price change, a size increase or the trigger). `queue_ahead`
    is the external volume ahead of it at its price. `lock` is what a spot order still holds locked
    (quote coin for buys, base coin for sells). A conditional order has a `trigger_price` and is
    `awaiting_trigger` from creation until its trigger fires; meanwhile it holds no book place and no
    margin or coin (except a spot TP/SL order, which holds its coin from the start).
    """

    __slots__ = (
        "awaiting_trigger",
        "cancel_type",
        "category",
        "close_on_trigger",
        "closed_pnl",
        "create_type",
        "created_ms",
        "cum_fee",
        "cum_qty",
        "cum_value",
        "fee_currency",
        "last_price_on_created",
        "lock",
        "market_unit",
        "order_id",
        "order_link_id",
        "order_type",
        "price",
        "priority",
        "qty",
        "queue_ahead",
        "reduce_only",
        "reject_reason",
        "resting",
        "side",
        "status",
        "stop_loss",
        "stop_order_type",
        "symbol",
        "take_profit",
        "tif",
        "trigger_by",
        "trigger_direction",
        "trigger_price",
        "uid",
        "updated_ms",
    )

    def __init__(
        self,
        *,
        uid: int,
        order_id: str,
        order_link_id: str,
        category: Category,
        symbol: str,
        side: Side,
        order_type: OrderType,
        price: Decimal | None,
        qty: Decimal,
        tif: TimeInForce,
        reduce_only: bool,
        close_on_trigger: bool,
        market_unit: MarketUnit | None,
        created_ms: int,
        priority: int,
        fee_currency: str,
        last_price_on_created: Decimal | None = None,
        create_type: str = CreateType.CREATE_BY_USER,
        stop_order_type: str = "",
        take_profit: Decimal | None = None,
        stop_loss: Decimal | None = None,
        trigger_price: Decimal | None = None,
        trigger_direction: TriggerDirection | None = None,
        trigger_by: TriggerBy | None = None,
    ) -> None:
        self.uid = uid
        self.order_id = order_id
        self.order_link_id = order_link_id
        self.category = category
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.price = price
        self.qty = qty
        self.tif = tif
        self.reduce_only = reduce_only
        self.close_on_trigger = close_on_trigger
        self.market_unit = market_unit
        self.created_ms = created_ms
        self.updated_ms = created_ms
        self.priority = priority
        self.fee_currency = fee_currency
        self.last_price_on_created = last_price_on_created
        self.create_type = create_type
        self.stop_order_type = stop_order_type
        self.take_profit = take_profit
        self.stop_loss = stop_loss
        self.trigger_price = trigger_price
        self.trigger_direction = trigger_direction
        self.trigger_by = trigger_by
        self.awaiting_trigger = trigger_price is not None
        self.status = OrderStatus.CREATED
        self.reject_reason: str = RejectReason.NO_ERROR
        self.cancel_type: str = CancelType.UNKNOWN
        self.cum_qty = _ZERO
        self.cum_value = _ZERO
        self.cum_fee = _ZERO
        self.closed_pnl = _ZERO
        self.queue_ahead = _ZERO
        self.lock = _ZERO
        self.resting = False

    @property
    def is_buy(self) -> bool:
        """Return whether this is a buy order."""
        return self.side is Side.BUY

    @property
    def quote_sized(self) -> bool:
        """Return whether `qty` is a quote-coin amount (spot market order with marketUnit quoteCoin)."""
        return self.market_unit is MarketUnit.QUOTE_COIN

    @property
    def leaves_qty(self) -> Decimal:
        """Return the base quantity still to fill (0 for quote-sized orders, which track value)."""
        if self.quote_sized:
            return _ZERO
        return self.qty - self.cum_qty

    @property
    def leaves_quote(self) -> Decimal:
        """Return the quote amount still to spend (quote-sized orders only)."""
        return self.qty - self.cum_value

    @property
    def is_open(self) -> bool:
        """Return whether the order still works."""
        return self.status.is_open

    @property
    def holds_funds(self) -> bool:
        """Return whether the order reserves margin or coin now (untriggered ones do not, but spot TP/SL)."""
        return not self.awaiting_trigger or self.stop_order_type == StopOrderType.TPSL_ORDER

    def snapshot(self) -> Order:
        """Return the order as Bybit reports it now."""
        is_open = self.status.is_open
        leaves = self.leaves_qty if is_open else _ZERO
        shown_price = self.price if self.price is not None else _ZERO
        if self.order_type is OrderType.MARKET and self.category is Category.SPOT:
            shown_price = _ZERO
        if self.quote_sized:
            leaves_value = self.leaves_quote
        elif is_open and self.price is not None:
            leaves_value = leaves * self.price
        else:
            leaves_value = _ZERO
        avg = average_price(self.cum_value, self.cum_qty) if self.cum_qty > 0 else None
        return Order(
            order_id=self.order_id,
            order_link_id=self.order_link_id,
            category=self.category,
            symbol=self.symbol,
            side=self.side,
            order_type=self.order_type,
            price=shown_price,
            qty=self.qty,
            time_in_force=self.tif,
            status=self.status,
            reject_reason=self.reject_reason,
            cancel_type=self.cancel_type,
            create_type=self.create_type,
            avg_price=avg,
            leaves_qty=leaves,
            leaves_value=leaves_value,
            cum_exec_qty=self.cum_qty,
            cum_exec_value=self.cum_value,
            cum_exec_fee=self.cum_fee,
            fee_currency=self.fee_currency,
            reduce_only=self.reduce_only,
            close_on_trigger=self.close_on_trigger,
            position_idx=0,
            created_time_ms=self.created_ms,
            updated_time_ms=self.updated_ms,
            market_unit=self.market_unit,
            stop_order_type=self.stop_order_type,
            take_profit=self.take_profit,
            stop_loss=self.stop_loss,
            last_price_on_created=self.last_price_on_created,
            closed_pnl=self.closed_pnl,
            trigger_price=self.trigger_price,
            trigger_direction=self.trigger_direction,
            trigger_by=self.trigger_by,
        )

    def to_state(self) -> dict[str, Any]:
        """Return a JSON-compatible copy."""
        state: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, Enum):
                value = value.value
            state[name] = value
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WorkingOrder:
        """Rebuild an order saved by `to_state`."""
        order = cls.__new__(cls)
        for name in cls.__slots__:
            setattr(order, name, state.get(name))  # fields added later read as None
        order.awaiting_trigger = bool(order.awaiting_trigger)
        for name in (
            "cum_fee",
            "cum_qty",
            "cum_value",
            "closed_pnl",
            "queue_ahead",
            "lock",
            "qty",
        ):
            setattr(order, name, Decimal(state[name]))
        for name in ("price", "last_price_on_created", "take_profit", "stop_loss", "trigger_price"):
            if state[name] is not None:
                setattr(order, name, Decimal(state[name]))
        order.category = Category(state["category"])
        order.side = Side(state["side"])
        order.order_type = OrderType(state["order_type"])
        order.tif = TimeInForce(state["tif"])
        order.status = OrderStatus(state["status"])
        order.market_unit = MarketUnit(state["market_unit"]) if state["market_unit"] else None
        direction = state.get("trigger_direction")
        order.trigger_direction = TriggerDirection(direction) if direction else None
        order.trigger_by = TriggerBy(state["trigger_by"]) if state.get("trigger_by") else None
        return order


class RestingSide:
    """User orders resting on one side of a symbol, best price first, then time priority."""

    __slots__ = ("_keys", "_orders", "is_buy")

    def __init__(self, is_buy: bool) -> None:
        self.is_buy = is_buy
        self._keys: list[tuple[Decimal, int]] = []
        self._orders: list[WorkingOrder] = []

    def _key(self, order: WorkingOrder) -> tuple[Decimal, int]:
        price = order.price if order.price is not None else _ZERO
        return (-price if self.is_buy else price, order.priority)

    def add(self, order: WorkingOrder) -> None:
        """Insert `order` at its place in price-time priority."""
        key = self._key(order)
        index = bisect.bisect_left(self._keys, key)
        self._keys.insert(index, key)
        self._orders.insert(index, order)
        order.resting = True

    def remove(self, order: WorkingOrder) -> None:
        """Take `order` out (it must be resting here)."""
        key = self._key(order)
        index = bisect.bisect_left(self._keys, key)
        if index >= len(self._orders) or self._orders[index] is not order:
            raise LookupError(f"order {order.order_id} is not resting on this side")
        del self._keys[index]
        del self._orders[index]
        order.resting = False

    def best(self) -> WorkingOrder | None:
        """Return the order with the highest priority, or None."""
        return self._orders[0] if self._orders else None

    def in_priority(self) -> list[WorkingOrder]:
        """Return a copy of the orders in priority order."""
        return list(self._orders)

    def view(self) -> list[WorkingOrder]:
        """Return the live list in priority order (do not add or remove while iterating it)."""
        return self._orders

    def at_price(self, price: Decimal) -> list[WorkingOrder]:
        """Return the orders resting at exactly `price`, in time priority."""
        target = -price if self.is_buy else price
        start = bisect.bisect_left(self._keys, (target, -1))
        found: list[WorkingOrder] = []
        for index in range(start, len(self._keys)):
            if self._keys[index][0] != target:
                break
            found.append(self._orders[index])
        return found

    def __len__(self) -> int:
        return len(self._orders)
