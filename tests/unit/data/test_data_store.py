"""The Parquet store: round trips, merging, manifest bookkeeping, locking and crash atomicity."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.data.arrays import KlineArrays, merge
from bst.data.manifest import SeriesKey, StoreCorruptError
from bst.data.ranges import RangeSet
from bst.data.store import KlineStore, SeriesBusyError, partition_name
from bst.domain.market import Category, Interval

MIN = 60_000
KEY = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def minutes(start_ms: int, count: int, seed: int = 0) -> KlineArrays:
    rng = np.random.default_rng(seed)
    ts = start_ms + np.arange(count, dtype=np.int64) * MIN
    price = np.round(100 + np.cumsum(rng.normal(0, 0.1, count)), 2)
    return KlineArrays(
        ts, price, price + 0.5, price - 0.5, price + 0.1, np.round(rng.random(count) * 10, 3), price * 3
    )


def span(bars: KlineArrays) -> RangeSet:
    return RangeSet.of([(int(bars.open_time_ms[0]), int(bars.open_time_ms[-1]) + MIN)])


def test_round_trip_across_a_month_boundary(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    bars = minutes(ms(2024, 1, 31, 23, 0), 120)
    gained = store.write(KEY, bars, span(bars), RangeSet(), now_ms=5)
    assert gained == 120
    assert [p.name for p in store.partitions(KEY)] == ["2024-01", "2024-02"]
    assert store.read(KEY).equals(bars)
    assert store.read(KEY, ms(2024, 2, 1), ms(2024, 2, 1, 0, 30)).equals(bars.take(slice(60, 90)))
    assert store.tail(KEY, 5).equals(bars.take(slice(115, 120)))
    meta = pq.read_metadata(store.partitions(KEY)[0].path)
    assert meta.row_group(0).column(1).compression == "ZSTD"
    assert meta.schema.to_arrow_schema().field("open_time").type.tz == "UTC"
    manifest = store.manifest(KEY)
    assert manifest.covered == span(bars)
    assert manifest.updated_ms == 5


def test_daily_bars_are_stored_one_file_a_year(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    key = SeriesKey(Category.SPOT, "ETHUSDT", Interval.D1)
    ts = ms(2023, 12, 30) + np.arange(4, dtype=np.int64) * 86_400_000
    ones = np.ones(4)
    bars = KlineArrays(ts, ones, ones, ones, ones, ones, ones)
    store.write(key, bars, RangeSet.of([(int(ts[0]), int(ts[-1]) + 86_400_000)]), RangeSet(), 0)
    assert [p.name for p in store.partitions(key)] == ["2023", "2024"]
    assert partition_name(Interval.D1, ms(2024, 6, 1)) == "2024"
    assert partition_name(Interval.H4, ms(2024, 6, 1)) == "2024-06"


def test_overlapping_writes_merge_without_duplicates_and_newer_wins(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    first = minutes(ms(2024, 3, 1), 100, seed=1)
    second = minutes(ms(2024, 3, 1, 1, 0), 100, seed=2)  # overlaps the last 40 minutes
    store.write(KEY, first, span(first), RangeSet(), 1)
    gained = store.write(KEY, second, span(second), RangeSet(), 2)
    assert gained == 60
    stored = store.read(KEY)
    assert len(stored) == 160
    assert stored.is_normalized()
    assert stored.equals(merge(first, second))
    assert stored.close[60] == second.close[0]
    assert store.manifest(KEY).covered.spans == ((ms(2024, 3, 1), ms(2024, 3, 1) + 160 * MIN),)


def test_gaps_are_recorded_and_cleared_when_a_bar_arrives(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    bars = minutes(ms(2024, 4, 1), 10)
    holed = bars.take(np.r_[0:3, 5:10])
    gap = RangeSet.of([(ms(2024, 4, 1, 0, 3), ms(2024, 4, 1, 0, 5))])
    store.write(KEY, holed, span(bars), gap, 1)
    assert store.manifest(KEY).gaps == gap
    assert store.info(KEY).gap_bars == 2
    # The exchange later serves minute 3: refetching [3, 4) clears that part of the gap.
    store.write(
        KEY,
        bars.take(slice(3, 4)),
        RangeSet.of([(ms(2024, 4, 1, 0, 3), ms(2024, 4, 1, 0, 4))]),
        RangeSet(),
        2,
    )
    assert store.manifest(KEY).gaps.spans == ((ms(2024, 4, 1, 0, 4), ms(2024, 4, 1, 0, 5)),)
    # A gap claim over a stored bar is dropped (data is never contradicted by the manifest).
    store.write(
        KEY, KlineArrays.empty(), RangeSet(), RangeSet.of([(ms(2024, 4, 1), ms(2024, 4, 1, 0, 1))]), 3
    )
    assert store.manifest(KEY).gaps.spans == ((ms(2024, 4, 1, 0, 4), ms(2024, 4, 1, 0, 5)),)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 400), st.integers(0, 9)), min_size=1, max_size=5)
)
def test_any_sequence_of_writes_equals_one_merge(
    tmp_path_factory: pytest.TempPathFactory, writes: list
) -> None:
    store = KlineStore(tmp_path_factory.mktemp("store"))
    base = ms(2024, 1, 31)
    expected = KlineArrays.empty()
    for offset, count, seed in writes:
        bars = minutes(base + offset * MIN, count, seed)
        store.write(KEY, bars, span(bars), RangeSet(), 0)
        expected = merge(expected, bars)
    assert store.read(KEY).equals(expected)
    assert store.info(KEY).bars == len(expected)


def test_info_and_listing(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    bars = minutes(ms(2024, 1, 1), 1440)
    store.write(KEY, bars, span(bars), RangeSet(), 0)
    other = SeriesKey(Category.SPOT, "ETHUSDT", Interval.H1)
    store.write(other, KlineArrays.empty(), RangeSet.of([(0, 3_600_000)]), RangeSet.of([(0, 3_600_000)]), 0)
    assert store.list_series() == [KEY, other]
    assert store.list_series(Category.SPOT) == [other]
    info = store.info(KEY)
    assert (info.bars, info.first_open_ms, info.last_open_ms, info.files) == (
        1440,
        ms(2024, 1, 1),
        ms(2024, 1, 1, 23, 59),
        1,
    )
    assert info.size_bytes > 0
    assert store.info(other).gap_bars == 1


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    with store.lock(KEY), pytest.raises(SeriesBusyError), store.lock(KEY):
        pass
    with store.lock(KEY):  # released after the first block
        pass


def test_a_corrupt_file_is_reported_not_misread(tmp_path: Path) -> None:
    store = KlineStore(tmp_path)
    bars = minutes(ms(2024, 1, 1), 10)
    store.write(KEY, bars, span(bars), RangeSet(), 0)
    path = store.partitions(KEY)[0].path
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(StoreCorruptError, match=r"2024-01\.parquet"):
        store.read(KEY)
    (store.series_dir(KEY) / "manifest.json").write_text("{not json")
    with pytest.raises(StoreCorruptError, match=r"manifest\.json"):
        store.manifest(KEY)


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from bst.data import atomic, store as store_mod
    from bst.data.arrays import KlineArrays
    from bst.data.manifest import SeriesKey
    from bst.data.ranges import RangeSet
    from bst.domain.market import Category, Interval

    where = sys.argv[2]
    real_write_table = store_mod.pq.write_table

    def half_written(table, path, **kw):
        real_write_table(table, path, **kw)
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)

    def before_rename(src, dst):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "during-write":
        store_mod.pq.write_table = half_written
    else:
        atomic.os.replace = before_rename
    key = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
    ts = 1706745600000 + np.arange(500, dtype=np.int64) * 60000
    twos = np.full(500, 2.0)
    bars = KlineArrays(ts, twos, twos, twos, twos, twos, twos)
    covered = RangeSet.of([(int(ts[0]), int(ts[-1]) + 60000)])
    store_mod.KlineStore(sys.argv[1]).write(key, bars, covered, RangeSet(), 9)
    """
)


@pytest.mark.parametrize("where", ["during-write", "before-rename"])
def test_kill_9_while_writing_leaves_the_old_file_and_manifest(tmp_path: Path, where: str) -> None:
    store = KlineStore(tmp_path)
    old = minutes(1706745600000, 300)  # 2024-02-01
    store.write(KEY, old, span(old), RangeSet(), 1)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path), where], env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == -9, proc.stderr.decode()
    leftovers = [p.name for p in store.series_dir(KEY).iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1  # the killed writer's temp file, never read
    assert store.read(KEY).equals(old)
    assert store.manifest(KEY).covered == span(old)
    assert store.manifest(KEY).updated_ms == 1
    with store.lock(KEY):  # the next writer removes the debris
        pass
    assert not [p for p in store.series_dir(KEY).iterdir() if p.name.endswith(".tmp")]
