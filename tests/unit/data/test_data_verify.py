"""verify_series finds exactly what contradicts the manifest."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bst.data.arrays import KlineArrays, concat
from bst.data.manifest import SeriesKey, read_manifest, write_manifest
from bst.data.ranges import RangeSet
from bst.data.store import KlineStore
from bst.data.verify import verify_series
from bst.domain.market import Category, Interval

MIN = 60_000
KEY = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
T0 = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1000)


def minutes(count: int, start: int = T0) -> KlineArrays:
    ts = start + np.arange(count, dtype=np.int64) * MIN
    ones = np.ones(count)
    return KlineArrays(ts, ones, ones, ones, ones, ones, ones)


def stored(tmp_path: Path) -> KlineStore:
    store = KlineStore(tmp_path)
    bars = minutes(100).take(np.arange(100) != 50)
    store.write(
        KEY, bars, RangeSet.of([(T0, T0 + 100 * MIN)]), RangeSet.of([(T0 + 50 * MIN, T0 + 51 * MIN)]), 0
    )
    return store


def test_a_clean_series_passes(tmp_path: Path) -> None:
    result = verify_series(stored(tmp_path), KEY)
    assert result.ok
    assert (result.bars, result.gap_bars, result.problems, result.notes) == (99, 1, [], [])


def test_holes_duplicates_and_false_gaps_are_problems(tmp_path: Path) -> None:
    store = stored(tmp_path)
    path = store.partitions(KEY)[0].path
    bars = store.read(KEY)
    tampered = concat([bars.take(slice(0, 10)), bars.take(slice(9, 60)), minutes(1, T0 + 50 * MIN)])
    pq.write_table(tampered.to_arrow(), path)  # drops minutes 61..99, duplicates one, fills the gap
    result = verify_series(store, KEY)
    assert not result.ok
    assert result.problems == [
        "2024-05.parquet: 1 duplicate open times",
        "2024-05.parquet: bars out of order",
        "1 stored bars lie in ranges recorded as gaps",
        "39 bars missing inside covered ranges (first at 2024-05-01 01:01 UTC); "
        "re-run the download with --refresh for that range",
    ]


def test_bars_beyond_coverage_and_temp_files_are_notes(tmp_path: Path) -> None:
    store = stored(tmp_path)
    directory = store.series_dir(KEY)
    manifest = read_manifest(directory, KEY)
    write_manifest(directory, replace(manifest, covered=RangeSet.of([(T0, T0 + 50 * MIN)])))
    (directory / ".2024-05.parquet.123.abcd.tmp").write_bytes(b"half")
    result = verify_series(store, KEY)
    assert result.ok
    assert result.notes == [
        "49 bars beyond the covered ranges (left by an interrupted run; the next download merges them)",
        "1 temp files of an interrupted write (removed by the next download)",
    ]
