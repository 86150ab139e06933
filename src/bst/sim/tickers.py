"""Ticker snapshots from the generator: last price, best bid/ask, 24 h statistics, mark/index, funding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from bst.bybit.codec.market import encode_ticker
from bst.domain.market import Category, Interval, Ticker
from bst.sim.columns import PriceKind
from bst.sim.generator import MarketGenerator
from bst.sim.open_interest import open_interest as seeded_open_interest
from bst.sim.pricepath import hash_uniform, stable_id
from bst.sim.scale import plain_text

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
FUNDING_PERIOD_MS = 8 * HOUR_MS


@dataclass(frozen=True, slots=True)
class TickerSnapshot:
    """A ticker plus the wire fields the domain Ticker does not carry."""

    category: Category
    ticker: Ticker
    prev_price_1h: str
    open_interest_value: str
    funding_interval_hour: int

    def to_wire(self) -> dict[str, Any]:
        """Return the /v5/market/tickers item, every value a string as Bybit prints it."""
        item = encode_ticker(self.ticker, self.category)
        if self.category is not Category.SPOT:
            item["prevPrice1h"] = self.prev_price_1h
            item["openInterestValue"] = self.open_interest_value
            item["fundingIntervalHour"] = str(self.funding_interval_hour)
        return item


def ticker_snapshot(gen: MarketGenerator, category: Category, symbol: str, now_ms: int) -> TickerSnapshot:
    """Return the ticker of `symbol` at `now_ms`; 24 h figures aggregate the 1-minute bars since now-24h."""
    path = gen.path(category, symbol)
    spec = path.spec
    price, qty, turnover = gen.scales(category, symbol)
    last = gen.last_trade(symbol, now_ms, category=category)
    day_ago = max(now_ms - DAY_MS, path.launch_minute_ms)
    prev_24h = gen.price_ticks_at(symbol, day_ago, category=category)
    prev_1h = gen.price_ticks_at(symbol, max(now_ms - HOUR_MS, day_ago), category=category)
    bars = gen.bar_columns(symbol, Interval.M1, day_ago, now_ms, category=category, now_ms=now_ms)
    book = gen.book_levels(symbol, now_ms, 1, category=category)
    places = Decimal("0.0001") if category is Category.SPOT else Decimal("0.000001")
    change = (Decimal(last.price_ticks - prev_24h) / Decimal(prev_24h)).quantize(places, ROUND_HALF_EVEN)
    high = max(int(bars.high.max()), last.price_ticks) if len(bars) else last.price_ticks
    low = min(int(bars.low.min()), last.price_ticks) if len(bars) else last.price_ticks
    derivative = category is not Category.SPOT
    mark = gen.mark_price(symbol, now_ms, category=category) if derivative else None
    open_interest = seeded_open_interest(gen, category, symbol, now_ms) if derivative else None
    ticker = Ticker(
        symbol=symbol,
        last_price=price.fixed_decimal(last.price_ticks),
        bid1_price=price.fixed_decimal(int(book.bid_price[0])) if book.bid_price.size else None,
        bid1_size=qty.fixed_decimal(int(book.bid_size[0])) if book.bid_size.size else None,
        ask1_price=price.fixed_decimal(int(book.ask_price[0])) if book.ask_price.size else None,
        ask1_size=qty.fixed_decimal(int(book.ask_size[0])) if book.ask_size.size else None,
        prev_price_24h=price.fixed_decimal(prev_24h),
        price_24h_pcnt=change,
        high_price_24h=price.fixed_decimal(high),
        low_price_24h=price.fixed_decimal(low),
        volume_24h=qty.fixed_decimal(int(bars.volume.sum())),
        turnover_24h=turnover.fixed_decimal(int(bars.turnover.sum())),
        mark_price=mark,
        index_price=gen.mark_price(symbol, now_ms, category=category, kind=PriceKind.INDEX),
        open_interest=open_interest,
        funding_rate=funding_rate(gen.seed, spec.key, now_ms) if derivative else None,
        next_funding_time_ms=(now_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS if derivative else None,
    )
    oi_value = ""
    if open_interest is not None and mark is not None:
        if spec.is_inverse:
            oi_value = plain_text((open_interest / mark).quantize(Decimal("0.00000001")))
        else:
            oi_value = str((open_interest * mark).quantize(Decimal("0.01")))
    return TickerSnapshot(
        category=category,
        ticker=ticker,
        prev_price_1h=price.fixed(prev_1h),
        open_interest_value=oi_value,
        funding_interval_hour=spec.funding_interval_min // 60,
    )


def funding_rate(seed: int, key: str, ts_ms: int) -> Decimal:
    """Return the funding rate of the 8 h period holding `ts_ms`: 0.01 % give or take, seeded per period."""
    period = np.array([ts_ms // FUNDING_PERIOD_MS], dtype=np.int64)
    draw = float(hash_uniform(stable_id(f"funding:{seed}:{key}"), period)[0])
    rate = Decimal("0.0001") + Decimal(round(draw * 30_000) - 9_000) / Decimal(100_000_000)
    return Decimal(plain_text(rate))
