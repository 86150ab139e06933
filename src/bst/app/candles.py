"""The local candle store as users see it: list, read, verify and export stored series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bst.app.stores import KlineStore, kline_store
from bst.data.arrays import KlineArrays
from bst.data.atomic import write_atomic
from bst.data.loader import DataNotFoundError, load_series
from bst.data.manifest import SeriesKey
from bst.data.store import COMPRESSION, SeriesInfo
from bst.data.verify import VerifyResult, iso_ms, verify_series
from bst.domain.errors import ConfigError
from bst.domain.market import Category, Interval
from bst.settings import Settings

__all__ = [
    "DataNotFoundError",
    "ExportFormat",
    "KlineArrays",
    "SeriesInfo",
    "SeriesKey",
    "SeriesListing",
    "VerifyResult",
    "export_series",
    "iso_ms",
    "list_series",
    "parse_export_format",
    "read_series",
    "verify",
]

ExportFormat = Literal["csv", "parquet"]


@dataclass(frozen=True, slots=True)
class SeriesListing:
    """The series stored under `root` (each with its first/last bar, gaps and size)."""

    root: Path
    series: list[SeriesInfo]


def _selected(
    store: KlineStore,
    category: Category | None,
    symbols: Sequence[str] = (),
    intervals: Sequence[Interval] = (),
) -> list[SeriesKey]:
    return [
        k
        for k in store.list_series(category)
        if (not symbols or k.symbol in symbols) and (not intervals or k.interval in intervals)
    ]


def list_series(
    settings: Settings, category: Category | None = None, data_dir: Path | None = None
) -> SeriesListing:
    """Return every stored series (of one category, when given)."""
    store = kline_store(settings, data_dir)
    return SeriesListing(store.root, [store.info(k) for k in _selected(store, category)])


def read_series(
    settings: Settings,
    key: SeriesKey,
    start_ms: int | None = None,
    end_ms: int | None = None,
    *,
    from_1m: bool = False,
    data_dir: Path | None = None,
) -> KlineArrays:
    """Return the stored bars of `key` opening in `[start_ms, end_ms)`.

    `from_1m` derives the interval from stored 1-minute bars; otherwise the stored interval is
    used, or derived when only 1-minute bars are stored. Raises DataNotFoundError when nothing
    is stored.
    """
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise ConfigError("--since must be before --until")
    store = kline_store(settings, data_dir)
    return load_series(store, key, start_ms, end_ms, True if from_1m else None)


def verify(
    settings: Settings,
    category: Category | None = None,
    symbols: Sequence[str] = (),
    intervals: Sequence[Interval] = (),
    data_dir: Path | None = None,
) -> list[VerifyResult]:
    """Re-check order, duplicates and gaps of the selected series against their manifests.

    Raises ConfigError when no stored series matches the selection.
    """
    store = kline_store(settings, data_dir)
    keys = _selected(store, category, symbols, intervals)
    if not keys:
        raise ConfigError(f"no matching series under {store.root}")
    return [verify_series(store, key) for key in keys]


def parse_export_format(text: str) -> ExportFormat:
    """Return "csv" or "parquet" from user input, or raise ConfigError."""
    kind = text.strip().lower()
    if kind == "csv":
        return "csv"
    if kind == "parquet":
        return "parquet"
    raise ConfigError(f"invalid --format {text!r}: use csv or parquet")


def export_series(bars: KlineArrays, target: Path, kind: ExportFormat) -> None:
    """Write `bars` to `target` atomically: CSV (ISO UTC times) or Parquet (zstd)."""
    table = bars.to_arrow()

    def produce(temp: Path) -> None:
        if kind == "parquet":
            pq.write_table(table, temp, compression=COMPRESSION)
        else:
            pacsv.write_csv(table, temp)

    write_atomic(target, produce)
