"""Columnar bars and trades in integer units, their exact aggregation, and conversion at the edge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from bst.domain.market import MINUTE_MS, WEEK_MS, Bar, Category, Interval, PriceBar, Side, Trade
from bst.sim.catalog import InstrumentSpec
from bst.sim.pricepath import BOOL, I64, splitmix64, stable_id
from bst.sim.scale import DecimalScale
from bst.sim.wire_text import INTEGER, rows_json

F64 = npt.NDArray[np.float64]
_MONDAY_OFFSET_MS = 4 * 86_400_000
_SPOT_EXEC_ID_BASE = 2_280_000_000_000_000_000


class PriceKind(StrEnum):
    """Which price a kline follows: last traded, mark or index."""

    LAST = "last"
    MARK = "mark"
    INDEX = "index"


def bar_open_times(interval: Interval, ts_ms: I64) -> I64:
    """Return the open time of the `interval` bar holding each timestamp (vectorised open_time_ms)."""
    if interval is Interval.MN1:
        months = ts_ms.astype("datetime64[ms]").astype("datetime64[M]")
        opens: I64 = months.astype("datetime64[ms]").astype(np.int64)
        return opens
    if interval is Interval.W1:
        result: I64 = ts_ms - (ts_ms - _MONDAY_OFFSET_MS) % WEEK_MS
        return result
    length = interval.fixed_ms or MINUTE_MS
    aligned: I64 = ts_ms - ts_ms % length
    return aligned


def basis_ticks(kind: PriceKind, ts_ms: I64, price_ticks: I64) -> I64:
    """Return the mark/index offset from the last price, in ticks, at each instant."""
    if kind is PriceKind.LAST:
        return np.zeros(ts_ms.shape, dtype=np.int64)
    amplitude, phase = (0.00012, 0.7) if kind is PriceKind.MARK else (-0.0001, 1.9)
    angle = 2.0 * np.pi * (ts_ms % (8 * 3_600_000)).astype(np.float64) / (8 * 3_600_000) + phase
    # sin() differs across libms in the last ulp; round a coarse value so the ticks never do.
    wave = np.round(np.sin(angle), 6)
    return np.rint(price_ticks.astype(np.float64) * amplitude * wave).astype(np.int64)


@dataclass(frozen=True, slots=True)
class BarColumns:
    """Bars oldest first: open times (ms), OHLC in ticks, volume in lots, turnover in turnover units.

    Units are those of `spec`: tick_size, qty_step and turnover_unit (tick*step, or 1e-8 coin for
    inverse). Mark/index bars carry zero volume and turnover.
    """

    open_time_ms: I64
    open: I64
    high: I64
    low: I64
    close: I64
    volume: I64
    turnover: I64
    spec: InstrumentSpec

    @classmethod
    def empty(cls, spec: InstrumentSpec) -> BarColumns:
        """Return zero bars."""
        none = np.empty(0, dtype=np.int64)
        return cls(none, none, none, none, none, none, none, spec)

    def __len__(self) -> int:
        return int(self.open_time_ms.size)

    def _take(self, index: slice | I64 | BOOL) -> BarColumns:
        return BarColumns(
            self.open_time_ms[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.turnover[index],
            self.spec,
        )

    def between(self, first_open_ms: int, last_open_ms: int) -> BarColumns:
        """Return the bars whose open time lies in [first_open_ms, last_open_ms]."""
        lo, hi = np.searchsorted(self.open_time_ms, [first_open_ms, last_open_ms], side="left")
        if hi < len(self) and self.open_time_ms[hi] == last_open_ms:
            hi += 1
        return self._take(slice(int(lo), int(hi)))

    def tail(self, count: int) -> BarColumns:
        """Return the newest `count` bars."""
        return self._take(slice(max(0, len(self) - count), None))

    def with_basis(self, kind: PriceKind, shifts: tuple[I64, I64]) -> BarColumns:
        """Return mark/index bars: open/close shifted by the basis at open/close, wicks halved."""
        open_shift, close_shift = shifts
        o = self.open + open_shift
        c = self.close + close_shift
        upper = (self.high - np.maximum(self.open, self.close)) // 2
        lower = (np.minimum(self.open, self.close) - self.low) // 2
        zero = np.zeros_like(self.volume)
        return BarColumns(
            self.open_time_ms,
            o,
            np.maximum(o, c) + upper,
            np.maximum(1, np.minimum(o, c) - lower),
            c,
            zero,
            zero,
            self.spec,
        )

    def _scales(self) -> tuple[DecimalScale, DecimalScale, DecimalScale]:
        return (
            DecimalScale(self.spec.tick_size),
            DecimalScale(self.spec.qty_step),
            DecimalScale(self.spec.turnover_unit),
        )

    def wire_columns(self) -> tuple[list[str], ...]:
        """Return open time, OHLC, volume and turnover as Bybit prints them in kline rows, oldest first."""
        price, qty, turnover = self._scales()
        return (
            [str(t) for t in self.open_time_ms.tolist()],
            price.plain_texts(self.open),
            price.plain_texts(self.high),
            price.plain_texts(self.low),
            price.plain_texts(self.close),
            qty.plain_texts(self.volume),
            turnover.plain_texts(self.turnover),
        )

    def wire_rows_json(self, *, price_only: bool = False) -> bytes:
        """Return the JSON text of `to_wire_rows(price_only=...)`, byte for byte, built without a
        Python object per value (the hot path of kline replies)."""
        price, qty, turnover = self._scales()
        fields = [
            (self.open_time_ms, INTEGER),
            (self.open, price),
            (self.high, price),
            (self.low, price),
            (self.close, price),
        ]
        if not price_only:
            fields += [(self.volume, qty), (self.turnover, turnover)]
        return rows_json(fields, newest_first=True)

    def to_wire_rows(self, *, price_only: bool = False) -> list[list[str]]:
        """Return kline rows newest first: 7 strings (5 for mark/index klines with `price_only`)."""
        columns = self.wire_columns()[:5] if price_only else self.wire_columns()
        rows = [list(row) for row in zip(*columns, strict=True)]
        rows.reverse()
        return rows

    def to_bars(self) -> list[Bar]:
        """Return domain Bars (Decimal, trailing zeros dropped as Bybit prints klines)."""
        d = Decimal
        return [
            Bar(int(t), d(o), d(h), d(lo), d(c), d(v), d(u))
            for t, o, h, lo, c, v, u in zip(*self.wire_columns(), strict=True)
        ]

    def to_price_bars(self) -> list[PriceBar]:
        """Return domain PriceBars (mark/index klines)."""
        d = Decimal
        return [
            PriceBar(int(t), d(o), d(h), d(lo), d(c))
            for t, o, h, lo, c in zip(*self.wire_columns()[:5], strict=True)
        ]

    def to_float(self) -> dict[str, npt.NDArray[np.int64] | F64]:
        """Return research columns: int64 open_time_ms, float64 prices, volume and turnover.

        Each float is the nearest double to the exact value (turnover above 2**53 units may differ from
        parsing the printed text by one ulp).
        """
        return {
            "open_time_ms": self.open_time_ms.copy(),
            "open": _to_float(self.open, self.spec.tick_size),
            "high": _to_float(self.high, self.spec.tick_size),
            "low": _to_float(self.low, self.spec.tick_size),
            "close": _to_float(self.close, self.spec.tick_size),
            "volume": _to_float(self.volume, self.spec.qty_step),
            "turnover": _to_float(self.turnover, self.spec.turnover_unit),
        }


def _to_float(units: I64, unit: Decimal) -> F64:
    scale = DecimalScale(unit)
    # An exact integer over an exact power of ten is one correctly rounded division.
    exact = units * scale.multiplier if scale.multiplier != 1 else units
    result: F64 = exact.astype(np.float64) / float(10**scale.places)
    return result


def aggregate(interval: Interval, bars: BarColumns) -> BarColumns:
    """Return `bars` (oldest first, finer than `interval`) merged into `interval` bars, exactly."""
    if len(bars) == 0:
        return bars
    groups = bar_open_times(interval, bars.open_time_ms)
    starts = np.flatnonzero(np.concatenate(([True], groups[1:] != groups[:-1])))
    ends = np.concatenate((starts[1:], [len(bars)])) - 1
    return BarColumns(
        open_time_ms=groups[starts],
        open=bars.open[starts],
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[ends],
        volume=np.add.reduceat(bars.volume, starts),
        turnover=np.add.reduceat(bars.turnover, starts),
        spec=bars.spec,
    )


@dataclass(frozen=True, slots=True)
class TradeColumns:
    """Public trades oldest first: time (ms), price (ticks), size (lots), turnover units, taker side, seq."""

    ts_ms: I64
    price: I64
    size: I64
    turnover: I64
    is_buy: BOOL
    seq: I64
    spec: InstrumentSpec
    seed: int

    @classmethod
    def concat(cls, parts: Sequence[TradeColumns], spec: InstrumentSpec, seed: int) -> TradeColumns:
        """Return the parts joined in order (zero trades when empty)."""
        if not parts:
            none = np.empty(0, dtype=np.int64)
            return cls(none, none, none, none, np.empty(0, dtype=np.bool_), none, spec, seed)
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([p.ts_ms for p in parts]),
            np.concatenate([p.price for p in parts]),
            np.concatenate([p.size for p in parts]),
            np.concatenate([p.turnover for p in parts]),
            np.concatenate([p.is_buy for p in parts]),
            np.concatenate([p.seq for p in parts]),
            spec,
            seed,
        )

    def __len__(self) -> int:
        return int(self.ts_ms.size)

    def tail(self, count: int) -> TradeColumns:
        """Return the newest `count` trades."""
        start = max(0, len(self) - count)
        return TradeColumns(
            self.ts_ms[start:],
            self.price[start:],
            self.size[start:],
            self.turnover[start:],
            self.is_buy[start:],
            self.seq[start:],
            self.spec,
            self.seed,
        )

    def trade_ids(self) -> list[str]:
        """Return Bybit-style execution ids: UUID-shaped for derivatives, numeric for spot."""
        if self.spec.category is Category.SPOT:
            return [str(_SPOT_EXEC_ID_BASE + s) for s in self.seq.tolist()]
        base = np.uint64(stable_id(f"{self.seed}:{self.spec.key}"))
        first = splitmix64(self.seq.astype(np.uint64) ^ base).tolist()
        second = splitmix64(self.seq.astype(np.uint64) ^ (base << np.uint64(32))).tolist()
        return [
            f"{a >> 32:08x}-{(a >> 16) & 0xFFFF:04x}-5{a & 0xFFF:03x}-"
            f"{((b >> 48) & 0x3FFF) | 0x8000:04x}-{b & 0xFFFFFFFFFFFF:012x}"
            for a, b in zip(first, second, strict=True)
        ]

    def to_trades(self) -> list[Trade]:
        """Return domain Trades (price with the tick's places, size with the lot's)."""
        price = DecimalScale(self.spec.tick_size)
        qty = DecimalScale(self.spec.qty_step)
        return [
            Trade(
                ts_ms=t,
                symbol=self.spec.symbol,
                side=Side.BUY if buy else Side.SELL,
                price=price.fixed_decimal(p),
                size=qty.fixed_decimal(q),
                trade_id=trade_id,
                seq=s,
            )
            for t, p, q, buy, s, trade_id in zip(
                self.ts_ms.tolist(),
                self.price.tolist(),
                self.size.tolist(),
                self.is_buy.tolist(),
                self.seq.tolist(),
                self.trade_ids(),
                strict=True,
            )
        ]
