"""Instruments and their trading rules: tick and lot rounding, order-size limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal

from bst.domain.market import Category


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
        return _to_step(price, self.tick_size, rounding)

    def round_qty(self, qty: Decimal) -> Decimal:
        """Return `qty` rounded down to the lot step (never sends more than asked)."""
        return _to_step(qty, self.qty_step, ROUND_DOWN)

    def check_order(self, qty: Decimal, price: Decimal | None, *, market: bool) -> str | None:
        """Return why an order of `qty` at `price` breaks this instrument's limits, or None."""
        if qty <= 0:
            return f"quantity must be positive, got {qty}"
        if qty < self.min_qty:
            return f"quantity {qty} is below the minimum {self.min_qty} for {self.symbol}"
        limit = self.max_market_qty if market and self.max_market_qty > 0 else self.max_qty
        if limit > 0 and qty > limit:
            return f"quantity {qty} is above the maximum {limit} for {self.symbol}"
        if price is not None:
            if price <= 0:
                return f"price must be positive, got {price}"
            if self.min_price > 0 and price < self.min_price:
                return f"price {price} is below the minimum {self.min_price} for {self.symbol}"
            if self.max_price > 0 and price > self.max_price:
                return f"price {price} is above the maximum {self.max_price} for {self.symbol}"
            if self.min_notional > 0 and qty * price < self.min_notional:
                return (
                    f"order value {qty * price} is below the minimum notional "
                    f"{self.min_notional} for {self.symbol}"
                )
        return None


def _to_step(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        return value
    units = (value / step).quantize(Decimal(1), rounding=rounding)
    return (units * step).quantize(step)


__all__ = ["ROUND_DOWN", "ROUND_HALF_EVEN", "ROUND_UP", "Instrument"]
