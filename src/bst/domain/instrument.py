"""Instruments and their filters, and the one tick/lot rounding (`to_step`, `on_step`).

The order rules that use these filters live in `bst.domain.order_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, localcontext

from bst.domain.market import Category

_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable symbol with the exchange's filters (all money/qty values exact)."""

    symbol: str
    category: Category
    status: str
    base_coin: str
    quote_coin: str
    settle_coin: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_market_qty: Decimal
    min_notional: Decimal
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)
    min_leverage: Decimal = Decimal(1)
    max_leverage: Decimal = Decimal(1)
    leverage_step: Decimal = Decimal("0.01")
    contract_type: str = ""
    launch_time_ms: int = 0
    funding_interval_min: int = 0

    def round_price(self, price: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
        """Return `price` on the tick grid (nearest tick by default; pass ROUND_DOWN/ROUND_UP)."""
        return to_step(price, self.tick_size, rounding)

    def round_qty(self, qty: Decimal) -> Decimal:
        """Return `qty` rounded down to the lot step (never sends more than asked)."""
        return to_step(qty, self.qty_step, ROUND_DOWN)


def to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """Return `value` on the grid of `step` (ROUND_DOWN/ROUND_UP/ROUND_HALF_EVEN); exact at any size.

    The one tick/lot rounding of bst: instruments, margin prices and the engine all call it. The
    arithmetic runs with as many digits as the value needs, so a huge value rounds instead of raising.
    Non-finite values and a non-positive step return `value` unchanged.
    """
    if step <= 0 or not value.is_finite():
        return value
    with localcontext() as context:
        context.prec = _digits_for(value, step)
        units = (value / step).quantize(_ONE, rounding=rounding)
        return (units * step).quantize(step)


def on_step(value: Decimal, step: Decimal) -> bool:
    """Return whether `value` is a whole multiple of `step` (always True for a non-positive step)."""
    if step <= 0:
        return True
    if not value.is_finite():
        return False
    with localcontext() as context:
        context.prec = _digits_for(value, step)
        return value % step == 0


def _digits_for(value: Decimal, step: Decimal) -> int:
    # Enough precision for value / step as an integer and for that integer times step, exactly.
    needed = value.adjusted() - step.adjusted() + len(step.as_tuple().digits) + 3
    return max(28, needed)


__all__ = ["ROUND_DOWN", "ROUND_HALF_EVEN", "ROUND_UP", "Instrument", "on_step", "to_step"]
