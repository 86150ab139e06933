"""`bst market ...`: one-shot market-data queries (kline, ticker, orderbook, trades, instruments, time)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from bst.app import market
from bst.app.inputs import parse_time
from bst.cli import common
from bst.domain.market import Category, Interval, parse_symbol

market_app = typer.Typer(help="Query market data (REST).", no_args_is_help=True)

CATEGORY_OPTION = typer.Option("linear", "--category", "-c", help="spot | linear | inverse")
JSON_OPTION = typer.Option(False, "--json", help="machine-readable JSON output")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@market_app.command("kline")
def kline(
    symbol: str = typer.Argument(..., help="e.g. BTCUSDT"),
    interval: str = typer.Option("60", "--interval", "-i", help="1 3 5 15 30 60 120 240 360 720 D W M"),
    limit: int = typer.Option(10, "--limit", "-n", min=1, max=1000, help="bars (1-1000)"),
    start: str | None = typer.Option(None, "--start", help="first open time (date or epoch ms)"),
    end: str | None = typer.Option(None, "--end", help="last open time (date or epoch ms)"),
    category: str = CATEGORY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Print candles, oldest first."""
    loaded = common.settings()
    parsed_interval = Interval.parse(interval)
    cat = Category.parse(category)
    name = parse_symbol(symbol)
    bars = common.run_async(
        market.klines(
            loaded,
            cat,
            name,
            parsed_interval,
            start_ms=parse_time(start) if start is not None else None,
            end_ms=parse_time(end) if end is not None else None,
            limit=limit,
        )
    )
    if as_json:
        common.print_json(
            [
                {
                    "open_time_ms": b.open_time_ms,
                    "open": b.open,
                    "high": b.high,
                    "low": b.low,
                    "close": b.close,
                    "volume": b.volume,
                    "turnover": b.turnover,
                }
                for b in bars
            ]
        )
        return
    table = Table(title=f"{name} {cat.value} {parsed_interval.value} ({len(bars)} bars)")
    for column in ("open time (UTC)", "open", "high", "low", "close", "volume", "turnover"):
        table.add_column(column, justify="right" if column != "open time (UTC)" else "left")
    for b in bars:
        table.add_row(
            _when(b.open_time_ms),
            str(b.open),
            str(b.high),
            str(b.low),
            str(b.close),
            str(b.volume),
            str(b.turnover),
        )
    common.print_table(table)


@market_app.command("ticker")
def ticker(
    symbol: str = typer.Argument(...), category: str = CATEGORY_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Print last price, best bid/ask and 24 h statistics."""
    loaded = common.settings()
    cat = Category.parse(category)
    t = common.run_async(market.ticker(loaded, cat, parse_symbol(symbol)))
    fields = {
        "symbol": t.symbol,
        "last": t.last_price,
        "bid": t.bid1_price,
        "bid size": t.bid1_size,
        "ask": t.ask1_price,
        "ask size": t.ask1_size,
        "24h change": t.price_24h_pcnt,
        "24h high": t.high_price_24h,
        "24h low": t.low_price_24h,
        "24h volume": t.volume_24h,
        "mark": t.mark_price,
        "funding rate": t.funding_rate,
    }
    if as_json:
        common.print_json(fields)
        return
    table = Table(title=f"{t.symbol} ticker ({cat.value})")
    table.add_column("field")
    table.add_column("value", justify="right")
    for key, value in fields.items():
        table.add_row(key, "" if value is None else str(value))
    common.print_table(table)


@market_app.command("orderbook")
def orderbook(
    symbol: str = typer.Argument(...),
    depth: int = typer.Option(10, "--depth", "-d", min=1, max=1000),
    category: str = CATEGORY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Print an order-book snapshot."""
    loaded = common.settings()
    cat = Category.parse(category)
    book = common.run_async(market.order_book(loaded, cat, parse_symbol(symbol), depth))
    if as_json:
        common.print_json(
            {
                "symbol": book.symbol,
                "bids": book.bids,
                "asks": book.asks,
                "ts_ms": book.ts_ms,
                "u": book.update_id,
            }
        )
        return
    table = Table(title=f"{book.symbol} order book ({cat.value}) at {_when(book.ts_ms)}")
    for column in ("bid size", "bid", "ask", "ask size"):
        table.add_column(column, justify="right")
    for i in range(max(len(book.bids), len(book.asks))):
        bid = book.bids[i] if i < len(book.bids) else ("", "")
        ask = book.asks[i] if i < len(book.asks) else ("", "")
        table.add_row(str(bid[1]), str(bid[0]), str(ask[0]), str(ask[1]))
    common.print_table(table)


@market_app.command("trades")
def trades(
    symbol: str = typer.Argument(...),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000),
    category: str = CATEGORY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Print the most recent public trades."""
    loaded = common.settings()
    cat = Category.parse(category)
    name = parse_symbol(symbol)
    rows = common.run_async(market.recent_trades(loaded, cat, name, limit))
    if as_json:
        common.print_json(
            [{"ts_ms": t.ts_ms, "side": t.side.value, "price": t.price, "size": t.size} for t in rows]
        )
        return
    table = Table(title=f"{name} recent trades ({cat.value})")
    for column in ("time (UTC)", "side", "price", "size"):
        table.add_column(column)
    for t in rows:
        table.add_row(_when(t.ts_ms), t.side.value, str(t.price), str(t.size))
    common.print_table(table)


@market_app.command("instruments")
def instruments(
    symbol: str | None = typer.Argument(None), category: str = CATEGORY_OPTION, as_json: bool = JSON_OPTION
) -> None:
    """Print instruments and their trading rules."""
    loaded = common.settings()
    cat = Category.parse(category)
    found = common.run_async(market.instruments(loaded, cat, parse_symbol(symbol) if symbol else None))
    if as_json:
        common.print_json(
            [
                {
                    "symbol": i.symbol,
                    "status": i.status,
                    "tick_size": i.tick_size,
                    "qty_step": i.qty_step,
                    "min_qty": i.min_qty,
                    "max_qty": i.max_qty,
                    "min_notional": i.min_notional,
                }
                for i in found
            ]
        )
        return
    table = Table(title=f"{cat.value} instruments ({len(found)})")
    for column in ("symbol", "status", "tick", "lot step", "min qty", "max qty", "min notional"):
        table.add_column(column)
    for i in found:
        table.add_row(
            i.symbol,
            i.status,
            str(i.tick_size),
            str(i.qty_step),
            str(i.min_qty),
            str(i.max_qty),
            str(i.min_notional),
        )
    common.print_table(table)


@market_app.command("time")
def server_time(as_json: bool = JSON_OPTION) -> None:
    """Print the exchange clock and its offset from ours."""
    reading = common.run_async(market.server_time(common.settings()))
    if as_json:
        common.print_json({"time_ms": reading.time_ms, "offset_ms": reading.offset_ms})
        return
    common.console.print(
        f"server time {_when(reading.time_ms)} UTC ({reading.time_ms} ms); "
        f"exchange clock minus ours: {reading.offset_ms:+d} ms"
    )


def register(app: typer.Typer) -> None:
    """Add the `market` group to the root app."""
    app.add_typer(market_app, name="market")
