"""The simulator's market: seeded, deterministic, seekable bars, trades, books and tickers on demand.

`MarketGenerator(seed)` is the ground truth behind `bst sim` and the tests that check clients
against it. Nothing is stored: any range of any instrument is computed when asked, from integer ticks,
lots and turnover units, so a bar of any interval is exactly the aggregate of its 1-minute bars and
of the trades inside them. Minutes in exchange maintenance windows have no bar (see
`missing_minutes`); minutes before listing have none either; with `now_ms` the bar containing `now_ms`
holds only the trades printed up to then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from bst.domain.instrument import Instrument
from bst.domain.market import (
    DAY_MS,
    MINUTE_MS,
    Bar,
    BookSnapshot,
    Category,
    Interval,
    Trade,
)
from bst.sim.catalog import COINS, DEFAULT_INSTRUMENTS, InstrumentSpec
from bst.sim.columns import BarColumns, PriceKind, TradeColumns, aggregate, bar_open_times, basis_ticks
from bst.sim.depth import BookLevels, book_levels
from bst.sim.pricepath import (
    BOOL,
    I64,
    MINUTES_PER_DAY,
    CoinPath,
    InstrumentPath,
    hash_uniform,
    maintenance_mask,
    maintenance_windows,
    stable_id,
)
from bst.sim.scale import DecimalScale


class UnknownInstrumentError(KeyError):
    """No instrument with this symbol is listed in this category."""


@dataclass(frozen=True, slots=True)
class LastTrade:
    """The latest trade at or before some instant (ticks and lots)."""

    ts_ms: int
    price_ticks: int
    size_lots: int
    is_buy: bool
    seq: int


@dataclass(slots=True)
class _DayAggregate:
    open: int
    high: int
    low: int
    close: int
    volume: int
    turnover: int


class MarketGenerator:
    """Seeded synthetic markets for every instrument of the catalog; thread-safe, cheap to create."""

    def __init__(
        self, seed: int = 0, instruments: Iterable[InstrumentSpec] | None = None, *, gaps: bool = True
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = seed
        self.gaps = gaps
        specs = tuple(DEFAULT_INSTRUMENTS if instruments is None else instruments)
        coins = {name: CoinPath(seed, COINS[name]) for name in sorted({s.coin for s in specs})}
        self._paths: dict[tuple[Category, str], InstrumentPath] = {}
        for spec in specs:
            key = (spec.category, spec.symbol)
            if key in self._paths:
                raise ValueError(f"duplicate instrument {spec.key}")
            self._paths[key] = InstrumentPath(seed, spec, coins[spec.coin])
        self._daily: dict[tuple[Category, str, int], _DayAggregate | None] = {}
        self._scales: dict[tuple[Category, str], tuple[DecimalScale, DecimalScale, DecimalScale]] = {}

    # --- instruments ---------------------------------------------------------------------------

    def path(self, category: Category, symbol: str) -> InstrumentPath:
        """Return the price path of one instrument (raises UnknownInstrumentError)."""
        try:
            return self._paths[(category, symbol)]
        except KeyError:
            raise UnknownInstrumentError(f"{category.value}:{symbol}") from None

    def has_instrument(self, category: Category, symbol: str) -> bool:
        """Return whether `symbol` is listed in `category` (at any time)."""
        return (category, symbol) in self._paths

    def specs(self, category: Category | None = None) -> list[InstrumentSpec]:
        """Return the instrument specs, optionally of one category, in catalog order."""
        return [p.spec for p in self._paths.values() if category is None or p.spec.category is category]

    def instruments(self, category: Category | None = None, now_ms: int | None = None) -> list[Instrument]:
        """Return the domain instruments (only those already listed at `now_ms` when given)."""
        return [
            s.instrument()
            for s in self.specs(category)
            if now_ms is None or s.launch_ms - s.launch_ms % MINUTE_MS <= now_ms
        ]

    def instrument(self, category: Category, symbol: str) -> Instrument:
        """Return one domain instrument."""
        return self.path(category, symbol).spec.instrument()

    def scales(self, category: Category, symbol: str) -> tuple[DecimalScale, DecimalScale, DecimalScale]:
        """Return the (price, qty, turnover) text scales of one instrument."""
        key = (category, symbol)
        cached = self._scales.get(key)
        if cached is None:
            spec = self.path(category, symbol).spec
            cached = (
                DecimalScale(spec.tick_size),
                DecimalScale(spec.qty_step),
                DecimalScale(spec.turnover_unit),
            )
            self._scales[key] = cached
        return cached

    # --- gaps ----------------------------------------------------------------------------------

    def maintenance_windows(
        self, start_ms: int, end_ms: int, *, category: Category = Category.LINEAR
    ) -> list[tuple[int, int]]:
        """Return the maintenance windows [start, end) of `category` that overlap [start_ms, end_ms]."""
        if not self.gaps:
            return []
        return maintenance_windows(self.seed, category, start_ms, end_ms)

    def missing_minutes(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        category: Category = Category.LINEAR,
        now_ms: int | None = None,
    ) -> I64:
        """Return the open times of listed minutes in [start_ms, end_ms] the exchange has no bar for."""
        path = self.path(category, symbol)
        first = max(_ceil_minute(start_ms), path.launch_minute_ms)
        last = end_ms if now_ms is None else min(end_ms, now_ms)
        found: list[I64] = []
        for begin, end in self.maintenance_windows(first, last, category=category):
            lo = max(begin, first)
            hi = min(end - MINUTE_MS, last - last % MINUTE_MS)
            if hi >= lo:
                found.append(np.arange(lo, hi + 1, MINUTE_MS, dtype=np.int64))
        return np.concatenate(found) if found else np.empty(0, dtype=np.int64)

    # --- bars ----------------------------------------------------------------------------------

    def bar_columns(
        self,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        *,
        category: Category = Category.LINEAR,
        now_ms: int | None = None,
    ) -> BarColumns:
        """Return the bars whose open time lies in [start_ms, end_ms], oldest first, as int columns."""
        path = self.path(category, symbol)
        spec = path.spec
        if now_ms is not None:
            end_ms = min(end_ms, now_ms)
        first_open = interval.open_time_ms(start_ms)
        if first_open < start_ms:
            first_open = interval.next_open_ms(first_open)
        listing_open = interval.open_time_ms(path.launch_minute_ms)
        first_open = max(first_open, listing_open)
        if end_ms < first_open:
            return BarColumns.empty(spec)
        last_open = interval.open_time_ms(end_ms)
        span_end = interval.next_open_ms(last_open)
        if interval in (Interval.D1, Interval.W1, Interval.MN1):
            days = self._daily_columns(path, first_open // DAY_MS, (span_end - 1) // DAY_MS, now_ms)
            grouped = aggregate(interval, days) if interval is not Interval.D1 else days
        else:
            minutes = self._minute_columns(path, first_open, span_end, now_ms)
            grouped = minutes if interval is Interval.M1 else aggregate(interval, minutes)
        return grouped.between(first_open, last_open)

    def bars(
        self,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        *,
        category: Category = Category.LINEAR,
        now_ms: int | None = None,
    ) -> list[Bar]:
        """Return the bars whose open time lies in [start_ms, end_ms] as domain Bars, oldest first."""
        cols = self.bar_columns(symbol, interval, start_ms, end_ms, category=category, now_ms=now_ms)
        return cols.to_bars()

    def kline_window(
        self,
        symbol: str,
        interval: Interval,
        *,
        category: Category,
        limit: int,
        now_ms: int,
        start_ms: int | None = None,
        end_ms: int | None = None,
        kind: PriceKind = PriceKind.LAST,
    ) -> BarColumns:
        """Return what /v5/market/kline serves: the newest `limit` bars with open in [start, end].

        `end` defaults to (and is capped at) `now_ms`; when more than `limit` bars fall in the range
        the newest ones, ending at `end`, are returned.
        """
        path = self.path(category, symbol)
        end = now_ms if end_ms is None else min(end_ms, now_ms)
        listing_open = interval.open_time_ms(path.launch_minute_ms)
        floor_ms = max(start_ms if start_ms is not None else listing_open, listing_open)
        if end < floor_ms or limit <= 0:
            return BarColumns.empty(path.spec)
        last_open = interval.open_time_ms(end)
        want = limit
        while True:
            window_start = max(floor_ms, interval.step_back(last_open, want - 1))
            cols = self._bars_of_kind(kind, symbol, interval, window_start, end, category, now_ms)
            if len(cols) >= limit or window_start <= floor_ms:
                return cols.tail(limit)
            want = want * 2 + (limit - len(cols))

    def _bars_of_kind(
        self,
        kind: PriceKind,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        category: Category,
        now_ms: int,
    ) -> BarColumns:
        if kind is PriceKind.LAST:
            return self.bar_columns(symbol, interval, start_ms, end_ms, category=category, now_ms=now_ms)
        return self.price_bar_columns(
            kind, symbol, interval, start_ms, end_ms, category=category, now_ms=now_ms
        )

    def price_bar_columns(
        self,
        kind: PriceKind,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        *,
        category: Category = Category.LINEAR,
        now_ms: int | None = None,
    ) -> BarColumns:
        """Return mark- or index-price bars (volume and turnover zero) with open in [start_ms, end_ms].

        Mark and index prices follow the last-price path with a small basis that swings over each
        8-hour funding period; a minute's open equals the previous minute's close for every kind.
        """
        path = self.path(category, symbol)
        if now_ms is not None:
            end_ms = min(end_ms, now_ms)
        first_open = interval.open_time_ms(start_ms)
        if first_open < start_ms:
            first_open = interval.next_open_ms(first_open)
        first_open = max(first_open, interval.open_time_ms(path.launch_minute_ms))
        if end_ms < first_open:
            return BarColumns.empty(path.spec)
        last_open = interval.open_time_ms(end_ms)
        minutes = self._minute_columns(path, first_open, interval.next_open_ms(last_open), now_ms)
        shifted = minutes.with_basis(kind, self._basis_ticks(kind, minutes, now_ms))
        return aggregate(interval, shifted).between(first_open, last_open)

    def _basis_ticks(self, kind: PriceKind, minutes: BarColumns, now_ms: int | None) -> tuple[I64, I64]:
        """Return the basis in ticks at each minute's open and at its close (or `now_ms` if partial)."""
        close_ms = minutes.open_time_ms + MINUTE_MS
        if now_ms is not None:
            close_ms = np.minimum(close_ms, now_ms)
        return (
            basis_ticks(kind, minutes.open_time_ms, minutes.open),
            basis_ticks(kind, close_ms, minutes.close),
        )

    def _minute_columns(
        self, path: InstrumentPath, start_ms: int, end_ms: int, now_ms: int | None
    ) -> BarColumns:
        """Return existing 1-minute bars with open in [start_ms, end_ms), the minute of now partial."""
        start_ms = max(start_ms, path.launch_minute_ms)
        if now_ms is not None:
            end_ms = min(end_ms, now_ms - now_ms % MINUTE_MS + MINUTE_MS)
        if end_ms <= start_ms:
            return BarColumns.empty(path.spec)
        parts: list[tuple[I64, ...]] = []
        first_day, last_day = start_ms // DAY_MS, (end_ms - 1) // DAY_MS
        day = first_day
        while day <= last_day:
            # Short ranges (the live edge) reuse cached days; long ones compute blocks of days at once.
            count = 1 if last_day - first_day < 2 else min(path.BLOCK_DAYS, last_day - day + 1)
            block = path.day(day) if count == 1 else path.block(day, count)
            block_start = day * DAY_MS
            lo = max(0, (start_ms - block_start) // MINUTE_MS)
            hi = min(count * MINUTES_PER_DAY, -(-(end_ms - block_start) // MINUTE_MS))
            parts.append(
                (
                    block_start + np.arange(lo, hi, dtype=np.int64) * MINUTE_MS,
                    block.open[lo:hi],
                    block.high[lo:hi],
                    block.low[lo:hi],
                    block.close[lo:hi],
                    block.volume[lo:hi],
                    block.turnover[lo:hi],
                )
            )
            day += count
        open_ms, o, h, low, c, v, t = (np.concatenate([p[i] for p in parts]) for i in range(7))
        if now_ms is not None and open_ms.size and open_ms[-1] <= now_ms < open_ms[-1] + MINUTE_MS:
            partial = self._partial_minute(path, int(open_ms[-1]), now_ms)
            o, h, low, c, v, t = (a.copy() for a in (o, h, low, c, v, t))
            o[-1], h[-1], low[-1], c[-1], v[-1], t[-1] = partial
        keep = self._exists(path, open_ms)
        return BarColumns(
            open_time_ms=open_ms[keep],
            open=o[keep],
            high=h[keep],
            low=low[keep],
            close=c[keep],
            volume=v[keep],
            turnover=t[keep],
            spec=path.spec,
        )

    def _exists(self, path: InstrumentPath, minute_ms: I64) -> BOOL:
        keep: BOOL = minute_ms >= path.launch_minute_ms
        if self.gaps:
            keep &= ~maintenance_mask(self.seed, path.spec.category, minute_ms)
        return keep

    def _partial_minute(self, path: InstrumentPath, minute_ms: int, now_ms: int) -> tuple[int, ...]:
        """Return (o, h, l, c, volume, turnover) of the trades printed in the minute up to `now_ms`."""
        day = minute_ms // DAY_MS
        row = (minute_ms - day * DAY_MS) // MINUTE_MS
        arrays = path.day(day)
        offsets = path.day_trades(day).offset_ms[row]
        count = max(1, int(np.searchsorted(offsets, now_ms - minute_ms, side="right")))
        prices = arrays.trade_price[row, :count]
        return (
            int(prices[0]),
            int(prices.max()),
            int(prices.min()),
            int(prices[-1]),
            int(arrays.trade_size[row, :count].sum()),
            int(arrays.trade_turnover[row, :count].sum()),
        )

    def _daily_columns(
        self, path: InstrumentPath, first_day: int, last_day: int, now_ms: int | None
    ) -> BarColumns:
        """Return one aggregate row per day in [first_day, last_day] that has bars (cached when complete)."""
        rows: list[tuple[int, _DayAggregate]] = []
        launch_day = path.launch_minute_ms // DAY_MS
        spec = path.spec
        for day in range(max(first_day, launch_day), last_day + 1):
            day_start = day * DAY_MS
            if now_ms is not None and day_start > now_ms:
                break
            complete = now_ms is None or day_start + DAY_MS <= now_ms
            key = (spec.category, spec.symbol, day)
            if complete and key in self._daily:
                agg = self._daily[key]
            else:
                agg = self._aggregate_day(path, day_start, None if complete else now_ms)
                if complete:
                    self._daily[key] = agg
            if agg is not None:
                rows.append((day_start, agg))
        if not rows:
            return BarColumns.empty(spec)
        return BarColumns(
            open_time_ms=np.array([r[0] for r in rows], dtype=np.int64),
            open=np.array([r[1].open for r in rows], dtype=np.int64),
            high=np.array([r[1].high for r in rows], dtype=np.int64),
            low=np.array([r[1].low for r in rows], dtype=np.int64),
            close=np.array([r[1].close for r in rows], dtype=np.int64),
            volume=np.array([r[1].volume for r in rows], dtype=np.int64),
            turnover=np.array([r[1].turnover for r in rows], dtype=np.int64),
            spec=spec,
        )

    def _aggregate_day(
        self, path: InstrumentPath, day_start: int, now_ms: int | None
    ) -> _DayAggregate | None:
        minutes = self._minute_columns(path, day_start, day_start + DAY_MS, now_ms)
        if len(minutes) == 0:
            return None
        return _DayAggregate(
            open=int(minutes.open[0]),
            high=int(minutes.high.max()),
            low=int(minutes.low.min()),
            close=int(minutes.close[-1]),
            volume=int(minutes.volume.sum()),
            turnover=int(minutes.turnover.sum()),
        )

    # --- trades and prices ---------------------------------------------------------------------

    def trade_columns(
        self, symbol: str, start_ms: int, end_ms: int, *, category: Category = Category.LINEAR
    ) -> TradeColumns:
        """Return every trade with start_ms <= time <= end_ms, oldest first (ticks, lots, units)."""
        path = self.path(category, symbol)
        k = path.spec.trades_per_minute
        first_minute = max(start_ms - start_ms % MINUTE_MS, path.launch_minute_ms)
        parts: list[TradeColumns] = []
        for day in range(first_minute // DAY_MS, end_ms // DAY_MS + 1):
            day_start = day * DAY_MS
            lo = max(0, (first_minute - day_start) // MINUTE_MS)
            hi = min(MINUTES_PER_DAY, (end_ms - day_start) // MINUTE_MS + 1)
            if hi <= lo:
                continue
            minute_ms = day_start + np.arange(lo, hi, dtype=np.int64) * MINUTE_MS
            keep_minutes = self._exists(path, minute_ms)
            if not keep_minutes.any():
                continue
            arrays = path.day(day)
            times = path.day_trades(day)
            ts = minute_ms[:, None] + times.offset_ms[lo:hi]
            minute_index = (minute_ms - path.launch_minute_ms) // MINUTE_MS
            seq = minute_index[:, None] * k + np.arange(1, k + 1, dtype=np.int64)[None, :]
            keep = keep_minutes[:, None] & (ts >= start_ms) & (ts <= end_ms)
            parts.append(
                TradeColumns(
                    ts_ms=ts[keep],
                    price=arrays.trade_price[lo:hi][keep],
                    size=arrays.trade_size[lo:hi][keep],
                    turnover=arrays.trade_turnover[lo:hi][keep],
                    is_buy=times.is_buy[lo:hi][keep],
                    seq=seq[keep],
                    spec=path.spec,
                    seed=self.seed,
                )
            )
        return TradeColumns.concat(parts, path.spec, self.seed)

    def trades(
        self, symbol: str, start_ms: int, end_ms: int, *, category: Category = Category.LINEAR
    ) -> list[Trade]:
        """Return every trade with start_ms <= time <= end_ms as domain Trades, oldest first."""
        return self.trade_columns(symbol, start_ms, end_ms, category=category).to_trades()

    def recent_trades(
        self, symbol: str, now_ms: int, limit: int, *, category: Category = Category.LINEAR
    ) -> list[Trade]:
        """Return the newest `limit` trades printed at or before `now_ms`, oldest first."""
        path = self.path(category, symbol)
        per_minute = path.spec.trades_per_minute
        span_ms = (limit // per_minute + 2) * MINUTE_MS
        while True:
            start = max(path.launch_minute_ms, now_ms - span_ms)
            cols = self.trade_columns(symbol, start, now_ms, category=category)
            if len(cols) >= limit or start <= path.launch_minute_ms:
                return cols.tail(limit).to_trades()
            span_ms *= 2

    def last_trade(self, symbol: str, ts_ms: int, *, category: Category = Category.LINEAR) -> LastTrade:
        """Return the latest trade at or before `ts_ms` (ValueError before the listing)."""
        path = self.path(category, symbol)
        if ts_ms < path.launch_minute_ms:
            raise ValueError(f"{path.spec.key} is not listed before {path.launch_minute_ms}")
        minute = ts_ms - ts_ms % MINUTE_MS
        within = ts_ms - minute
        for begin, end in reversed(self.maintenance_windows(minute - 7 * DAY_MS, minute, category=category)):
            if begin <= minute < end:
                minute, within = begin - MINUTE_MS, MINUTE_MS
        if minute < path.launch_minute_ms:
            raise ValueError(f"{path.spec.key} had no trade before {ts_ms}")
        day = minute // DAY_MS
        row = (minute - day * DAY_MS) // MINUTE_MS
        times = path.day_trades(day)
        index = max(0, int(np.searchsorted(times.offset_ms[row], within, side="right")) - 1)
        arrays = path.day(day)
        k = path.spec.trades_per_minute
        return LastTrade(
            ts_ms=minute + int(times.offset_ms[row, index]),
            price_ticks=int(arrays.trade_price[row, index]),
            size_lots=int(arrays.trade_size[row, index]),
            is_buy=bool(times.is_buy[row, index]),
            seq=((minute - path.launch_minute_ms) // MINUTE_MS) * k + index + 1,
        )

    def price_ticks_at(self, symbol: str, ts_ms: int, *, category: Category = Category.LINEAR) -> int:
        """Return the last traded price at `ts_ms`, in ticks."""
        return self.last_trade(symbol, ts_ms, category=category).price_ticks

    def last_price(self, symbol: str, ts_ms: int, *, category: Category = Category.LINEAR) -> Decimal:
        """Return the last traded price at `ts_ms` (printed with the tick's places)."""
        price_scale = self.scales(category, symbol)[0]
        return price_scale.fixed_decimal(self.price_ticks_at(symbol, ts_ms, category=category))

    def mark_price(
        self,
        symbol: str,
        ts_ms: int,
        *,
        category: Category = Category.LINEAR,
        kind: PriceKind = PriceKind.MARK,
    ) -> Decimal:
        """Return the mark (or index) price at `ts_ms`."""
        ticks = self.price_ticks_at(symbol, ts_ms, category=category)
        shift = basis_ticks(kind, np.array([ts_ms], dtype=np.int64), np.array([ticks], dtype=np.int64))
        return self.scales(category, symbol)[0].fixed_decimal(ticks + int(shift[0]))

    # --- order book ----------------------------------------------------------------------------

    def book_levels(
        self, symbol: str, ts_ms: int, depth: int, *, category: Category = Category.LINEAR
    ) -> BookLevels:
        """Return the book at `ts_ms` in ticks and lots (see `book_snapshot`)."""
        path = self.path(category, symbol)
        last = self.last_trade(symbol, ts_ms, category=category)
        return book_levels(self.seed, path, last.price_ticks, last.is_buy, ts_ms, depth)

    def book_snapshot(
        self, symbol: str, ts_ms: int, depth: int, *, category: Category = Category.LINEAR
    ) -> BookSnapshot:
        """Return the order book at `ts_ms` to `depth` levels a side, bracketing the last trade.

        Deterministic in (seed, instrument, ts_ms): a level's size depends on its price and on a
        2-second bucket staggered per level, so successive snapshots differ in a few levels at a
        time, like a live book. `u` counts 10 ms steps since listing; `seq` is ms since listing.
        """
        path = self.path(category, symbol)
        last = self.last_trade(symbol, ts_ms, category=category)
        levels = book_levels(self.seed, path, last.price_ticks, last.is_buy, ts_ms, depth)
        price_scale, qty_scale, _ = self.scales(category, symbol)
        since = max(0, ts_ms - path.launch_minute_ms)
        return BookSnapshot(
            symbol=symbol,
            bids=tuple(
                (price_scale.plain_decimal(int(p)), qty_scale.plain_decimal(int(q)))
                for p, q in zip(levels.bid_price, levels.bid_size, strict=True)
            ),
            asks=tuple(
                (price_scale.plain_decimal(int(p)), qty_scale.plain_decimal(int(q)))
                for p, q in zip(levels.ask_price, levels.ask_size, strict=True)
            ),
            ts_ms=ts_ms,
            update_id=since // 10 + 1,
            seq=since + 1,
            cts_ms=max(last.ts_ms, ts_ms - 2),
        )


def _ceil_minute(ts_ms: int) -> int:
    return -(-ts_ms // MINUTE_MS) * MINUTE_MS


__all__ = [
    "BarColumns",
    "LastTrade",
    "MarketGenerator",
    "PriceKind",
    "TradeColumns",
    "UnknownInstrumentError",
    "bar_open_times",
    "basis_ticks",
    "hash_uniform",
    "stable_id",
]
