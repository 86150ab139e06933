"""Candle store throughput: parse + dedup + write one symbol-year of 1-minute bars, then load it back.

Targets (issue 3): parse + dedup + write >= 1,000,000 bars/s; loading one symbol-year < 0.2 s.

The input is what the exchange sends for a year of 1-minute BTCUSDT: 526 kline pages of up to 1000
rows of 7 decimal strings, each page newest first, pages completing out of order, with the page
boundaries overlapping by one bar (so dedup has real work). "parse" starts from the decoded rows
(the client hands them over, see KlineRowSource); a second figure includes orjson decoding of the
HTTP bodies too.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

from bst.data.arrays import KlineArrays, concat
from bst.data.loader import load_klines
from bst.data.manifest import SeriesKey
from bst.data.ranges import RangeSet
from bst.data.store import KlineStore
from bst.domain.market import Category, Interval

MIN = 60_000
YEAR_START = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
YEAR_END = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
KEY = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)


def year_pages(seed: int = 3) -> list[list[list[str]]]:
    """Return 526 pages of wire rows (newest first), shuffled, neighbours overlapping by one bar."""
    rng = np.random.default_rng(seed)
    n = (YEAR_END - YEAR_START) // MIN
    ts = YEAR_START + np.arange(n, dtype=np.int64) * MIN
    close = np.round(20_000 + np.cumsum(rng.normal(0, 8, n)), 1)
    open_ = np.r_[close[0], close[:-1]]
    high = np.round(np.maximum(open_, close) + rng.random(n) * 15, 1)
    low = np.round(np.minimum(open_, close) - rng.random(n) * 15, 1)
    volume = np.round(rng.gamma(2.0, 20.0, n), 3)
    turnover = np.round(volume * close, 4)
    text = [
        [str(t), repr(o), repr(h), repr(lo), repr(c), repr(v), repr(u)]
        for t, o, h, lo, c, v, u in zip(
            ts.tolist(),
            open_.tolist(),
            high.tolist(),
            low.tolist(),
            close.tolist(),
            volume.tolist(),
            turnover.tolist(),
            strict=True,
        )
    ]
    pages = [text[max(0, i - 1) : i + 1000][::-1] for i in range(0, n, 1000)]
    order = rng.permutation(len(pages))
    return [pages[i] for i in order]


def parse_dedup_write(pages: list[list[list[str]]], root: Path) -> int:
    """Parse every page, merge and dedup, write the year into a fresh store; return bars written."""
    parts = [KlineArrays.from_rows(page) for page in pages]
    bars = concat(parts).normalized()
    store = KlineStore(root)
    return store.write(KEY, bars, RangeSet.of([(YEAR_START, YEAR_END)]), RangeSet(), 0)


def timed(fn: object, repeat: int) -> list[float]:
    """Return the wall times of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    pages = year_pages()
    rows = sum(len(p) for p in pages)
    bodies = [
        orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": p}, "retExtInfo": {}, "time": 0})
        for p in pages
    ]
    bars = 525_600
    # The input (526k row lists) stays alive for the whole run, which the engine never does;
    # keep it out of the cyclic GC's way so it does not tax the timed code.
    gc.freeze()
    print(f"input: {len(pages)} pages, {rows:,} rows (with page overlaps), {bars:,} distinct 1-minute bars")

    with tempfile.TemporaryDirectory() as tmp:
        runs = iter(range(100))

        def write_once() -> None:
            written = parse_dedup_write(pages, Path(tmp) / f"run{next(runs)}")
            assert written == bars, written

        times = timed(write_once, 5)
        best, median = min(times), statistics.median(times)
        print(
            f"parse + dedup + write (rows -> Parquet): best {best:.3f} s = {bars / best:,.0f} bars/s; "
            f"median {median:.3f} s = {bars / median:,.0f} bars/s (target >= 1,000,000)"
        )

        def with_json() -> None:
            # As the engine does: decode one body, parse it to columns, let the rows go.
            parts = [KlineArrays.from_rows(orjson.loads(b)["result"]["list"]) for b in bodies]
            store = KlineStore(Path(tmp) / f"run{next(runs)}")
            year = RangeSet.of([(YEAR_START, YEAR_END)])
            assert store.write(KEY, concat(parts).normalized(), year, RangeSet(), 0) == bars

        times = timed(with_json, 3)
        best = min(times)
        print(
            f"  including orjson decoding of the HTTP bodies: best {best:.3f} s = {bars / best:,.0f} bars/s"
        )

        parse_times = timed(lambda: [KlineArrays.from_rows(p) for p in pages], 5)
        print(
            f"  of which parse alone: best {min(parse_times):.3f} s = {rows / min(parse_times):,.0f} rows/s"
        )

        data_dir = Path(tmp) / "run0"
        size = sum(p.stat().st_size for p in (data_dir / "klines").rglob("*.parquet"))
        print(f"store size: {size / 1e6:.1f} MB for {bars:,} bars (zstd), 12 monthly files")

        load_times = timed(
            lambda: load_klines("BTCUSDT", "1", "2023-01-01", "2024-01-01", data_dir=data_dir), 7
        )
        print(
            f"load_klines one symbol-year -> DataFrame: first {load_times[0]:.3f} s, "
            f"median {statistics.median(load_times[1:]):.3f} s, best {min(load_times):.3f} s (target < 0.2 s)"
        )
        numpy_times = timed(
            lambda: load_klines("BTCUSDT", "1", data_dir=data_dir, as_numpy=True),
            5,
        )
        print(f"load_klines as numpy arrays: median {statistics.median(numpy_times):.3f} s")
        derive_times = timed(lambda: load_klines("BTCUSDT", "60", data_dir=data_dir, from_1m=True), 5)
        print(f"derive 1-hour bars from the year of minutes: median {statistics.median(derive_times):.3f} s")


if __name__ == "__main__":
    main()
