"""The local Parquet candle store: one dataset per category/symbol/interval, one file per period.

Layout under the data dir::

    klines/<category>/<SYMBOL>/<interval>/2024-01.parquet   (intraday intervals: one file a month)
    klines/<category>/<SYMBOL>/<interval>/2024.parquet      (D, W, M: one file a year)
    klines/<category>/<SYMBOL>/<interval>/manifest.json     (covered ranges and known gaps)

Files are zstd-compressed, sorted by open time without duplicates, and replaced atomically; the
manifest is replaced after the files it describes, so it never claims data that is not on disk.
Methods here block (file I/O): async callers run them with `asyncio.to_thread`.
"""

from __future__ import annotations

import calendar
import contextlib
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bst.data.arrays import ARROW_SCHEMA, I64, TIME_COLUMN, KlineArrays, concat, merge
from bst.data.atomic import remove_stale_temps, write_atomic
from bst.data.manifest import (
    MANIFEST_NAME,
    Manifest,
    SeriesKey,
    StoreCorruptError,
    read_manifest,
    write_manifest,
)
from bst.data.ranges import RangeSet, count_bars_in, spans_of_points
from bst.domain.errors import BstError
from bst.domain.market import DAY_MS, Category, Interval

KLINES_DIR = "klines"
PARQUET_SUFFIX = ".parquet"
COMPRESSION = "zstd"
LOCK_NAME = ".lock"
WRITE_THREADS = 4


class SeriesBusyError(BstError):
    """Another process is writing the same series."""


@dataclass(frozen=True, slots=True)
class Partition:
    """One file of a series: the bars opening in `[start_ms, end_ms)`."""

    name: str
    path: Path
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What `bst data list` shows about one series."""

    key: SeriesKey
    bars: int
    first_open_ms: int | None
    last_open_ms: int | None
    covered: RangeSet
    gaps: RangeSet
    gap_bars: int
    files: int
    size_bytes: int


def _period_unit(interval: Interval) -> str:
    """Return the period of one file: "M" (a month), or "Y" (a year) for D/W/M bars."""
    length = interval.fixed_ms
    return "M" if length is not None and length < DAY_MS else "Y"


def _period_index(open_time_ms: I64, unit: str) -> I64:
    """Return, per open time, its period as a count of months (or years) since 1970."""
    return open_time_ms.astype("datetime64[ms]").astype(f"datetime64[{unit}]").astype(np.int64)


def _period_name(index: int, unit: str) -> str:
    if unit == "M":
        return f"{1970 + index // 12:04d}-{index % 12 + 1:02d}"
    return f"{1970 + index:04d}"


def _period_start_ms(index: int, unit: str) -> int:
    year, month = (1970 + index // 12, index % 12 + 1) if unit == "M" else (1970 + index, 1)
    return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000


def _period_bounds(index: int, unit: str) -> tuple[int, int]:
    return _period_start_ms(index, unit), _period_start_ms(index + 1, unit)


def _parse_period(stem: str, unit: str) -> int | None:
    try:
        if unit == "M":
            year_text, month_text = stem.split("-")
            year, month = int(year_text), int(month_text)
            if len(year_text) != 4 or not 1 <= month <= 12:
                return None
            return (year - 1970) * 12 + month - 1
        if len(stem) != 4:
            return None
        return int(stem) - 1970
    except ValueError:
        return None


def partition_span(interval: Interval, open_time_ms: int) -> tuple[int, int]:
    """Return `[start_ms, end_ms)` of the file period (month or year) holding `open_time_ms`."""
    unit = _period_unit(interval)
    index = int(_period_index(np.asarray([open_time_ms], dtype=np.int64), unit)[0])
    return _period_bounds(index, unit)


def partition_name(interval: Interval, open_time_ms: int) -> str:
    """Return the file stem ("2024-01" or "2024") of the period holding `open_time_ms`."""
    unit = _period_unit(interval)
    index = int(_period_index(np.asarray([open_time_ms], dtype=np.int64), unit)[0])
    return _period_name(index, unit)


class KlineStore:
    """Read and write candle series under `data_dir/klines`."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / KLINES_DIR

    # --- paths and metadata ------------------------------------------------------------------

    def series_dir(self, key: SeriesKey) -> Path:
        """Return the directory of one series."""
        return self.root / key.category.value / key.symbol / key.interval.value

    def manifest(self, key: SeriesKey) -> Manifest:
        """Return the series manifest (empty when the series does not exist)."""
        return read_manifest(self.series_dir(key), key)

    def partitions(self, key: SeriesKey) -> list[Partition]:
        """Return the series files, oldest first."""
        directory = self.series_dir(key)
        if not directory.is_dir():
            return []
        unit = _period_unit(key.interval)
        out: list[Partition] = []
        for path in sorted(directory.glob(f"*{PARQUET_SUFFIX}")):
            if path.name.startswith("."):
                continue
            index = _parse_period(path.stem, unit)
            if index is None:
                continue
            start, end = _period_bounds(index, unit)
            out.append(Partition(path.stem, path, start, end))
        return out

    def list_series(self, category: Category | None = None) -> list[SeriesKey]:
        """Return every stored series (optionally of one category), sorted."""
        keys: list[SeriesKey] = []
        if not self.root.is_dir():
            return keys
        for cat_dir in sorted(self.root.iterdir()):
            try:
                cat = Category(cat_dir.name)
            except ValueError:
                continue
            if category is not None and cat is not category:
                continue
            for sym_dir in sorted(p for p in cat_dir.iterdir() if p.is_dir()):
                for int_dir in sorted(p for p in sym_dir.iterdir() if p.is_dir()):
                    try:
                        interval = Interval(int_dir.name)
                    except ValueError:
                        continue
                    if (int_dir / MANIFEST_NAME).exists() or any(int_dir.glob(f"*{PARQUET_SUFFIX}")):
                        keys.append(SeriesKey(cat, sym_dir.name, interval))
        return keys

    def info(self, key: SeriesKey) -> SeriesInfo:
        """Return counts, bounds, gaps and size of one series from file metadata (no data read)."""
        manifest = self.manifest(key)
        bars = 0
        size = 0
        first: int | None = None
        last: int | None = None
        parts = self.partitions(key)
        for part in parts:
            size += part.path.stat().st_size
            meta = _read_metadata(part.path)
            bars += meta.num_rows
            lo, hi = _time_bounds(meta)
            if lo is not None:
                first = lo if first is None else min(first, lo)
            if hi is not None:
                last = hi if last is None else max(last, hi)
        manifest_path = self.series_dir(key) / MANIFEST_NAME
        if manifest_path.exists():
            size += manifest_path.stat().st_size
        return SeriesInfo(
            key=key,
            bars=bars,
            first_open_ms=first,
            last_open_ms=last,
            covered=manifest.covered,
            gaps=manifest.gaps,
            gap_bars=count_bars_in(key.interval, manifest.gaps),
            files=len(parts),
            size_bytes=size,
        )

    # --- reading -----------------------------------------------------------------------------

    def read(self, key: SeriesKey, start_ms: int | None = None, end_ms: int | None = None) -> KlineArrays:
        """Return the stored bars opening in `[start_ms, end_ms)` (None = unbounded), ascending."""
        lo = start_ms if start_ms is not None else -(2**62)
        hi = end_ms if end_ms is not None else 2**62
        paths = [p.path for p in self.partitions(key) if p.end_ms > lo and p.start_ms < hi]
        if not paths:
            return KlineArrays.empty()
        tables = [_read_table(path) for path in paths]
        bars = KlineArrays.from_arrow(pa.concat_tables(tables) if len(tables) > 1 else tables[0])
        if start_ms is None and end_ms is None:
            return bars
        return bars.between(lo, hi)

    def read_partition(self, part: Partition) -> KlineArrays:
        """Return the bars of one file."""
        return KlineArrays.from_arrow(_read_table(part.path))

    def tail(self, key: SeriesKey, count: int) -> KlineArrays:
        """Return the newest `count` stored bars."""
        parts: list[KlineArrays] = []
        have = 0
        for part in reversed(self.partitions(key)):
            bars = self.read_partition(part)
            parts.append(bars)
            have += len(bars)
            if have >= count:
                break
        parts.reverse()
        return concat(parts).normalized().tail(count)

    # --- writing -----------------------------------------------------------------------------

    def write(
        self,
        key: SeriesKey,
        bars: KlineArrays,
        fetched: RangeSet,
        gaps: RangeSet,
        now_ms: int,
        *,
        listing_ms: int | None = None,
    ) -> int:
        """Merge `bars` into the series, then record `fetched` as covered with `gaps` inside it.

        Returns how many bars the series gained. Where a stored bar and a new bar share an open
        time, the new one wins. A range that now holds a bar is never recorded as a gap.
        """
        bars = bars.normalized()
        directory = self.series_dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        unit = _period_unit(key.interval)
        jobs: list[tuple[Path, KlineArrays, RangeSet]] = []
        if len(bars):
            labels = _period_index(bars.open_time_ms, unit)
            cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(bars)], strict=True):
                index = int(labels[lo])
                path = directory / f"{_period_name(index, unit)}{PARQUET_SUFFIX}"
                jobs.append(
                    (path, bars.take(slice(int(lo), int(hi))), gaps.clip(*_period_bounds(index, unit)))
                )
        if len(jobs) > 1:
            # Files are independent and Arrow encodes/compresses without the GIL: write in parallel.
            with ThreadPoolExecutor(max_workers=min(len(jobs), WRITE_THREADS)) as pool:
                results = list(pool.map(lambda job: _merge_file(*job), jobs))
        else:
            results = [_merge_file(*job) for job in jobs]
        gained = sum(r[0] for r in results)
        holes = gaps
        for _, filled in results:
            if len(filled):
                holes = holes.subtract(spans_of_points(key.interval, filled))
        manifest = self.manifest(key).with_fetched(fetched, holes, now_ms)
        if listing_ms is not None:
            manifest = replace(manifest, listing_ms=listing_ms)
        write_manifest(directory, manifest)
        return gained

    def delete(self, key: SeriesKey) -> None:
        """Remove a series entirely (files, then manifest)."""
        directory = self.series_dir(key)
        for part in self.partitions(key):
            part.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            (directory / MANIFEST_NAME).unlink()

    @contextlib.contextmanager
    def lock(self, key: SeriesKey) -> Iterator[None]:
        """Hold the series' writer lock (one writing process per series); clean up crashed temps."""
        directory = self.series_dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / LOCK_NAME, "a+b")  # noqa: SIM115 - held for the whole block
        try:
            _try_lock(handle.fileno(), key)
            remove_stale_temps(directory)
            yield
        finally:
            handle.close()  # closing releases the lock


def _try_lock(fd: int, key: SeriesKey) -> None:
    if sys.platform == "win32":  # no flock; single-writer is then the user's responsibility
        return
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SeriesBusyError(
            f"{key} is being written by another bst process; wait for it to finish"
        ) from None


def _read_table(path: Path) -> pa.Table:
    try:
        # ParquetFile, not read_table: read_table drags in pyarrow.dataset (~0.3 s on first use).
        table = pq.ParquetFile(path, memory_map=True).read(use_threads=True)
    except (pa.ArrowInvalid, OSError) as e:
        raise StoreCorruptError(f"cannot read {path}: {e}") from e
    if not table.schema.equals(ARROW_SCHEMA):
        try:
            table = table.select(ARROW_SCHEMA.names).cast(ARROW_SCHEMA)
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
            raise StoreCorruptError(f"{path} does not hold bst candles: {e}") from e
    return table


def _read_metadata(path: Path) -> pq.FileMetaData:
    try:
        return pq.read_metadata(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise StoreCorruptError(f"cannot read {path}: {e}") from e


def _time_bounds(meta: pq.FileMetaData) -> tuple[int | None, int | None]:
    """Return the min and max open time recorded in a file's statistics."""
    lo: int | None = None
    hi: int | None = None
    names = meta.schema.names
    if TIME_COLUMN not in names or meta.num_rows == 0:
        return None, None
    col = names.index(TIME_COLUMN)
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is None or not stats.has_min_max:
            continue
        mn, mx = _as_ms(stats.min), _as_ms(stats.max)
        lo = mn if lo is None else min(lo, mn)
        hi = mx if hi is None else max(hi, mx)
    return lo, hi


def _as_ms(value: object) -> int:
    if isinstance(value, int):
        return value
    timestamp = getattr(value, "timestamp", None)
    if timestamp is None:
        raise StoreCorruptError(f"unexpected time statistic {value!r}")
    return round(float(timestamp()) * 1000)


def _read_arrays_if_exists(path: Path) -> KlineArrays:
    if not path.exists():
        return KlineArrays.empty()
    return KlineArrays.from_arrow(_read_table(path))


def _merge_file(path: Path, new: KlineArrays, gaps: RangeSet) -> tuple[int, I64]:
    """Merge `new` into one file; return (bars gained, open times now stored inside `gaps`)."""
    old = _read_arrays_if_exists(path)
    merged = merge(old, new)
    _write_arrays(path, merged)
    ts = merged.open_time_ms
    mask = np.zeros(ts.shape[0], dtype=bool)
    for start, end in gaps:
        lo, hi = np.searchsorted(ts, [start, end])
        mask[lo:hi] = True
    return len(merged) - len(old), ts[mask]


def _write_arrays(path: Path, bars: KlineArrays) -> None:
    table = bars.to_arrow()

    def produce(temp: Path) -> None:
        pq.write_table(
            table,
            temp,
            compression=COMPRESSION,
            use_dictionary=False,
            write_statistics=[TIME_COLUMN],
            row_group_size=1 << 20,
        )

    write_atomic(path, produce)
