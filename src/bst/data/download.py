"""The candle download engine: planned, concurrent, incremental, resumable and gap-aware.

For one series the engine subtracts what the manifest already covers from the requested range,
plans the rest as windows of `limit` bars, and fetches them concurrently (the source owns the
rate budget; `concurrency` bounds requests in flight). Bars are buffered per store file (a month,
or a year for D/W/M) and committed when every window touching that file is done: SQL first, then
the Parquet file, then the manifest, so the manifest never claims bars that are not saved.
Commits run in one writer task per series, in the order files complete, while the workers go on
fetching; at most WRITE_BACKLOG_FILES complete files wait for it (then the workers wait too).

Resuming after a crash or a `kill -9` is a re-run: committed files are covered and skipped,
the rest is fetched again and merged by open time (no gap, no duplicate). A grid bar the exchange
has no candle for is recorded as a known gap and not requested again (unless `refresh=True`).
The candle still open at `clock.now_ms()` is never stored.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from bst.data.arrays import KlineArrays, concat
from bst.data.cache import KlineCache
from bst.data.fetching import Page, closed_before, fetch_page, rows_between
from bst.data.manifest import SeriesKey
from bst.data.ranges import RangeSet, Span, Window, count_bars, count_bars_in, find_gaps, plan_windows
from bst.data.sql import KlineDatabase, KlineRow
from bst.data.store import KlineStore, partition_span
from bst.domain.clock import Clock, SystemClock
from bst.domain.errors import BstError, ConfigError
from bst.domain.market import Category, Interval, parse_symbol
from bst.domain.ports import KlineSource

log = structlog.get_logger(__name__)

SETTLE_MS = 5 * 60_000
"""Missing bars this close to now may simply not be published yet: left uncovered, not gaps."""

WRITE_BACKLOG_FILES = 2
"""Complete files that may wait for the writer before a worker that completes another waits."""


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """Download the bars of one series opening in `[start_ms, end_ms)`."""

    category: Category
    symbol: str
    interval: Interval
    start_ms: int
    end_ms: int
    listing_ms: int | None = None

    @property
    def key(self) -> SeriesKey:
        """Return the series."""
        return SeriesKey(self.category, self.symbol, self.interval)


@dataclass(slots=True)
class DownloadProgress:
    """Counters of one series' download, passed to the progress callback after every window."""

    key: SeriesKey
    bars_planned: int = 0
    bars_done: int = 0
    bars_received: int = 0
    requests_planned: int = 0
    requests_done: int = 0
    bars_already_stored: int = 0


@dataclass(slots=True)
class DownloadReport:
    """The outcome of one series' download."""

    key: SeriesKey
    requested: RangeSet
    progress: DownloadProgress
    bars_written: int = 0
    gap_bars_found: int = 0
    elapsed_s: float = 0.0
    error: BaseException | None = None
    committed: list[Span] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Return True when every planned window was fetched and saved."""
        return self.error is None and self.progress.requests_done == self.progress.requests_planned


class DownloadError(BstError):
    """A download stopped early; everything fetched before the failure is saved."""

    def __init__(self, message: str, reports: Sequence[DownloadReport]) -> None:
        super().__init__(message)
        self.reports = list(reports)


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(slots=True)
class _FileBuffer:
    """Bars waiting for every window that touches one store file."""

    start_ms: int
    end_ms: int
    pending: int = 0
    parts: list[KlineArrays] = field(default_factory=list)
    rows: list[KlineRow] = field(default_factory=list)
    fetched: list[Span] = field(default_factory=list)
    gaps: list[Span] = field(default_factory=list)


class _SeriesDownload:
    """The state of one series' run: windows, per-file buffers, counters."""

    def __init__(
        self,
        request: DownloadRequest,
        source: KlineSource,
        store: KlineStore,
        *,
        database: KlineDatabase | None,
        clock: Clock,
        slots: asyncio.Semaphore,
        concurrency: int,
        limit: int,
        refresh: bool,
        progress: ProgressCallback | None,
    ) -> None:
        self.request = request
        self.key = request.key
        self.source = source
        self.store = store
        self.database = database
        self.clock = clock
        self.slots = slots
        self.concurrency = concurrency
        self.limit = limit
        self.refresh = refresh
        self.on_progress = progress
        self.now_ms = clock.now_ms()
        self.open_bar_ms = closed_before(request.interval, self.now_ms)
        self.write_lock = asyncio.Lock()
        self.write_queue: asyncio.Queue[_FileBuffer | None] = asyncio.Queue()
        self.write_slots = asyncio.Semaphore(WRITE_BACKLOG_FILES)
        self.buffers: dict[int, _FileBuffer] = {}
        self.window_files: list[list[int]] = []
        self.windows: list[Window] = []
        self.next_window = 0
        self.failure: BaseException | None = None
        self.report = DownloadReport(self.key, RangeSet(), DownloadProgress(self.key))

    def plan(self) -> None:
        """Work out the windows still missing from the store."""
        req = self.request
        start = req.start_ms
        if req.listing_ms is not None:
            start = max(start, req.interval.open_time_ms(req.listing_ms))
        end = min(req.end_ms, self.open_bar_ms)
        requested = RangeSet.of([(start, end)])
        self.report.requested = requested
        covered = RangeSet() if self.refresh else self.store.manifest(self.key).covered
        missing = requested.subtract(covered)
        self.windows = plan_windows(req.interval, missing, self.limit)
        progress = self.report.progress
        progress.requests_planned = len(self.windows)
        progress.bars_planned = sum(w.bars for w in self.windows)
        progress.bars_already_stored = count_bars_in(req.interval, requested) - progress.bars_planned
        for window in self.windows:
            files: list[int] = []
            file_start, file_end = partition_span(req.interval, window.start_ms)
            while file_start < window.end_ms:
                buffer = self.buffers.get(file_start)
                if buffer is None:
                    buffer = self.buffers[file_start] = _FileBuffer(file_start, file_end)
                buffer.pending += 1
                files.append(file_start)
                file_start, file_end = partition_span(req.interval, file_end)
            self.window_files.append(files)

    async def run(self) -> DownloadReport:
        """Fetch every planned window and commit the files; return the report (error included)."""
        started = self.clock.monotonic()
        self._notify()
        writer = asyncio.create_task(self._writer())
        workers = [
            asyncio.create_task(self._worker()) for _ in range(min(self.concurrency, len(self.windows)))
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            # Save whatever is complete, even on cancellation (Ctrl-C) or a failed window:
            # first what waits for the writer (in its order), then the partly fetched files.
            try:
                self.write_queue.put_nowait(None)
                await writer
                await self._commit_remaining()
            finally:
                self.report.elapsed_s = self.clock.monotonic() - started
        self.report.error = self.failure
        return self.report

    async def _worker(self) -> None:
        while self.failure is None and self.next_window < len(self.windows):
            index = self.next_window
            self.next_window += 1
            window = self.windows[index]
            try:
                async with self.slots:
                    if self.failure is not None:
                        return
                    page = await fetch_page(
                        self.source,
                        self.key.category,
                        self.key.symbol,
                        self.key.interval,
                        window.start_ms,
                        window.end_ms,
                        limit=self.limit,
                        want_rows=self.database is not None,
                    )
                await self._complete(index, window, page)
            except Exception as e:
                if self.failure is None:
                    self.failure = e
                    log.warning(
                        "download.stopped",
                        series=str(self.key),
                        window_start_ms=window.start_ms,
                        error=str(e),
                    )
                return

    async def _complete(self, index: int, window: Window, page: Page) -> None:
        interval = self.key.interval
        received = page.bars.open_time_ms
        covered_end = window.end_ms
        gaps = find_gaps(interval, window.start_ms, window.end_ms, received)
        if gaps and gaps.spans[-1][1] == window.end_ms and window.end_ms > self.now_ms - SETTLE_MS:
            # The newest bars may not be published yet: cover only up to the last bar received.
            covered_end = gaps.spans[-1][0]
            gaps = gaps.clip(window.start_ms, covered_end)
        progress = self.report.progress
        progress.requests_done += 1
        progress.bars_done += window.bars
        progress.bars_received += len(page.bars)
        self.report.gap_bars_found += count_bars_in(interval, gaps)
        ready: list[_FileBuffer] = []
        for file_start in self.window_files[index]:
            buffer = self.buffers[file_start]
            lo, hi = max(window.start_ms, buffer.start_ms), min(covered_end, buffer.end_ms)
            if lo < hi:
                buffer.parts.append(page.bars.between(lo, hi))
                buffer.fetched.append((lo, hi))
                buffer.gaps.extend(gaps.clip(lo, hi))
                if page.rows is not None:
                    whole = lo == window.start_ms and hi == window.end_ms
                    buffer.rows.extend(page.rows if whole else rows_between(page.rows, lo, hi))
            buffer.pending -= 1
            if buffer.pending == 0:
                ready.append(buffer)
        self._notify()
        for buffer in ready:
            await self.write_slots.acquire()
            self.write_queue.put_nowait(buffer)

    async def _writer(self) -> None:
        """Commit complete files in the order they were queued until the queue's end marker."""
        while (buffer := await self.write_queue.get()) is not None:
            try:
                await self._commit(buffer)
            except Exception as e:
                if self.failure is None:
                    self.failure = e  # the workers stop; the files already queued are still tried
                log.error("download.commit_failed", series=str(self.key), error=str(e))
            finally:
                self.write_slots.release()

    async def _commit(self, buffer: _FileBuffer) -> None:
        """Save one file's buffered bars: SQL, then Parquet, then the manifest."""
        if buffer.start_ms not in self.buffers:
            return
        del self.buffers[buffer.start_ms]
        if not buffer.fetched:
            return
        bars = concat(buffer.parts).normalized()
        fetched = RangeSet.of(buffer.fetched)
        gaps = RangeSet.of(buffer.gaps)
        async with self.write_lock:
            if self.database is not None and buffer.rows:
                await self.database.upsert_klines(
                    self.key.category, self.key.symbol, self.key.interval, buffer.rows
                )
            gained = await asyncio.to_thread(
                self.store.write,
                self.key,
                bars,
                fetched,
                gaps,
                self.clock.now_ms(),
                listing_ms=self.request.listing_ms,
            )
        self.report.bars_written += gained
        self.report.committed.extend(fetched.spans)
        log.info(
            "download.saved",
            series=str(self.key),
            start_ms=fetched.first_ms,
            end_ms=fetched.last_ms,
            bars=len(bars),
            gained=gained,
            gap_bars=count_bars_in(self.key.interval, gaps),
        )

    async def _commit_remaining(self) -> None:
        for buffer in sorted(self.buffers.values(), key=lambda b: b.start_ms):
            try:
                await self._commit(buffer)
            except Exception as e:
                if self.failure is None:
                    self.failure = e
                log.error("download.commit_failed", series=str(self.key), error=str(e))

    def _notify(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.report.progress)


def check_range(interval: Interval, start_ms: int, end_ms: int) -> None:
    """Raise ConfigError when `[start_ms, end_ms)` is empty or reversed."""
    if start_ms >= end_ms:
        raise ConfigError("the start of the range must be before its end (check --since and --until)")
    if count_bars(interval, start_ms, end_ms) == 0:
        raise ConfigError(f"no {interval.value} bar opens between the start and the end of the range")


async def download_klines(
    source: KlineSource,
    store: KlineStore,
    category: Category,
    symbol: str,
    interval: Interval,
    start_ms: int,
    end_ms: int,
    *,
    database: KlineDatabase | None = None,
    cache: KlineCache | None = None,
    clock: Clock | None = None,
    concurrency: int = 8,
    limit: int = 1000,
    listing_ms: int | None = None,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> DownloadReport:
    """Download one series' bars opening in `[start_ms, end_ms)` into the store (and SQL, cache).

    Raises DownloadError (with the report) when a request fails for good; what was fetched
    before is saved and a re-run continues from there.
    """
    request = DownloadRequest(category, parse_symbol(symbol), interval, start_ms, end_ms, listing_ms)
    reports = await download_many(
        source,
        store,
        [request],
        database=database,
        cache=cache,
        clock=clock,
        concurrency=concurrency,
        limit=limit,
        refresh=refresh,
        progress=progress,
    )
    report = reports[0]
    if report.error is not None:
        raise DownloadError(f"download of {report.key} stopped: {report.error}", reports) from report.error
    return report


async def download_many(
    source: KlineSource,
    store: KlineStore,
    requests: Sequence[DownloadRequest],
    *,
    database: KlineDatabase | None = None,
    cache: KlineCache | None = None,
    clock: Clock | None = None,
    concurrency: int = 8,
    limit: int = 1000,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> list[DownloadReport]:
    """Download several series at once, at most `concurrency` requests in flight in total.

    Returns one report per request, in order; a failed series carries its error in the report
    and does not stop the others. Requests for the same series run one after another.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    if not 1 <= limit <= 1000:
        raise ConfigError("limit must be between 1 and 1000")
    for req in requests:
        check_range(req.interval, req.start_ms, req.end_ms)
    chosen_clock: Clock = clock or SystemClock()
    slots = asyncio.Semaphore(concurrency)
    by_key: dict[SeriesKey, list[int]] = defaultdict(list)
    for i, req in enumerate(requests):
        by_key[req.key].append(i)
    reports: list[DownloadReport | None] = [None] * len(requests)

    async def run_series(indexes: list[int]) -> None:
        key = requests[indexes[0]].key
        done: list[DownloadReport] = []
        try:
            with store.lock(key):
                for i in indexes:
                    job = _SeriesDownload(
                        requests[i],
                        source,
                        store,
                        database=database,
                        clock=chosen_clock,
                        slots=slots,
                        concurrency=concurrency,
                        limit=limit,
                        refresh=refresh,
                        progress=progress,
                    )
                    await asyncio.to_thread(job.plan)
                    report = await job.run()
                    reports[i] = report
                    done.append(report)
                    if report.error is not None:
                        break
        except BstError as e:  # the series lock, a corrupt manifest: this series only
            for i in indexes:
                if reports[i] is None:
                    reports[i] = DownloadReport(key, RangeSet(), DownloadProgress(key), error=e)
        for i in indexes:
            if reports[i] is None:
                skipped = BstError("skipped after an earlier failure of the same series")
                reports[i] = DownloadReport(key, RangeSet(), DownloadProgress(key), error=skipped)
        if cache is not None and any(r.bars_written for r in done):
            await _warm_cache(store, cache, key)

    await asyncio.gather(*(run_series(indexes) for indexes in by_key.values()))
    return [r for r in reports if r is not None]


async def _warm_cache(store: KlineStore, cache: KlineCache, key: SeriesKey) -> None:
    try:
        newest = await asyncio.to_thread(store.tail, key, cache.max_candles)
    except BstError as e:
        log.warning("download.cache_warm_failed", series=str(key), error=str(e))
        return
    await cache.put(key, newest)
