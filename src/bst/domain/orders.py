"""Orders, executions and the order-status state machine, with Bybit v5's exact wire values.

Enumerations whose set Bybit keeps open (reject reasons, cancel types, create types) are `StrEnum`
constants for the values bst produces or tests for, while the fields that carry them are typed `str`,
so a value Bybit adds tomorrow still parses. Quantities, prices and money are `Decimal`; times are
epoch milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import IntEnum, StrEnum

from bst.domain.market import Category, Side

ORDER_LINK_ID_MAX_LEN = 36
_ORDER_LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


class OrderType(StrEnum):
    """Bybit `orderType`."""

    MARKET = "Market"
    LIMIT = "Limit"
    UNKNOWN = "UNKNOWN"


class TimeInForce(StrEnum):
    """Bybit `timeInForce`; market orders always execute as IOC (or FOK when asked)."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "PostOnly"
    RPI = "RPI"


class TriggerDirection(IntEnum):
    """Bybit `triggerDirection` of a conditional order: fire when the price rises or falls to the trigger.

    Bybit prints `0` on orders without one (parsed as None).
    """

    RISE = 1
    FALL = 2


class TriggerBy(StrEnum):
    """Bybit `triggerBy`: which price a conditional order (or TP/SL) watches; LastPrice by default."""

    LAST_PRICE = "LastPrice"
    INDEX_PRICE = "IndexPrice"
    MARK_PRICE = "MarkPrice"


class OrderFilter(StrEnum):
    """Bybit `orderFilter`: the kind of order (create: spot only; queries and cancels: all categories).

    `Order` is a plain active order, `StopOrder` a conditional order (its assets are not held until it
    triggers), `tpslOrder` a spot TP/SL order (its assets are held from the start).
    """

    ORDER = "Order"
    STOP_ORDER = "StopOrder"
    TPSL_ORDER = "tpslOrder"


class MarketUnit(StrEnum):
    """Unit of a spot market order's `qty` (`marketUnit`); spot market buys default to quote coin."""

    BASE_COIN = "baseCoin"
    QUOTE_COIN = "quoteCoin"


class OrderStatus(StrEnum):
    """Bybit `orderStatus`.

    `Created` means accepted but not yet through the matching engine (the simulator's latency window);
    `PartiallyFilledCanceled` exists only for spot (a derivatives order cancelled after a partial fill
    reports `Cancelled` with a non-zero `cumExecQty`).
    """

    CREATED = "Created"
    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    UNTRIGGERED = "Untriggered"
    TRIGGERED = "Triggered"
    FILLED = "Filled"
    CANCELLED = "Cancelled"
    PARTIALLY_FILLED_CANCELED = "PartiallyFilledCanceled"
    REJECTED = "Rejected"
    DEACTIVATED = "Deactivated"

    @property
    def is_open(self) -> bool:
        """Return whether the order can still trade or be amended/cancelled."""
        return self in _OPEN_STATUSES

    @property
    def is_terminal(self) -> bool:
        """Return whether no further transition is possible."""
        return self in _TERMINAL_STATUSES


_OPEN_STATUSES = frozenset(
    {
        OrderStatus.CREATED,
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.UNTRIGGERED,
        OrderStatus.TRIGGERED,
    }
)
_TERMINAL_STATUSES = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.PARTIALLY_FILLED_CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.DEACTIVATED,
    }
)

# Every status an order may report next, given the one it reported last (None: never reported).
# Self-loops on open statuses are amendments or further partial fills. A taker order that fills at
# once reports `Filled` without ever reporting `New`.
_ACTIVE_EXITS = frozenset(
    {
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.PARTIALLY_FILLED_CANCELED,
        OrderStatus.REJECTED,
    }
)
LEGAL_TRANSITIONS: dict[OrderStatus | None, frozenset[OrderStatus]] = {
    None: _ACTIVE_EXITS | {OrderStatus.CREATED, OrderStatus.UNTRIGGERED},
    OrderStatus.CREATED: _ACTIVE_EXITS
    | {OrderStatus.CREATED, OrderStatus.UNTRIGGERED, OrderStatus.DEACTIVATED},
    OrderStatus.NEW: frozenset(
        {
            OrderStatus.NEW,
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
        }
    ),
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.PARTIALLY_FILLED_CANCELED,
        }
    ),
    OrderStatus.UNTRIGGERED: frozenset(
        {
            OrderStatus.UNTRIGGERED,
            OrderStatus.TRIGGERED,
            OrderStatus.DEACTIVATED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
        }
    ),
    OrderStatus.TRIGGERED: _ACTIVE_EXITS,
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.PARTIALLY_FILLED_CANCELED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.DEACTIVATED: frozenset(),
}


def is_legal_transition(previous: OrderStatus | None, current: OrderStatus) -> bool:
    """Return whether an order that last reported `previous` may next report `current`."""
    return current in LEGAL_TRANSITIONS[previous]


def cancelled_status(category: Category, cum_exec_qty: Decimal) -> OrderStatus:
    """Return the status of an order cancelled after filling `cum_exec_qty` (spot has its own)."""
    if category is Category.SPOT and cum_exec_qty > 0:
        return OrderStatus.PARTIALLY_FILLED_CANCELED
    return OrderStatus.CANCELLED


class RejectReason(StrEnum):
    """The `rejectReason` values bst produces (Bybit's list is longer and open-ended)."""

    NO_ERROR = "EC_NoError"
    OTHERS = "EC_Others"
    DUPLICATED_CL_ORD_ID = "EC_DuplicatedClOrdID"
    ORIG_CL_ORD_ID_DOES_NOT_EXIST = "EC_OrigClOrdIDDoesNotExist"
    NO_ENOUGH_QTY_TO_FILL = "EC_NoEnoughQtyToFill"
    NO_IMMEDIATE_QTY_TO_FILL = "EC_NoImmediateQtyToFill"
    PER_CANCEL_REQUEST = "EC_PerCancelRequest"
    MARKET_ORDER_CANNOT_BE_POST_ONLY = "EC_MarketOrderCannotBePostOnly"
    POST_ONLY_WILL_TAKE_LIQUIDITY = "EC_PostOnlyWillTakeLiquidity"
    CANCEL_REPLACE_ORDER = "EC_CancelReplaceOrder"
    INVALID_SYMBOL_STATUS = "EC_InvalidSymbolStatus"
    CANCEL_FOR_NO_FULL_FILL = "EC_CancelForNoFullFill"
    QTY_CANNOT_BE_ZERO = "EC_QtyCannotBeZero"
    REACH_MAX_TRADE_NUM = "EC_ReachMaxTradeNum"


class CancelType(StrEnum):
    """The `cancelType` values bst produces; `UNKNOWN` on orders nobody cancelled."""

    UNKNOWN = "UNKNOWN"
    CANCEL_BY_USER = "CancelByUser"
    CANCEL_BY_REDUCE_ONLY = "CancelByReduceOnly"
    CANCEL_BY_PREPARE_LIQ = "CancelByPrepareLiq"
    CANCEL_ALL_BEFORE_LIQ = "CancelAllBeforeLiq"
    CANCEL_BY_ADMIN = "CancelByAdmin"
    CANCEL_BY_SETTLE = "CancelBySettle"
    CANCEL_BY_TPSL_TS_CLEAR = "CancelByTpSlTsClear"
    CANCEL_BY_SMP = "CancelBySmp"
    CANCEL_BY_DCP = "CancelByDCP"
    CANCEL_BY_CANNOT_AFFORD_ORDER_COST = "CancelByCannotAffordOrderCost"


class CreateType(StrEnum):
    """The `createType` values bst produces (`CreateByStopOrder`: a user's futures conditional order)."""

    CREATE_BY_USER = "CreateByUser"
    CREATE_BY_STOP_ORDER = "CreateByStopOrder"
    CREATE_BY_CLOSING = "CreateByClosing"
    CREATE_BY_TAKE_PROFIT = "CreateByTakeProfit"
    CREATE_BY_STOP_LOSS = "CreateByStopLoss"
    CREATE_BY_LIQ = "CreateByLiq"


class StopOrderType(StrEnum):
    """Bybit `stopOrderType`: `""` for plain orders (Bybit also prints `UNKNOWN`), `Stop` for a user's
    conditional order, `tpslOrder` for a spot TP/SL order, TakeProfit/StopLoss for position TP/SL."""

    NONE = ""
    STOP = "Stop"
    TPSL_ORDER = "tpslOrder"
    TAKE_PROFIT = "TakeProfit"
    STOP_LOSS = "StopLoss"


def trigger_direction_from(trigger: Decimal, current: Decimal) -> TriggerDirection:
    """Return the way the watched price must move from `current` to reach `trigger` (at it: RISE)."""
    return TriggerDirection.RISE if trigger >= current else TriggerDirection.FALL


def as_conditional(
    req: OrderRequest, trigger: Decimal, current: Decimal, by: TriggerBy = TriggerBy.LAST_PRICE
) -> OrderRequest:
    """Return `req` as an order that waits until the `by` price, now `current`, reaches `trigger`.

    Derivatives get the direction towards the trigger; spot becomes a StopOrder (spot watches the
    last price and Bybit derives the direction itself).
    """
    if req.category is Category.SPOT:
        return replace(req, trigger_price=trigger, order_filter=OrderFilter.STOP_ORDER)
    direction = trigger_direction_from(trigger, current)
    return replace(req, trigger_price=trigger, trigger_direction=direction, trigger_by=by)


def order_filter_of(stop_order_type: str) -> OrderFilter:
    """Return the `orderFilter` an order with this `stopOrderType` is listed and cancelled under."""
    if not stop_order_type or stop_order_type == "UNKNOWN":
        return OrderFilter.ORDER
    if stop_order_type == StopOrderType.TPSL_ORDER:
        return OrderFilter.TPSL_ORDER
    return OrderFilter.STOP_ORDER


class ExecType(StrEnum):
    """Bybit `execType`."""

    TRADE = "Trade"
    ADL_TRADE = "AdlTrade"
    FUNDING = "Funding"
    BUST_TRADE = "BustTrade"
    DELIVERY = "Delivery"
    SETTLE = "Settle"
    BLOCK_TRADE = "BlockTrade"
    MOVE_POSITION = "MovePosition"
    UNKNOWN = "UNKNOWN"


def check_order_link_id(order_link_id: str) -> str | None:
    """Return why `order_link_id` breaks Bybit's rule (1-36 of `[A-Za-z0-9_-]`), or None."""
    if _ORDER_LINK_ID_RE.fullmatch(order_link_id) is None:
        return (
            f"orderLinkId {order_link_id!r} is invalid: use 1-{ORDER_LINK_ID_MAX_LEN} "
            "letters, digits, '-' or '_'"
        )
    return None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a user asks `/v5/order/create` for.

    `qty` is in base coin, except spot market orders whose `market_unit` is quote coin (the default
    for spot market buys). `price` is required for limit orders and ignored for market orders.
    `take_profit`/`stop_loss` attach a full-position TP/SL (linear) once the order fills.
    A `trigger_price` makes it a conditional order: it waits (`Untriggered`) until the `trigger_by`
    price (default last price) rises (`trigger_direction` RISE) or falls to it, then becomes the market
    or limit order it describes. Linear conditional orders need a direction; spot ones need
    `order_filter` StopOrder or tpslOrder instead (their direction follows from the last price).
    """

    category: Category
    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    order_link_id: str = ""
    reduce_only: bool = False
    close_on_trigger: bool = False
    position_idx: int = 0
    market_unit: MarketUnit | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    trigger_price: Decimal | None = None
    trigger_direction: TriggerDirection | None = None
    trigger_by: TriggerBy | None = None
    order_filter: OrderFilter | None = None


@dataclass(frozen=True, slots=True)
class AmendRequest:
    """What a user asks `/v5/order/amend` for; `order_id` wins over `order_link_id` when both are set.

    `trigger_price`/`trigger_by` change a conditional order that has not triggered yet.
    """

    category: Category
    symbol: str
    order_id: str = ""
    order_link_id: str = ""
    qty: Decimal | None = None
    price: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    trigger_price: Decimal | None = None
    trigger_by: TriggerBy | None = None


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The synchronous reply of create/amend/cancel: ids only (the outcome arrives as order updates)."""

    order_id: str
    order_link_id: str


@dataclass(frozen=True, slots=True)
class Order:
    """One order as Bybit reports it (REST `/v5/order/*` and the private `order` topic).

    A conditional order carries `trigger_price`, `trigger_direction`, `trigger_by` and a non-empty
    `stop_order_type` (`Stop`, `tpslOrder`) from creation to the end, also after it triggered.
    Invariants: `cum_exec_qty + leaves_qty == qty` while the order is open (base-coin orders);
    `leaves_qty == 0` once it is terminal. `avg_price` is None until something filled.
    For spot market orders in quote coin, `qty` and `leaves_value` are quote amounts while
    `cum_exec_qty` is base coin.
    """

    order_id: str
    order_link_id: str
    category: Category
    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal
    qty: Decimal
    time_in_force: TimeInForce
    status: OrderStatus
    reject_reason: str
    cancel_type: str
    create_type: str
    avg_price: Decimal | None
    leaves_qty: Decimal
    leaves_value: Decimal
    cum_exec_qty: Decimal
    cum_exec_value: Decimal
    cum_exec_fee: Decimal
    fee_currency: str
    reduce_only: bool
    close_on_trigger: bool
    position_idx: int
    created_time_ms: int
    updated_time_ms: int
    market_unit: MarketUnit | None = None
    stop_order_type: str = ""
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    trigger_price: Decimal | None = None
    last_price_on_created: Decimal | None = None
    closed_pnl: Decimal = Decimal(0)
    trigger_direction: TriggerDirection | None = None
    trigger_by: TriggerBy | None = None

    @property
    def is_open(self) -> bool:
        """Return whether the order is still working."""
        return self.status.is_open


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill or funding settlement (REST `/v5/execution/list`, private `execution` topic).

    `exec_fee` is positive when the account pays it and negative when it receives it (maker rebates,
    funding received). For linear trades `closed_size` is the part that reduced the position and
    `exec_pnl` its realised price PnL before fees. Spot buys pay the fee in base coin, sells in quote.
    """

    exec_id: str
    order_id: str
    order_link_id: str
    category: Category
    symbol: str
    side: Side
    order_type: OrderType
    order_price: Decimal
    order_qty: Decimal
    leaves_qty: Decimal
    exec_type: ExecType
    exec_price: Decimal
    exec_qty: Decimal
    exec_value: Decimal
    exec_fee: Decimal
    fee_rate: Decimal
    fee_currency: str
    is_maker: bool
    closed_size: Decimal
    exec_pnl: Decimal
    exec_time_ms: int
    seq: int
    mark_price: Decimal | None = None
    create_type: str = CreateType.CREATE_BY_USER
    stop_order_type: str = ""
    market_unit: MarketUnit | None = None


Fill = Execution
"""A trade execution; the same record (`exec_type` Trade) under the name trading code uses."""


__all__ = [
    "LEGAL_TRANSITIONS",
    "ORDER_LINK_ID_MAX_LEN",
    "AmendRequest",
    "CancelType",
    "CreateType",
    "ExecType",
    "Execution",
    "Fill",
    "MarketUnit",
    "Order",
    "OrderAck",
    "OrderFilter",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "RejectReason",
    "StopOrderType",
    "TimeInForce",
    "TriggerBy",
    "TriggerDirection",
    "as_conditional",
    "cancelled_status",
    "check_order_link_id",
    "is_legal_transition",
    "order_filter_of",
    "trigger_direction_from",
]
