"""`bst order ...`, `bst orders`, `bst positions`, `bst balance`: trading from the command line.

Works against the sim, testnet, demo or mainnet (BYBIT_ENV). Mainnet needs `--mainnet` and a
confirmation, so a misconfigured shell never places a real order by accident.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from bst.cli import common
from bst.domain.errors import InvalidNumberError
from bst.domain.market import Category, Side
from bst.domain.numbers import parse_amount
from bst.domain.orders import AmendRequest, Order, OrderRequest, OrderType, TimeInForce
from bst.exchange.rest import BybitRestClient
from bst.settings import Environment, Settings
from bst.trading.execution import ExecutionPolicy
from bst.trading.order_tracker import OrderTracker

order_app = typer.Typer(help="Place, amend and cancel orders.", no_args_is_help=True)

CATEGORY = typer.Option("linear", "--category", "-c", help="linear | spot | inverse")
MAINNET = typer.Option(False, "--mainnet", help="allow trading on mainnet (asks for confirmation)")
YES = typer.Option(False, "--yes", "-y", help="skip the mainnet confirmation")
JSON_OUT = typer.Option(False, "--json", help="machine-readable output")


def _category(text: str) -> Category:
    try:
        return Category(text.lower())
    except ValueError:
        raise common.CliError(f"invalid category {text!r}: use linear, spot or inverse") from None


def _decimal(name: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return parse_amount(text, name)
    except InvalidNumberError as e:  # a usage error: one line, exit 2
        raise common.CliError(str(e), code=2) from None


def _tif(text: str | None) -> TimeInForce | None:
    if text is None:
        return None
    for tif in TimeInForce:
        if tif.value.lower() == text.lower():
            return tif
    raise common.CliError(f"invalid --tif {text!r}: use GTC, IOC, FOK or PostOnly")


def _trading_settings(mainnet: bool, yes: bool) -> Settings:
    loaded = common.settings()
    if loaded.api_key is None or loaded.api_secret is None:
        raise common.CliError("trading needs credentials: set BYBIT_API_KEY and BYBIT_API_SECRET")
    if loaded.env is Environment.MAINNET:
        if not mainnet:
            raise common.CliError("BYBIT_ENV is mainnet: add --mainnet to trade with real money")
        if not yes and not typer.confirm("Place a REAL order on Bybit mainnet?", default=False):
            raise common.CliError("cancelled, nothing was sent", code=1)
    return loaded


def execution_policy(client: BybitRestClient) -> ExecutionPolicy:
    """Return the execution policy of a one-shot order command (its own tracker, the client's clock)."""
    return ExecutionPolicy(client, OrderTracker(), client.http.clock)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else ""


def _place(
    side: Side,
    symbol: str,
    qty: str,
    limit: str | None,
    tif: str | None,
    reduce_only: bool,
    link_id: str,
    category: str,
    mainnet: bool,
    yes: bool,
) -> None:
    price = _decimal("--limit price", limit)
    quantity = _decimal("quantity", qty)
    assert quantity is not None  # a required argument
    loaded = _trading_settings(mainnet, yes)
    cat = _category(category)
    req = OrderRequest(
        category=cat,
        symbol=symbol.upper(),
        side=side,
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
        qty=quantity,
        price=price,
        time_in_force=_tif(tif),
        order_link_id=link_id,
        reduce_only=reduce_only,
    )

    async def run() -> tuple[str, str, Order | None]:
        async with common.make_client(loaded) as client:
            instrument = await client.get_instrument(cat, req.symbol)
            outcome = await execution_policy(client).submit(req, instrument)
            outcome.raise_for_failure()  # refused, or its outcome unknown: one line, exit 1
            found = outcome.order or await client.find_order(cat, req.symbol, outcome.order_link_id)
            return outcome.order_id, outcome.order_link_id, found

    order_id, order_link_id, order = common.run_async(run())
    status = order.status.value if order else "unknown (query with `bst orders`)"
    common.console.print(
        f"placed {side.value} {req.symbol}: orderId={order_id} orderLinkId={order_link_id} status={status}"
    )


@order_app.command("buy")
def buy(
    symbol: str = typer.Argument(...),
    qty: str = typer.Argument(..., help="quantity in base coin"),
    limit: str | None = typer.Option(None, "--limit", help="limit price (omit for a market order)"),
    tif: str | None = typer.Option(None, "--tif", help="GTC | IOC | FOK | PostOnly"),
    reduce_only: bool = typer.Option(False, "--reduce-only"),
    link_id: str = typer.Option("", "--link-id", help="your orderLinkId (generated when omitted)"),
    category: str = CATEGORY,
    mainnet: bool = MAINNET,
    yes: bool = YES,
) -> None:
    """Place a buy order."""
    _place(Side.BUY, symbol, qty, limit, tif, reduce_only, link_id, category, mainnet, yes)


@order_app.command("sell")
def sell(
    symbol: str = typer.Argument(...),
    qty: str = typer.Argument(..., help="quantity in base coin"),
    limit: str | None = typer.Option(None, "--limit", help="limit price (omit for a market order)"),
    tif: str | None = typer.Option(None, "--tif", help="GTC | IOC | FOK | PostOnly"),
    reduce_only: bool = typer.Option(False, "--reduce-only"),
    link_id: str = typer.Option("", "--link-id", help="your orderLinkId (generated when omitted)"),
    category: str = CATEGORY,
    mainnet: bool = MAINNET,
    yes: bool = YES,
) -> None:
    """Place a sell order."""
    _place(Side.SELL, symbol, qty, limit, tif, reduce_only, link_id, category, mainnet, yes)


@order_app.command("cancel")
def cancel(
    symbol: str = typer.Argument(...),
    order_id: str = typer.Option("", "--id", help="orderId"),
    link_id: str = typer.Option("", "--link-id", help="orderLinkId"),
    all_orders: bool = typer.Option(False, "--all", help="cancel every open order of the symbol"),
    category: str = CATEGORY,
    mainnet: bool = MAINNET,
    yes: bool = YES,
) -> None:
    """Cancel one order (--id or --link-id) or all of a symbol (--all)."""
    loaded = _trading_settings(mainnet, yes)
    cat = _category(category)
    if not all_orders and not order_id and not link_id:
        raise common.CliError("say which order: --id ORDER_ID, --link-id LINK_ID or --all")

    async def run() -> list[str]:
        async with common.make_client(loaded) as client:
            execution = execution_policy(client)
            if all_orders:
                cancelled = await execution.cancel_all(cat, symbol=symbol.upper())
                cancelled.raise_for_failure()
                return [a.order_id for a in cancelled.cancelled]
            outcome = await execution.cancel(cat, symbol.upper(), order_id=order_id, order_link_id=link_id)
            outcome.raise_for_failure()
            return [outcome.order_id]

    cancelled = common.run_async(run())
    common.console.print(f"cancelled {len(cancelled)} order(s): {', '.join(cancelled) or '-'}")


@order_app.command("amend")
def amend(
    symbol: str = typer.Argument(...),
    order_id: str = typer.Option("", "--id"),
    link_id: str = typer.Option("", "--link-id"),
    qty: str | None = typer.Option(None, "--qty"),
    price: str | None = typer.Option(None, "--price"),
    category: str = CATEGORY,
    mainnet: bool = MAINNET,
    yes: bool = YES,
) -> None:
    """Change the quantity or price of an open order."""
    loaded = _trading_settings(mainnet, yes)
    if qty is None and price is None:
        raise common.CliError("nothing to amend: give --qty and/or --price")
    req = AmendRequest(
        category=_category(category),
        symbol=symbol.upper(),
        order_id=order_id,
        order_link_id=link_id,
        qty=_decimal("--qty", qty),
        price=_decimal("--price", price),
    )

    async def run() -> str:
        async with common.make_client(loaded) as client:
            outcome = await execution_policy(client).amend(req)
            outcome.raise_for_failure()
            return outcome.order_id

    common.console.print(f"amended order {common.run_async(run())}")


def _orders_table(rows: list[Order], title: str) -> Table:
    table = Table(title=title)
    for column in (
        "created (UTC)",
        "symbol",
        "side",
        "type",
        "price",
        "qty",
        "filled",
        "status",
        "orderLinkId",
    ):
        table.add_column(column)
    for o in rows:
        table.add_row(
            _when(o.created_time_ms),
            o.symbol,
            o.side.value,
            o.order_type.value,
            str(o.price),
            str(o.qty),
            str(o.cum_exec_qty),
            o.status.value,
            o.order_link_id,
        )
    return table


def _emit(rows: list[dict[str, Any]]) -> None:
    common.console.print_json(json.dumps(rows, default=str))


def orders(
    symbol: str | None = typer.Argument(None),
    history: bool = typer.Option(False, "--history", help="closed orders instead of open ones"),
    category: str = CATEGORY,
    as_json: bool = JSON_OUT,
) -> None:
    """List open orders (or, with --history, closed ones)."""
    loaded = _trading_settings(True, True)
    cat = _category(category)

    async def run() -> list[Order]:
        async with common.make_client(loaded) as client:
            sym = symbol.upper() if symbol else None
            if history:
                return await client.get_order_history(cat, symbol=sym)
            return await client.get_open_orders(cat, symbol=sym)

    rows = common.run_async(run())
    if as_json:
        _emit(
            [
                {
                    "orderId": o.order_id,
                    "orderLinkId": o.order_link_id,
                    "symbol": o.symbol,
                    "side": o.side.value,
                    "price": o.price,
                    "qty": o.qty,
                    "cumExecQty": o.cum_exec_qty,
                    "status": o.status.value,
                }
                for o in rows
            ]
        )
        return
    common.console.print(_orders_table(rows, f"{'closed' if history else 'open'} orders ({len(rows)})"))


def positions(
    symbol: str | None = typer.Argument(None), category: str = CATEGORY, as_json: bool = JSON_OUT
) -> None:
    """List positions."""
    loaded = _trading_settings(True, True)
    cat = _category(category)

    async def run() -> list[Any]:
        async with common.make_client(loaded) as client:
            return await client.get_positions(cat, symbol=symbol.upper() if symbol else None)

    rows = common.run_async(run())
    if as_json:
        _emit(
            [
                {
                    "symbol": p.symbol,
                    "side": p.side.value,
                    "size": p.size,
                    "avgPrice": p.avg_price,
                    "unrealisedPnl": p.unrealised_pnl,
                    "leverage": p.leverage,
                }
                for p in rows
            ]
        )
        return
    table = Table(title=f"positions ({len(rows)})")
    for column in (
        "symbol",
        "side",
        "size",
        "entry",
        "mark",
        "unrealised PnL",
        "realised (cum)",
        "leverage",
        "liq",
    ):
        table.add_column(column)
    for p in rows:
        table.add_row(
            p.symbol,
            p.side.value or "flat",
            str(p.size),
            str(p.avg_price),
            str(p.mark_price),
            str(p.unrealised_pnl),
            str(p.cum_realised_pnl),
            str(p.leverage),
            str(p.liq_price or ""),
        )
    common.console.print(table)


def balance(as_json: bool = JSON_OUT) -> None:
    """Show the unified account's balances."""
    loaded = _trading_settings(True, True)

    async def run() -> Any:
        async with common.make_client(loaded) as client:
            return await client.get_wallet_balance()

    wallet = common.run_async(run())
    if as_json:
        _emit(
            [
                {"coin": c.coin, "walletBalance": c.wallet_balance, "equity": c.equity, "locked": c.locked}
                for c in wallet.coins
            ]
        )
        return
    table = Table(
        title=f"{wallet.account_type} account: equity {wallet.total_equity} USD, "
        f"available {wallet.total_available_balance} USD"
    )
    for column in ("coin", "wallet balance", "equity", "unrealised PnL", "locked", "order IM", "position IM"):
        table.add_column(column)
    for c in wallet.coins:
        table.add_row(
            c.coin,
            str(c.wallet_balance),
            str(c.equity),
            str(c.unrealised_pnl),
            str(c.locked),
            str(c.total_order_im),
            str(c.total_position_im),
        )
    common.console.print(table)


def register(app: typer.Typer) -> None:
    """Add `order`, `orders`, `positions` and `balance` to the root app."""
    app.add_typer(order_app, name="order")
    app.command("orders")(orders)
    app.command("positions")(positions)
    app.command("balance")(balance)
