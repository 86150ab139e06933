"""KlineFetcher: get_klines, get_klines_historical (backward pagination) and fetch_multiple_symbols."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from klinesource import GeneratorRows, truth

from bst.data.arrays import KlineArrays
from bst.data.cache import KlineCache
from bst.data.klines_api import KlineFetcher
from bst.domain.clock import ManualClock
from bst.domain.market import Interval
from bst.sim.generator import MarketGenerator

MIN = 60_000
GEN = MarketGenerator(seed=11)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


NOW = ms(2023, 6, 6, 12, 0) + 42_000  # 12:00:42; the generator has a maintenance gap at 03:24-03:33


def same(got: KlineArrays, want: KlineArrays) -> bool:
    return got.open_time_ms.tolist() == want.open_time_ms.tolist() and np.array_equal(got.close, want.close)


async def test_get_klines_returns_the_newest_closed_bars_and_uses_the_cache() -> None:
    source = GeneratorRows(GEN, NOW)
    cache = KlineCache(None, max_candles=1000)
    fetcher = KlineFetcher(source, cache=cache, clock=ManualClock(NOW))
    frame = await fetcher.get_klines("btcusdt", "60", limit=200)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 200
    assert frame.index[-1] == pd.Timestamp("2023-06-06 11:00", tz="UTC")
    assert len(source.calls) == 1
    again = await fetcher.get_klines("BTCUSDT", Interval.H1, limit=150, as_numpy=True)
    assert len(source.calls) == 1  # served by the cache
    assert cache.get_stats()["hits"] == 1
    assert isinstance(again, KlineArrays)
    assert same(
        again, truth(GEN, "BTCUSDT", Interval.H1, ms(2023, 6, 6, 12) - 150 * 3_600_000, ms(2023, 6, 6, 12))
    )


async def test_include_open_adds_the_bar_in_progress() -> None:
    fetcher = KlineFetcher(GeneratorRows(GEN, NOW), clock=ManualClock(NOW))
    bars = await fetcher.get_klines("ETHUSDT", "1", limit=5, include_open=True, as_numpy=True)
    assert isinstance(bars, KlineArrays)
    assert bars.open_time_ms.tolist() == [ms(2023, 6, 6, 11, 56) + i * MIN for i in range(5)]


async def test_historical_pages_back_past_gaps_to_the_exact_count() -> None:
    source = GeneratorRows(GEN, NOW)
    fetcher = KlineFetcher(source, clock=ManualClock(NOW), concurrency=3)
    end = ms(2023, 6, 6, 6, 0)
    bars = await fetcher.get_klines_historical(
        "BTCUSDT", "1", total_candles=5200, end_time=end, as_numpy=True
    )
    assert isinstance(bars, KlineArrays)
    assert len(bars) == 5200
    assert bars.open_time_ms[-1] == end - MIN
    expected = truth(GEN, "BTCUSDT", Interval.M1, end - 6000 * MIN, end).tail(5200)
    assert same(bars, expected)
    assert len(source.calls) == 7  # 6 planned windows, then one more for the 9 missing minutes
    assert source.max_in_flight <= 3


async def test_historical_stops_at_the_listing() -> None:
    fetcher = KlineFetcher(GeneratorRows(GEN, NOW), clock=ManualClock(NOW))
    frame = await fetcher.get_klines_historical("SOLUSDT", "60", total_candles=5000, end_time="2021-06-20")
    assert isinstance(frame, pd.DataFrame)
    assert frame.index[0] == pd.Timestamp("2021-06-09 00:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2021-06-19 23:00", tz="UTC")


async def test_fetch_multiple_symbols_is_concurrent_and_bounded() -> None:
    source = GeneratorRows(GEN, NOW)
    fetcher = KlineFetcher(source, clock=ManualClock(NOW), concurrency=2)
    frames = await fetcher.fetch_multiple_symbols(
        ["BTCUSDT", "ETHUSDT", "SOLUSDT", "btcusdt"], "15", limit=1500
    )
    assert list(frames) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert all(len(f) == 1500 for f in frames.values())
    assert source.max_in_flight == 2
    assert len(source.calls) == 6
