"""Synchronous request checks, with the retCodes Bybit answers (raised as bst's Bybit errors).

The instrument's order rules are the domain's (`bst.domain.order_rules`, shared with the client's
pre-check); `refuse` maps a broken rule to Bybit's code, which differs by category (derivatives
110xxx/10001, spot 170xxx). The checks that need the account or the book (balance, open orders,
reduce-only, duplicates) live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NoReturn

from bst.bybit.retcodes import SYMBOL_INVALID_MSG, RetCode
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Side
from bst.domain.order_rules import (
    OrderRule,
    RuleViolation,
    check_notional,
    check_price,
    check_qty,
    check_tpsl,
)
from bst.domain.orders import (
    AmendRequest,
    MarketUnit,
    OrderFilter,
    OrderRequest,
    OrderType,
    TimeInForce,
    check_order_link_id,
)
from bst.domain.portfolio import order_cost
from bst.engine.accounts import Account, margin_summary, spot_available
from bst.engine.matching import quote_sell_base
from bst.engine.venue import SymbolState, Venue, fail
from bst.engine.working import WorkingOrder

_ZERO = Decimal(0)
UNCHANGED_MSG = "The order remains unchanged as the parameters entered match the existing ones"


@dataclass(frozen=True, slots=True)
class PreparedOrder:
    """A create request that passed every check, with its effective parameters."""

    sym: SymbolState
    tif: TimeInForce
    price: Decimal | None
    market_unit: MarketUnit | None


def symbol_of(venue: Venue, category: Category, symbol: str) -> SymbolState:
    """Return the symbol's state, or fail with 10001 `symbol invalid`."""
    sym = venue.symbols.get((category, symbol))
    if sym is None:
        fail(RetCode.PARAMS_ERROR, SYMBOL_INVALID_MSG)
    return sym


def refuse(violation: RuleViolation, instrument: Instrument) -> NoReturn:
    """Raise the error Bybit answers for a broken order rule of `instrument` (spot: 170xxx)."""
    spot = instrument.category is Category.SPOT
    rule, value, limit = violation.rule, _plain(violation.value), _plain(violation.limit)
    if rule is OrderRule.PRICE_INVALID:
        fail(RetCode.PARAMS_ERROR, f"params error: price invalid: must be positive, got {value}")
    if rule is OrderRule.PRICE_OFF_TICK:
        if spot:
            fail(RetCode.SPOT_PRICE_DECIMALS, "Order price decimal too long.")
        fail(RetCode.PARAMS_ERROR, f"price {value} is not a multiple of tickSize {limit}")
    if rule in (OrderRule.PRICE_ABOVE_MAX, OrderRule.PRICE_ABOVE_BAND):
        if spot:
            fail(RetCode.SPOT_PRICE_TOO_HIGH, "Order price out of permissible range.")
        fail(RetCode.PRICE_OUT_OF_RANGE, f"Order price {value} is out of permissible range")
    if rule in (OrderRule.PRICE_BELOW_MIN, OrderRule.PRICE_BELOW_BAND):
        if spot:
            fail(RetCode.SPOT_PRICE_TOO_LOW, "Order price out of permissible range.")
        fail(RetCode.PRICE_OUT_OF_RANGE, f"Order price {value} is out of permissible range")
    if rule is OrderRule.QTY_INVALID:
        if spot:
            fail(RetCode.SPOT_QTY_TOO_LOW, "Order quantity lower than the minimum.")
        fail(RetCode.PARAMS_ERROR, f"params error: qty invalid: must be positive, got {value}")
    if rule is OrderRule.QTY_OFF_STEP:
        if spot:
            fail(RetCode.SPOT_QTY_DECIMALS, "Order volume decimal too long.")
        fail(RetCode.PARAMS_ERROR, f"qty {value} is not a multiple of qtyStep {limit}")
    if rule is OrderRule.QTY_BELOW_MIN:
        if spot:
            fail(RetCode.SPOT_QTY_TOO_LOW, "Order quantity lower than the minimum.")
        fail(RetCode.PARAMS_ERROR, "The number of contracts exceeds minimum limit allowed")
    if rule is OrderRule.QTY_ABOVE_MAX:
        if spot:
            fail(RetCode.SPOT_QTY_TOO_HIGH, "Order quantity too large.")
        fail(
            RetCode.PARAMS_ERROR,
            f"The number of contracts exceeds maximum limit allowed: too large, "
            f"order_qty:{value} > max_qty:{limit}",
        )
    if rule is OrderRule.NOTIONAL_BELOW_MIN:
        if spot:
            fail(RetCode.SPOT_VALUE_BELOW_MIN, "Order value exceeded lower limit.")
        fail(
            RetCode.NOTIONAL_BELOW_MIN,
            f"Order does not meet minimum order value {limit}{instrument.settle_coin}",
        )
    side = violation.side.value if violation.side is not None else ""
    if rule is OrderRule.TAKE_PROFIT_OUT_OF_RANGE:
        fail(RetCode.PARAMS_ERROR, f"params error: takeProfit invalid: {value} is out of permissible range")
    if rule is OrderRule.STOP_LOSS_OUT_OF_RANGE:
        fail(RetCode.PARAMS_ERROR, f"params error: stopLoss invalid: {value} is out of permissible range")
    long = violation.side is not Side.SELL
    if rule is OrderRule.TAKE_PROFIT_WRONG_SIDE:
        direction = "higher" if long else "lower"
        fail(
            RetCode.PARAMS_ERROR,
            f"TakeProfit:{value} set for {side} position should be {direction} than {limit}",
        )
    direction = "lower" if long else "higher"
    fail(RetCode.PARAMS_ERROR, f"StopLoss:{value} set for {side} position should be {direction} than {limit}")


def _plain(value: Decimal | None) -> str:
    # Bybit prints plain digits; an absurd magnitude stays in short scientific form.
    if value is None:
        return ""
    if not value.is_finite() or abs(value.adjusted()) > 30:
        return str(value)
    return format(value, "f")


def _check(violation: RuleViolation | None, instrument: Instrument) -> None:
    if violation is not None:
        refuse(violation, instrument)


def _check_price(sym: SymbolState, side: Side, price: Decimal, around: Decimal | None = None) -> None:
    """Check a limit price; the band lies around `around` (a conditional order's trigger price),
    else around the reference price."""
    spec = sym.spec
    violation = check_price(
        spec.instrument,
        price,
        side=side,
        reference=around if around is not None else sym.reference_price(),
        band_ratio=spec.limit_price_band_ratio,
    )
    _check(violation, spec.instrument)


def check_position_tpsl(
    sym: SymbolState, side: Side, base: Decimal | None, take_profit: Decimal | None, stop_loss: Decimal | None
) -> None:
    """Fail with 10001 when a TP/SL is absurd or on the wrong side of `base` for a `side` position."""
    instrument = sym.spec.instrument
    _check(check_tpsl(instrument, side, base, take_profit, stop_loss), instrument)


def check_linear_margin(
    venue: Venue,
    account: Account,
    symbol: str,
    side: Side,
    add: tuple[Decimal, Decimal],
    remove: tuple[Decimal, Decimal] | None = None,
) -> None:
    """Fail with 110007 when open orders changed by `add` (and `remove`) as (qty, price) overdraw.

    Orders that only close the position add no order margin and always pass. The added order's own
    cost bounds how much the (larger-side) order margin can grow, so a comfortable balance is settled
    without the second summary.
    """
    before = margin_summary(account, venue)
    taker, _ = account.fees.rates(Category.LINEAR, symbol)
    own_cost = order_cost(side, add[0], add[1], account.leverage_of(symbol), taker) if add[0] > 0 else None
    if own_cost is not None and before.available >= own_cost:
        return
    existed = symbol in account.exposure
    exposure = account.exposure_of(symbol)
    changes = [add] if remove is None else [add, (-remove[0], remove[1])]
    for qty, price in changes:
        exposure.add(side, qty, price)
    try:
        after = margin_summary(account, venue)
    finally:
        for qty, price in changes:
            exposure.add(side, -qty, price)
        if not existed:
            del account.exposure[symbol]
    if after.order_im > before.order_im and after.available < 0:
        fail(RetCode.AVAILABLE_BALANCE_INSUFFICIENT, "ab not enough for new order")


def check_spot_balance(venue: Venue, account: Account, sym: SymbolState, side: Side, need: Decimal) -> None:
    """Fail with 170131 when the account cannot lock `need` of the coin a spot order spends."""
    instrument = sym.spec.instrument
    coin = instrument.quote_coin if side is Side.BUY else instrument.base_coin
    if need > spot_available(account, coin, venue):
        fail(RetCode.SPOT_BALANCE_INSUFFICIENT, "Insufficient balance.")


def prepare_create(
    venue: Venue, account: Account, request: OrderRequest, protected: Decimal | None
) -> PreparedOrder:
    """Check a create request; return its effective parameters or fail with Bybit's retCode.

    `protected` is the market order's slippage-protected price (ignored for limit orders).
    """
    sym = symbol_of(venue, request.category, request.symbol)
    category = request.category
    spot = category is Category.SPOT
    instrument = sym.spec.instrument
    if instrument.status and instrument.status != "Trading":
        fail(RetCode.PARAMS_ERROR, f"symbol {request.symbol} is not trading (status {instrument.status})")
    if request.position_idx != 0:
        fail(RetCode.PARAMS_ERROR, "position idx not match position mode")
    if request.order_link_id:
        problem = check_order_link_id(request.order_link_id)
        if problem:
            fail(RetCode.PARAMS_ERROR, problem)
        if f"{category}:{request.order_link_id}" in account.links:
            if spot:
                fail(RetCode.SPOT_DUPLICATE_ORDER_LINK_ID, "Duplicate clientOrderId.")
            fail(RetCode.DUPLICATE_ORDER_LINK_ID, "OrderLinkedID is duplicate")
    if request.time_in_force is TimeInForce.RPI:
        fail(RetCode.PARAMS_ERROR, "timeInForce RPI is reserved for market makers")
    if spot and request.reduce_only:
        fail(RetCode.PARAMS_ERROR, "reduceOnly is not supported for spot")
    if spot and (request.take_profit is not None or request.stop_loss is not None):
        fail(RetCode.PARAMS_ERROR, "takeProfit/stopLoss on spot orders are not supported by the simulator")
    if request.reduce_only and (request.take_profit is not None or request.stop_loss is not None):
        fail(RetCode.PARAMS_ERROR, "reduce-only orders cannot carry takeProfit/stopLoss")
    market = request.order_type is OrderType.MARKET
    # A conditional order is checked against its trigger price and holds nothing until it triggers,
    # except a spot TP/SL order (Bybit: "the assets are occupied even before the order is triggered").
    trigger = request.trigger_price
    if request.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        fail(RetCode.PARAMS_ERROR, f"orderType {request.order_type} is invalid")
    unit: MarketUnit | None = None
    if market:
        tif = TimeInForce.FOK if request.time_in_force is TimeInForce.FOK else TimeInForce.IOC
        price = protected if trigger is None else None
        if spot:
            default = MarketUnit.QUOTE_COIN if request.side is Side.BUY else MarketUnit.BASE_COIN
            unit = request.market_unit or default
    else:
        tif = request.time_in_force or TimeInForce.GTC
        if request.price is None:
            fail(RetCode.PARAMS_ERROR, "price is required for limit orders")
        price = request.price
        _check_price(sym, request.side, price, around=trigger)
    if unit is MarketUnit.QUOTE_COIN:
        if not (request.qty.is_finite() and request.qty > 0):
            refuse(RuleViolation(OrderRule.QTY_INVALID, request.symbol, request.qty), instrument)
        value = request.qty
    else:
        _check(check_qty(instrument, request.qty, market=market), instrument)
        reference = price if price is not None else (trigger or sym.reference_price())
        value = request.qty * reference if reference is not None else _ZERO
    if not request.reduce_only and (value > 0 or unit is MarketUnit.QUOTE_COIN):
        _check(check_notional(instrument, value), instrument)
    if account.open_count(category, request.symbol) >= venue.config.max_open_orders_per_symbol:
        fail(RetCode.TOO_MANY_ACTIVE_ORDERS, "Exceeded the maximum number of active orders")
    if request.reduce_only:
        position = account.positions.get(request.symbol)
        size = position.size if position is not None else _ZERO
        closable = -size if request.side is Side.BUY else size
        if closable <= 0:
            fail(RetCode.REDUCE_ONLY_NOT_SATISFIED, "Reduce-only rule not satisfied")
    base = price if not market else (trigger or sym.reference_price())
    check_position_tpsl(sym, request.side, base, request.take_profit, request.stop_loss)
    if spot and (trigger is None or request.order_filter is OrderFilter.TPSL_ORDER):
        lock_price = price if price is not None else trigger  # a waiting market order: its trigger
        if request.side is Side.BUY:
            need = request.qty if unit is MarketUnit.QUOTE_COIN else request.qty * (lock_price or _ZERO)
        elif unit is MarketUnit.QUOTE_COIN:
            need = quote_sell_base(request.qty, lock_price, instrument.qty_step)
        else:
            need = request.qty
        check_spot_balance(venue, account, sym, request.side, need)
    return PreparedOrder(sym, tif, price, unit)


def find_open_order(
    venue: Venue,
    account: Account,
    category: Category,
    symbol: str,
    order_id: str,
    order_link_id: str,
    verb: str,
) -> WorkingOrder:
    """Return the open order named by id (orderId wins) or fail with 110001 / 170213."""
    if not order_id and not order_link_id:
        fail(RetCode.PARAMS_ERROR, "orderId or orderLinkId is required")
    if not order_id:
        order_id = account.links.get(f"{category}:{order_link_id}", "")
    order = account.open_orders.get(order_id)
    if order is None or order.symbol != symbol or order.category is not category:
        if category is Category.SPOT:
            fail(RetCode.SPOT_ORDER_NOT_EXISTS, "Order does not exist.")
        fail(RetCode.ORDER_NOT_EXISTS, f"order not exists or too late to {verb}")
    return order


def prepare_amend(venue: Venue, account: Account, order: WorkingOrder, request: AmendRequest) -> None:
    """Check an amendment of an open order; fail with Bybit's retCode when it is not allowed."""
    sym = venue.sym_of(order)
    if (
        request.qty is None
        and request.price is None
        and request.take_profit is None
        and request.stop_loss is None
    ):
        fail(RetCode.PARAMS_ERROR, "nothing to amend: pass qty, price, takeProfit or stopLoss")
    if order.order_type is OrderType.MARKET:
        fail(RetCode.PARAMS_ERROR, "market orders cannot be amended")
    qty = request.qty if request.qty is not None else order.qty
    price = request.price if request.price is not None else order.price
    assert price is not None  # limit orders always carry a price
    if request.price is not None:
        _check_price(sym, order.side, price)
    if request.qty is not None:
        _check(check_qty(sym.spec.instrument, qty, market=False), sym.spec.instrument)
        if qty <= order.cum_qty:
            fail(RetCode.PARAMS_ERROR, f"qty {qty} must exceed the filled qty {order.cum_qty}")
    if request.take_profit is not None or request.stop_loss is not None:
        if order.category is Category.SPOT or order.reduce_only:
            fail(RetCode.PARAMS_ERROR, "takeProfit/stopLoss cannot be set on this order")
        check_position_tpsl(sym, order.side, price, request.take_profit, request.stop_loss)
    unchanged = (
        qty == order.qty
        and price == order.price
        and request.take_profit in (None, order.take_profit)
        and request.stop_loss in (None, order.stop_loss)
    )
    if unchanged:
        fail(RetCode.PARAMS_ERROR, UNCHANGED_MSG)
    if not order.reduce_only:
        _check(check_notional(sym.spec.instrument, qty * price), sym.spec.instrument)
    leaves = qty - order.cum_qty
    if order.category is Category.LINEAR:
        if not order.reduce_only and order.price is not None:
            check_linear_margin(
                venue, account, order.symbol, order.side, (leaves, price), (order.leaves_qty, order.price)
            )
    elif order.is_buy:
        extra = leaves * price - order.lock
        if extra > 0:
            check_spot_balance(venue, account, sym, order.side, extra)
    else:
        extra = leaves - order.lock
        if extra > 0:
            check_spot_balance(venue, account, sym, order.side, extra)
