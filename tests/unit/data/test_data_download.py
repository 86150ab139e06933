"""The download engine against the simulator's generator: exact, incremental, resumable, gap-aware."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from klinesource import GeneratorBars, GeneratorRows, exact_truth, fail_calls, truth

from bst.data.arrays import KlineArrays
from bst.data.cache import KlineCache
from bst.data.download import DownloadError, DownloadRequest, download_klines, download_many
from bst.data.manifest import SeriesKey
from bst.data.ranges import RangeSet, spans_of_points
from bst.data.sql import KlineDatabase
from bst.data.store import KlineStore
from bst.domain.clock import ManualClock
from bst.domain.errors import BybitSymbolNotFoundError, ConfigError
from bst.domain.market import Category, Interval
from bst.sim.generator import MarketGenerator

MIN = 60_000
GEN = MarketGenerator(seed=11)
NOW = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)
KEY = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


# A 10-day range across a month boundary that holds one of the generator's maintenance windows.
START, END = ms(2023, 5, 30), ms(2023, 6, 9)


def assert_same(got: KlineArrays, want: KlineArrays) -> None:
    assert got.open_time_ms.tolist() == want.open_time_ms.tolist()
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    np.testing.assert_allclose(got.turnover, want.turnover, rtol=1e-15)


def expected_gaps(start: int, end: int, symbol: str = "BTCUSDT") -> RangeSet:
    return spans_of_points(Interval.M1, GEN.missing_minutes(symbol, start, end - 1))


@pytest.mark.parametrize("source_type", [GeneratorRows, GeneratorBars])
async def test_a_range_downloads_exactly_with_its_gaps(
    tmp_path: Path, source_type: type[GeneratorBars]
) -> None:
    store = KlineStore(tmp_path)
    source = source_type(GEN, NOW)
    report = await download_klines(
        source, store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END, clock=ManualClock(NOW)
    )
    gaps = expected_gaps(START, END)
    assert gaps  # the range was chosen to hold a maintenance window
    assert report.complete
    assert report.progress.requests_done == len(source.calls) == 15  # 14 400 minutes / 1000
    assert report.gap_bars_found == gaps.total_ms // MIN
    assert report.bars_written == 14_400 - report.gap_bars_found
    assert_same(store.read(KEY), truth(GEN, "BTCUSDT", Interval.M1, START, END))
    manifest = store.manifest(KEY)
    assert manifest.covered.spans == ((START, END),)
    assert manifest.gaps == gaps
    assert [p.name for p in store.partitions(KEY)] == ["2023-05", "2023-06"]


async def test_reruns_fetch_only_what_is_missing_and_never_refetch_gaps(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    clock = ManualClock(NOW)
    await download_klines(
        GeneratorRows(GEN, NOW), store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END, clock=clock
    )
    again = GeneratorRows(GEN, NOW)
    report = await download_klines(
        again, store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END, clock=clock
    )
    assert again.calls == []
    assert report.progress.bars_already_stored == 14_400
    wider = GeneratorRows(GEN, NOW)
    report = await download_klines(
        wider,
        store,
        Category.LINEAR,
        "BTCUSDT",
        Interval.M1,
        START - 1440 * MIN,
        END + 500 * MIN,
        clock=clock,
    )
    assert [(c[2], c[3]) for c in wider.calls] == [
        (START - 1440 * MIN, START - 440 * MIN - 1),
        (START - 440 * MIN, START - 1),
        (END, END + 500 * MIN - 1),
    ]
    assert_same(store.read(KEY), truth(GEN, "BTCUSDT", Interval.M1, START - 1440 * MIN, END + 500 * MIN))
    refresh = GeneratorRows(GEN, NOW)
    await download_klines(
        refresh, store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END, clock=clock, refresh=True
    )
    assert len(refresh.calls) == 15


async def test_a_failed_request_stops_cleanly_and_a_rerun_completes(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    clock = ManualClock(NOW)
    broken = GeneratorRows(GEN, NOW, fail_on=fail_calls(11))
    with pytest.raises(DownloadError, match="injected failure") as caught:
        await download_klines(
            broken, store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END, clock=clock, concurrency=2
        )
    report = caught.value.reports[0]
    assert not report.complete
    covered = store.manifest(KEY).covered
    assert covered  # what was fetched before the failure is saved...
    assert not covered.covers(START, END)
    stored = store.read(KEY)
    assert_same(
        stored,
        truth(GEN, "BTCUSDT", Interval.M1, START, END).take(
            np.isin(truth(GEN, "BTCUSDT", Interval.M1, START, END).open_time_ms, stored.open_time_ms)
        ),
    )
    healthy = GeneratorRows(GEN, NOW)
    await download_klines(healthy, store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END, clock=clock)
    assert 0 < len(healthy.calls) < 15  # only the windows that were not saved
    assert_same(store.read(KEY), truth(GEN, "BTCUSDT", Interval.M1, START, END))
    assert store.manifest(KEY).covered.spans == ((START, END),)
    assert store.manifest(KEY).gaps == expected_gaps(START, END)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stop_after=st.integers(0, 14), concurrency=st.integers(1, 6))
async def test_cancelled_mid_run_then_resumed_ends_exact(
    tmp_path_factory: pytest.TempPathFactory, stop_after: int, concurrency: int
) -> None:
    store = KlineStore(tmp_path_factory.mktemp("resume"))
    clock = ManualClock(NOW)
    gate = asyncio.Event()  # requests from number `stop_after` on hang until the task is cancelled
    hanging = GeneratorRows(GEN, NOW, gate=gate, gate_after=stop_after)
    task = asyncio.create_task(
        download_klines(
            hanging,
            store,
            Category.LINEAR,
            "BTCUSDT",
            Interval.M1,
            START,
            END,
            clock=clock,
            concurrency=concurrency,
        )
    )
    gated = asyncio.create_task(hanging.gated.wait())
    await asyncio.wait([task, gated], return_when=asyncio.FIRST_COMPLETED)
    gated.cancel()
    task.cancel()
    if stop_after < 15:
        with pytest.raises(asyncio.CancelledError):
            await task
    await download_klines(
        GeneratorRows(GEN, NOW), store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END, clock=clock
    )
    assert_same(store.read(KEY), truth(GEN, "BTCUSDT", Interval.M1, START, END))
    assert store.manifest(KEY).gaps == expected_gaps(START, END)


async def test_the_open_candle_is_never_stored(tmp_path: Path) -> None:
    now = ms(2024, 3, 5, 12, 30) + 17_000  # 12:30:17, the 12:30 bar is still open
    store = KlineStore(tmp_path)
    key = SeriesKey(Category.LINEAR, "ETHUSDT", Interval.M1)
    await download_klines(
        GeneratorRows(GEN, now),
        store,
        Category.LINEAR,
        "ETHUSDT",
        Interval.M1,
        ms(2024, 3, 5),
        ms(2024, 3, 6),
        clock=ManualClock(now),
    )
    stored = store.read(key)
    assert stored.open_time_ms[-1] == ms(2024, 3, 5, 12, 29)
    assert store.manifest(key).covered.spans == ((ms(2024, 3, 5), ms(2024, 3, 5, 12, 30)),)
    hourly = SeriesKey(Category.LINEAR, "ETHUSDT", Interval.H1)
    await download_klines(
        GeneratorRows(GEN, now),
        store,
        Category.LINEAR,
        "ETHUSDT",
        Interval.H1,
        ms(2024, 3, 1),
        ms(2024, 4, 1),
        clock=ManualClock(now),
    )
    assert store.read(hourly).open_time_ms[-1] == ms(2024, 3, 5, 11)


async def test_concurrency_is_bounded_across_series(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    source = GeneratorRows(GEN, NOW)
    requests = [
        DownloadRequest(Category.LINEAR, symbol, interval, START, END)
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
        for interval in (Interval.M1, Interval.M5)
    ]
    reports = await download_many(source, store, requests, clock=ManualClock(NOW), concurrency=4)
    assert all(r.complete for r in reports)
    assert source.max_in_flight == 4
    for req in requests:
        assert_same(store.read(req.key), truth(GEN, req.symbol, req.interval, START, END))
    assert len(source.calls) == 3 * (15 + 3)


async def test_sql_gets_the_exact_values_and_the_cache_the_newest_bars(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    db = KlineDatabase(f"sqlite+aiosqlite:///{tmp_path}/bst.sqlite")
    cache = KlineCache(None, max_candles=300)
    try:
        await download_klines(
            GeneratorRows(GEN, NOW),
            store,
            Category.LINEAR,
            "BTCUSDT",
            Interval.M5,
            START,
            END,
            clock=ManualClock(NOW),
            database=db,
            cache=cache,
        )
        bars = await db.fetch_bars(Category.LINEAR, "BTCUSDT", Interval.M5, START, END)
        assert [
            (b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, b.turnover) for b in bars
        ] == exact_truth(GEN, "BTCUSDT", Interval.M5, START, END)
        cached = await cache.get(SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M5))
        assert cached is not None
        assert_same(cached, truth(GEN, "BTCUSDT", Interval.M5, START, END).tail(300))
    finally:
        await db.close()


async def test_unknown_symbol_and_bad_ranges(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    with pytest.raises(DownloadError) as caught:
        await download_klines(
            GeneratorRows(GEN, NOW),
            store,
            Category.LINEAR,
            "NOPEUSDT",
            Interval.M1,
            START,
            END,
            clock=ManualClock(NOW),
        )
    assert isinstance(caught.value.__cause__, BybitSymbolNotFoundError)
    assert store.read(SeriesKey(Category.LINEAR, "NOPEUSDT", Interval.M1)).open_time_ms.size == 0
    with pytest.raises(ConfigError, match="before its end"):
        await download_klines(
            GeneratorRows(GEN, NOW), store, Category.LINEAR, "BTCUSDT", Interval.M1, END, START
        )


async def test_listing_time_clamps_the_start(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    listing = ms(2021, 6, 9, 10, 3)
    source = GeneratorRows(GEN, NOW)
    report = await download_many(
        source,
        store,
        [
            DownloadRequest(
                Category.LINEAR, "SOLUSDT", Interval.H1, ms(2021, 6, 1), ms(2021, 6, 20), listing_ms=listing
            )
        ],
        clock=ManualClock(NOW),
    )
    key = SeriesKey(Category.LINEAR, "SOLUSDT", Interval.H1)
    assert report[0].complete
    assert source.calls[0][2] == ms(2021, 6, 9, 10)
    assert store.manifest(key).listing_ms == listing
    assert store.read(key).open_time_ms[0] == ms(2021, 6, 9, 10)
