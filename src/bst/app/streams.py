"""Public-stream use cases: record raw streams losslessly, and watch one symbol's market live.

Both are sessions over one `PublicStream`: `open()` connects and subscribes (ConfigError naming the
URL when it cannot connect in time), `follow(stop, ...)` runs until `stop` is set or the duration
passes, `close()` ends it. The caller owns `stop` (the CLI sets it on SIGINT/SIGTERM) and renders.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from bst.app.inputs import parse_duration, parse_symbols
from bst.app.stores import MarketSnapshotStore, snapshot_store
from bst.app.venues import public_stream_config
from bst.bybit.codec.ws_public import kline_topic, orderbook_topic, ticker_topic, trade_topic
from bst.data.recorder import ContinuityReport, StreamRecorder
from bst.domain.clock import Clock, SystemClock
from bst.domain.errors import BybitTimeoutError, ConfigError
from bst.domain.events import TradesUpdate
from bst.domain.market import MARKET_DATA_CATEGORIES, Category, Interval, Trade, parse_symbol
from bst.domain.orderbook import OrderBook
from bst.exchange.ws_public import PublicStream, StreamStats
from bst.settings import Settings
from bst.trading.analytics import AnalyzerConfig, MarketAnalyzer, MarketMetrics

__all__ = [
    "ContinuityReport",
    "MarketMetrics",
    "OrderBook",
    "RecordJob",
    "Recording",
    "RecordingOutcome",
    "StreamStats",
    "WatchJob",
    "WatchSession",
    "parse_record",
    "parse_watch",
    "topics_for",
]

DEFAULT_CONNECT_TIMEOUT_S = 30.0


def topics_for(
    symbols: Sequence[str], depth: int, *, trades: bool, tickers: bool, klines: Sequence[Interval]
) -> list[str]:
    """Return the topics to subscribe for `symbols` (book at `depth`, 0 for none)."""
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


class _StreamSession:
    """One public stream opened, followed until stopped, then closed."""

    def __init__(
        self, stream: PublicStream, topics: list[str], connect_timeout_s: float, clock: Clock
    ) -> None:
        self.stream = stream
        self.topics = topics
        self.connect_timeout_s = connect_timeout_s
        self.clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """Return the stream's URL."""
        return self.stream.config.url

    async def open(self) -> None:
        """Connect and subscribe; ConfigError when the stream cannot connect in time."""
        await self.stream.start()
        try:
            await self.stream.wait_connected(self.connect_timeout_s)
        except BybitTimeoutError:
            raise ConfigError(
                f"cannot reach {self.url} within {self.connect_timeout_s:g} s "
                "(check BYBIT_ENV / BYBIT_WS_BASE_URL and the network)"
            ) from None
        await self.stream.subscribe(self.topics)

    async def close(self) -> None:
        """Stop background work and the stream."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.stream.close()

    async def __aenter__(self) -> Self:
        try:
            await self.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(work))

    async def _drain(self, on_event: Callable[[Any], None] | None) -> None:
        async for event in self.stream:
            if on_event is not None:
                on_event(event)

    async def _wait(self, stop: asyncio.Event, duration_s: float) -> None:
        """Return after `duration_s` of the clock (0: never) or once `stop` is set."""
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
        if duration_s > 0:
            waits.add(asyncio.ensure_future(self.clock.sleep(duration_s)))
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


# --- recording -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordJob:
    """A checked `record` request: what to subscribe, where to write, for how long (0: until stopped)."""

    category: Category
    topics: list[str]
    target: Path
    duration_s: float
    compress_level: int = 6
    to_sql: bool = False
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S


def parse_record(
    settings: Settings,
    symbols: Sequence[str],
    *,
    category: str = "linear",
    depth: int = 50,
    trades: bool = True,
    tickers: bool = False,
    klines: Sequence[str] = (),
    out: Path | None = None,
    duration: str = "0",
    compress_level: int = 6,
    to_sql: bool = False,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> RecordJob:
    """Return the recording typed in (default directory: <data_dir>/recordings), or ConfigError."""
    cat = Category.parse(category, MARKET_DATA_CATEGORIES)
    names = parse_symbols(symbols)
    intervals = [Interval.parse(k) for k in klines]
    topics = topics_for(names, depth, trades=trades, tickers=tickers, klines=intervals)
    if not topics:
        raise ConfigError("nothing to record: give --depth, --trades, --tickers or --kline")
    seconds = parse_duration(duration)
    target = out if out is not None else settings.data_dir / "recordings"
    return RecordJob(cat, topics, target, seconds, compress_level, to_sql, connect_timeout_s)


@dataclass(frozen=True, slots=True)
class RecordingOutcome:
    """What a recording wrote: the continuity report, its files' directory and the SQL rows."""

    report: ContinuityReport
    target: Path
    sql_rows: int | None
    sql_url: str | None

    @property
    def report_path(self) -> Path:
        """Return the JSON continuity report's path."""
        return self.target / f"report-{self.report.category}-{self.report.started_ms}.json"


class Recording(_StreamSession):
    """Raw public messages to hourly gzip files (and SQL), with marks for every connection change."""

    def __init__(self, settings: Settings, job: RecordJob, *, clock: Clock | None = None) -> None:
        clock = clock or SystemClock()
        self.job = job
        self.recorder = StreamRecorder(
            job.target, job.category, job.topics, started_ms=clock.now_ms(), compresslevel=job.compress_level
        )
        self.sql: MarketSnapshotStore | None = snapshot_store(settings) if job.to_sql else None
        stream = PublicStream(public_stream_config(settings, job.category), clock=clock, on_raw=self._on_raw)
        super().__init__(stream, job.topics, job.connect_timeout_s, clock)
        self._outcome: RecordingOutcome | None = None

    def _on_raw(self, text: str, recv_ms: int) -> None:
        self.recorder.write(text, recv_ms)
        if self.sql is not None:
            self.sql.write(self.job.category, text, recv_ms)

    async def follow(self, stop: asyncio.Event) -> None:
        """Record until `stop` is set or the job's duration passes."""
        if self.sql is not None:
            await self.sql.open()
        self.recorder.mark(self.clock.now_ms(), "subscribed", topics=self.topics, url=self.url)
        self._spawn(self._drain(None))
        self._spawn(self._mark_changes())
        await self._wait(stop, self.job.duration_s)

    async def close(self) -> None:
        """Stop the stream, flush SQL and close the files (idempotent)."""
        try:
            await super().close()
        finally:
            if self.sql is not None:
                await self.sql.close()
            if not self.recorder.closed:
                report = self.recorder.close(self.clock.now_ms())
                self._outcome = RecordingOutcome(
                    report,
                    self.job.target,
                    self.sql.rows_written if self.sql is not None else None,
                    self.sql.safe_url if self.sql is not None else None,
                )

    @property
    def outcome(self) -> RecordingOutcome:
        """Return what was recorded (after `close`)."""
        if self._outcome is None:
            raise RuntimeError("the recording is still open")
        return self._outcome

    async def _mark_changes(self) -> None:
        """Write a mark into the recording whenever the connection drops, comes back or resyncs."""

        def counters() -> tuple[int, int, int]:
            stats = self.stream.stats
            return stats.disconnects, stats.reconnects, stats.resyncs

        seen = counters()
        while True:
            await self.stream.wait_state(lambda last=seen: counters() != last)  # type: ignore[misc]
            now = counters()
            for kind, old, new in zip(("disconnect", "reconnect", "resync"), seen, now, strict=True):
                if new > old:
                    self.recorder.mark(self.clock.now_ms(), kind, count=new)
            seen = now


# --- watching --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchJob:
    """A checked `watch` request: one symbol's book at `depth` and its trades."""

    category: Category
    symbol: str
    depth: int
    duration_s: float
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S


def parse_watch(
    symbol: str,
    *,
    category: str = "linear",
    depth: int = 50,
    duration: str = "0",
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> WatchJob:
    """Return the watch typed in, or ConfigError."""
    return WatchJob(
        Category.parse(category, MARKET_DATA_CATEGORIES),
        parse_symbol(symbol),
        depth,
        parse_duration(duration),
        connect_timeout_s,
    )


class WatchSession(_StreamSession):
    """One symbol's live book, trades and metrics (imbalance, spread, flow, volatility)."""

    def __init__(
        self, settings: Settings, job: WatchJob, *, clock: Clock | None = None, recent_trades: int = 12
    ) -> None:
        clock = clock or SystemClock()
        self.job = job
        stream = PublicStream(public_stream_config(settings, job.category), clock=clock)
        super().__init__(
            stream,
            [orderbook_topic(job.depth, job.symbol), trade_topic(job.symbol)],
            job.connect_timeout_s,
            clock,
        )
        self.analyzer = MarketAnalyzer(AnalyzerConfig(imbalance_depths=(1, 5, 10, 20)), books=stream.books)
        self.recent: deque[Trade] = deque(maxlen=recent_trades)

    @property
    def connected(self) -> bool:
        """Return whether the stream is connected now."""
        return self.stream.connected

    @property
    def stats(self) -> StreamStats:
        """Return the stream's counters (messages, gaps, latency, reconnects)."""
        return self.stream.stats

    def book(self) -> OrderBook | None:
        """Return the symbol's book, None before the first snapshot."""
        return self.stream.book(self.job.symbol, self.job.depth)

    def metrics(self) -> MarketMetrics | None:
        """Return the symbol's current metrics, None before there is a book."""
        return self.analyzer.metrics(self.job.symbol, self.job.category)

    def _on_event(self, event: Any) -> None:
        self.analyzer.on_event(event)
        if isinstance(event, TradesUpdate):
            self.recent.extend(event.trades)

    async def follow(self, stop: asyncio.Event, *, tick_s: float, on_tick: Callable[[], None]) -> None:
        """Apply events until `stop` or the job's duration; call `on_tick` every `tick_s` and at the end."""
        self._spawn(self._drain(self._on_event))

        async def ticks() -> None:
            while True:
                await self.clock.sleep(tick_s)
                on_tick()

        self._spawn(ticks())
        try:
            await self._wait(stop, self.job.duration_s)
        finally:
            on_tick()
