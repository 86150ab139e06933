"""The download engine through the real REST client against `bst sim` on loopback.

Ground truth is the sim's generator: every stored bar must equal it, and the manifest's gaps must
be exactly the minutes the generator has no bar for (its maintenance windows).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bst.data.arrays import KlineArrays
from bst.data.download import DownloadError, download_klines
from bst.data.manifest import SeriesKey
from bst.data.ranges import RangeSet, spans_of_points
from bst.data.sql import KlineDatabase
from bst.data.store import KlineStore
from bst.data.verify import verify_series
from bst.domain.clock import ManualClock, SystemClock
from bst.domain.market import Category, Interval
from bst.exchange.config import ClientConfig, RateLimitConfig, RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.exchange.throttle import RateLimiter
from bst.sim.faults import FaultConfig

MIN = 60_000
SIM_NOW_MS = 1_717_243_230_500  # the conftest sim clock: 2024-06-01 12:00:30.5 UTC
FAST_RETRY = RetryConfig(
    max_attempts=8, initial_delay_s=0.01, backoff_factor=2.0, max_delay_s=0.1, jitter_s=0.01
)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def client_for(sim: Any, **overrides: Any) -> BybitRestClient:
    """Return a client with its own rate budget (tests must not share the process-wide one)."""
    config = ClientConfig(base_url=sim.base_url, **{"retry": FAST_RETRY, "timeout_s": 2.0, **overrides})
    limiter = RateLimiter(SystemClock(), config.rate.requests_per_window, config.rate.window_s)
    return BybitRestClient(config, limiter=limiter)


def ground_truth(sim: Any, symbol: str, interval: Interval, start: int, end: int) -> KlineArrays:
    cols = sim.generator.bar_columns(symbol, interval, start, end - 1).to_float()
    names = ("open", "high", "low", "close", "volume", "turnover")
    return KlineArrays(np.asarray(cols["open_time_ms"], dtype=np.int64), *(cols[n] for n in names))


def assert_exact(stored: KlineArrays, truth: KlineArrays) -> None:
    assert stored.open_time_ms.tolist() == truth.open_time_ms.tolist()
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(stored, name), getattr(truth, name)), name
    # The generator's float turnover is its exact integer over a power of ten; parsing the
    # printed text may differ in the last bit above 2**53 units.
    np.testing.assert_allclose(stored.turnover, truth.turnover, rtol=2e-16, atol=0)


def missing(sim: Any, symbol: str, start: int, end: int) -> RangeSet:
    return spans_of_points(Interval.M1, sim.generator.missing_minutes(symbol, start, end - 1))


async def test_one_year_of_minutes_matches_the_generator_bar_by_bar(sim: Any, tmp_path: Path) -> None:
    start, end = ms(2023, 1, 1), ms(2024, 1, 1)
    store = KlineStore(tmp_path)
    async with client_for(sim) as client:
        report = await download_klines(
            client, store, Category.LINEAR, "BTCUSDT", Interval.M1, start, end,
            clock=ManualClock(SIM_NOW_MS), concurrency=8,
        )  # fmt: skip
    key = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
    gaps = missing(sim, "BTCUSDT", start, end)
    assert report.complete
    assert report.progress.requests_done == 526
    assert gaps.total_ms > 0
    assert report.gap_bars_found == gaps.total_ms // MIN
    assert report.bars_written == 525_600 - report.gap_bars_found
    assert_exact(store.read(key), ground_truth(sim, "BTCUSDT", Interval.M1, start, end))
    manifest = store.manifest(key)
    assert manifest.covered.spans == ((start, end),)
    assert manifest.gaps == gaps
    assert verify_series(store, key).ok
    assert len(store.partitions(key)) == 12


async def test_faults_and_timeouts_still_end_exact(sim_factory: Any, tmp_path: Path) -> None:
    faults = FaultConfig(
        error_rate=0.08, http_5xx_rate=0.05, drop_rate=0.03, timeout_rate=0.03, timeout_hold_s=2.0,
        rate_limit_rate=0.05, seed=5,
    )  # fmt: skip
    sim = sim_factory(faults=faults, ip_limit_requests=0)
    start, end = ms(2023, 6, 1), ms(2023, 7, 1)
    store = KlineStore(tmp_path)
    db = KlineDatabase(f"sqlite+aiosqlite:///{tmp_path}/bst.sqlite")
    rate = RateLimitConfig(penalty_s=0.02)
    try:
        async with client_for(sim, timeout_s=0.3, rate=rate) as client:
            for _attempt in range(3):  # a window may exhaust its retries: re-running resumes
                try:
                    await download_klines(
                        client, store, Category.LINEAR, "ETHUSDT", Interval.M1, start, end,
                        clock=ManualClock(SIM_NOW_MS), database=db, concurrency=6,
                    )  # fmt: skip
                    break
                except DownloadError:
                    continue
            else:
                pytest.fail("three runs did not complete")
        key = SeriesKey(Category.LINEAR, "ETHUSDT", Interval.M1)
        assert_exact(store.read(key), ground_truth(sim, "ETHUSDT", Interval.M1, start, end))
        assert store.manifest(key).gaps == missing(sim, "ETHUSDT", start, end)
        rows = await db.fetch_bars(Category.LINEAR, "ETHUSDT", Interval.M1, start, end)
        assert rows == sim.generator.bars("ETHUSDT", Interval.M1, start, end - 1)
        injected = sim.state.faults.injected
        assert all(injected[kind] > 0 for kind in ("error", "5xx", "drop", "timeout", "ratelimit")), injected
    finally:
        await db.close()


async def test_a_breached_ip_limit_is_waited_out_and_ends_exact(sim_factory: Any, tmp_path: Path) -> None:
    # The sim allows 15 requests a second; the client believes in Bybit's 550 per 5 s, so it
    # breaches, gets HTTP 403s, backs off and retries.
    sim = sim_factory(clock=SystemClock(), ip_limit_requests=15, ip_limit_window_s=1.0)
    start, end = ms(2023, 6, 1), ms(2023, 6, 21)
    store = KlineStore(tmp_path)
    retry = RetryConfig(
        max_attempts=20, initial_delay_s=0.05, backoff_factor=1.5, max_delay_s=0.5, jitter_s=0.02
    )
    async with client_for(sim, retry=retry, rate=RateLimitConfig(penalty_s=0.3)) as client:
        report = await download_klines(
            client, store, Category.LINEAR, "BTCUSDT", Interval.M1, start, end, concurrency=8
        )
    key = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
    assert report.complete
    assert report.progress.requests_done == 29
    assert sim.state.requests_served > 29  # the refused (HTTP 403) requests were repeated
    assert_exact(store.read(key), ground_truth(sim, "BTCUSDT", Interval.M1, start, end))


async def test_higher_intervals_derived_from_minutes_equal_the_exchange_bars(
    sim: Any, tmp_path: Path
) -> None:
    from bst.data.loader import load_klines

    start, end = ms(2023, 5, 29), ms(2023, 7, 3)  # whole weeks (Mondays) around a month
    store = KlineStore(tmp_path)
    async with client_for(sim) as client:
        for interval in (Interval.M1, Interval.H1, Interval.H4, Interval.D1, Interval.W1):
            await download_klines(
                client, store, Category.LINEAR, "SOLUSDT", interval, start, end, clock=ManualClock(SIM_NOW_MS)
            )
    for interval in (Interval.H1, Interval.H4, Interval.D1, Interval.W1):
        derived = load_klines("SOLUSDT", interval, start, end, data_dir=tmp_path, from_1m=True, as_numpy=True)
        exchange = load_klines("SOLUSDT", interval, start, end, data_dir=tmp_path, as_numpy=True)
        assert derived.open_time_ms.tolist() == exchange.open_time_ms.tolist(), interval
        for name in ("open", "high", "low", "close"):
            assert np.array_equal(getattr(derived, name), getattr(exchange, name)), (interval, name)
        np.testing.assert_allclose(derived.volume, exchange.volume, rtol=1e-12)
        np.testing.assert_allclose(derived.turnover, exchange.turnover, rtol=1e-12)
