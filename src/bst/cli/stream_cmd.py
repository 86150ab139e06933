"""`bst record` (raw public streams to compressed hourly files) and `bst watch` (a live terminal view)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bst.app.streams import (
    MarketMetrics,
    Recording,
    RecordingOutcome,
    WatchSession,
    parse_record,
    parse_watch,
)
from bst.cli import common
from bst.domain.market import Trade

CONNECT_TIMEOUT_OPTION = typer.Option(
    30.0, "--connect-timeout", min=0.1, help="give up if the stream cannot connect within this many seconds"
)

# --- bst record ----------------------------------------------------------------------------------

SYMBOLS_ARGUMENT = typer.Argument(..., help="symbols, e.g. BTCUSDT ETHUSDT")
KLINE_OPTION = typer.Option([], "--kline", help="record klines of this interval (repeatable)")
OUT_OPTION = typer.Option(None, "--out", "-o", help="directory (default: <data_dir>/recordings)")


def record(
    symbols: list[str] = SYMBOLS_ARGUMENT,
    category: str = typer.Option("linear", "--category", "-c", help="spot | linear | inverse"),
    depth: int = typer.Option(50, "--depth", help="order-book depth: 1, 50, 200, 1000 (0: no book)"),
    trades: bool = typer.Option(True, "--trades/--no-trades", help="record public trades"),
    tickers: bool = typer.Option(False, "--tickers", help="record tickers"),
    kline: list[str] = KLINE_OPTION,
    out: Path | None = OUT_OPTION,
    duration: str = typer.Option("0", "--duration", "-d", help="stop after e.g. 10m, 1h (0: until Ctrl-C)"),
    compress_level: int = typer.Option(6, "--compress-level", min=1, max=9, help="gzip level"),
    db: bool = typer.Option(False, "--db", help="also write every message to market_data_snapshots in SQL"),
    connect_timeout: float = CONNECT_TIMEOUT_OPTION,
) -> None:
    """Record raw public streams losslessly to hourly gzip files (and SQL), with a continuity report."""
    loaded = common.settings()
    job = parse_record(
        loaded,
        symbols,
        category=category,
        depth=depth,
        trades=trades,
        tickers=tickers,
        klines=kline,
        out=out,
        duration=duration,
        compress_level=compress_level,
        to_sql=db,
        connect_timeout_s=connect_timeout,
    )
    recording = Recording(loaded, job)

    async def run() -> None:
        with common.stop_on_signals() as stop:
            async with recording:
                if stop.is_set():
                    return
                common.err_console.print(
                    f"recording {len(job.topics)} topics from {recording.url} to {job.target}; Ctrl-C stops"
                )
                await recording.follow(stop)

    common.run_async(run())
    _print_report(recording.outcome)


def _print_report(outcome: RecordingOutcome) -> None:
    report = outcome.report
    table = Table(title=f"recorded {report.messages:,} messages ({report.category}) to {outcome.target}")
    for column in ("topic", "messages", "snapshots", "deltas", "gaps", "restarts", "max silence ms"):
        table.add_column(column, justify="left" if column == "topic" else "right", no_wrap=column == "topic")
    for topic in sorted(report.topics):
        t = report.topics[topic]
        row = [t.messages, t.snapshots, t.deltas, t.gaps, t.restarts, t.max_silence_ms]
        table.add_row(topic, *(f"{v:,}" for v in row))
    common.print_table(table)
    files = ", ".join(f"{f.name} ({f.messages:,})" for f in report.files) or "none"
    common.console.print(f"files: {files}", soft_wrap=True)
    marks = [m["kind"] for m in report.marks if m["kind"] != "subscribed"]
    common.console.print(
        f"continuity: {report.gaps} gap(s); stream events: {', '.join(marks) if marks else 'none'}; "
        f"report: {outcome.report_path}",
        soft_wrap=True,
    )
    if outcome.sql_rows is not None:
        common.console.print(
            f"SQL: {outcome.sql_rows:,} rows in market_data_snapshots at {outcome.sql_url}", soft_wrap=True
        )


# --- bst watch -----------------------------------------------------------------------------------


def watch(
    symbol: str = typer.Argument(..., help="e.g. BTCUSDT"),
    category: str = typer.Option("linear", "--category", "-c", help="spot | linear | inverse"),
    depth: int = typer.Option(50, "--depth", help="order-book depth: 1, 50, 200, 1000"),
    levels: int = typer.Option(10, "--levels", "-n", min=1, max=50, help="book levels shown"),
    duration: str = typer.Option("0", "--duration", "-d", help="stop after e.g. 30s (0: until Ctrl-C)"),
    refresh: float = typer.Option(4.0, "--refresh", min=0.5, max=30.0, help="screen refreshes per second"),
    connect_timeout: float = CONNECT_TIMEOUT_OPTION,
) -> None:
    """Show a live view: top of book, spread, imbalance, last trades and stream latency."""
    loaded = common.settings()
    job = parse_watch(
        symbol, category=category, depth=depth, duration=duration, connect_timeout_s=connect_timeout
    )
    session = WatchSession(loaded, job)

    def screen() -> Group:
        return _render(session, levels)

    async def run() -> None:
        with common.stop_on_signals() as stop:
            async with session:
                if stop.is_set():
                    return
                with Live(
                    screen(), console=common.console, refresh_per_second=refresh, transient=False
                ) as live:
                    await session.follow(stop, tick_s=1.0 / refresh, on_tick=lambda: live.update(screen()))

    common.run_async(run())


def _fmt(value: Decimal | float | None, places: int | None = None) -> str:
    if value is None:
        return "-"
    if places is not None:
        return f"{value:.{places}f}"
    return str(value)


def _render(session: WatchSession, levels: int) -> Group:
    job = session.job
    book = session.book()
    stats = session.stats
    status = "connected" if session.connected else "DISCONNECTED"
    if book is None:
        validity = "waiting for the first snapshot"
    elif book.is_valid:
        validity = f"valid (u={book.update_id})"
    else:
        validity = f"STALE: {book.invalid_reason}"
    header = Text(
        f"{job.symbol} {job.category.value} orderbook.{job.depth}  {status}  book {validity}  "
        f"latency {_fmt(stats.last_latency_ms)} ms (max {_fmt(stats.max_latency_ms)})  "
        f"msgs {stats.messages:,}  gaps {stats.gaps}  resyncs {stats.resyncs}  reconnects {stats.reconnects}",
        style="bold" if book is not None and book.is_valid else "bold red",
    )
    ladder = Table(title="order book", expand=False)
    for column in ("bid size", "bid", "ask", "ask size"):
        ladder.add_column(column, justify="right")
    bids = book.bids(levels) if book is not None else []
    asks = book.asks(levels) if book is not None else []
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else None
        ask = asks[i] if i < len(asks) else None
        ladder.add_row(
            str(bid[1]) if bid else "",
            Text(str(bid[0]), style="green") if bid else "",
            Text(str(ask[0]), style="red") if ask else "",
            str(ask[1]) if ask else "",
        )
    body = Table.grid(padding=(0, 2))
    body.add_row(ladder, _figures(session.metrics()), _tape(session.recent))
    # expand=False: off a terminal the console has no width limit to stretch the panel to.
    return Group(Panel(header, expand=common.console.is_terminal), body)


def _figures(metrics: MarketMetrics | None) -> Table:
    figures = Table(title="metrics", show_header=False)
    figures.add_column("name")
    figures.add_column("value", justify="right")
    if metrics is not None:
        figures.add_row("mid", _fmt(metrics.mid))
        figures.add_row("spread", f"{_fmt(metrics.spread)} ({_fmt(metrics.spread_bps, 2)} bps)")
        figures.add_row("microprice", _fmt(metrics.microprice, 6))
        for n, value in metrics.imbalance.items():
            figures.add_row(f"imbalance {n}", _fmt(value, 3))
        figures.add_row("trade flow (buy share)", _fmt(metrics.trade_flow_imbalance, 3))
        figures.add_row("vwap 60 s", _fmt(metrics.vwap, 6))
        figures.add_row("volatility (per s)", _fmt(metrics.volatility, 6))
    return figures


def _tape(recent: Sequence[Trade]) -> Table:
    tape = Table(title="last trades")
    for column in ("time", "side", "price", "size"):
        tape.add_column(column, justify="right")
    for trade in reversed(recent):
        when = datetime.fromtimestamp(trade.ts_ms / 1000, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
        style = "green" if trade.side.value == "Buy" else "red"
        tape.add_row(when, Text(trade.side.value, style=style), str(trade.price), str(trade.size))
    return tape


def register(app: typer.Typer) -> None:
    """Add `bst record` and `bst watch`."""
    app.command("record")(record)
    app.command("watch")(watch)
