"""Re-check a stored series against its manifest: order, duplicates, holes and gap claims."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from bst.data.atomic import TEMP_SUFFIX
from bst.data.manifest import SeriesKey, StoreCorruptError
from bst.data.ranges import count_bars_in, missing_opens, spans_of_points
from bst.data.resample import bucket_opens
from bst.data.store import KlineStore


@dataclass(slots=True)
class VerifyResult:
    """Findings for one series: problems make it fail, notes do not."""

    key: SeriesKey
    bars: int = 0
    gap_bars: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when nothing contradicts the manifest."""
        return not self.problems


def iso_ms(ts_ms: int | None) -> str:
    """Return an epoch-ms time as ISO 8601 UTC ("-" for None)."""
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def verify_series(store: KlineStore, key: SeriesKey) -> VerifyResult:
    """Check every file of a series and the manifest's claims about it."""
    result = VerifyResult(key)
    try:
        manifest = store.manifest(key)
    except StoreCorruptError as e:
        result.problems.append(str(e))
        return result
    result.gap_bars = count_bars_in(key.interval, manifest.gaps)
    interval = key.interval
    all_opens: list[np.ndarray] = []
    for part in store.partitions(key):
        try:
            bars = store.read_partition(part)
        except StoreCorruptError as e:
            result.problems.append(str(e))
            continue
        ts = bars.open_time_ms
        result.bars += len(ts)
        steps = np.diff(ts)
        if (steps == 0).any():
            result.problems.append(f"{part.path.name}: {int((steps == 0).sum())} duplicate open times")
        if (steps < 0).any():
            result.problems.append(f"{part.path.name}: bars out of order")
        outside = (ts < part.start_ms) | (ts >= part.end_ms)
        if outside.any():
            result.problems.append(f"{part.path.name}: {int(outside.sum())} bars outside the file's period")
        off_grid = ts != bucket_opens(interval, ts)
        if off_grid.any():
            result.problems.append(
                f"{part.path.name}: {int(off_grid.sum())} bars not on the {interval.value} grid"
            )
        all_opens.append(ts)
    opens = np.unique(np.concatenate(all_opens)) if all_opens else np.empty(0, dtype=np.int64)
    held = spans_of_points(interval, opens)
    in_gaps = held.intersect(manifest.gaps)
    if in_gaps:
        result.problems.append(
            f"{count_bars_in(interval, in_gaps)} stored bars lie in ranges recorded as gaps"
        )
    expected = manifest.covered.subtract(manifest.gaps)
    holes = 0
    first_hole: int | None = None
    for start, end in expected:
        inside = opens[(opens >= start) & (opens < end)]
        missing = missing_opens(interval, start, end, inside)
        if missing.size:
            holes += int(missing.size)
            first_hole = int(missing[0]) if first_hole is None else first_hole
    if holes:
        result.problems.append(
            f"{holes} bars missing inside covered ranges (first at {iso_ms(first_hole)}); "
            f"re-run the download with --refresh for that range"
        )
    uncovered = held.subtract(manifest.covered)
    if uncovered:
        result.notes.append(
            f"{count_bars_in(interval, uncovered)} bars beyond the covered ranges "
            "(left by an interrupted run; the next download merges them)"
        )
    temps = list(store.series_dir(key).glob(f".*{TEMP_SUFFIX}")) if store.series_dir(key).is_dir() else []
    if temps:
        result.notes.append(f"{len(temps)} temp files of an interrupted write (removed by the next download)")
    return result
