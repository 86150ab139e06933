"""Trading use cases: orders from user input, prepared on the instrument's grid, and account reads.

Order entry: `parse_order` turns typed-in text into an `OrderRequest` (numbers exact, symbol as
Bybit spells it); `place_order` checks the mainnet guard's permit, fetches the instrument, prepares
the order with `bst.domain.order_rules.prepare_order` (rounded, rule-checked, orderLinkId set)
and sends it through the execution policy (`bst.trading.execution`): a lost reply is settled by
looking the order up, never by a blind re-send, and an outcome it cannot establish is raised
(`outcome_unknown`), never guessed. Amend and cancel go the same way. Reads (`orders`,
`positions`, `wallet`) need credentials but no permit.
"""

from __future__ import annotations

from dataclasses import dataclass

from bst.app.guards import TradingPermit, require_credentials
from bst.app.venues import BybitRestClient, rest_client
from bst.domain.errors import ConfigError, InvalidInputError
from bst.domain.market import Category, Side, parse_symbol
from bst.domain.numbers import parse_amount
from bst.domain.order_rules import prepare_order
from bst.domain.orders import (
    AmendRequest,
    Order,
    OrderRequest,
    OrderType,
    TimeInForce,
    TriggerBy,
    as_conditional,
)
from bst.domain.portfolio import Position, WalletBalance
from bst.settings import Settings
from bst.trading.execution import ExecutionPolicy
from bst.trading.order_tracker import OrderTracker


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """An accepted order: its ids and, when the exchange already lists it, its state."""

    request: OrderRequest
    order_id: str
    order_link_id: str
    order: Order | None


def parse_time_in_force(text: str) -> TimeInForce:
    """Return the time in force named `text` (any case), or raise ConfigError."""
    for tif in TimeInForce:
        if tif.value.lower() == text.strip().lower():
            return tif
    raise InvalidInputError(f"invalid --tif {text!r}: use GTC, IOC, FOK or PostOnly")


TRIGGER_BY = {"last": TriggerBy.LAST_PRICE, "mark": TriggerBy.MARK_PRICE, "index": TriggerBy.INDEX_PRICE}
"""The `--trigger-by` names and the price each watches."""


def parse_trigger_by(text: str) -> TriggerBy:
    """Return the price a trigger watches, named `last`, `mark` or `index`; ConfigError otherwise."""
    found = TRIGGER_BY.get(text.strip().lower())
    if found is None:
        raise InvalidInputError(f"invalid --trigger-by {text!r}: use last, mark or index")
    return found


def parse_order(
    side: Side,
    symbol: str,
    qty: str,
    *,
    limit: str | None = None,
    tif: str | None = None,
    reduce_only: bool = False,
    link_id: str = "",
    category: str = "linear",
    trigger: str | None = None,
    trigger_by: str = "last",
) -> OrderRequest:
    """Return the order typed in: a limit order when `limit` is given, else a market order.

    With `trigger`, a conditional order watching the `trigger_by` price; its direction is settled
    against the price at sending (`place_order`). Numbers are read exactly (`domain.numbers`:
    InvalidNumberError for anything else); a bad category, symbol or trigger-by is a ConfigError.
    """
    price = parse_amount(limit, "--limit price") if limit is not None else None
    trigger_price = parse_amount(trigger, "--trigger price") if trigger is not None else None
    watched = parse_trigger_by(trigger_by)
    return OrderRequest(
        category=Category.parse(category),
        symbol=parse_symbol(symbol),
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        qty=parse_amount(qty, "quantity"),
        price=price,
        time_in_force=parse_time_in_force(tif) if tif is not None else None,
        order_link_id=link_id,
        reduce_only=reduce_only,
        trigger_price=trigger_price,
        trigger_by=watched if trigger_price is not None else None,
    )


def parse_amend(
    symbol: str,
    *,
    order_id: str = "",
    link_id: str = "",
    qty: str | None = None,
    price: str | None = None,
    category: str = "linear",
) -> AmendRequest:
    """Return the amendment typed in; ConfigError when it changes nothing."""
    if qty is None and price is None:
        raise ConfigError("nothing to amend: give --qty and/or --price")
    return AmendRequest(
        category=Category.parse(category),
        symbol=parse_symbol(symbol),
        order_id=order_id,
        order_link_id=link_id,
        qty=parse_amount(qty, "--qty") if qty is not None else None,
        price=parse_amount(price, "--price") if price is not None else None,
    )


def execution_policy(client: BybitRestClient) -> ExecutionPolicy:
    """Return the execution policy of one order command (its own tracker, the client's clock)."""
    return ExecutionPolicy(client, OrderTracker(), client.http.clock)


def _check_permit(settings: Settings, permit: TradingPermit) -> None:
    if permit.env is not settings.env:
        raise ConfigError(f"the trading permit is for {permit.env.value}, not {settings.env.value}")


async def place_order(settings: Settings, permit: TradingPermit, req: OrderRequest) -> PlacedOrder:
    """Prepare `req` against its instrument and send it; return its ids and its state if listed.

    `permit` comes from `bst.app.guards.check_trading`: no order is sent without one.
    """
    _check_permit(settings, permit)
    async with rest_client(settings) as client:
        instrument = await client.get_instrument(req.category, req.symbol)
        if req.trigger_price is not None and req.trigger_direction is None and req.order_filter is None:
            # A conditional order waits for the price to move towards its trigger from where it is now.
            by = req.trigger_by or TriggerBy.LAST_PRICE
            [ticker] = await client.get_tickers(req.category, req.symbol)
            mark = ticker.mark_price or ticker.last_price
            now = {TriggerBy.MARK_PRICE: mark, TriggerBy.INDEX_PRICE: ticker.index_price or mark}
            req = as_conditional(req, req.trigger_price, now.get(by, ticker.last_price), by)
        prepared = prepare_order(req, instrument)
        outcome = await execution_policy(client).submit(prepared, instrument)
        outcome.raise_for_failure()  # refused, or its outcome unknown
        found = outcome.order or await client.find_order(req.category, req.symbol, outcome.order_link_id)
    return PlacedOrder(prepared, outcome.order_id, outcome.order_link_id, found)


async def cancel_orders(
    settings: Settings,
    permit: TradingPermit,
    category: Category,
    symbol: str,
    *,
    order_id: str = "",
    link_id: str = "",
    every: bool = False,
) -> list[str]:
    """Cancel one order (by orderId or orderLinkId) or, with `every`, all of `symbol`; return orderIds."""
    if not every and not order_id and not link_id:
        raise ConfigError("say which order: --id ORDER_ID, --link-id LINK_ID or --all")
    _check_permit(settings, permit)
    async with rest_client(settings) as client:
        execution = execution_policy(client)
        if every:
            cancelled = await execution.cancel_all(category, symbol=symbol)
            cancelled.raise_for_failure()
            return [a.order_id for a in cancelled.cancelled]
        outcome = await execution.cancel(category, symbol, order_id=order_id, order_link_id=link_id)
        outcome.raise_for_failure()
        return [outcome.order_id]


async def amend_order(settings: Settings, permit: TradingPermit, req: AmendRequest) -> str:
    """Send the amendment; return the orderId."""
    _check_permit(settings, permit)
    async with rest_client(settings) as client:
        outcome = await execution_policy(client).amend(req)
        outcome.raise_for_failure()
        return outcome.order_id


async def orders(
    settings: Settings, category: Category, symbol: str | None = None, *, history: bool = False
) -> list[Order]:
    """Return open orders (or, with `history`, closed ones) of the configured account."""
    require_credentials(settings)
    async with rest_client(settings) as client:
        if history:
            return await client.get_order_history(category, symbol=symbol)
        return await client.get_open_orders(category, symbol=symbol)


async def positions(settings: Settings, category: Category, symbol: str | None = None) -> list[Position]:
    """Return the account's positions (of one symbol, or all open ones)."""
    require_credentials(settings)
    async with rest_client(settings) as client:
        return await client.get_positions(category, symbol=symbol)


async def wallet(settings: Settings) -> WalletBalance:
    """Return the unified account's balances."""
    require_credentials(settings)
    async with rest_client(settings) as client:
        return await client.get_wallet_balance()
