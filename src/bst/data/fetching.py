"""One request's worth of candles from a KlineSource, as columns (and exact wire rows when asked).

A source that offers `fetch_kline_rows` (the KlineRowSource port) is read as raw rows: parsed
straight to float columns, with the same strings kept as exact SQL values. Any other KlineSource
is read through `fetch_klines` (Decimal bars), which is exact but slower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bst.data.arrays import KlineArrays
from bst.data.sql import KlineRow, rows_from_bars
from bst.domain.market import Category, Interval
from bst.domain.ports import KlineSource


@dataclass(frozen=True, slots=True)
class Page:
    """The bars one request returned inside its window: normalized columns + optional exact rows.

    `rows` (wire rows, only when asked) are in the source's order and may repeat an open time.
    """

    bars: KlineArrays
    rows: Sequence[KlineRow] | None
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
    want_rows: bool = False,
) -> Page:
    """Fetch the bars opening in `[start_ms, end_ms)`; anything the source sends outside is dropped."""
    last_open = end_ms - 1
    exact: Sequence[KlineRow] | None = None
    if has_rows(source):
        fetch_rows: Any = source.fetch_kline_rows  # type: ignore[attr-defined]
        rows: Sequence[KlineRow] = await fetch_rows(category, symbol, interval, start_ms, last_open, limit)
        bars = KlineArrays.from_rows(rows)
        if want_rows:
            exact = rows
    else:
        domain_bars = await source.fetch_klines(category, symbol, interval, start_ms, last_open, limit)
        bars = KlineArrays.from_bars(domain_bars)
        if want_rows:
            exact = rows_from_bars(domain_bars)
    received = len(bars)
    ts = bars.open_time_ms
    inside = (ts >= start_ms) & (ts < end_ms)
    if not inside.all():
        bars = bars.take(inside)
        if exact is not None:
            exact = [exact[i] for i in np.flatnonzero(inside).tolist()]
    return Page(bars.normalized(), exact, received)


def rows_between(rows: Sequence[KlineRow], start_ms: int, end_ms: int) -> Sequence[KlineRow]:
    """Return the rows whose open time lies in `[start_ms, end_ms)`."""
    if not rows:
        return rows
    ts = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
    inside = (ts >= start_ms) & (ts < end_ms)
    if inside.all():
        return rows
    return [rows[i] for i in np.flatnonzero(inside).tolist()]


def closed_before(interval: Interval, now_ms: int) -> int:
    """Return the open time of the bar still open at `now_ms` (bars before it are closed)."""
    return interval.open_time_ms(now_ms)
