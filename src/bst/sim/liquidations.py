"""Seeded liquidations of the simulated market: who got liquidated when, at what bankruptcy price.

Not part of the trading engine (whose own liquidations close the sim's accounts): these are the
rest of the market's, for the public `allLiquidation` / `liquidation` topics. Each second of each
derivative holds at most one liquidation, drawn from the seed, the instrument and the second, so any
range can be computed alone and always gives the same events. The chance follows the market: a base
rate proportional to the instrument's turnover (BTCUSDT about one a minute on a quiet minute),
scaled by how wide the minute's bar is against the instrument's usual one-minute range, so wild
minutes liquidate many. Falling minutes mostly liquidate longs (`side` Buy), rising ones shorts.
The price is a bankruptcy price a little beyond the last trade (below it for a long), the size a
log-normally spread notional around `MEDIAN_NOTIONAL_USD`.
"""

from __future__ import annotations

import math

import numpy as np

from bst.domain.market import MINUTE_MS, Category, Interval, Side
from bst.domain.market_stats import Liquidation
from bst.sim.generator import MarketGenerator
from bst.sim.pricepath import hash_uniform, stable_id

SECOND_MS = 1_000
MEDIAN_NOTIONAL_USD = 3_000.0
BASE_PER_MINUTE_PER_USD = 1.0 / 6.0e9
"""Liquidations per minute per USD of daily turnover on an ordinary minute (BTCUSDT's 6e9: one)."""
MAX_PER_SECOND = 0.9
_DERIVATIVES = (Category.LINEAR, Category.INVERSE)


def liquidations(
    gen: MarketGenerator, symbol: str, start_ms: int, end_ms: int, *, category: Category = Category.LINEAR
) -> list[Liquidation]:
    """Return the liquidations with start_ms <= time <= end_ms, oldest first (none for spot)."""
    if category not in _DERIVATIVES:
        return []
    path = gen.path(category, symbol)
    spec = path.spec
    first_second = max(start_ms, path.launch_minute_ms) // SECOND_MS
    last_second = end_ms // SECOND_MS
    if last_second < first_second:
        return []
    # Whole minutes decide the odds (not the part before end_ms), so any window agrees with its parts.
    bars = gen.bar_columns(
        symbol, Interval.M1, first_second * SECOND_MS - MINUTE_MS, end_ms, category=category
    )
    if len(bars) == 0:
        return []
    usual = spec.daily_turnover * BASE_PER_MINUTE_PER_USD / 60.0
    typical_range = 2.0 * path.coin.coin.daily_vol / math.sqrt(1440.0)
    width = (bars.high - bars.low) / np.maximum(bars.close, 1)
    per_second = np.minimum(usual * np.clip(width / typical_range, 0.2, 10.0), MAX_PER_SECOND)
    falling = bars.close < bars.open
    minute_of = {int(m): i for i, m in enumerate(bars.open_time_ms.tolist())}
    seconds = np.arange(first_second, last_second + 1, dtype=np.int64)
    base = stable_id(f"liquidations:{gen.seed}:{spec.key}")
    chance, when, side, size, depth = (hash_uniform(base + k, seconds) for k in range(5))
    price_scale, qty_scale, _ = gen.scales(category, symbol)
    found: list[Liquidation] = []
    for k, second in enumerate(seconds.tolist()):
        row = minute_of.get(second * SECOND_MS // MINUTE_MS * MINUTE_MS)
        if row is None or chance[k] >= per_second[row]:
            continue
        ts_ms = second * SECOND_MS + int(when[k] * SECOND_MS)
        if not start_ms <= ts_ms <= end_ms:
            continue
        long_hit = side[k] < (0.7 if falling[row] else 0.3)
        last = gen.price_ticks_at(symbol, ts_ms, category=category)
        shift = max(1, round(last * 0.005 * depth[k]))
        ticks = max(1, last - shift if long_hit else last + shift)
        notional = MEDIAN_NOTIONAL_USD * math.exp(1.2 * round(_normal(float(size[k])), 6))
        price = float(price_scale.fixed_decimal(ticks))
        units = notional if spec.is_inverse else notional / price
        lots = max(1, round(units / float(spec.qty_step)))
        found.append(
            Liquidation(
                ts_ms=ts_ms,
                symbol=symbol,
                side=Side.BUY if long_hit else Side.SELL,
                size=qty_scale.fixed_decimal(lots),
                price=price_scale.fixed_decimal(ticks),
            )
        )
    return found


def _normal(u: float) -> float:
    """Return the standard normal quantile of `u` in (0, 1) (a rational approximation, |error| < 5e-4)."""
    u = min(max(u, 1e-9), 1.0 - 1e-9)
    t = math.sqrt(-2.0 * math.log(u if u < 0.5 else 1.0 - u))
    z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
        1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t**3
    )
    return -z if u < 0.5 else z


__all__ = ["liquidations"]
