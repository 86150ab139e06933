"""One request's worth of candles from a KlineSource, as columns (and exact records when asked).

A source that offers `fetch_kline_rows` (the KlineRowSource port) is read as raw rows: parsed
straight to float columns, with the same strings kept as exact SQL values. Any other KlineSource
is read through `fetch_klines` (Decimal bars), which is exact but slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bst.data.arrays import KlineArrays
from bst.data.sql import KlineRecord, records_from_bars, records_from_rows
from bst.domain.market import Category, Interval
from bst.domain.ports import KlineSource


@dataclass(frozen=True, slots=True)
class Page:
    """The bars one request returned inside its window: normalized columns + optional exact records."""

    bars: KlineArrays
    records: list[KlineRecord] | None
    received: int


def has_rows(source: KlineSource) -> bool:
    """Return True when the source can hand over unparsed rows (the fast path)."""
    return callable(getattr(source, "fetch_kline_rows", None))


async def fetch_page(
    source: KlineSource,
    category: Category,
    symbol: str,
    interval: Interval,
    start_ms: int,
    end_ms: int,
    *,
    limit: int = 1000,
    want_records: bool = False,
) -> Page:
    """Fetch the bars opening in `[start_ms, end_ms)`; anything the source sends outside is dropped."""
    last_open = end_ms - 1
    records: list[KlineRecord] | None = None
    if has_rows(source):
        fetch_rows: Any = source.fetch_kline_rows  # type: ignore[attr-defined]
        rows: Sequence[Sequence[str]] = await fetch_rows(
            category, symbol, interval, start_ms, last_open, limit
        )
        bars = KlineArrays.from_rows(rows)
        if want_records:
            records = records_from_rows(rows)
    else:
        domain_bars = await source.fetch_klines(category, symbol, interval, start_ms, last_open, limit)
        bars = KlineArrays.from_bars(domain_bars)
        if want_records:
            records = records_from_bars(domain_bars)
    received = len(bars)
    ts = bars.open_time_ms
    inside = (ts >= start_ms) & (ts < end_ms)
    if not inside.all():
        bars = bars.take(inside)
        if records is not None:
            records = [r for r in records if start_ms <= r[0] < end_ms]
    bars = bars.normalized()
    if records is not None and len(records) != len(bars):
        records = dedup_records(records)
    return Page(bars, records, received)


def dedup_records(records: Sequence[KlineRecord]) -> list[KlineRecord]:
    """Return records sorted by open time, the last of each open time kept."""
    latest = {r[0]: r for r in records}
    return [latest[t] for t in sorted(latest)]


def closed_before(interval: Interval, now_ms: int) -> int:
    """Return the open time of the bar still open at `now_ms` (bars before it are closed)."""
    return interval.open_time_ms(now_ms)
