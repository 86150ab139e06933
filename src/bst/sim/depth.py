"""A deterministic order book around the last trade: resting size keyed by price level and time bucket.

Liquidity sits at a price, not at a distance from the mid: when the price moves, levels already
resting keep their sizes, as on a real book. Each level's size is redrawn every 2 s in a bucket
staggered per level, so consecutive snapshots differ in a handful of levels (a realistic delta
stream for a live feed built on top of this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bst.domain.market import DAY_MS
from bst.sim.pricepath import F64, I64, InstrumentPath, hash_uniform, stable_id

REFRESH_MS = 2_000


@dataclass(frozen=True, slots=True)
class BookLevels:
    """Bid and ask levels in ticks and lots, best first."""

    bid_price: I64
    bid_size: I64
    ask_price: I64
    ask_size: I64


def _sides(seed: int, path: InstrumentPath, prices: I64, distance: I64, ts_ms: int) -> tuple[I64, I64]:
    """Return (exists mask as int 0/1, size in lots) of candidate levels."""
    spec = path.spec
    base = stable_id(f"book:{seed}:{spec.key}")
    exist_draw = hash_uniform(base ^ 0x51, prices)
    # The top of book is always present; further out the book thins a little.
    density: F64 = 0.93 - 0.25 * np.minimum(distance / 400.0, 1.0)
    exists = ((distance == 0) | (exist_draw < density)).astype(np.int64)

    phase = np.floor(hash_uniform(base ^ 0x52, prices) * REFRESH_MS).astype(np.int64)
    bucket = (ts_ms + phase) // REFRESH_MS
    size_draw = hash_uniform(base ^ 0x53, prices * 1_000_003 + bucket)
    level_draw = hash_uniform(base ^ 0x54, prices)
    # Sizes scale with the day's opening price only, so a price move leaves resting levels unchanged.
    reference = float(path.anchor_ticks(ts_ms // DAY_MS))
    if spec.is_inverse:
        minute_lots = spec.daily_turnover / 1440.0 / float(spec.qty_step)
    else:
        minute_lots = (
            spec.daily_turnover / 1440.0 / (reference * float(spec.tick_size) * float(spec.qty_step))
        )
    typical = minute_lots * 0.05 * spec.book_lot_scale
    # -log(u) is exponential: mostly modest levels, a few large walls.
    size = typical * (-np.log1p(-level_draw * 0.999)) * (0.4 + 1.2 * size_draw)
    return exists, np.maximum(1, np.rint(size)).astype(np.int64)


def book_levels(
    seed: int, path: InstrumentPath, last_price: int, last_is_buy: bool, ts_ms: int, depth: int
) -> BookLevels:
    """Return `depth` levels a side around the last trade at `ts_ms`.

    A buy prints at the ask, so after a buy the best ask is the last price and the best bid one
    spread below; after a sell the best bid is the last price.
    """
    spread = path.spec.spread_ticks
    best_bid = last_price - spread if last_is_buy else last_price
    best_bid = max(1, best_bid)
    best_ask = best_bid + spread
    candidates = depth * 2 + 16
    steps = np.arange(candidates, dtype=np.int64)

    bid_prices = best_bid - steps
    bid_prices = bid_prices[bid_prices > 0]
    bid_exists, bid_sizes = _sides(seed, path, bid_prices, steps[: bid_prices.size], ts_ms)
    ask_prices = best_ask + steps
    ask_exists, ask_sizes = _sides(seed, path, ask_prices, steps, ts_ms)

    bid_keep = np.flatnonzero(bid_exists)[:depth]
    ask_keep = np.flatnonzero(ask_exists)[:depth]
    return BookLevels(
        bid_price=bid_prices[bid_keep],
        bid_size=bid_sizes[bid_keep],
        ask_price=ask_prices[ask_keep],
        ask_size=ask_sizes[ask_keep],
    )


__all__ = ["REFRESH_MS", "BookLevels", "book_levels"]
