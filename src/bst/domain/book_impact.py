"""Market-order walks over book levels: the fill of a quantity or of a notional, exactly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal

from bst.domain.errors import ConfigError
from bst.domain.market import PriceLevel, Side

_DIV = Context(prec=28, rounding=ROUND_HALF_EVEN)
_DOWN = Context(prec=28, rounding=ROUND_DOWN)
_BPS = Decimal(10_000)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class MarketImpact:
    """The outcome of walking the book with a market order (quantities in base, notional in quote)."""

    side: Side
    filled_qty: Decimal
    notional: Decimal
    avg_price: Decimal | None
    best_price: Decimal | None
    worst_price: Decimal | None
    levels: int
    complete: bool

    @property
    def slippage_bps(self) -> Decimal | None:
        """Return how much worse the average price is than the best price, in basis points (>= 0)."""
        if self.avg_price is None or self.best_price is None:
            return None
        diff = self.avg_price - self.best_price if self.side is Side.BUY else self.best_price - self.avg_price
        return _DIV.divide(diff * _BPS, self.best_price)


def walk_quantity(side: Side, levels: Iterable[PriceLevel], qty: Decimal) -> MarketImpact:
    """Return the fill of a market order of `qty` taking `levels` (best first) in turn."""
    if qty <= 0:
        raise ConfigError(f"quantity must be positive, got {qty}")
    remaining = qty
    filled = notional = _ZERO
    best = worst = None
    used = 0
    for price, size in levels:
        take = min(size, remaining)
        if best is None:
            best = price
        worst = price
        used += 1
        filled += take
        notional += take * price
        remaining -= take
        if not remaining:
            break
    avg = _DIV.divide(notional, filled) if filled else None
    return MarketImpact(side, filled, notional, avg, best, worst, used, not remaining)


def walk_notional(side: Side, levels: Iterable[PriceLevel], notional: Decimal) -> MarketImpact:
    """Return the fill of a market order spending `notional` quote on `levels` (best first).

    The quantity taken from the last, partly used level is rounded down to 28 significant digits,
    so the amount spent never exceeds `notional`.
    """
    if notional <= 0:
        raise ConfigError(f"notional must be positive, got {notional}")
    remaining = notional
    filled = spent = _ZERO
    best = worst = None
    used = 0
    for price, size in levels:
        if best is None:
            best = price
        worst = price
        used += 1
        level_value = size * price
        if level_value <= remaining:
            filled += size
            spent += level_value
            remaining -= level_value
        else:
            take = _DOWN.divide(remaining, price)
            filled += take
            spent += take * price
            remaining = _ZERO
        if not remaining:
            break
    avg = _DIV.divide(spent, filled) if filled else None
    return MarketImpact(side, filled, spent, avg, best, worst, used, not remaining)
