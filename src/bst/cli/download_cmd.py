"""`bst download`: fill the local candle store for several symbols and intervals in one command."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from bst.cli import common
from bst.data.cache import KlineCache
from bst.data.download import DownloadProgress, DownloadReport, DownloadRequest, download_many
from bst.data.loader import to_ms
from bst.data.manifest import SeriesKey
from bst.data.sql import KlineDatabase
from bst.data.store import KlineStore
from bst.domain.clock import SystemClock
from bst.domain.errors import BybitAPIError, ConfigError
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Interval
from bst.exchange.rest import BybitRestClient
from bst.settings import Settings

LISTING = "listing"
SYMBOLS_ARGUMENT = typer.Argument(..., help="symbols, e.g. BTCUSDT ETHUSDT SOLUSDT")
INTERVALS_OPTION = typer.Option(
    ["1"], "--interval", "-i", help="1 3 5 15 30 60 120 240 360 720 D W M; repeat"
)
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="store directory (default: BYBIT_DATA_DIR)")


def parse_category(text: str) -> Category:
    """Return a kline category (spot, linear, inverse) or raise CliError."""
    try:
        category = Category(text.strip().lower())
    except ValueError:
        category = Category.OPTION
    if category is Category.OPTION:
        raise common.CliError(f"invalid category {text!r}: use linear, spot or inverse")
    return category


def parse_intervals(texts: list[str]) -> list[Interval]:
    """Return the distinct intervals named, in order."""
    return list(dict.fromkeys(Interval.parse(t) for t in texts))


def parse_when(text: str, option: str) -> int:
    """Return epoch ms of a CLI time (date, ISO time or epoch ms), or raise CliError naming the option."""
    try:
        value = to_ms(int(text) if text.strip().isdigit() else text)
    except ConfigError:
        raise common.CliError(
            f"invalid {option} {text!r}: use YYYY-MM-DD, YYYY-MM-DDTHH:MM or epoch ms"
        ) from None
    assert value is not None
    return value


def iso_day(ts_ms: int) -> str:
    """Return a UTC date or date-time, whichever is exact."""
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return (
        dt.strftime("%Y-%m-%d") if dt.hour == dt.minute == dt.second == 0 else dt.strftime("%Y-%m-%dT%H:%M")
    )


def data_dir_of(loaded: Settings, override: Path | None) -> Path:
    """Return the store directory: --data-dir, else BYBIT_DATA_DIR."""
    return override if override is not None else loaded.data_dir


class ServerClock:
    """The system clock shifted onto the exchange's clock (offset measured once)."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms
        self._system = SystemClock()

    @classmethod
    async def aligned_to(cls, client: BybitRestClient) -> ServerClock:
        """Return a clock aligned with `client`'s server time."""
        before = SystemClock().now_ms()
        server = await client.get_server_time()
        after = SystemClock().now_ms()
        return cls(server.time_ms - (before + after) // 2)

    def now_ms(self) -> int:
        """Return the exchange's time in epoch ms."""
        return self._system.now_ms() + self.offset_ms

    def monotonic(self) -> float:
        """Return a monotonic time in seconds."""
        return self._system.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await self._system.sleep(seconds)


class RateColumn(ProgressColumn):
    """Bars per second of one task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} bars/s" if speed else "- bars/s", style="progress.data.speed")


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything validated before the first candle request."""

    requests: list[DownloadRequest]
    instruments: dict[str, Instrument]


async def _validate(
    client: BybitRestClient,
    category: Category,
    symbols: list[str],
    intervals: list[Interval],
    since_ms: int | None,
    until_ms: int,
) -> Plan:
    """Check symbols against instruments-info and the start against each listing time.

    `since_ms` None means "from each symbol's listing".
    """
    instruments: dict[str, Instrument] = {}
    requests: list[DownloadRequest] = []
    for symbol in symbols:
        try:
            inst = await client.get_instrument(category, symbol)
        except BybitAPIError as e:
            raise common.CliError(common.describe_error(e)) from None
        instruments[symbol] = inst
        listed = inst.launch_time_ms or None
        if since_ms is None:
            if listed is None:
                raise common.CliError(f"{symbol} ({category.value}) has no listing time; give --since a date")
            start = listed
        else:
            start = since_ms
            if listed is not None and start < Interval.M1.open_time_ms(listed):
                raise common.CliError(
                    f"{symbol} ({category.value}) was listed on {iso_day(listed)}; "
                    f"use --since {iso_day(listed)} or later (or --since listing)"
                )
        if start >= until_ms:
            raise common.CliError(f"--since {iso_day(start)} is not before --until {iso_day(until_ms)}")
        requests.extend(DownloadRequest(category, symbol, iv, start, until_ms, listed) for iv in intervals)
    return Plan(requests, instruments)


@contextlib.contextmanager
def _progress(
    enabled: bool, requests: list[DownloadRequest]
) -> Iterator[tuple[Progress, dict[SeriesKey, TaskID]]]:
    progress = Progress(
        TextColumn("[bold]{task.description}", justify="left"),
        BarColumn(),
        TextColumn("{task.completed:>,.0f}/{task.total:,.0f} bars"),
        RateColumn(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=common.console,
        disable=not enabled,
        transient=False,
    )
    tasks = {r.key: progress.add_task(f"{r.symbol} {r.interval.value}", total=None) for r in requests}
    with progress:
        yield progress, tasks


def _summary(reports: list[DownloadReport]) -> Table:
    table = Table(title="download summary")
    for name, justify in (
        ("symbol", "left"),
        ("interval", "left"),
        ("status", "left"),
        ("new bars", "right"),
        ("already stored", "right"),
        ("gaps found", "right"),
        ("requests", "right"),
        ("time", "right"),
        ("bars/s", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in reports:
        p = r.progress
        status = (
            "complete"
            if r.complete
            else f"stopped: {common.describe_error(r.error)}"
            if r.error
            else "partial"
        )
        rate = p.bars_received / r.elapsed_s if r.elapsed_s > 0 else 0.0
        table.add_row(
            r.key.symbol,
            r.key.interval.value,
            status,
            f"{r.bars_written:,}",
            f"{p.bars_already_stored:,}",
            f"{r.gap_bars_found:,}",
            f"{p.requests_done}/{p.requests_planned}",
            f"{r.elapsed_s:.1f}s",
            f"{rate:,.0f}",
        )
    return table


def download(
    symbols: list[str] = SYMBOLS_ARGUMENT,
    intervals: list[str] = INTERVALS_OPTION,
    since: str = typer.Option(..., "--since", help="first bar: YYYY-MM-DD[THH:MM], epoch ms, or 'listing'"),
    until: str | None = typer.Option(None, "--until", help="stop before this time (default: now)"),
    category: str = typer.Option("linear", "--category", "-c", help="linear | spot | inverse"),
    concurrency: int = typer.Option(
        0, "--concurrency", min=0, max=64, help="requests in flight (0: setting)"
    ),
    refresh: bool = typer.Option(
        False, "--refresh", help="fetch again even what is stored (and re-check gaps)"
    ),
    no_sql: bool = typer.Option(False, "--no-sql", help="skip SQL persistence for this run"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not warm the kline cache"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Download candles into the local store (and SQL): incremental, resumable, gap-checked."""
    loaded = common.settings()
    cat = parse_category(category)
    wanted_intervals = parse_intervals(intervals)
    wanted_symbols = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not wanted_symbols:
        raise common.CliError("give at least one symbol")
    until_ms = parse_when(until, "--until") if until is not None else None
    since_ms: int | None = None
    if since.strip().lower() != LISTING:
        since_ms = parse_when(since, "--since")
        if until_ms is not None and since_ms >= until_ms:
            raise common.CliError(f"--since {iso_day(since_ms)} is not before --until {iso_day(until_ms)}")
    store = KlineStore(data_dir_of(loaded, data_dir))
    database = KlineDatabase(loaded.database.url) if loaded.database.persist_enabled and not no_sql else None
    cache_cfg = loaded.cache
    cache = (
        KlineCache(cache_cfg.redis_url, ttl_s=cache_cfg.ttl_s, max_candles=cache_cfg.max_candles)
        if cache_cfg.enabled and not no_cache
        else None
    )
    parallel = concurrency or max(loaded.max_requests_per_batch, 8)

    async def run() -> list[DownloadReport]:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGTERM, task.cancel)  # stop like Ctrl-C: save, then exit
        try:
            async with common.make_client(loaded) as client:
                # "Now" is the exchange's: the open candle is judged by its clock (bst sim may run
                # at another date, and a local clock may be off).
                clock = await ServerClock.aligned_to(client)
                now_ms = clock.now_ms()
                if since_ms is not None and since_ms > now_ms:
                    raise common.CliError(f"--since {iso_day(since_ms)} is in the future")
                end_ms = until_ms if until_ms is not None else now_ms
                plan = await _validate(client, cat, wanted_symbols, wanted_intervals, since_ms, end_ms)
                if database is not None:
                    await database.open()
                with _progress(common.console.is_terminal, plan.requests) as (progress, tasks):

                    def on_progress(p: DownloadProgress) -> None:
                        if p.bars_planned == 0:  # all stored already: show it as done
                            progress.update(tasks[p.key], completed=1, total=1)
                        else:
                            progress.update(tasks[p.key], completed=p.bars_done, total=p.bars_planned)

                    return await download_many(
                        client,
                        store,
                        plan.requests,
                        database=database,
                        cache=cache,
                        clock=clock,
                        concurrency=parallel,
                        refresh=refresh,
                        progress=on_progress,
                    )
        finally:
            if database is not None:
                await database.close()
            if cache is not None:
                await cache.close()

    try:
        reports = common.run_async(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise common.CliError(
            "interrupted: everything downloaded so far is saved; run the same command again to resume",
            code=130,
        ) from None
    common.console.print(_summary(reports))
    failed = [r for r in reports if r.error is not None]
    if failed:
        first = failed[0].error
        assert first is not None
        raise common.CliError(
            f"{len(failed)} of {len(reports)} series stopped early "
            f"({failed[0].key}: {common.describe_error(first)}); "
            "everything downloaded so far is saved: run the same command again to resume"
        )
    stored = sum(r.bars_written for r in reports)
    common.console.print(f"done: {stored:,} new bars in {store.root}")


def register(app: typer.Typer) -> None:
    """Add the `download` command to the root app."""
    app.command("download")(download)
