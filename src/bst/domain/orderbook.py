"""Level-2 order book with Bybit's snapshot/delta semantics, continuity checks and exact queries.

Semantics (Bybit v5 `orderbook.{depth}.{symbol}`):
- a snapshot replaces the whole book: the first message after subscribing, any later snapshot, and
  `u == 1` (sent after a service restart, counted in `stats.restarts`);
- in a delta, size "0" deletes the level, an unknown price inserts it, a known price replaces its size;
- each delta's `u` is the previous `u` + 1, and `seq` (cross sequence) never decreases;
- level 1 sends snapshots only (re-sent with the same `u` while unchanged).

Any break (an update-id gap, `seq` going backwards, a delta before any snapshot, a delta on a level-1
stream, a crossed book with best bid >= best ask, malformed levels) makes the book invalid with a
reason, and every later delta is refused until a snapshot arrives. Queries still answer from the last
state (a watch screen may show it, flagged), but `require_valid()` raises `StaleBookError`: code that
trades must call it or check `is_valid`. A delta whose `u` is not newer than the book's is a
duplicate and is ignored.

Representation, chosen for speed with exactness: prices are keyed by the exchange's own string, so a
size change at a known price (most of the traffic) is one dict store with no price parsing. Sizes
are integers in units of 10**-size_scale ("lots"), so sums are exact and cheap. Each side keeps its
prices in a sorted list of integer ticks (units of 10**-price_scale) with a parallel list of the
strings, updated by bisection on insert and delete only; both lists ascend, so the best bid is the
last element and the best ask the first. The same price spelled differently ("1.50" and "1.5") maps
to one tick and the newest spelling wins. Scales start at the constructor's values (e.g. from the
instrument) and grow when a finer value arrives. Every public result is a Decimal; the queries
live in `bst.domain.book_queries`, market-order walks in `bst.domain.book_impact`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from bst.domain.book_impact import MarketImpact
from bst.domain.book_queries import BookQueries
from bst.domain.book_types import (
    ApplyResult,
    BookSide,
    BookStats,
    MalformedLevelError,
    StaleBookError,
    decimal_units,
)
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate, RawLevels
from bst.domain.market import BookSnapshot, Category

__all__ = [
    "ApplyResult",
    "BookSide",
    "BookStats",
    "MarketImpact",
    "OrderBook",
    "StaleBookError",
]

_POW10: tuple[int, ...] = tuple(10**i for i in range(64))


class OrderBook(BookQueries):
    """One L2 book (one symbol, one stream depth), kept exactly as Bybit defines it."""

    __slots__ = (
        "_ask_prices",
        "_ask_sizes",
        "_ask_ticks",
        "_bid_prices",
        "_bid_sizes",
        "_bid_ticks",
        "_last",
        "_price_scale",
        "_price_unit",
        "_reason",
        "_size_scale",
        "_size_unit",
        "_valid",
        "category",
        "check_continuity",
        "depth",
        "stats",
        "symbol",
    )

    def __init__(
        self,
        symbol: str,
        depth: int | None = None,
        *,
        category: Category = Category.LINEAR,
        price_scale: int = 0,
        size_scale: int = 0,
        check_continuity: bool = True,
    ) -> None:
        if price_scale < 0 or size_scale < 0:
            raise ConfigError("price_scale and size_scale must be >= 0")
        self.symbol = symbol
        self.depth = depth
        self.category = category
        self.check_continuity = check_continuity
        self._price_scale = price_scale
        self._price_unit = _POW10[price_scale]
        self._size_scale = size_scale
        self._size_unit = _POW10[size_scale]
        self._bid_sizes: dict[str, int] = {}
        self._ask_sizes: dict[str, int] = {}
        self._bid_ticks: list[int] = []
        self._bid_prices: list[str] = []
        self._ask_ticks: list[int] = []
        self._ask_prices: list[str] = []
        self._last: BookUpdate | None = None
        self._valid = False
        self._reason: str | None = "no snapshot yet"
        self.stats = BookStats()

    def __repr__(self) -> str:
        state = "valid" if self._valid else f"invalid ({self._reason})"
        return (
            f"OrderBook({self.symbol!r}, depth={self.depth}, u={self.update_id}, "
            f"bids={len(self._bid_ticks)}, asks={len(self._ask_ticks)}, {state})"
        )

    # --- state -------------------------------------------------------------------------------

    @property
    def is_valid(self) -> bool:
        """Return whether the book mirrors the exchange (snapshot applied, no break since)."""
        return self._valid

    @property
    def invalid_reason(self) -> str | None:
        """Return why the book is not valid, or None when it is."""
        return self._reason

    @property
    def price_scale(self) -> int:
        """Return the number of decimals prices are kept with."""
        return self._price_scale

    @property
    def size_scale(self) -> int:
        """Return the number of decimals sizes are kept with."""
        return self._size_scale

    @property
    def bid_count(self) -> int:
        """Return the number of bid levels."""
        return len(self._bid_ticks)

    @property
    def ask_count(self) -> int:
        """Return the number of ask levels."""
        return len(self._ask_ticks)

    @property
    def update_id(self) -> int:
        """Return the `u` of the last applied message (0 before any)."""
        return self._last.update_id if self._last is not None else 0

    @property
    def seq(self) -> int | None:
        """Return the cross sequence of the last applied message."""
        return self._last.seq if self._last is not None else None

    @property
    def ts_ms(self) -> int:
        """Return the exchange push time of the last applied message (0 before any)."""
        return self._last.ts_ms if self._last is not None else 0

    @property
    def cts_ms(self) -> int | None:
        """Return the matching-engine time of the last applied message."""
        return self._last.cts_ms if self._last is not None else None

    @property
    def recv_ms(self) -> int | None:
        """Return the local receive time of the last applied message."""
        return self._last.recv_ms if self._last is not None else None

    def require_valid(self) -> None:
        """Raise StaleBookError unless the book is valid."""
        if not self._valid:
            raise StaleBookError(f"order book {self.symbol} is stale: {self._reason}")

    def invalidate(self, reason: str) -> None:
        """Mark the book stale (e.g. the connection dropped); only a snapshot makes it valid again."""
        self._valid = False
        self._reason = reason

    def age_ms(self, now_ms: int) -> int | None:
        """Return ms since the last message was received (or pushed, if no receive time), or None."""
        if self._last is None:
            return None
        return now_ms - self._last.recv_ms

    def is_fresh(self, now_ms: int, max_age_ms: int) -> bool:
        """Return whether the book is valid and heard from within `max_age_ms` (a quiet book may be stale)."""
        age = self.age_ms(now_ms)
        return self._valid and age is not None and age <= max_age_ms

    def _break(self, result: ApplyResult, reason: str) -> ApplyResult:
        self._valid = False
        self._reason = reason
        return result

    # --- applying messages ---------------------------------------------------------------------

    def apply(self, update: BookUpdate) -> ApplyResult:
        """Apply one stream message (snapshot or delta) and report what happened.

        A delta is applied only if it continues the book (`u` = previous `u` + 1, `seq` not
        decreasing); otherwise the book is invalidated (gap) or the delta ignored (duplicate).
        """
        if update.snapshot:
            return self._snapshot(update)
        stats = self.stats
        if not self._valid:
            stats.rejected += 1
            return ApplyResult.REJECTED
        if self.depth == 1:
            stats.gaps += 1
            return self._break(ApplyResult.GAP, "delta on a level-1 stream, which sends snapshots only")
        last = self._last
        if self.check_continuity and last is not None:
            update_id = update.update_id
            if update_id != last.update_id + 1:
                if update_id <= last.update_id:
                    stats.duplicates += 1
                    return ApplyResult.DUPLICATE
                stats.gaps += 1
                return self._break(
                    ApplyResult.GAP, f"update id gap: expected {last.update_id + 1}, got {update_id}"
                )
            seq = update.seq
            if seq is not None and last.seq is not None and seq < last.seq:
                stats.gaps += 1
                return self._break(ApplyResult.GAP, f"cross sequence went backwards: {last.seq} -> {seq}")
        bids = update.bids
        asks = update.asks
        try:
            try:
                if bids:
                    self._apply_side_fast(bids, self._bid_sizes, self._bid_ticks, self._bid_prices)
                if asks:
                    self._apply_side_fast(asks, self._ask_sizes, self._ask_ticks, self._ask_prices)
            except (ValueError, TypeError, AttributeError, IndexError, KeyError):
                self._apply_levels_careful(bids, asks)
        except MalformedLevelError as e:
            stats.malformed += 1
            return self._break(ApplyResult.MALFORMED, f"malformed delta u={update.update_id}: {e}")
        stats.deltas += 1
        self._last = update
        bid_ticks = self._bid_ticks
        ask_ticks = self._ask_ticks
        if bid_ticks and ask_ticks and bid_ticks[-1] >= ask_ticks[0]:
            stats.crossed += 1
            return self._break(ApplyResult.CROSSED, self._crossed_reason())
        return ApplyResult.APPLIED

    def apply_snapshot(
        self,
        bids: RawLevels,
        asks: RawLevels,
        update_id: int,
        seq: int | None = None,
        ts_ms: int = 0,
        cts_ms: int | None = None,
        recv_ms: int | None = None,
    ) -> ApplyResult:
        """Replace the whole book; the book becomes valid unless the levels are bad or crossed."""
        return self._snapshot(self._update(True, bids, asks, update_id, seq, ts_ms, cts_ms, recv_ms))

    def apply_delta(
        self,
        bids: RawLevels,
        asks: RawLevels,
        update_id: int,
        seq: int | None = None,
        ts_ms: int = 0,
        cts_ms: int | None = None,
        recv_ms: int | None = None,
    ) -> ApplyResult:
        """Apply level changes after checking continuity; a break invalidates the book."""
        return self.apply(self._update(False, bids, asks, update_id, seq, ts_ms, cts_ms, recv_ms))

    def _update(
        self,
        snapshot: bool,
        bids: RawLevels,
        asks: RawLevels,
        update_id: int,
        seq: int | None,
        ts_ms: int,
        cts_ms: int | None,
        recv_ms: int | None,
    ) -> BookUpdate:
        return BookUpdate(
            self.category,
            self.symbol,
            self.depth or 0,
            snapshot,
            bids,
            asks,
            update_id,
            seq,
            ts_ms,
            cts_ms,
            ts_ms if recv_ms is None else recv_ms,
        )

    def _snapshot(self, update: BookUpdate) -> ApplyResult:
        stats = self.stats
        stats.snapshots += 1
        if update.update_id == 1:
            stats.restarts += 1
        self._last = update
        self._bid_sizes.clear()
        self._ask_sizes.clear()
        del self._bid_ticks[:], self._bid_prices[:], self._ask_ticks[:], self._ask_prices[:]
        unknown_before = stats.unknown_deletes
        try:
            try:
                self._apply_side_fast(update.bids, self._bid_sizes, self._bid_ticks, self._bid_prices)
                self._apply_side_fast(update.asks, self._ask_sizes, self._ask_ticks, self._ask_prices)
            except (ValueError, TypeError, AttributeError, IndexError, KeyError):
                self._apply_levels_careful(update.bids, update.asks)
        except MalformedLevelError as e:
            stats.malformed += 1
            return self._break(ApplyResult.MALFORMED, f"malformed snapshot: {e}")
        finally:
            stats.unknown_deletes = unknown_before  # a "0" in a snapshot is just an empty level
        if self._bid_ticks and self._ask_ticks and self._bid_ticks[-1] >= self._ask_ticks[0]:
            stats.crossed += 1
            return self._break(ApplyResult.CROSSED, self._crossed_reason())
        self._valid = True
        self._reason = None
        return ApplyResult.SNAPSHOT

    def load_snapshot(self, snapshot: BookSnapshot, recv_ms: int | None = None) -> ApplyResult:
        """Replace the book from a REST snapshot (Decimal levels)."""
        return self.apply_snapshot(
            [[str(p), str(q)] for p, q in snapshot.bids],
            [[str(p), str(q)] for p, q in snapshot.asks],
            snapshot.update_id,
            snapshot.seq,
            snapshot.ts_ms,
            snapshot.cts_ms,
            recv_ms,
        )

    def _apply_levels_careful(self, bids: RawLevels, asks: RawLevels) -> None:
        # Level operations are absolute ("set size", "delete"), so re-running a message from its
        # start after the fast path bailed out on something unusual is harmless.
        self._apply_side_careful(bids, self._bid_sizes, self._bid_ticks, self._bid_prices)
        self._apply_side_careful(asks, self._ask_sizes, self._ask_ticks, self._ask_prices)

    def _apply_side_fast(
        self, levels: RawLevels, sizes: dict[str, int], ticks: list[int], prices: list[str]
    ) -> None:
        # The hot loop. Bybit prints sizes with a fixed number of decimals per symbol, so the common
        # case is "digits.ddd" with exactly `scale` decimals: one replace and one int().
        scale = self._size_scale
        dot_at = -scale - 1
        unit = self._size_unit
        for price, size in levels:
            if size != "0":
                if len(size) > scale and size[dot_at] == ".":
                    lots = int(size.replace(".", ""))
                elif "." not in size:
                    lots = int(size) * unit
                else:
                    lots = self._size_lots(size)
                    scale = self._size_scale
                    dot_at = -scale - 1
                    unit = self._size_unit
                if lots > 0:
                    if price not in sizes:
                        self._insert(price, sizes, ticks, prices)
                    sizes[price] = lots
                    continue
                if lots < 0:
                    raise MalformedLevelError(f"negative size {size!r} at price {price!r}")
            if sizes.pop(price, None) is None:
                self._delete_other_spelling(price, sizes, ticks, prices)
            else:
                self._remove_index(price, ticks, prices)

    def _apply_side_careful(
        self, levels: RawLevels, sizes: dict[str, int], ticks: list[int], prices: list[str]
    ) -> None:
        for level in levels:
            if not isinstance(level, Sequence) or isinstance(level, str) or len(level) < 2:
                raise MalformedLevelError(f"bad level {level!r}")
            price, size = str(level[0]), level[1]
            lots = self._size_lots(size)
            if lots:
                if price not in sizes:
                    self._insert(price, sizes, ticks, prices)
                sizes[price] = lots
            elif sizes.pop(price, None) is None:
                self._delete_other_spelling(price, sizes, ticks, prices)
            else:
                self._remove_index(price, ticks, prices)

    def _insert(self, price: str, sizes: dict[str, int], ticks: list[int], prices: list[str]) -> None:
        if type(price) is not str:
            raise TypeError("price must be a string")  # the careful path converts it
        tick = self._price_ticks(price)
        i = bisect_left(ticks, tick)
        if i < len(ticks) and ticks[i] == tick:
            # The same price under another spelling: keep one level, with the newest spelling.
            del sizes[prices[i]]
            prices[i] = price
        else:
            ticks.insert(i, tick)
            prices.insert(i, price)

    def _remove_index(self, price: str, ticks: list[int], prices: list[str]) -> None:
        i = bisect_left(ticks, self._price_ticks(price))
        if i >= len(prices) or prices[i] != price:
            raise MalformedLevelError(f"book index out of step at price {price!r}")
        del ticks[i]
        del prices[i]

    def _delete_other_spelling(
        self, price: str, sizes: dict[str, int], ticks: list[int], prices: list[str]
    ) -> None:
        tick = self._price_ticks(price)
        i = bisect_left(ticks, tick)
        if i < len(ticks) and ticks[i] == tick:
            del sizes[prices[i]]
            del ticks[i]
            del prices[i]
        else:
            self.stats.unknown_deletes += 1

    def _price_ticks(self, price: str) -> int:
        """Return `price` in ticks of 10**-price_scale, growing the scale if `price` is finer."""
        dot = price.find(".")
        scale = self._price_scale
        try:
            if dot < 0:
                tick = int(price) * self._price_unit
            elif len(price) - dot - 1 <= scale:
                tick = int(price.replace(".", "")) * _POW10[scale - (len(price) - dot - 1)]
            else:
                tick = -1
        except (ValueError, TypeError, AttributeError):
            tick = -1
        if tick > 0:
            return tick
        units, decimals = decimal_units(price)
        if units <= 0:
            raise MalformedLevelError(f"price must be positive, got {price!r}")
        if decimals > self._price_scale:
            self._grow_price_scale(decimals)
        return units * _POW10[self._price_scale - decimals]

    def _size_lots(self, size: object) -> int:
        """Return `size` in lots of 10**-size_scale, growing the scale if `size` is finer."""
        units, decimals = decimal_units(size)
        if decimals > self._size_scale:
            self._grow_size_scale(decimals)
        return units * _POW10[self._size_scale - decimals]

    def _grow_price_scale(self, scale: int) -> None:
        if scale >= len(_POW10):
            raise MalformedLevelError(f"price has too many decimals ({scale})")
        factor = _POW10[scale - self._price_scale]
        self._bid_ticks[:] = [t * factor for t in self._bid_ticks]
        self._ask_ticks[:] = [t * factor for t in self._ask_ticks]
        self._price_scale = scale
        self._price_unit = _POW10[scale]

    def _grow_size_scale(self, scale: int) -> None:
        if scale >= len(_POW10):
            raise MalformedLevelError(f"size has too many decimals ({scale})")
        factor = _POW10[scale - self._size_scale]
        for sizes in (self._bid_sizes, self._ask_sizes):
            for key in sizes:
                sizes[key] *= factor
        self._size_scale = scale
        self._size_unit = _POW10[scale]

    def _crossed_reason(self) -> str:
        return (
            f"crossed book: best bid {self._price(self._bid_ticks[-1])} >= "
            f"best ask {self._price(self._ask_ticks[0])}"
        )
