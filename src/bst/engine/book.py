"""The external liquidity of one symbol: an L2 book fed by snapshots/deltas, minus what we took.

User orders never enter this book (they are matched against it, not shown in it). When a user's
taker order or a crossed resting order takes liquidity, that quantity is recorded as consumed at the
level so a second order cannot take it again. The feed does not know about the virtual fill, so the
record is reconciled on each update of the level: a decrease of the level's size is taken to be the
market catching up with what we consumed (the consumed amount shrinks by the decrease), an increase
keeps it, and a deleted level forgets it.

One conversion, not two books: a `BookUpdate`'s decimal strings become Decimals once, on the way in
(`bst.engine.market_input.parse_levels`), and live here. Why not build on the domain `OrderBook`
(string keys, integer ticks and lots): it is the right book for a live stream (continuity, validity,
exact queries), but the engine needs what it lacks and pays for what it has. Measured in CPU time on
50-level BTCUSDT books (2 vCPU VM, best of 3, `time.process_time`): ingesting a one-level delta
costs 0.79 us in `OrderBook.apply` against 0.65 us of parsing plus 0.68 us here, but the matcher
asks for the best prices as Decimals on every event and walks levels as Decimals for every taker:
best bid + best ask cost 1.45 us from `OrderBook` (ticks to Decimal each time) against 0.51 us here.
The engine also needs the changed levels of each update (to shrink queues and cross resting
orders), the consumed-liquidity overlay, and to keep matching on a crossed or gapped feed, which
`OrderBook` refuses by design. End to end, `MatchingEngine.apply` of a one-level delta costs about
4.2 us, of which the string conversion is 0.65 us (`bench/bench_engine.py` has the figures).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from bst.domain.market import PriceLevel

_ZERO = Decimal(0)

LevelChange = tuple[bool, Decimal, Decimal]
"""(is_bid, price, new raw size) of one level an update touched; size 0 means deleted."""


class _Side:
    """One side of the book: sizes by price, a sorted price list and the consumed amounts."""

    __slots__ = ("consumed", "prices", "sizes")

    def __init__(self) -> None:
        self.sizes: dict[Decimal, Decimal] = {}
        self.prices: list[Decimal] = []  # ascending
        self.consumed: dict[Decimal, Decimal] = {}

    def set_level(self, price: Decimal, size: Decimal) -> bool:
        """Set one level's raw size (0 deletes); return whether it changed."""
        old = self.sizes.get(price)
        if size <= 0:
            if old is None:
                return False
            del self.sizes[price]
            index = bisect.bisect_left(self.prices, price)
            del self.prices[index]
            self.consumed.pop(price, None)
            return True
        if old is None:
            self.sizes[price] = size
            bisect.insort(self.prices, price)
            return True
        if old == size:
            return False
        self.sizes[price] = size
        taken = self.consumed.get(price)
        if taken is not None and size < old:
            left = taken - (old - size)
            if left > 0:
                self.consumed[price] = left
            else:
                del self.consumed[price]
        return True

    def available(self, price: Decimal) -> Decimal:
        size = self.sizes.get(price)
        if size is None:
            return _ZERO
        taken = self.consumed.get(price)
        if taken is None:
            return size
        left = size - taken
        return left if left > 0 else _ZERO


class LiquidityBook:
    """Bids and asks of the external market with per-level consumption (see the module docstring)."""

    __slots__ = ("asks", "bids")

    def __init__(self) -> None:
        self.bids = _Side()
        self.asks = _Side()

    def _side(self, is_bid: bool) -> _Side:
        return self.bids if is_bid else self.asks

    def apply_snapshot(self, bids: Iterable[PriceLevel], asks: Iterable[PriceLevel]) -> list[LevelChange]:
        """Replace the book; return the levels whose raw size changed (absent levels count as 0)."""
        changes: list[LevelChange] = []
        for is_bid, levels in ((True, bids), (False, asks)):
            side = self._side(is_bid)
            fresh: dict[Decimal, Decimal] = {}
            for price, size in levels:
                if size > 0:
                    fresh[price] = size
            for price in [p for p in side.sizes if p not in fresh]:
                side.set_level(price, _ZERO)
                changes.append((is_bid, price, _ZERO))
            for price, size in fresh.items():
                if side.set_level(price, size):
                    changes.append((is_bid, price, size))
        return changes

    def apply_delta(self, bids: Iterable[PriceLevel], asks: Iterable[PriceLevel]) -> list[LevelChange]:
        """Apply level updates (size 0 deletes); return the levels whose raw size changed."""
        changes: list[LevelChange] = []
        for is_bid, levels in ((True, bids), (False, asks)):
            side = self._side(is_bid)
            for price, size in levels:
                if side.set_level(price, size):
                    changes.append((is_bid, price, size if size > 0 else _ZERO))
        return changes

    def size_at(self, is_bid: bool, price: Decimal) -> Decimal:
        """Return the raw size shown at `price` (what a new order queues behind)."""
        return self._side(is_bid).sizes.get(price, _ZERO)

    def available(self, is_bid: bool, price: Decimal) -> Decimal:
        """Return the size at `price` not yet consumed by our fills."""
        return self._side(is_bid).available(price)

    def consume(self, is_bid: bool, price: Decimal, qty: Decimal) -> None:
        """Record that our fills took `qty` at `price`."""
        side = self._side(is_bid)
        side.consumed[price] = side.consumed.get(price, _ZERO) + qty

    def best_bid(self) -> Decimal | None:
        """Return the highest bid with liquidity left, or None."""
        side = self.bids
        for index in range(len(side.prices) - 1, -1, -1):
            price = side.prices[index]
            if side.available(price) > 0:
                return price
        return None

    def best_ask(self) -> Decimal | None:
        """Return the lowest ask with liquidity left, or None."""
        side = self.asks
        for price in side.prices:
            if side.available(price) > 0:
                return price
        return None

    def mid_price(self) -> Decimal | None:
        """Return the mid of the raw best bid and ask, or the one side present, or None."""
        bid = self.bids.prices[-1] if self.bids.prices else None
        ask = self.asks.prices[0] if self.asks.prices else None
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid if bid is not None else ask

    def taker_levels(self, taker_buys: bool, limit: Decimal | None) -> Iterator[tuple[Decimal, Decimal]]:
        """Yield (price, available) a taker on that side may hit, best first, up to `limit` inclusive.

        The price list is copied first, so consuming while iterating is safe.
        """
        if taker_buys:
            side = self.asks
            prices: Iterable[Decimal] = list(side.prices)
            for price in prices:
                if limit is not None and price > limit:
                    return
                left = side.available(price)
                if left > 0:
                    yield price, left
        else:
            side = self.bids
            prices = list(reversed(side.prices))
            for price in prices:
                if limit is not None and price < limit:
                    return
                left = side.available(price)
                if left > 0:
                    yield price, left

    def depth_within(self, taker_buys: bool, limit: Decimal | None) -> Decimal:
        """Return the total available size a taker could hit up to `limit`."""
        total = _ZERO
        for _, left in self.taker_levels(taker_buys, limit):
            total += left
        return total

    def levels(self, is_bid: bool) -> list[PriceLevel]:
        """Return the raw levels of one side, best first."""
        side = self._side(is_bid)
        prices = reversed(side.prices) if is_bid else iter(side.prices)
        return [(p, side.sizes[p]) for p in prices]

    def to_state(self) -> dict[str, Any]:
        """Return a JSON-compatible copy of the book, consumption included."""
        return {
            name: {
                "levels": [[str(p), str(side.sizes[p])] for p in side.prices],
                "consumed": [[str(p), str(q)] for p, q in sorted(side.consumed.items())],
            }
            for name, side in (("bids", self.bids), ("asks", self.asks))
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LiquidityBook:
        """Rebuild a book saved by `to_state`."""
        book = cls()
        for name, side in (("bids", book.bids), ("asks", book.asks)):
            for price, size in state[name]["levels"]:
                side.set_level(Decimal(price), Decimal(size))
            for price, qty in state[name]["consumed"]:
                side.consumed[Decimal(price)] = Decimal(qty)
        return book
