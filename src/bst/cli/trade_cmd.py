"""`bst order ...`, `bst orders`, `bst positions`, `bst balance`: trading from the command line.

Works against the sim, testnet, demo or mainnet (BYBIT_ENV). Mainnet needs `--mainnet` and a
confirmation, so a misconfigured shell never places a real order by accident (the guard itself is
`bst.app.guards`; the question is asked here).
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from bst.app import orders as trading
from bst.app.guards import Refusal, TradingPermit, TradingRefusedError, check_trading
from bst.cli import common
from bst.domain.market import Category, Side, parse_symbol
from bst.domain.orders import Order
from bst.settings import Settings

order_app = typer.Typer(help="Place, amend and cancel orders.", no_args_is_help=True)

CATEGORY = typer.Option("linear", "--category", "-c", help="linear | spot | inverse")
MAINNET = typer.Option(False, "--mainnet", help="allow trading on mainnet (asks for confirmation)")
YES = typer.Option(False, "--yes", "-y", help="skip the mainnet confirmation")
JSON_OUT = typer.Option(False, "--json", help="machine-readable output")
TRIGGER = typer.Option(
    None, "--trigger", help="trigger price: the order waits (Untriggered) until the price reaches it"
)
TRIGGER_BY = typer.Option("last", "--trigger-by", help="price the trigger watches: last | mark | index")


def _permit(loaded: Settings, mainnet: bool, yes: bool) -> TradingPermit:
    """Return the guard's permit; on mainnet, only after the user typed yes (or gave --yes)."""
    try:
        permit = check_trading(loaded, allow_mainnet=mainnet)
    except TradingRefusedError as e:
        if e.reason is Refusal.MAINNET_NOT_ALLOWED:
            raise common.CliError("BYBIT_ENV is mainnet: add --mainnet to trade with real money") from None
        raise
    if (
        permit.real_money
        and not yes
        and not typer.confirm("Place a REAL order on Bybit mainnet?", default=False)
    ):
        raise common.CliError("cancelled, nothing was sent", code=1)
    return permit


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
    trigger: str | None,
    trigger_by: str,
) -> None:
    loaded = common.settings()
    req = trading.parse_order(
        side,
        symbol,
        qty,
        limit=limit,
        tif=tif,
        reduce_only=reduce_only,
        link_id=link_id,
        category=category,
        trigger=trigger,
        trigger_by=trigger_by,
    )
    permit = _permit(loaded, mainnet, yes)
    placed = common.run_async(trading.place_order(loaded, permit, req))
    status = placed.order.status.value if placed.order else "unknown (query with `bst orders`)"
    common.console.print(
        f"placed {side.value} {req.symbol}: orderId={placed.order_id} "
        f"orderLinkId={placed.order_link_id} status={status}",
        soft_wrap=True,
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
    trigger: str | None = TRIGGER,
    trigger_by: str = TRIGGER_BY,
) -> None:
    """Place a buy order."""
    _place(
        Side.BUY, symbol, qty, limit, tif, reduce_only, link_id, category, mainnet, yes, trigger, trigger_by
    )


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
    trigger: str | None = TRIGGER,
    trigger_by: str = TRIGGER_BY,
) -> None:
    """Place a sell order."""
    _place(
        Side.SELL, symbol, qty, limit, tif, reduce_only, link_id, category, mainnet, yes, trigger, trigger_by
    )


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
    loaded = common.settings()
    cat, name = Category.parse(category), parse_symbol(symbol)
    permit = _permit(loaded, mainnet, yes)
    cancelled = common.run_async(
        trading.cancel_orders(loaded, permit, cat, name, order_id=order_id, link_id=link_id, every=all_orders)
    )
    common.console.print(
        f"cancelled {len(cancelled)} order(s): {', '.join(cancelled) or '-'}", soft_wrap=True
    )


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
    loaded = common.settings()
    req = trading.parse_amend(
        symbol, order_id=order_id, link_id=link_id, qty=qty, price=price, category=category
    )
    permit = _permit(loaded, mainnet, yes)
    common.console.print(f"amended order {common.run_async(trading.amend_order(loaded, permit, req))}")


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


def orders(
    symbol: str | None = typer.Argument(None),
    history: bool = typer.Option(False, "--history", help="closed orders instead of open ones"),
    category: str = CATEGORY,
    as_json: bool = JSON_OUT,
) -> None:
    """List open orders (or, with --history, closed ones)."""
    loaded = common.settings()
    cat = Category.parse(category)
    name = parse_symbol(symbol) if symbol else None
    rows = common.run_async(trading.orders(loaded, cat, name, history=history))
    if as_json:
        common.print_json(
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
    common.print_table(_orders_table(rows, f"{'closed' if history else 'open'} orders ({len(rows)})"))


def positions(
    symbol: str | None = typer.Argument(None), category: str = CATEGORY, as_json: bool = JSON_OUT
) -> None:
    """List positions."""
    loaded = common.settings()
    cat = Category.parse(category)
    rows = common.run_async(trading.positions(loaded, cat, parse_symbol(symbol) if symbol else None))
    if as_json:
        common.print_json(
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
    common.print_table(table)


def balance(as_json: bool = JSON_OUT) -> None:
    """Show the unified account's balances."""
    wallet = common.run_async(trading.wallet(common.settings()))
    if as_json:
        common.print_json(
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
    common.print_table(table)


def register(app: typer.Typer) -> None:
    """Add `order`, `orders`, `positions` and `balance` to the root app."""
    app.add_typer(order_app, name="order")
    app.command("orders")(orders)
    app.command("positions")(positions)
    app.command("balance")(balance)
