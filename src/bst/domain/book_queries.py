"""Read-only queries of an L2 book, exact: top of book, mid, spread, microprice, depth, imbalance, walks.

A mixin of `OrderBook`, kept apart so the book's update machinery stays readable. It reads the book's
sorted integer state (ticks and lots, see `bst.domain.orderbook`) and converts only what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_EVEN, Context, Decimal
from itertools import islice

from bst.domain.book_impact import MarketImpact, walk_notional, walk_quantity
from bst.domain.book_types import BookSide
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate
from bst.domain.market import BookSnapshot, PriceLevel, Side

# _CTX is wide enough that scaling, sums and products of exchange numbers are exact; quotients
# (mid/2 aside, which is exact) are rounded to 28 significant digits by _DIV, whatever context the
# caller has set, so results are reproducible.
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
_DIV = Context(prec=28, rounding=ROUND_HALF_EVEN)
_BPS = Decimal(10_000)
_TWO = Decimal(2)


class BookQueries:
    """The queries of `OrderBook` (state declared here, owned and maintained by the book)."""

    __slots__ = ()

    symbol: str
    _bid_sizes: dict[str, int]
    _ask_sizes: dict[str, int]
    _bid_ticks: list[int]
    _bid_prices: list[str]
    _ask_ticks: list[int]
    _ask_prices: list[str]
    _price_scale: int
    _size_scale: int
    _last: BookUpdate | None

    # --- conversions -----------------------------------------------------------------------------

    def _price(self, tick: int) -> Decimal:
        return Decimal(tick).scaleb(-self._price_scale, _CTX)

    def _size(self, lots: int) -> Decimal:
        return Decimal(lots).scaleb(-self._size_scale, _CTX)

    def _side_iter(self, side: BookSide) -> Iterator[tuple[int, int]]:
        """Yield (tick, lots) best first."""
        if side is BookSide.BID:
            sizes = self._bid_sizes
            for tick, price in zip(reversed(self._bid_ticks), reversed(self._bid_prices), strict=True):
                yield tick, sizes[price]
        else:
            sizes = self._ask_sizes
            for tick, price in zip(self._ask_ticks, self._ask_prices, strict=True):
                yield tick, sizes[price]

    def _top_lots(self, side: BookSide, levels: int) -> int:
        if side is BookSide.BID:
            return sum(map(self._bid_sizes.__getitem__, self._bid_prices[-levels:]))
        return sum(map(self._ask_sizes.__getitem__, self._ask_prices[:levels]))

    # --- queries ---------------------------------------------------------------------------------

    def best_bid(self) -> PriceLevel | None:
        """Return the best (highest) bid as (price, size), or None."""
        if not self._bid_ticks:
            return None
        return self._price(self._bid_ticks[-1]), self._size(self._bid_sizes[self._bid_prices[-1]])

    def best_ask(self) -> PriceLevel | None:
        """Return the best (lowest) ask as (price, size), or None."""
        if not self._ask_ticks:
            return None
        return self._price(self._ask_ticks[0]), self._size(self._ask_sizes[self._ask_prices[0]])

    def mid(self) -> Decimal | None:
        """Return (best bid + best ask) / 2, exactly, or None if a side is empty."""
        if not self._bid_ticks or not self._ask_ticks:
            return None
        return _CTX.divide(self._price(self._bid_ticks[-1] + self._ask_ticks[0]), _TWO)  # exact

    def spread(self) -> Decimal | None:
        """Return best ask - best bid, or None if a side is empty."""
        if not self._bid_ticks or not self._ask_ticks:
            return None
        return self._price(self._ask_ticks[0] - self._bid_ticks[-1])

    def spread_bps(self) -> Decimal | None:
        """Return the spread relative to the mid, in basis points."""
        spread = self.spread()
        mid = self.mid()
        if spread is None or mid is None or not mid:
            return None
        return _DIV.divide(spread * _BPS, mid)

    def microprice(self) -> Decimal | None:
        """Return the size-weighted mid: (bid * ask_size + ask * bid_size) / (bid_size + ask_size)."""
        if not self._bid_ticks or not self._ask_ticks:
            return None
        bid_tick = self._bid_ticks[-1]
        ask_tick = self._ask_ticks[0]
        bid_lots = self._bid_sizes[self._bid_prices[-1]]
        ask_lots = self._ask_sizes[self._ask_prices[0]]
        weighted = Decimal(bid_tick * ask_lots + ask_tick * bid_lots).scaleb(-self._price_scale, _CTX)
        return _DIV.divide(weighted, Decimal(bid_lots + ask_lots))

    def iter_levels(self, side: BookSide) -> Iterator[PriceLevel]:
        """Yield the levels of `side` best first, converting lazily (do not apply while iterating)."""
        for tick, lots in self._side_iter(side):
            yield self._price(tick), self._size(lots)

    def levels(self, side: BookSide, count: int | None = None) -> list[PriceLevel]:
        """Return up to `count` levels of `side` (all when None), best first."""
        return list(islice(self.iter_levels(side), count))

    def bids(self, count: int | None = None) -> list[PriceLevel]:
        """Return up to `count` bids, highest first."""
        return self.levels(BookSide.BID, count)

    def asks(self, count: int | None = None) -> list[PriceLevel]:
        """Return up to `count` asks, lowest first."""
        return self.levels(BookSide.ASK, count)

    def depth_size(self, side: BookSide, levels: int) -> Decimal:
        """Return the total size of the best `levels` levels of `side`."""
        _check_levels(levels)
        return self._size(self._top_lots(side, levels))

    def depth_notional(self, side: BookSide, levels: int) -> Decimal:
        """Return sum(price * size) over the best `levels` levels of `side` (quote currency)."""
        _check_levels(levels)
        total = 0
        for i, (tick, lots) in enumerate(self._side_iter(side)):
            if i >= levels:
                break
            total += tick * lots
        return Decimal(total).scaleb(-(self._price_scale + self._size_scale), _CTX)

    def imbalance(self, levels: int = 5) -> Decimal | None:
        """Return bid size / (bid size + ask size) over the best `levels` levels, in [0, 1].

        0.5 is balanced, above it bids dominate. None when both sides are empty.
        """
        if levels < 1:
            raise ConfigError(f"levels must be >= 1, got {levels}")
        bid = sum(map(self._bid_sizes.__getitem__, self._bid_prices[-levels:]))
        total = bid + sum(map(self._ask_sizes.__getitem__, self._ask_prices[:levels]))
        if not total:
            return None
        return _DIV.divide(bid, total)

    def imbalances(self, depths: Iterable[int]) -> dict[int, Decimal | None]:
        """Return `imbalance(n)` for each n in `depths`, summing each side once."""
        wanted = sorted(set(depths))
        if not wanted:
            return {}
        _check_levels(wanted[0])
        deepest = wanted[-1]
        bid_sizes = self._bid_sizes
        ask_sizes = self._ask_sizes
        bid_prices = self._bid_prices[-deepest:][::-1]
        ask_prices = self._ask_prices[:deepest]
        out: dict[int, Decimal | None] = {}
        bid = ask = 0
        done = 0
        for n in wanted:
            bid += sum(map(bid_sizes.__getitem__, bid_prices[done:n]))
            ask += sum(map(ask_sizes.__getitem__, ask_prices[done:n]))
            done = n
            out[n] = _DIV.divide(bid, bid + ask) if bid + ask else None
        return out

    def market_order(self, side: Side, qty: Decimal) -> MarketImpact:
        """Return the fill of a market order of `qty` (base) walking the book (Buy takes asks)."""
        return walk_quantity(side, self.iter_levels(BookSide.ASK if side is Side.BUY else BookSide.BID), qty)

    def spend(self, side: Side, notional: Decimal) -> MarketImpact:
        """Return the fill of a market order spending `notional` quote (depth to a notional)."""
        return walk_notional(
            side, self.iter_levels(BookSide.ASK if side is Side.BUY else BookSide.BID), notional
        )

    def to_snapshot(self, levels: int | None = None) -> BookSnapshot:
        """Return the book (or its best `levels` per side) as a BookSnapshot."""
        last = self._last
        return BookSnapshot(
            symbol=self.symbol,
            bids=tuple(self.levels(BookSide.BID, levels)),
            asks=tuple(self.levels(BookSide.ASK, levels)),
            ts_ms=last.ts_ms if last is not None else 0,
            update_id=last.update_id if last is not None else 0,
            seq=last.seq if last is not None else None,
            cts_ms=last.cts_ms if last is not None else None,
        )


def _check_levels(levels: int) -> None:
    if levels < 1:
        raise ConfigError(f"levels must be >= 1, got {levels}")
