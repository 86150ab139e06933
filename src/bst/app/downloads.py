"""Candle downloads from user input: parse, check against the exchange, then run `bst.data`'s engine.

`parse_download` checks everything that needs no network (symbols, intervals, dates, category);
`run_download` aligns on the exchange's clock, checks each symbol against instruments-info and
its listing time, and hands the planned requests to `bst.data.download.download_many`. Progress
reaches the caller through a `DownloadObserver`; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bst.app.clock import ServerClock
from bst.app.inputs import parse_intervals, parse_symbols, parse_time
from bst.app.stores import kline_cache, kline_store, persisting_database
from bst.app.venues import BybitRestClient, rest_client
from bst.data.download import DownloadProgress, DownloadReport, DownloadRequest, download_many
from bst.data.funding import FundingStore, download_funding
from bst.data.manifest import SeriesKey
from bst.domain.errors import ConfigError
from bst.domain.market import MARKET_DATA_CATEGORIES, Category, Interval
from bst.settings import Settings

__all__ = [
    "LISTING",
    "DownloadJob",
    "DownloadObserver",
    "DownloadOutcome",
    "DownloadProgress",
    "DownloadReport",
    "DownloadRequest",
    "SeriesKey",
    "iso_day",
    "parse_download",
    "run_download",
]

LISTING = "listing"
"""The --since value meaning "from each symbol's listing"."""
FUNDED_CATEGORIES = (Category.LINEAR, Category.INVERSE)
"""The categories with funding (perpetual contracts)."""


def iso_day(ts_ms: int) -> str:
    """Return a UTC date, or date and time when the time is not midnight."""
    dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return (
        dt.strftime("%Y-%m-%d") if dt.hour == dt.minute == dt.second == 0 else dt.strftime("%Y-%m-%dT%H:%M")
    )


@dataclass(frozen=True, slots=True)
class DownloadJob:
    """A checked download request (no network needed to check it).

    `since_ms` None: from each symbol's listing; `until_ms` None: up to the exchange's now;
    `concurrency` None: BYBIT_MAX_REQUESTS_PER_BATCH.
    """

    category: Category
    symbols: tuple[str, ...]
    intervals: tuple[Interval, ...]
    since_ms: int | None
    until_ms: int | None
    concurrency: int | None = None
    refresh: bool = False
    use_sql: bool = True
    use_cache: bool = True
    data_dir: Path | None = None
    funding: bool = False
    """Also store each symbol's funding-rate history over the same range (perpetuals only)."""


def parse_download(
    symbols: Sequence[str],
    intervals: Sequence[str],
    since: str,
    until: str | None = None,
    *,
    category: str = "linear",
    concurrency: int | None = None,
    refresh: bool = False,
    use_sql: bool = True,
    use_cache: bool = True,
    data_dir: Path | None = None,
    funding: bool = False,
) -> DownloadJob:
    """Return the download typed in, or raise ConfigError naming the first bad argument."""
    cat = Category.parse(category, MARKET_DATA_CATEGORIES)
    if funding and cat not in FUNDED_CATEGORIES:
        raise ConfigError(
            f"--funding: {cat.value} has no funding; it exists for linear and inverse contracts"
        )
    wanted_intervals = parse_intervals(intervals)
    wanted_symbols = parse_symbols(symbols)
    until_ms = parse_time(until, "--until") if until is not None else None
    since_ms: int | None = None
    if since.strip().lower() != LISTING:
        since_ms = parse_time(since, "--since")
        if until_ms is not None and since_ms >= until_ms:
            raise ConfigError(f"--since {iso_day(since_ms)} is not before --until {iso_day(until_ms)}")
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"invalid --concurrency {concurrency}: give 1 or more requests in flight")
    return DownloadJob(
        cat,
        wanted_symbols,
        wanted_intervals,
        since_ms,
        until_ms,
        concurrency,
        refresh,
        use_sql,
        use_cache,
        data_dir,
        funding,
    )


class DownloadObserver(Protocol):
    """What a caller sees of a running download."""

    def planned(self, requests: Sequence[DownloadRequest]) -> None:
        """Take the checked series, before the first candle request."""

    def progressed(self, progress: DownloadProgress) -> None:
        """Take one series' counters (after every window)."""


@dataclass(frozen=True, slots=True)
class DownloadOutcome:
    """What a download did: one report per series, the store it wrote to, the concurrency used."""

    reports: list[DownloadReport]
    store_root: Path
    concurrency: int
    funding: dict[str, int] = field(default_factory=dict)
    """With `--funding`: the new funding settlements stored, per symbol."""

    @property
    def failed(self) -> list[DownloadReport]:
        """Return the reports of series that stopped early."""
        return [r for r in self.reports if r.error is not None]

    @property
    def bars_written(self) -> int:
        """Return the new bars stored across all series."""
        return sum(r.bars_written for r in self.reports)


async def _plan(client: BybitRestClient, job: DownloadJob, now_ms: int) -> list[DownloadRequest]:
    """Check symbols against instruments-info and the start against each listing time."""
    if job.since_ms is not None and job.since_ms > now_ms:
        raise ConfigError(f"--since {iso_day(job.since_ms)} is in the future")
    until_ms = job.until_ms if job.until_ms is not None else now_ms
    requests: list[DownloadRequest] = []
    for symbol in job.symbols:
        inst = await client.get_instrument(job.category, symbol)
        listed = inst.launch_time_ms or None
        if job.since_ms is None:
            if listed is None:
                raise ConfigError(f"{symbol} ({job.category.value}) has no listing time; give --since a date")
            start = listed
        else:
            start = job.since_ms
            if listed is not None and start < Interval.M1.open_time_ms(listed):
                raise ConfigError(
                    f"{symbol} ({job.category.value}) was listed on {iso_day(listed)}; "
                    f"use --since {iso_day(listed)} or later (or --since listing)"
                )
        if start >= until_ms:
            raise ConfigError(f"--since {iso_day(start)} is not before --until {iso_day(until_ms)}")
        requests.extend(
            DownloadRequest(job.category, symbol, iv, start, until_ms, listed) for iv in job.intervals
        )
    return requests


async def run_download(
    settings: Settings, job: DownloadJob, observer: DownloadObserver | None = None
) -> DownloadOutcome:
    """Download the job's candles into the store (and SQL, cache); resumable, gap-checked.

    At most `job.concurrency` (else BYBIT_MAX_REQUESTS_PER_BATCH) candle requests are in flight.
    Cancelling the task stops it with everything fetched so far saved.
    """
    store = kline_store(settings, job.data_dir)
    database = persisting_database(settings, wanted=job.use_sql)
    cache = kline_cache(settings, wanted=job.use_cache)
    concurrency = job.concurrency if job.concurrency is not None else settings.max_requests_per_batch
    try:
        async with rest_client(settings) as client:
            clock = await ServerClock.aligned_to(client)
            requests = await _plan(client, job, clock.now_ms())
            if database is not None:
                await database.open()
            if observer is not None:
                observer.planned(requests)
            reports = await download_many(
                client,
                store,
                requests,
                database=database,
                cache=cache,
                clock=clock,
                concurrency=concurrency,
                refresh=job.refresh,
                progress=observer.progressed if observer is not None else None,
            )
            funding = await _download_funding(client, job, store.data_dir, requests) if job.funding else {}
    finally:
        if database is not None:
            await database.close()
        if cache is not None:
            await cache.close()
    return DownloadOutcome(reports, store.root, concurrency, funding)


async def _download_funding(
    client: BybitRestClient, job: DownloadJob, root: Path, requests: Sequence[DownloadRequest]
) -> dict[str, int]:
    """Store each symbol's funding settlements over the range its candles were asked for."""
    store = FundingStore(root)
    stored: dict[str, int] = {}
    for symbol in job.symbols:
        spans = [(r.start_ms, r.end_ms) for r in requests if r.symbol == symbol]
        if spans:
            start, end = min(s for s, _ in spans), max(e for _, e in spans)
            stored[symbol] = await download_funding(client, store, job.category, symbol, start, end)
    return stored
