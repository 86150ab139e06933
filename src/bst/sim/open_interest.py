"""Open interest of the simulated derivatives: one seeded curve of time, read by tickers and history.

`open_interest(gen, category, symbol, ts_ms)` is a pure function of the seed, the instrument and the
instant, so the ticker's `openInterest`, every `/v5/market/open-interest` interval and any later
re-read agree at the same timestamp. Its level is about a third of a day's turnover held open
(base coin for linear contracts at the price of the moment, USD contracts for inverse); around it
three slow seeded swings (a week, about a day, a few hours) move it by up to +-18 %, and a small
seeded jitter per five minutes (+-1 %, interpolated) keeps neighbouring points from lying on a
curve. Sines are rounded to 6 places so every libm gives the same lots.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

import numpy as np

from bst.domain.market import Category
from bst.sim.generator import MarketGenerator
from bst.sim.pricepath import hash_uniform, stable_id

HELD_SHARE_OF_DAILY_TURNOVER = 0.35
_SWINGS_MS = (7 * 86_400_000, 29 * 3_600_000, 5 * 3_600_000)
_SWING_SIZES = (0.10, 0.05, 0.03)
_JITTER_MS = 300_000
_JITTER_SIZE = 0.01


def open_interest(gen: MarketGenerator, category: Category, symbol: str, ts_ms: int) -> Decimal:
    """Return the open interest (both sides) at `ts_ms`, on the instrument's lot grid (>= one lot)."""
    spec = gen.path(category, symbol).spec
    key = stable_id(f"open-interest:{gen.seed}:{spec.key}")
    phases = hash_uniform(key, np.arange(3, dtype=np.int64))
    swing = 1.0
    for period, size, phase in zip(_SWINGS_MS, _SWING_SIZES, phases.tolist(), strict=True):
        angle = 2.0 * math.pi * ((ts_ms % period) / period + phase)
        swing += size * round(math.sin(angle), 6)
    bucket, within = divmod(ts_ms, _JITTER_MS)
    ends = hash_uniform(key ^ 0x1F, np.array([bucket, bucket + 1], dtype=np.int64))
    jitter = float(ends[0]) + (float(ends[1]) - float(ends[0])) * within / _JITTER_MS
    swing += _JITTER_SIZE * (2.0 * jitter - 1.0)
    held_usd = spec.daily_turnover * HELD_SHARE_OF_DAILY_TURNOVER * swing
    units = (
        held_usd if spec.is_inverse else held_usd / float(gen.last_price(symbol, ts_ms, category=category))
    )
    qty = gen.scales(category, symbol)[1]
    return qty.fixed_decimal(max(1, round(units / float(spec.qty_step))))


def one_side(gen: MarketGenerator, category: Category, symbol: str, total: Decimal) -> Decimal:
    """Return one side's open interest (`singleOpenInterest`): half the total, down to the lot grid."""
    step = gen.path(category, symbol).spec.qty_step
    return (total / 2 / step).to_integral_value(rounding=ROUND_DOWN) * step


__all__ = ["one_side", "open_interest"]
