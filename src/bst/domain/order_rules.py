"""Order preparation: an order request put on the instrument's grid and checked against its rules.

Shared by every path that sends orders (the REST client's local pre-check, the execution policy, the
CLI and the service), so an order that breaks a rule is refused the same way, before anything is sent.
"""

from __future__ import annotations

import dataclasses
import uuid
from decimal import ROUND_DOWN, ROUND_UP

from bst.domain.errors import OrderValidationError
from bst.domain.instrument import Instrument
from bst.domain.market import Side
from bst.domain.orders import MarketUnit, OrderRequest, OrderType, check_order_link_id


def new_order_link_id(prefix: str = "bst") -> str:
    """Return a fresh orderLinkId (≤ 36 chars of [A-Za-z0-9_-])."""
    return f"{prefix}-{uuid.uuid4().hex}"[:36]


def prepare_order(req: OrderRequest, instrument: Instrument | None) -> OrderRequest:
    """Return `req` rounded to the instrument's grid with an orderLinkId; raise if it breaks limits.

    Limit prices round toward the passive side (a buy down, a sell up), so rounding never makes an
    order more aggressive than asked; quantities round down to the lot step.
    """
    link_id = req.order_link_id or new_order_link_id()
    if (reason := check_order_link_id(link_id)) is not None:
        raise OrderValidationError(reason)
    if req.order_type is OrderType.LIMIT and req.price is None:
        raise OrderValidationError("a limit order needs a price")
    if instrument is None:
        return dataclasses.replace(req, order_link_id=link_id)
    if instrument.symbol != req.symbol:
        raise OrderValidationError(f"instrument {instrument.symbol} does not match order symbol {req.symbol}")
    qty = req.qty
    quote_market = req.market_unit is not None and req.market_unit is MarketUnit.QUOTE_COIN
    if not quote_market:
        qty = instrument.round_qty(req.qty)
        if qty < instrument.min_qty:
            raise OrderValidationError(
                f"order refused before sending: quantity {req.qty} rounds to {qty} at lot step "
                f"{instrument.qty_step}, below the minimum {instrument.min_qty} for {instrument.symbol}"
            )
    price = req.price
    if req.order_type is OrderType.LIMIT and price is not None:
        price = instrument.round_price(price, ROUND_DOWN if req.side is Side.BUY else ROUND_UP)
    if not quote_market:
        reason = instrument.check_order(qty, price, market=req.order_type is OrderType.MARKET)
        if reason is not None:
            raise OrderValidationError(f"order refused before sending: {reason}")
    return dataclasses.replace(req, qty=qty, price=price, order_link_id=link_id)
