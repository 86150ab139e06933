"""Candles as research columns: int64 open times (epoch ms) and float64 OHLCV + turnover.

`KlineArrays` is the one in-memory shape the store, the cache and the download engine pass
around. Invariant after `normalized()`: open times strictly ascending (sorted, no duplicates).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from bst.domain.market import Bar

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "turnover")
TIME_COLUMN = "open_time"
ARROW_SCHEMA = pa.schema(
    [pa.field(TIME_COLUMN, pa.timestamp("ms", tz="UTC"), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in PRICE_COLUMNS]
)


@dataclass(frozen=True, slots=True, eq=False)
class KlineArrays:
    """Columns of candles; all arrays have the same length."""

    open_time_ms: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    turnover: F64

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])

    @classmethod
    def empty(cls) -> KlineArrays:
        """Return zero candles."""
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f, f, f, f, f, f)

    @classmethod
    def from_matrix(cls, open_time_ms: I64, values: F64) -> KlineArrays:
        """Return candles from open times and an (n, 6) float matrix in PRICE_COLUMNS order."""
        cols = [np.ascontiguousarray(values[:, i]) for i in range(6)]
        return cls(np.ascontiguousarray(open_time_ms, dtype=np.int64), *cols)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[str]]) -> KlineArrays:
        """Parse exchange kline rows `[open_time_ms, open, high, low, close, volume, turnover]`.

        The decimal strings are parsed by Arrow's C++ cast (about 0.4 µs per row); open times
        stay exact because epoch milliseconds are far below 2**53.
        """
        n = len(rows)
        if n == 0:
            return cls.empty()
        flat = list(itertools.chain.from_iterable(rows))
        if len(flat) != n * 7:
            raise ValueError(f"kline rows must have 7 fields each; got {len(flat)} fields in {n} rows")
        matrix = pc.cast(pa.array(flat, type=pa.string()), pa.float64()).to_numpy().reshape(n, 7)
        return cls.from_matrix(matrix[:, 0].astype(np.int64), matrix[:, 1:])

    @classmethod
    def from_bars(cls, bars: Sequence[Bar]) -> KlineArrays:
        """Return the columns of domain bars (Decimal -> float64)."""
        n = len(bars)
        ts = np.fromiter((b.open_time_ms for b in bars), dtype=np.int64, count=n)
        cols = [
            np.fromiter((float(getattr(b, name)) for b in bars), dtype=np.float64, count=n)
            for name in PRICE_COLUMNS
        ]
        return cls(ts, *cols)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> KlineArrays:
        """Return the columns of an Arrow table in ARROW_SCHEMA."""
        ts = table.column(TIME_COLUMN).cast(pa.int64()).to_numpy()
        cols = [table.column(name).to_numpy() for name in PRICE_COLUMNS]
        return cls(np.asarray(ts, dtype=np.int64), *(np.asarray(c, dtype=np.float64) for c in cols))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> KlineArrays:
        """Return the columns of a frame shaped like `to_frame()` output."""
        index = pd.DatetimeIndex(frame.index)
        ts = index.as_unit("ms").asi8.astype(np.int64)
        cols = [frame[name].to_numpy(dtype=np.float64) for name in PRICE_COLUMNS]
        return cls(ts, *cols)

    def columns(self) -> tuple[F64, ...]:
        """Return the six float columns in PRICE_COLUMNS order."""
        return (self.open, self.high, self.low, self.close, self.volume, self.turnover)

    def as_dict(self) -> dict[str, npt.NDArray[Any]]:
        """Return `{"open_time_ms": ..., "open": ..., ...}`."""
        out: dict[str, npt.NDArray[Any]] = {"open_time_ms": self.open_time_ms}
        out.update(zip(PRICE_COLUMNS, self.columns(), strict=True))
        return out

    def take(self, index: npt.NDArray[Any] | slice) -> KlineArrays:
        """Return the candles selected by a slice, an index array or a boolean mask."""
        return KlineArrays(self.open_time_ms[index], *(c[index] for c in self.columns()))

    def between(self, start_ms: int, end_ms: int) -> KlineArrays:
        """Return the candles opening in [start_ms, end_ms); requires ascending open times."""
        lo, hi = np.searchsorted(self.open_time_ms, [start_ms, end_ms], side="left")
        return self.take(slice(int(lo), int(hi)))

    def tail(self, count: int) -> KlineArrays:
        """Return the last `count` candles."""
        return self.take(slice(max(0, len(self) - count), None))

    def is_normalized(self) -> bool:
        """Return True when open times are strictly ascending."""
        ts = self.open_time_ms
        return bool(ts.shape[0] < 2 or np.all(ts[1:] > ts[:-1]))

    def normalized(self) -> KlineArrays:
        """Return the candles sorted by open time, keeping the last occurrence of each open time."""
        if self.is_normalized():
            return self
        ts = self.open_time_ms
        if bool(np.all(ts[1:] < ts[:-1])):  # newest first, as Bybit sends a page
            return self.take(slice(None, None, -1))
        order = np.argsort(ts, kind="stable")
        ts = self.open_time_ms[order]
        keep = np.empty(ts.shape[0], dtype=bool)
        keep[:-1] = ts[1:] != ts[:-1]
        keep[-1] = True
        return self.take(order[keep])

    def to_arrow(self) -> pa.Table:
        """Return an Arrow table in ARROW_SCHEMA (open_time as UTC timestamp[ms])."""
        ts = pa.array(self.open_time_ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
        arrays = [ts] + [pa.array(c, type=pa.float64()) for c in self.columns()]
        return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)

    def to_frame(self) -> pd.DataFrame:
        """Return a DataFrame indexed by UTC open time with float64 OHLCV + turnover columns."""
        index = pd.DatetimeIndex(self.open_time_ms.astype("datetime64[ms]"), name=TIME_COLUMN).tz_localize(
            "UTC"
        )
        return pd.DataFrame(dict(zip(PRICE_COLUMNS, self.columns(), strict=True)), index=index, copy=False)

    def equals(self, other: KlineArrays) -> bool:
        """Return True when both hold exactly the same candles (NaN-free float equality)."""
        return len(self) == len(other) and all(
            np.array_equal(a, b)
            for a, b in zip(
                (self.open_time_ms, *self.columns()), (other.open_time_ms, *other.columns()), strict=True
            )
        )


def concat(parts: Iterable[KlineArrays]) -> KlineArrays:
    """Return the candles of every part, in the given order (not normalized)."""
    items = [p for p in parts if len(p)]
    if not items:
        return KlineArrays.empty()
    if len(items) == 1:
        return items[0]
    return KlineArrays(
        np.concatenate([p.open_time_ms for p in items]),
        *(np.concatenate([p.columns()[i] for p in items]) for i in range(6)),
    )


def merge(older: KlineArrays, newer: KlineArrays) -> KlineArrays:
    """Return the union of two candle sets; where both have an open time, `newer` wins."""
    return concat([older, newer]).normalized()
