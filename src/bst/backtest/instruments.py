"""Instruments for symbols without exchange data: a stock, a file from another venue, a recording.

A backtest of Bybit data uses the exchange's instrument (tick, lot, limits), which the caller
supplies (`bst.app` asks the venue). Without one, `generic_instrument` describes a linear perpetual
settled in USDT with the finest price step the data prints (`tick_of`, at most 8 decimals), a lot
step of 0.000001, no minimum size or value and leverage up to 100; the run's assumptions say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from bst.backtest.candles import CandleSeries
from bst.domain.instrument import Instrument
from bst.domain.market import Category

__all__ = ["candle_instrument", "generic_instrument", "tick_of"]

SAMPLE = 2000
"""Bars (or prices) read to find the finest price step."""


def tick_of(prices: Iterable[Decimal]) -> Decimal:
    """Return the price step that 95 % of `prices` are printed with (at most 8 decimals).

    A quantile, not the finest step: files written through floats carry a few artifacts such as
    1.0735999999999999 for 1.0736, which would otherwise make the tick 1e-16.
    """
    places = sorted(_places(p) for p in prices)
    if not places:
        return Decimal(1)
    decimals = places[min(len(places) - 1, int(len(places) * 0.95))]
    return Decimal(1).scaleb(-min(decimals, 8))


def _places(price: Decimal) -> int:
    exponent = price.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def generic_instrument(
    symbol: str, category: Category, tick: Decimal, settle_coin: str = "USDT"
) -> Instrument:
    """Return a linear instrument for a symbol without exchange data: `tick`, lot 0.000001, no minimums."""
    return Instrument(
        symbol=symbol,
        category=category,
        status="Trading",
        base_coin=symbol.removesuffix(settle_coin) or symbol,
        quote_coin=settle_coin,
        settle_coin=settle_coin,
        tick_size=tick,
        qty_step=Decimal("0.000001"),
        min_qty=Decimal("0.000001"),
        max_qty=Decimal(10**12),
        max_market_qty=Decimal(10**12),
        min_notional=Decimal(0),
        min_price=tick,
        max_price=Decimal(10**12),
        min_leverage=Decimal(1),
        max_leverage=Decimal(100),
        leverage_step=Decimal("0.01"),
        contract_type="LinearPerpetual",
    )


def candle_instrument(series: CandleSeries, settle_coin: str = "USDT") -> Instrument:
    """Return a generic instrument whose tick is the finest step of the series' prices."""
    count = min(len(series), SAMPLE)
    sample = [series.bar(i) for i in range(count)]
    prices = (p for b in sample for p in (b.open, b.high, b.low, b.close))
    return generic_instrument(series.symbol, series.category, tick_of(prices), settle_coin)
