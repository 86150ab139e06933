"""A deliberately naive reference order book (Decimal dicts, sorted on every query) for the tests."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal

from bst.domain.market import Side

EXACT = Context(prec=100)
DIV = Context(prec=28, rounding=ROUND_HALF_EVEN)
DOWN = Context(prec=28, rounding=ROUND_DOWN)


class NaiveBook:
    """Bybit's rules written as plainly as possible: size 0 deletes, anything else sets."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def snapshot(self, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> None:
        self.bids, self.asks = {}, {}
        self.delta(bids, asks)

    def delta(self, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in levels:
                if Decimal(size) == 0:
                    side.pop(Decimal(price), None)
                else:
                    side[Decimal(price)] = Decimal(size)

    def bid_levels(self) -> list[tuple[Decimal, Decimal]]:
        return sorted(self.bids.items(), reverse=True)

    def ask_levels(self) -> list[tuple[Decimal, Decimal]]:
        return sorted(self.asks.items())

    def imbalance(self, n: int) -> Decimal | None:
        bid = sum((q for _, q in self.bid_levels()[:n]), Decimal(0))
        ask = sum((q for _, q in self.ask_levels()[:n]), Decimal(0))
        return DIV.divide(bid, EXACT.add(bid, ask)) if bid + ask else None

    def microprice(self) -> Decimal | None:
        if not self.bids or not self.asks:
            return None
        (bp, bq), (ap, aq) = self.bid_levels()[0], self.ask_levels()[0]
        return DIV.divide(EXACT.add(EXACT.multiply(bp, aq), EXACT.multiply(ap, bq)), bq + aq)

    def walk(self, side: Side, qty: Decimal) -> tuple[Decimal, Decimal, int, bool]:
        """Return (filled, notional, levels used, complete) of a market order."""
        levels = self.ask_levels() if side is Side.BUY else self.bid_levels()
        filled = notional = Decimal(0)
        used = 0
        for price, size in levels:
            if filled == qty:
                break
            take = min(size, qty - filled)
            filled += take
            notional = EXACT.add(notional, EXACT.multiply(take, price))
            used += 1
        return filled, notional, used, filled == qty
