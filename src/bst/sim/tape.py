"""The public tape: the generator's trades as the prints a real venue publishes, at a realistic rate.

The generator prints a fixed few trades a minute per instrument (`trades_per_minute`, 6-12): enough
for bars, far too few for a tape (BTCUSDT printed about one trade per 5 s, so `publicTrade` sent 0-3
messages per 5 s). A trade of the generator stands for a burst of market activity at one price: the
tape splits it into up to `prints_per_trade(spec)` prints at that price whose sizes sum exactly to
the trade's, the first at the trade's own time and the others spread (front-loaded) over the time
until the next trade, never more than a minute. Nothing else changes: every bar's open, high, low,
close and volume are exactly those of its prints, and the engine, which matches resting orders
against the generator's trades, sees the same volume at the same prices (a fill happens at the
trade's time, its prints follow within the gap).

The number of prints follows the instrument's turnover: about one print per `PRINT_NOTIONAL_USD`
of quote turnover (BTCUSDT ~14 prints a second, ETHUSDT ~7, small symbols ~1). Everything is a
function of the seed, the instrument and the trade: the same range always gives the same prints,
ids and sequence numbers.
"""

from __future__ import annotations

import numpy as np

from bst.domain.market import MINUTE_MS, Category, Trade
from bst.sim.catalog import InstrumentSpec
from bst.sim.columns import F64, TradeColumns
from bst.sim.generator import MarketGenerator
from bst.sim.pricepath import I64, hash_uniform, stable_id

PRINT_NOTIONAL_USD = 5_000.0
"""Quote turnover per print the tape aims at (a typical perpetual's print, in USD)."""
MAX_PRINTS_PER_TRADE = 200
MAX_SPREAD_MS = MINUTE_MS
"""A trade's prints follow it within this long at most (and before the next trade)."""
SEQ_STRIDE = 1_000
"""A print's seq is its trade's seq x SEQ_STRIDE + its index in the trade (unique, increasing)."""


def prints_per_trade(spec: InstrumentSpec) -> int:
    """Return how many prints a trade of this instrument splits into at most (1 keeps trades whole)."""
    per_minute = spec.daily_turnover / 1440.0 / PRINT_NOTIONAL_USD
    return int(min(MAX_PRINTS_PER_TRADE, max(1, round(per_minute / spec.trades_per_minute))))


def print_columns(
    gen: MarketGenerator, symbol: str, start_ms: int, end_ms: int, *, category: Category = Category.LINEAR
) -> TradeColumns:
    """Return every print with start_ms <= time <= end_ms, oldest first (ticks, lots, units)."""
    spec = gen.path(category, symbol).spec
    most = prints_per_trade(spec)
    if most == 1:
        return gen.trade_columns(symbol, start_ms, end_ms, category=category)
    trades = gen.trade_columns(symbol, start_ms - MAX_SPREAD_MS, end_ms, category=category)
    if len(trades) == 0:
        return trades
    # The next trade bounds each trade's prints; the last one asked for looks one spread ahead.
    ahead = gen.trade_columns(symbol, end_ms + 1, end_ms + MAX_SPREAD_MS, category=category)
    following = ahead.ts_ms[:1] if len(ahead) else np.array([end_ms + MAX_SPREAD_MS], dtype=np.int64)
    next_ms = np.concatenate([trades.ts_ms[1:], following])
    gap = np.minimum(next_ms - trades.ts_ms, MAX_SPREAD_MS)
    counts = np.minimum(trades.size, most)
    parent = np.repeat(np.arange(len(trades)), counts)
    starts = np.cumsum(counts) - counts
    index = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)
    seq = trades.seq[parent] * SEQ_STRIDE + index
    base = stable_id(f"tape:{gen.seed}:{spec.key}")
    timing = hash_uniform(base, seq)
    share = (index + timing) / np.repeat(counts, counts)
    share[index == 0] = 0.0
    offset = np.floor(gap[parent] * share * share).astype(np.int64)
    sizes = _split(trades.size, counts, parent, index, hash_uniform(base ^ 0x5EED, seq))
    price = trades.price[parent]
    if spec.is_inverse:
        turnover = (2 * sizes * spec.inverse_turnover_factor + price) // (2 * price)
    else:
        turnover = sizes * price
    ts = trades.ts_ms[parent] + offset
    keep = (ts >= start_ms) & (ts <= end_ms)
    return TradeColumns(
        ts_ms=ts[keep],
        price=price[keep],
        size=sizes[keep],
        turnover=turnover[keep],
        is_buy=trades.is_buy[parent][keep],
        seq=seq[keep],
        spec=spec,
        seed=gen.seed,
    )


def _split(size: I64, counts: I64, parent: I64, index: I64, draws: F64) -> I64:
    """Return each print's size: the trade's size in `counts` positive parts (seeded weights), exact."""
    weight = -np.log1p(-draws)  # exponential weights
    running = np.cumsum(weight)
    before = np.concatenate([[0.0], running])[np.cumsum(counts) - counts]
    within = running - before[parent]
    last = np.cumsum(counts) - 1
    total = within[last][parent]
    spare = (size - counts)[parent]
    alloc = np.floor(spare * (within / total)).astype(np.int64)
    alloc[last] = size - counts  # the last part takes what rounding left
    previous = np.concatenate([[0], alloc[:-1]])
    previous[index == 0] = 0
    sizes: I64 = alloc - previous + 1
    return sizes


def prints(
    gen: MarketGenerator, symbol: str, start_ms: int, end_ms: int, *, category: Category = Category.LINEAR
) -> list[Trade]:
    """Return every print with start_ms <= time <= end_ms as domain Trades, oldest first."""
    return print_columns(gen, symbol, start_ms, end_ms, category=category).to_trades()


def recent_prints(
    gen: MarketGenerator, symbol: str, now_ms: int, limit: int, *, category: Category
) -> list[Trade]:
    """Return the newest `limit` prints at or before `now_ms`, oldest first (`/v5/market/recent-trade`)."""
    path = gen.path(category, symbol)
    per_minute = path.spec.trades_per_minute * prints_per_trade(path.spec)
    span_ms = (limit // per_minute + 2) * MINUTE_MS
    while True:
        start = max(path.launch_minute_ms, now_ms - span_ms)
        cols = print_columns(gen, symbol, start, now_ms, category=category)
        if len(cols) >= limit or start <= path.launch_minute_ms:
            return cols.tail(limit).to_trades()
        span_ms *= 2
