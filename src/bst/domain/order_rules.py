"""The order rules of an instrument, checked once for everyone, and order preparation for senders.

`check_order` (and its parts `check_price`, `check_qty`, `check_notional`, `check_tpsl`) returns
the first rule an order breaks as a typed `RuleViolation` (which rule, the value, the bound), or
None. Two callers turn it into their own answer:

- the client's local pre-check (`prepare_order`, used by the REST client, the execution policy, the
  CLI and the service) raises `OrderValidationError` with `violation.describe()`;
- the matching engine (`bst.engine.validation`) answers Bybit's retCode for the violation and the
  category (linear 110xxx/10001, spot 170xxx).

So the rules cannot drift apart: a limit changed here changes both. The checks are exact for any
Decimal, including non-finite and absurdly large ones, and never raise.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum

from bst.domain.errors import OrderValidationError
from bst.domain.instrument import Instrument, on_step
from bst.domain.market import Side
from bst.domain.numbers import MAX_INTEGER_DIGITS
from bst.domain.orders import MarketUnit, OrderRequest, OrderType, check_order_link_id


class OrderRule(StrEnum):
    """A rule of the instrument (or of the market's price band) an order can break."""

    QTY_INVALID = "qty_invalid"
    """Not a finite positive number."""
    QTY_OFF_STEP = "qty_off_step"
    QTY_BELOW_MIN = "qty_below_min"
    QTY_ABOVE_MAX = "qty_above_max"
    PRICE_INVALID = "price_invalid"
    """Not a finite positive number."""
    PRICE_OFF_TICK = "price_off_tick"
    PRICE_BELOW_MIN = "price_below_min"
    PRICE_ABOVE_MAX = "price_above_max"
    PRICE_BELOW_BAND = "price_below_band"
    """A sell limit too far below the reference price."""
    PRICE_ABOVE_BAND = "price_above_band"
    """A buy limit too far above the reference price."""
    NOTIONAL_BELOW_MIN = "notional_below_min"
    TAKE_PROFIT_OUT_OF_RANGE = "take_profit_out_of_range"
    """Negative, non-finite, or outside the instrument's price range."""
    STOP_LOSS_OUT_OF_RANGE = "stop_loss_out_of_range"
    TAKE_PROFIT_WRONG_SIDE = "take_profit_wrong_side"
    """A long's take profit not above its base price (a short's not below)."""
    STOP_LOSS_WRONG_SIDE = "stop_loss_wrong_side"


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """The first rule an order breaks: the value that broke it and the bound it crossed."""

    rule: OrderRule
    symbol: str
    value: Decimal
    limit: Decimal | None = None
    """The bound: min/max, step, band edge, or the TP/SL base price (None for QTY/PRICE_INVALID)."""
    side: Side | None = None
    """The order's side, for the band and TP/SL rules."""

    def describe(self) -> str:
        """Return one line for a person: what is wrong, with the values."""
        v, limit, symbol = _show(self.value), _show(self.limit), self.symbol
        long = self.side is not Side.SELL
        texts = {
            OrderRule.QTY_INVALID: f"quantity must be a positive number, got {v}",
            OrderRule.QTY_OFF_STEP: f"quantity {v} is not a multiple of the lot step {limit} for {symbol}",
            OrderRule.QTY_BELOW_MIN: f"quantity {v} is below the minimum {limit} for {symbol}",
            OrderRule.QTY_ABOVE_MAX: f"quantity {v} is above the maximum {limit} for {symbol}",
            OrderRule.PRICE_INVALID: f"price must be a positive number, got {v}",
            OrderRule.PRICE_OFF_TICK: f"price {v} is not a multiple of the tick size {limit} for {symbol}",
            OrderRule.PRICE_BELOW_MIN: f"price {v} is below the minimum {limit} for {symbol}",
            OrderRule.PRICE_ABOVE_MAX: f"price {v} is above the maximum {limit} for {symbol}",
            OrderRule.PRICE_BELOW_BAND: f"sell price {v} is below the allowed band (lowest {limit})",
            OrderRule.PRICE_ABOVE_BAND: f"buy price {v} is above the allowed band (highest {limit})",
            OrderRule.NOTIONAL_BELOW_MIN: (
                f"order value {v} is below the minimum notional {limit} for {symbol}"
            ),
            OrderRule.TAKE_PROFIT_OUT_OF_RANGE: f"take profit {v} is outside the price range of {symbol}",
            OrderRule.STOP_LOSS_OUT_OF_RANGE: f"stop loss {v} is outside the price range of {symbol}",
            OrderRule.TAKE_PROFIT_WRONG_SIDE: (
                f"take profit {v} of a {'buy' if long else 'sell'} must be "
                f"{'above' if long else 'below'} {limit}"
            ),
            OrderRule.STOP_LOSS_WRONG_SIDE: (
                f"stop loss {v} of a {'buy' if long else 'sell'} must be "
                f"{'below' if long else 'above'} {limit}"
            ),
        }
        return texts[self.rule]


def _show(value: Decimal | None) -> str:
    if value is None:
        return ""
    if not value.is_finite() or value.adjusted() >= MAX_INTEGER_DIGITS:
        return str(value)  # scientific notation keeps an absurd value short
    return format(value, "f")


def _positive(value: Decimal) -> bool:
    return value.is_finite() and value > 0


def check_price(
    instrument: Instrument,
    price: Decimal,
    *,
    side: Side | None = None,
    reference: Decimal | None = None,
    band_ratio: Decimal | None = None,
) -> RuleViolation | None:
    """Return why a limit `price` breaks the price filter (or the band around `reference`), or None.

    The band applies only to the aggressive direction: a buy above reference x (1 + ratio), a sell
    below reference x (1 - ratio).
    """
    symbol = instrument.symbol
    if not _positive(price):
        return RuleViolation(OrderRule.PRICE_INVALID, symbol, price)
    if not on_step(price, instrument.tick_size):
        return RuleViolation(OrderRule.PRICE_OFF_TICK, symbol, price, instrument.tick_size)
    if instrument.min_price > 0 and price < instrument.min_price:
        return RuleViolation(OrderRule.PRICE_BELOW_MIN, symbol, price, instrument.min_price)
    if instrument.max_price > 0 and price > instrument.max_price:
        return RuleViolation(OrderRule.PRICE_ABOVE_MAX, symbol, price, instrument.max_price)
    if side is not None and reference is not None and band_ratio is not None:
        if side is Side.BUY and price > (highest := reference * (1 + band_ratio)):
            return RuleViolation(OrderRule.PRICE_ABOVE_BAND, symbol, price, highest, side)
        if side is Side.SELL and price < (lowest := reference * (1 - band_ratio)):
            return RuleViolation(OrderRule.PRICE_BELOW_BAND, symbol, price, lowest, side)
    return None


def check_qty(instrument: Instrument, qty: Decimal, *, market: bool) -> RuleViolation | None:
    """Return why `qty` (base coin) breaks the lot filter, or None; market orders use maxMktOrderQty."""
    symbol = instrument.symbol
    if not _positive(qty):
        return RuleViolation(OrderRule.QTY_INVALID, symbol, qty)
    if not on_step(qty, instrument.qty_step):
        return RuleViolation(OrderRule.QTY_OFF_STEP, symbol, qty, instrument.qty_step)
    if instrument.min_qty > 0 and qty < instrument.min_qty:
        return RuleViolation(OrderRule.QTY_BELOW_MIN, symbol, qty, instrument.min_qty)
    limit = instrument.max_market_qty if market and instrument.max_market_qty > 0 else instrument.max_qty
    if limit > 0 and qty > limit:
        return RuleViolation(OrderRule.QTY_ABOVE_MAX, symbol, qty, limit)
    return None


def check_notional(instrument: Instrument, value: Decimal) -> RuleViolation | None:
    """Return why an order worth `value` (quote coin) is below the minimum notional, or None."""
    if instrument.min_notional > 0 and value < instrument.min_notional:
        return RuleViolation(OrderRule.NOTIONAL_BELOW_MIN, instrument.symbol, value, instrument.min_notional)
    return None


def _tpsl_in_range(instrument: Instrument, value: Decimal) -> bool:
    if not value.is_finite() or value < 0:
        return False
    if value == 0:
        return True  # 0 means "none" (and clears it on amend / trading-stop)
    if instrument.min_price > 0 and value < instrument.min_price:
        return False
    return not (instrument.max_price > 0 and value > instrument.max_price)


def check_tpsl(
    instrument: Instrument,
    side: Side,
    base: Decimal | None,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
) -> RuleViolation | None:
    """Return why a take profit / stop loss is absurd or on the wrong side of `base`, or None.

    `side` is the side of the position the TP/SL closes (an order's own side); `base` is the price it
    is judged against (the order's limit price, else the last or reference price; None skips the side
    rule). A value of 0 means none.
    """
    symbol = instrument.symbol
    if take_profit is not None and not _tpsl_in_range(instrument, take_profit):
        return RuleViolation(OrderRule.TAKE_PROFIT_OUT_OF_RANGE, symbol, take_profit, side=side)
    if stop_loss is not None and not _tpsl_in_range(instrument, stop_loss):
        return RuleViolation(OrderRule.STOP_LOSS_OUT_OF_RANGE, symbol, stop_loss, side=side)
    if base is None:
        return None
    long = side is Side.BUY
    if take_profit and (take_profit <= base if long else take_profit >= base):
        return RuleViolation(OrderRule.TAKE_PROFIT_WRONG_SIDE, symbol, take_profit, base, side)
    if stop_loss and (stop_loss >= base if long else stop_loss <= base):
        return RuleViolation(OrderRule.STOP_LOSS_WRONG_SIDE, symbol, stop_loss, base, side)
    return None


def check_order(
    instrument: Instrument,
    qty: Decimal,
    price: Decimal | None,
    *,
    side: Side,
    market: bool,
    reduce_only: bool = False,
    take_profit: Decimal | None = None,
    stop_loss: Decimal | None = None,
) -> RuleViolation | None:
    """Return the first instrument rule a base-coin order breaks, or None.

    Order of the checks (the engine's, so both report the same rule first): price, quantity,
    notional (skipped for reduce-only orders and market orders without a price), TP/SL.
    """
    if price is not None and (violation := check_price(instrument, price)) is not None:
        return violation
    if (violation := check_qty(instrument, qty, market=market)) is not None:
        return violation
    if price is not None and not reduce_only and (violation := check_notional(instrument, qty * price)):
        return violation
    return check_tpsl(instrument, side, price, take_profit, stop_loss)


# --- preparation for senders -------------------------------------------------------------------


def new_order_link_id(prefix: str = "bst") -> str:
    """Return a fresh orderLinkId (≤ 36 chars of [A-Za-z0-9_-])."""
    return f"{prefix}-{uuid.uuid4().hex}"[:36]


def prepare_order(req: OrderRequest, instrument: Instrument | None) -> OrderRequest:
    """Return `req` rounded to the instrument's grid with an orderLinkId; raise if it breaks a rule.

    Limit prices round toward the passive side (a buy down, a sell up), so rounding never makes an
    order more aggressive than asked; quantities round down to the lot step. The rounded order is
    then checked with `check_order`, the rules the exchange (and the engine) applies.
    """
    link_id = req.order_link_id or new_order_link_id()
    if (reason := check_order_link_id(link_id)) is not None:
        raise OrderValidationError(reason)
    if req.order_type is OrderType.LIMIT and req.price is None:
        raise OrderValidationError("a limit order needs a price")
    if not _positive(req.qty):
        raise OrderValidationError(f"order refused before sending: quantity must be positive, got {req.qty}")
    if instrument is None:
        return dataclasses.replace(req, order_link_id=link_id)
    if instrument.symbol != req.symbol:
        raise OrderValidationError(f"instrument {instrument.symbol} does not match order symbol {req.symbol}")
    qty = req.qty
    quote_market = req.market_unit is MarketUnit.QUOTE_COIN
    if not quote_market:
        qty = instrument.round_qty(req.qty)
        if qty < instrument.min_qty:
            raise OrderValidationError(
                f"order refused before sending: quantity {req.qty} rounds to {qty} at lot step "
                f"{instrument.qty_step}, below the minimum {instrument.min_qty} for {instrument.symbol}"
            )
    price = req.price if req.order_type is OrderType.LIMIT else None
    if price is not None and price.is_finite():
        price = instrument.round_price(price, ROUND_DOWN if req.side is Side.BUY else ROUND_UP)
    violation = None
    if not quote_market:  # a quote-coin amount has no lot rules; the exchange checks its value
        violation = check_order(
            instrument,
            qty,
            price,
            side=req.side,
            market=req.order_type is OrderType.MARKET,
            reduce_only=req.reduce_only,
            take_profit=req.take_profit,
            stop_loss=req.stop_loss,
        )
    if violation is not None:
        raise OrderValidationError(f"order refused before sending: {violation.describe()}")
    kept_price = price if price is not None else req.price
    return dataclasses.replace(req, qty=qty, price=kept_price, order_link_id=link_id)


__all__ = [
    "OrderRule",
    "RuleViolation",
    "check_notional",
    "check_order",
    "check_price",
    "check_qty",
    "check_tpsl",
    "new_order_link_id",
    "prepare_order",
]
