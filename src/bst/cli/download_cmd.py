"""`bst download`: fill the local candle store for several symbols and intervals in one command."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
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

from bst.app.downloads import (
    DownloadOutcome,
    DownloadProgress,
    DownloadReport,
    DownloadRequest,
    SeriesKey,
    parse_download,
    run_download,
)
from bst.cli import common

SYMBOLS_ARGUMENT = typer.Argument(..., help="symbols, e.g. BTCUSDT ETHUSDT SOLUSDT")
INTERVALS_OPTION = typer.Option(
    ["1"], "--interval", "-i", help="1 3 5 15 30 60 120 240 360 720 D W M; repeat"
)
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="store directory (default: BYBIT_DATA_DIR)")


class RateColumn(ProgressColumn):
    """Bars per second of one task."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} bars/s" if speed else "- bars/s", style="progress.data.speed")


class ProgressBars:
    """One progress bar per series on a terminal; silent when output is piped or redirected."""

    def __init__(self, enabled: bool) -> None:
        self.progress = Progress(
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
        self.tasks: dict[SeriesKey, TaskID] = {}

    def planned(self, requests: Sequence[DownloadRequest]) -> None:
        """Add one bar per series and start drawing."""
        self.tasks = {
            r.key: self.progress.add_task(f"{r.symbol} {r.interval.value}", total=None) for r in requests
        }
        self.progress.start()

    def progressed(self, p: DownloadProgress) -> None:
        """Move one series' bar (a series with everything stored shows as done)."""
        if p.bars_planned == 0:
            self.progress.update(self.tasks[p.key], completed=1, total=1)
        else:
            self.progress.update(self.tasks[p.key], completed=p.bars_done, total=p.bars_planned)

    @contextlib.contextmanager
    def shown(self) -> Iterator[ProgressBars]:
        """Stop drawing on the way out, whatever happened."""
        try:
            yield self
        finally:
            self.progress.stop()


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


def _summary_json(outcome: DownloadOutcome) -> dict[str, object]:
    return {
        "store": str(outcome.store_root),
        "concurrency": outcome.concurrency,
        "bars_written": outcome.bars_written,
        "funding_written": outcome.funding,
        "series": [
            {
                "category": r.key.category.value,
                "symbol": r.key.symbol,
                "interval": r.key.interval.value,
                "complete": r.complete,
                "error": common.describe_error(r.error) if r.error else None,
                "bars_written": r.bars_written,
                "bars_already_stored": r.progress.bars_already_stored,
                "gap_bars_found": r.gap_bars_found,
                "requests_done": r.progress.requests_done,
                "requests_planned": r.progress.requests_planned,
                "elapsed_s": round(r.elapsed_s, 3),
            }
            for r in outcome.reports
        ],
    }


def download(
    symbols: list[str] = SYMBOLS_ARGUMENT,
    intervals: list[str] = INTERVALS_OPTION,
    since: str = typer.Option(..., "--since", help="first bar: YYYY-MM-DD[THH:MM], epoch ms, or 'listing'"),
    until: str | None = typer.Option(None, "--until", help="stop before this time (default: now)"),
    category: str = typer.Option("linear", "--category", "-c", help="linear | spot | inverse"),
    concurrency: int = typer.Option(
        0, "--concurrency", min=0, max=64, help="requests in flight (0: BYBIT_MAX_REQUESTS_PER_BATCH)"
    ),
    refresh: bool = typer.Option(
        False, "--refresh", help="fetch again even what is stored (and re-check gaps)"
    ),
    no_sql: bool = typer.Option(False, "--no-sql", help="skip SQL persistence for this run"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not warm the kline cache"),
    funding: bool = typer.Option(
        False, "--funding", help="also store the funding-rate history (perpetuals), for backtests"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Download candles into the local store (and SQL): incremental, resumable, gap-checked."""
    loaded = common.settings()
    job = parse_download(
        symbols,
        intervals,
        since,
        until,
        category=category,
        concurrency=concurrency or None,
        refresh=refresh,
        use_sql=not no_sql,
        use_cache=not no_cache,
        data_dir=data_dir,
        funding=funding,
    )
    bars = ProgressBars(enabled=common.console.is_terminal and not as_json)

    async def run() -> DownloadOutcome:
        # SIGTERM stops like Ctrl-C: what was fetched is saved, then the command exits.
        with common.stop_on_signals(cancel=True), bars.shown():
            return await run_download(loaded, job, bars)

    try:
        outcome = common.run_async(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise common.CliError(
            "interrupted: everything downloaded so far is saved; run the same command again to resume",
            code=130,
        ) from None
    if as_json:
        common.print_json(_summary_json(outcome))
    else:
        common.print_table(_summary(outcome.reports))
    if outcome.failed:
        first = outcome.failed[0]
        assert first.error is not None
        raise common.CliError(
            f"{len(outcome.failed)} of {len(outcome.reports)} series stopped early "
            f"({first.key}: {common.describe_error(first.error)}); "
            "everything downloaded so far is saved: run the same command again to resume"
        )
    if not as_json:
        common.console.print(
            f"done: {outcome.bars_written:,} new bars in {outcome.store_root}", soft_wrap=True
        )
        for symbol, count in outcome.funding.items():
            common.console.print(f"funding: {count:,} new settlements of {symbol} stored", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the `download` command to the root app."""
    app.command("download")(download)
