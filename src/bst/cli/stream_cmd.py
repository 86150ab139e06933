"""`bst record` (raw public streams to compressed hourly files) and `bst watch` (a live terminal view)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bst.bybit import endpoints
from bst.bybit.codec.ws_public import kline_topic, orderbook_topic, ticker_topic, trade_topic
from bst.cli import common
from bst.data.market_snapshots import MarketSnapshotStore
from bst.data.recorder import ContinuityReport, StreamRecorder
from bst.domain.clock import Clock, SystemClock
from bst.domain.errors import BybitTimeoutError
from bst.domain.events import TradesUpdate
from bst.domain.market import Category, Interval, Trade
from bst.exchange.ws_public import PublicStream, PublicStreamConfig
from bst.settings import Environment, Settings
from bst.trading.analytics import AnalyzerConfig, MarketAnalyzer, MarketMetrics

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?", re.IGNORECASE)
_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}
CONNECT_TIMEOUT_OPTION = typer.Option(
    30.0, "--connect-timeout", min=0.1, help="give up if the stream cannot connect within this many seconds"
)


def parse_duration(text: str) -> float:
    """Return seconds from "90", "45s", "10m", "1h30m", "500ms" (0 = no limit)."""
    compact = text.strip().replace(" ", "")
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_S[(match.group(2) or "").lower()]
        pos = match.end()
    if not compact or pos != len(compact):
        raise common.CliError(f"invalid duration {text!r}: use e.g. 90, 45s, 10m, 1h30m")
    return total


def _category(text: str) -> Category:
    try:
        category = Category(text.lower())
    except ValueError:
        category = Category.OPTION
    if category is Category.OPTION:
        raise common.CliError(f"invalid category {text!r}: use spot, linear or inverse")
    return category


def public_ws_base(settings: Settings) -> str:
    """Return the public WebSocket base: demo accounts read mainnet's public streams (Bybit has no others)."""
    api = settings.api
    if api.env is Environment.DEMO and settings.ws_base_url is None:
        return endpoints.MAINNET_WS
    return api.ws_base_url


def topics_for(
    symbols: list[str], depth: int, *, trades: bool, tickers: bool, klines: list[Interval]
) -> list[str]:
    """Return the topics to subscribe for `symbols`."""
    out: list[str] = []
    for symbol in symbols:
        if depth:
            out.append(orderbook_topic(depth, symbol))
        if trades:
            out.append(trade_topic(symbol))
        if tickers:
            out.append(ticker_topic(symbol))
        out.extend(kline_topic(interval, symbol) for interval in klines)
    return out


class _Stop:
    """SIGINT/SIGTERM set `event` (installed before connecting, so a stop is never a hard kill)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._signals = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> _Stop:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.add_signal_handler(sig, self.event.set)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)

    async def wait(self, duration_s: float, clock: Clock) -> None:
        """Return after `duration_s` (0: never) or once stopped, whichever comes first."""
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self.event.wait())}
        if duration_s > 0:
            waits.add(asyncio.ensure_future(clock.sleep(duration_s)))
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


async def _open_stream(stream: PublicStream, topics: list[str], connect_timeout_s: float) -> None:
    await stream.start()
    try:
        await stream.wait_connected(connect_timeout_s)
    except BybitTimeoutError:
        raise common.CliError(
            f"cannot reach {stream.config.url} within {connect_timeout_s:g} s "
            "(check BYBIT_ENV / BYBIT_WS_BASE_URL and the network)"
        ) from None
    await stream.subscribe(topics)


async def _drain(stream: PublicStream, on_event: Callable[[Any], None] | None = None) -> None:
    async for event in stream:
        if on_event is not None:
            on_event(event)


def _with_stream(
    stream: PublicStream,
    topics: list[str],
    body: Callable[[_Stop], Coroutine[Any, Any, None]],
    connect_timeout_s: float,
) -> Coroutine[Any, Any, None]:
    async def run() -> None:
        with _Stop() as stop:
            try:
                await _open_stream(stream, topics, connect_timeout_s)
                if not stop.event.is_set():
                    await body(stop)
            finally:
                await stream.close()

    return run()


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
    cat = _category(category)
    names = [s.upper() for s in symbols]
    intervals = [Interval.parse(k) for k in kline]
    topics = topics_for(names, depth, trades=trades, tickers=tickers, klines=intervals)
    if not topics:
        raise common.CliError("nothing to record: give --depth, --trades, --tickers or --kline")
    seconds = parse_duration(duration)
    target = out if out is not None else loaded.data_dir / "recordings"
    clock = SystemClock()
    recorder = StreamRecorder(target, cat, topics, started_ms=clock.now_ms(), compresslevel=compress_level)
    config = PublicStreamConfig(public_ws_base(loaded), cat)
    store = MarketSnapshotStore(loaded.database_url) if db else None

    def on_raw(text: str, recv_ms: int) -> None:
        recorder.write(text, recv_ms)
        if store is not None:
            store.write(cat, text, recv_ms)

    stream = PublicStream(config, clock=clock, on_raw=on_raw)

    async def body(stop: _Stop) -> None:
        if store is not None:
            await store.open()
        recorder.mark(clock.now_ms(), "subscribed", topics=topics, url=config.url)
        drain = asyncio.create_task(_drain(stream))
        marks = asyncio.create_task(_mark_changes(stream, recorder, clock))
        common.err_console.print(
            f"recording {len(topics)} topics from {config.url} to {target}; Ctrl-C stops"
        )
        try:
            await stop.wait(seconds, clock)
        finally:
            for task in (drain, marks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def run() -> None:
        try:
            await _with_stream(stream, topics, body, connect_timeout)
        finally:
            if store is not None:
                await store.close()

    try:
        common.run_async(run())
    finally:
        report = recorder.close(clock.now_ms())
    _print_report(report, target)
    if store is not None:
        common.console.print(f"SQL: {store.rows_written:,} rows in market_data_snapshots at {store.safe_url}")


async def _mark_changes(stream: PublicStream, recorder: StreamRecorder, clock: Clock) -> None:
    """Write a mark into the recording whenever the connection drops, comes back or resyncs."""

    def counters() -> tuple[int, int, int]:
        stats = stream.stats
        return stats.disconnects, stats.reconnects, stats.resyncs

    seen = counters()
    while True:
        await stream.wait_state(lambda last=seen: counters() != last)  # type: ignore[misc]
        now = counters()
        for kind, old, new in zip(("disconnect", "reconnect", "resync"), seen, now, strict=True):
            if new > old:
                recorder.mark(clock.now_ms(), kind, count=new)
        seen = now


def _print_report(report: ContinuityReport, target: Path) -> None:
    table = Table(title=f"recorded {report.messages:,} messages ({report.category}) to {target}")
    for column in ("topic", "messages", "snapshots", "deltas", "gaps", "restarts", "max silence ms"):
        table.add_column(column, justify="left" if column == "topic" else "right", no_wrap=column == "topic")
    for topic in sorted(report.topics):
        t = report.topics[topic]
        row = [t.messages, t.snapshots, t.deltas, t.gaps, t.restarts, t.max_silence_ms]
        table.add_row(topic, *(f"{v:,}" for v in row))
    common.console.print(table)
    files = ", ".join(f"{f.name} ({f.messages:,})" for f in report.files) or "none"
    common.console.print(f"files: {files}")
    marks = [m["kind"] for m in report.marks if m["kind"] != "subscribed"]
    common.console.print(
        f"continuity: {report.gaps} gap(s); stream events: {', '.join(marks) if marks else 'none'}; "
        f"report: {target / f'report-{report.category}-{report.started_ms}.json'}"
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
    cat = _category(category)
    name = symbol.upper()
    seconds = parse_duration(duration)
    topics = [orderbook_topic(depth, name), trade_topic(name)]
    clock = SystemClock()
    stream = PublicStream(PublicStreamConfig(public_ws_base(loaded), cat), clock=clock)
    analyzer = MarketAnalyzer(AnalyzerConfig(imbalance_depths=(1, 5, 10, 20)), books=stream.books)
    recent: deque[Trade] = deque(maxlen=12)

    def on_event(event: Any) -> None:
        analyzer.on_event(event)
        if isinstance(event, TradesUpdate):
            recent.extend(event.trades)

    def screen() -> Group:
        return _render(stream, analyzer.metrics(name, cat), name, cat, depth, levels, recent)

    async def body(stop: _Stop) -> None:
        drain = asyncio.create_task(_drain(stream, on_event))
        with Live(screen(), console=common.console, refresh_per_second=refresh, transient=False) as live:

            async def redraw() -> None:
                while True:
                    await clock.sleep(1.0 / refresh)
                    live.update(screen())

            painter = asyncio.create_task(redraw())
            try:
                await stop.wait(seconds, clock)
            finally:
                for task in (painter, drain):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                live.update(screen())

    common.run_async(_with_stream(stream, topics, body, connect_timeout))


def _fmt(value: Decimal | float | None, places: int | None = None) -> str:
    if value is None:
        return "-"
    if places is not None:
        return f"{value:.{places}f}"
    return str(value)


def _render(
    stream: PublicStream,
    metrics: MarketMetrics | None,
    symbol: str,
    category: Category,
    depth: int,
    levels: int,
    recent: deque[Trade],
) -> Group:
    book = stream.book(symbol, depth)
    stats = stream.stats
    status = "connected" if stream.connected else "DISCONNECTED"
    if book is None:
        validity = "waiting for the first snapshot"
    elif book.is_valid:
        validity = f"valid (u={book.update_id})"
    else:
        validity = f"STALE: {book.invalid_reason}"
    header = Text(
        f"{symbol} {category.value} orderbook.{depth}  {status}  book {validity}  "
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
    tape = Table(title="last trades")
    for column in ("time", "side", "price", "size"):
        tape.add_column(column, justify="right")
    for trade in reversed(recent):
        when = datetime.fromtimestamp(trade.ts_ms / 1000, tz=UTC).strftime("%H:%M:%S.%f")[:-3]
        style = "green" if trade.side.value == "Buy" else "red"
        tape.add_row(when, Text(trade.side.value, style=style), str(trade.price), str(trade.size))
    body = Table.grid(padding=(0, 2))
    body.add_row(ladder, figures, tape)
    return Group(Panel(header), body)


def register(app: typer.Typer) -> None:
    """Add `bst record` and `bst watch`."""
    app.command("record")(record)
    app.command("watch")(watch)
