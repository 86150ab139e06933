"""Conditional orders at request time: Bybit's checks on trigger parameters (create and amend).

Linear: `triggerDirection` is required (1 rise, 2 fall); `triggerBy` defaults to LastPrice; a trigger
already on the wrong side of the watched price is refused (110092 rising / 110093 falling, Bybit's
texts with plain prices); at most 10 untriggered orders per symbol (110009). The order reports
`stopOrderType` Stop and `createType` CreateByStopOrder.
Spot: `orderFilter` StopOrder (holds nothing until triggered) or tpslOrder (holds its coin from the
start) is required with a trigger price (170201 otherwise); spot ignores `triggerDirection`/`triggerBy`
(Bybit: valid for linear/inverse only): the order watches the last price and its direction is where
the trigger lies from it (at the last price itself it fires at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bst.bybit.retcodes import RetCode
from bst.domain.market import Category, Side
from bst.domain.order_rules import check_notional, check_qty
from bst.domain.orders import (
    AmendRequest,
    CreateType,
    OrderFilter,
    OrderRequest,
    OrderType,
    StopOrderType,
    TriggerBy,
    TriggerDirection,
    trigger_direction_from,
)
from bst.engine.accounts import Account
from bst.engine.matching import quote_sell_base
from bst.engine.validation import (
    UNCHANGED_MSG,
    _check,
    _check_price,
    check_position_tpsl,
    check_spot_balance,
    prepare_amend,
)
from bst.engine.venue import SymbolState, Venue, fail
from bst.engine.working import WorkingOrder

MAX_UNTRIGGERED_PER_SYMBOL = 10
"""Bybit's cap on a derivatives account's active conditional orders per symbol."""


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """The effective trigger of an accepted conditional order."""

    trigger_price: Decimal
    direction: TriggerDirection
    trigger_by: TriggerBy
    stop_order_type: StopOrderType
    create_type: CreateType

    def apply_to(self, order: WorkingOrder) -> None:
        """Make a new working order this conditional order (awaiting its trigger)."""
        order.trigger_price = self.trigger_price
        order.trigger_direction = self.direction
        order.trigger_by = self.trigger_by
        order.stop_order_type = self.stop_order_type
        order.create_type = self.create_type
        order.awaiting_trigger = True


def _check_trigger_price(sym: SymbolState, trigger: Decimal) -> None:
    """Check a trigger price like a limit price (positive, tick grid, instrument range), without band."""
    spot = sym.spec.category is Category.SPOT
    instrument = sym.spec.instrument
    if not trigger.is_finite() or trigger <= 0:
        fail(RetCode.PARAMS_ERROR, f"params error: triggerPrice must be a positive price, got {trigger}")
    tick = instrument.tick_size
    if tick > 0 and trigger % tick != 0:
        if spot:
            fail(RetCode.SPOT_PRICE_DECIMALS, "Order price decimal too long.")
        fail(
            RetCode.PARAMS_ERROR, f"params error: triggerPrice {trigger} is not a multiple of tickSize {tick}"
        )
    too_low = instrument.min_price > 0 and trigger < instrument.min_price
    too_high = instrument.max_price > 0 and trigger > instrument.max_price
    if too_low or too_high:
        if spot:
            fail(
                RetCode.SPOT_PRICE_TOO_HIGH if too_high else RetCode.SPOT_PRICE_TOO_LOW,
                "Order price out of permissible range.",
            )
        fail(
            RetCode.PARAMS_ERROR,
            f"params error: triggerPrice {trigger} is outside [{instrument.min_price}, "
            f"{instrument.max_price}]",
        )


def check_trigger_side(
    sym: SymbolState, direction: TriggerDirection, by: TriggerBy, trigger: Decimal
) -> None:
    """Fail with 110092/110093 when the watched price already is at or beyond the trigger."""
    current = sym.watched_price(by)
    if current is None:
        return  # nothing to compare with yet: the first price decides
    if direction is TriggerDirection.RISE and trigger <= current:
        fail(
            RetCode.TRIGGER_EXPECT_RISING,
            f"expect Rising, but trigger_price[{trigger}] <= current[{current}]??{by}",
        )
    if direction is TriggerDirection.FALL and trigger >= current:
        fail(
            RetCode.TRIGGER_EXPECT_FALLING,
            f"expect Falling, but trigger_price[{trigger}] >= current[{current}]??{by}",
        )


def spot_direction(sym: SymbolState, trigger: Decimal) -> TriggerDirection:
    """Return where a spot trigger lies from the last price (at it: RISE, so it fires at once)."""
    current = sym.last_price if sym.last_price is not None else sym.reference_price()
    if current is None:
        fail(RetCode.PARAMS_ERROR, "params error: no market price yet to place a trigger order against")
    return trigger_direction_from(trigger, current)


def prepare_trigger(account: Account, sym: SymbolState, request: OrderRequest) -> TriggerSpec | None:
    """Check a create request's trigger parameters; return the trigger, or None for a plain order."""
    spot = sym.spec.category is Category.SPOT
    trigger = request.trigger_price
    order_filter = request.order_filter or OrderFilter.ORDER
    if trigger is None:
        if spot and order_filter is not OrderFilter.ORDER:
            fail(
                RetCode.PARAMS_ERROR, f"params error: triggerPrice is required for orderFilter {order_filter}"
            )
        return None
    _check_trigger_price(sym, trigger)
    if spot:
        if order_filter is OrderFilter.ORDER:
            fail(RetCode.SPOT_INVALID_ORDER_FILTER, "Invalid orderFilter parameter")
        kind = StopOrderType.TPSL_ORDER if order_filter is OrderFilter.TPSL_ORDER else StopOrderType.STOP
        return TriggerSpec(
            trigger, spot_direction(sym, trigger), TriggerBy.LAST_PRICE, kind, CreateType.CREATE_BY_USER
        )
    direction = request.trigger_direction
    if direction is None:
        fail(
            RetCode.PARAMS_ERROR,
            "params error: triggerDirection is required for a conditional order: 1 (rise) or 2 (fall)",
        )
    by = request.trigger_by or TriggerBy.LAST_PRICE
    check_trigger_side(sym, direction, by, trigger)
    waiting = sum(
        1
        for o in account.open_orders.values()
        if o.awaiting_trigger and o.category is request.category and o.symbol == request.symbol
    )
    if waiting >= MAX_UNTRIGGERED_PER_SYMBOL:
        fail(RetCode.TOO_MANY_STOP_ORDERS, "The number of stop orders exceeds the maximum allowable limit")
    return TriggerSpec(trigger, direction, by, StopOrderType.STOP, CreateType.CREATE_BY_STOP_ORDER)


@dataclass(frozen=True, slots=True)
class TriggerAmend:
    """What an accepted amendment of an untriggered order changes about its trigger."""

    trigger_price: Decimal | None
    trigger_by: TriggerBy | None
    direction: TriggerDirection | None


def prepare_untriggered_amend(
    venue: Venue, account: Account, order: WorkingOrder, request: AmendRequest
) -> TriggerAmend:
    """Check an amendment of an order that has not triggered (qty, price, trigger, TP/SL)."""
    sym = venue.sym_of(order)
    spot = order.category is Category.SPOT
    market = order.order_type is OrderType.MARKET
    requested = (
        request.qty,
        request.price,
        request.take_profit,
        request.stop_loss,
        request.trigger_price,
        request.trigger_by,
    )
    if all(value is None for value in requested):
        fail(
            RetCode.PARAMS_ERROR,
            "nothing to amend: pass qty, price, triggerPrice, triggerBy, takeProfit or stopLoss",
        )
    if market and request.price is not None:
        fail(RetCode.PARAMS_ERROR, "params error: a market conditional order has no price to amend")
    assert order.trigger_price is not None  # untriggered orders are conditional
    trigger = request.trigger_price if request.trigger_price is not None else order.trigger_price
    by = order.trigger_by or TriggerBy.LAST_PRICE
    if request.trigger_by is not None and not spot:  # spot always watches the last price
        by = request.trigger_by
    direction = order.trigger_direction or TriggerDirection.RISE
    if request.trigger_price is not None:
        _check_trigger_price(sym, trigger)
    if spot and request.trigger_price is not None:
        direction = spot_direction(sym, trigger)
    elif not spot and (request.trigger_price is not None or request.trigger_by is not None):
        check_trigger_side(sym, direction, by, trigger)
    qty = request.qty if request.qty is not None else order.qty
    if request.qty is not None:
        if order.quote_sized:
            if qty <= 0:
                fail(RetCode.SPOT_QTY_TOO_LOW, f"qty must be positive, got {qty}")
        else:
            _check(check_qty(sym.spec.instrument, qty, market=market), sym.spec.instrument)
    price = request.price if request.price is not None else order.price
    if request.price is not None:
        _check_price(sym, order.side, request.price, around=trigger)
    if request.take_profit is not None or request.stop_loss is not None:
        if spot or order.reduce_only:
            fail(RetCode.PARAMS_ERROR, "takeProfit/stopLoss cannot be set on this order")
        base = price if price is not None else trigger
        check_position_tpsl(sym, order.side, base, request.take_profit, request.stop_loss)
    unchanged = (
        qty == order.qty
        and price == order.price
        and trigger == order.trigger_price
        and by == order.trigger_by
        and request.take_profit in (None, order.take_profit)
        and request.stop_loss in (None, order.stop_loss)
    )
    if unchanged:
        fail(RetCode.PARAMS_ERROR, UNCHANGED_MSG)
    if not order.reduce_only and not order.quote_sized:
        value = qty * (price if price is not None else trigger)
        _check(check_notional(sym.spec.instrument, value), sym.spec.instrument)
    # A spot TP/SL order holds its coin before it triggers (a market one at its trigger price).
    if order.holds_funds and spot:
        lock_price = price if price is not None else trigger
        if order.side is Side.SELL:
            need = (
                quote_sell_base(qty, lock_price, sym.spec.instrument.qty_step) if order.quote_sized else qty
            )
        else:
            need = qty if order.quote_sized else qty * lock_price
        extra = need - order.lock
        if extra > 0:
            check_spot_balance(venue, account, sym, order.side, extra)
    return TriggerAmend(
        trigger if trigger != order.trigger_price else None,
        by if by != order.trigger_by else None,
        direction if direction != order.trigger_direction else None,
    )


def check_amend(venue: Venue, account: Account, order: WorkingOrder, request: AmendRequest) -> TriggerAmend:
    """Check any amendment; return its trigger changes (none for an order that is not waiting)."""
    if order.awaiting_trigger:
        return prepare_untriggered_amend(venue, account, order, request)
    if request.trigger_price is not None or request.trigger_by is not None:
        fail(
            RetCode.PARAMS_ERROR,
            "params error: triggerPrice/triggerBy can only change before a conditional order triggers",
        )
    prepare_amend(venue, account, order, request)
    return TriggerAmend(None, None, None)
