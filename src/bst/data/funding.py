"""Stored funding-rate history: one Parquet file per symbol, as Bybit's funding history gives it.

Layout under the data dir::

    funding/<category>/<SYMBOL>.parquet     funding_time (UTC ms), funding_rate (decimal text)

Rates stay the exchange's decimal text, so they are exact; rows are sorted by settlement time
without duplicates (a later download of the same settlement replaces it). The file is replaced
atomically. `FundingStore.write` merges new rows in; `read` returns (time, rate) pairs of a range.
Methods block (file I/O): async callers use `asyncio.to_thread`.

`download_funding` fills the store from any `FundingHistorySource` (the REST client's
`/v5/market/funding/history`): Bybit answers at most 200 settlements, the latest up to an end time,
so the range is read backwards page by page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from bst.data.atomic import write_atomic
from bst.domain.errors import ConfigError
from bst.domain.market import Category

__all__ = [
    "FUNDING_DIR",
    "FUNDING_PAGE",
    "FundingHistorySource",
    "FundingRate",
    "FundingRecord",
    "FundingStore",
    "download_funding",
]

FUNDING_PAGE = 200
"""Settlements Bybit returns at most per funding-history request."""

FUNDING_DIR = "funding"
FundingRate = tuple[int, Decimal]
"""One settlement: (funding time in epoch ms, rate as a fraction: 0.0001 = 0.01 %)."""

_SCHEMA = pa.schema(
    [
        pa.field("funding_time", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("funding_rate", pa.string(), nullable=False),
    ]
)


class FundingStore:
    """Read and write funding-rate series under `data_dir/funding`."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / FUNDING_DIR

    def path(self, category: Category, symbol: str) -> Path:
        """Return the file of one symbol's series."""
        return self.root / category.value / f"{symbol}.parquet"

    def has(self, category: Category, symbol: str) -> bool:
        """Return whether a series is stored for the symbol."""
        return self.path(category, symbol).is_file()

    def read(
        self, category: Category, symbol: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[FundingRate]:
        """Return the settlements in [start_ms, end_ms) (None: unbounded), oldest first; [] if none."""
        path = self.path(category, symbol)
        if not path.is_file():
            return []
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as e:
            raise ConfigError(f"cannot read the funding history {path}: {e}") from e
        times = table.column("funding_time").cast(pa.int64()).to_pylist()
        rates = table.column("funding_rate").to_pylist()
        return [
            (int(t), Decimal(r))
            for t, r in zip(times, rates, strict=True)
            if (start_ms is None or t >= start_ms) and (end_ms is None or t < end_ms)
        ]

    def write(self, category: Category, symbol: str, rows: Iterable[tuple[int, str]]) -> int:
        """Merge (time ms, rate text) rows into the symbol's series; return how many rows are new."""
        merged: dict[int, str] = {t: str(r) for t, r in self.read(category, symbol)}
        before = len(merged)
        for at_ms, rate in rows:
            try:
                value = Decimal(rate)
            except InvalidOperation:
                raise ConfigError(f"{symbol}: funding rate {rate!r} at {at_ms} is not a decimal") from None
            if not value.is_finite():
                raise ConfigError(f"{symbol}: funding rate {rate!r} at {at_ms} is not finite")
            merged[int(at_ms)] = rate
        ordered = sorted(merged.items())
        table = pa.table(
            {"funding_time": [t for t, _ in ordered], "funding_rate": [r for _, r in ordered]},
            schema=_SCHEMA,
        )
        write_atomic(self.path(category, symbol), lambda p: pq.write_table(table, p, compression="zstd"))
        return len(merged) - before


class FundingRecord(Protocol):
    """One settlement as a funding-history source reports it."""

    @property
    def funding_time_ms(self) -> int:
        """Return the settlement time (epoch ms)."""
        ...

    @property
    def funding_rate(self) -> Decimal:
        """Return the rate applied (a fraction)."""
        ...


class FundingHistorySource(Protocol):
    """Anything that answers Bybit's funding history (the REST client)."""

    async def get_funding_history(
        self,
        category: Category,
        symbol: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = FUNDING_PAGE,
    ) -> Sequence[FundingRecord]:
        """Return up to `limit` settlements in [start_ms, end_ms], the latest ones first taken."""
        ...


async def download_funding(
    source: FundingHistorySource,
    store: FundingStore,
    category: Category,
    symbol: str,
    start_ms: int,
    end_ms: int,
) -> int:
    """Store the symbol's settlements in [start_ms, end_ms]; return how many were new.

    Pages go backwards from `end_ms` until a page is short or reaches `start_ms`.
    """
    rows: list[tuple[int, str]] = []
    end = end_ms
    while end >= start_ms:
        records = await source.get_funding_history(
            category, symbol, start_ms=start_ms, end_ms=end, limit=FUNDING_PAGE
        )
        rows.extend(
            (r.funding_time_ms, str(r.funding_rate)) for r in records if start_ms <= r.funding_time_ms <= end
        )
        if len(records) < FUNDING_PAGE:
            break
        end = min(r.funding_time_ms for r in records) - 1
    return await asyncio.to_thread(store.write, category, symbol, rows)
