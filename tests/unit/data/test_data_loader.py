"""load_klines and deriving higher intervals from 1-minute bars."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bst.data.arrays import KlineArrays
from bst.data.loader import DataNotFoundError, load_klines, to_ms
from bst.data.manifest import SeriesKey
from bst.data.ranges import RangeSet
from bst.data.resample import bucket_opens, resample
from bst.data.store import KlineStore
from bst.domain.errors import ConfigError
from bst.domain.market import Category, Interval

MIN = 60_000


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def random_minutes(start_ms: int, count: int, drop_every: int = 0) -> KlineArrays:
    rng = np.random.default_rng(7)
    ts = start_ms + np.arange(count, dtype=np.int64) * MIN
    o = np.round(100 + rng.random(count), 2)
    c = np.round(100 + rng.random(count), 2)
    h = np.maximum(o, c) + 1
    lo = np.minimum(o, c) - 1
    bars = KlineArrays(ts, o, h, lo, c, np.round(rng.random(count), 3), np.round(rng.random(count) * 50, 4))
    if drop_every:
        bars = bars.take(np.arange(count) % drop_every != 3)
    return bars


RULES = {Interval.H1: "1h", Interval.H4: "4h", Interval.D1: "1D", Interval.W1: "W-MON", Interval.MN1: "MS"}


@pytest.mark.parametrize("interval", list(RULES))
def test_resample_matches_pandas_with_bybit_alignment(interval: Interval) -> None:
    minutes = random_minutes(ms(2023, 12, 20, 5, 17), 60 * 24 * 50, drop_every=7)
    frame = minutes.to_frame()
    rule = RULES[interval]
    kwargs = {"label": "left", "closed": "left"} if interval is Interval.W1 else {}
    want = frame.resample(rule, **kwargs).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum", "turnover": "sum"}
    )
    got = resample(minutes, interval).to_frame()
    want = want.loc[got.index]
    assert len(got) == len(frame.resample(rule, **kwargs).count().query("open > 0"))
    pd.testing.assert_frame_equal(got, want, check_freq=False, rtol=1e-12, check_index_type=False)


def test_bucket_alignment_is_bybits() -> None:
    t = np.asarray([ms(2024, 1, 3, 13, 59), ms(2024, 2, 29, 23, 59)], dtype=np.int64)
    assert bucket_opens(Interval.W1, t).tolist() == [ms(2024, 1, 1), ms(2024, 2, 26)]
    assert bucket_opens(Interval.MN1, t).tolist() == [ms(2024, 1, 1), ms(2024, 2, 1)]
    assert bucket_opens(Interval.H4, t).tolist() == [ms(2024, 1, 3, 12), ms(2024, 2, 29, 20)]


def write(tmp_path: Path, key: SeriesKey, bars: KlineArrays, covered: RangeSet) -> None:
    KlineStore(tmp_path).write(key, bars, covered, RangeSet(), 0)


def test_load_returns_frame_or_arrays(tmp_path: Path) -> None:
    bars = random_minutes(ms(2024, 1, 1), 3000)
    key = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
    write(tmp_path, key, bars, RangeSet.of([(ms(2024, 1, 1), ms(2024, 1, 1) + 3000 * MIN)]))
    frame = load_klines("btcusdt", "1", "2024-01-01 01:00", date(2024, 1, 2), data_dir=tmp_path)
    assert len(frame) == 23 * 60
    assert frame.index[0] == pd.Timestamp("2024-01-01 01:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2024-01-01 23:59", tz="UTC")
    arrays = load_klines("BTCUSDT", "1m", ms(2024, 1, 1), None, data_dir=tmp_path, as_numpy=True)
    assert arrays.equals(bars)


def test_higher_intervals_are_derived_from_complete_minutes_only(tmp_path: Path) -> None:
    # Minutes from 00:30 to 05:10: only hours 01..04 are complete.
    start = ms(2024, 1, 1, 0, 30)
    bars = random_minutes(start, 280)
    key = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
    write(tmp_path, key, bars, RangeSet.of([(start, start + 280 * MIN)]))
    hours = load_klines("BTCUSDT", "60", data_dir=tmp_path)
    assert [t.hour for t in hours.index] == [1, 2, 3, 4]
    one = bars.between(ms(2024, 1, 1, 2), ms(2024, 1, 1, 3))
    assert hours.loc["2024-01-01 02:00", "high"] == one.high.max()
    assert hours.loc["2024-01-01 02:00", "open"] == one.open[0]
    assert hours.loc["2024-01-01 02:00", "close"] == one.close[-1]
    bounded = load_klines("BTCUSDT", "60", "2024-01-01 01:30", "2024-01-01 04:30", data_dir=tmp_path)
    assert [t.hour for t in bounded.index] == [2, 3]


def test_missing_series_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="bst download ETHUSDT -i 60"):
        load_klines("ETHUSDT", "60", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="invalid interval"):
        load_klines("ETHUSDT", "7", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="before end"):
        load_klines("ETHUSDT", "1", "2024-02-01", "2024-01-01", data_dir=tmp_path)


def test_time_arguments() -> None:
    assert to_ms("2024-01-01") == ms(2024, 1, 1)
    assert to_ms("2024-01-01T02:00:00+02:00") == ms(2024, 1, 1)
    assert to_ms(datetime(2024, 1, 1, tzinfo=UTC)) == ms(2024, 1, 1)
    assert to_ms(1_700_000_000_000) == 1_700_000_000_000
    assert to_ms(None) is None
    with pytest.raises(ConfigError, match="invalid time"):
        to_ms("yesterday-ish")
