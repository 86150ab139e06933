"""Market-data value types: categories, intervals, bars, trades, tickers, book snapshots.

Prices, sizes and money are `Decimal`, exactly as the exchange printed them; times are epoch
milliseconds (`*_ms`). Research code that wants arrays converts at the edge (see `bst.bybit.codec`).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from bst.domain.errors import ConfigError

MINUTE_MS = 60_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday; Bybit's weekly bars open on Monday 00:00 UTC.
_MONDAY_OFFSET_MS = 4 * DAY_MS


class Category(StrEnum):
    """Bybit v5 product category."""

    SPOT = "spot"
    LINEAR = "linear"
    INVERSE = "inverse"
    OPTION = "option"

    @classmethod
    def parse(cls, text: str, allowed: Sequence[Category] | None = None) -> Category:
        """Return the category named `text` (any case), one of `allowed` (default: every category).

        Raises ConfigError naming the text and the choices: the one message for a bad category.
        """
        choices = tuple(allowed) if allowed is not None else tuple(cls)
        key = text.strip().lower()
        for category in choices:
            if category.value == key:
                return category
        names = [c.value for c in choices]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise ConfigError(f"invalid category {text!r}: use {listed}")


MARKET_DATA_CATEGORIES: tuple[Category, ...] = (Category.SPOT, Category.LINEAR, Category.INVERSE)
"""The categories bst keeps candles and public streams of (options have neither here)."""

_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9-]{0,39}")


def parse_symbol(text: str) -> str:
    """Return a symbol as Bybit spells it (upper case, e.g. BTCUSDT) from user input.

    The one place user input becomes a symbol: edges (the CLI, the service, the research API) call
    it, the layers below take symbols as given. Raises ConfigError for text that cannot be one.
    """
    symbol = text.strip().upper()
    if _SYMBOL.fullmatch(symbol) is None:
        raise ConfigError(f"invalid symbol {text!r}: use letters and digits as Bybit lists it, e.g. BTCUSDT")
    return symbol


class Side(StrEnum):
    """Order or taker side."""

    BUY = "Buy"
    SELL = "Sell"


class Interval(StrEnum):
    """Every kline interval Bybit v5 offers, by its wire name."""

    M1 = "1"
    M3 = "3"
    M5 = "5"
    M15 = "15"
    M30 = "30"
    H1 = "60"
    H2 = "120"
    H4 = "240"
    H6 = "360"
    H12 = "720"
    D1 = "D"
    W1 = "W"
    MN1 = "M"

    @classmethod
    def parse(cls, text: str) -> Interval:
        """Return the interval named `text` (wire name, or aliases like `1m`, `1h`, `1d`)."""
        key = text.strip()
        if key in _ALIASES:
            return _ALIASES[key]
        try:
            return cls(key.upper() if key.lower() in ("d", "w") else key)
        except ValueError:
            allowed = " ".join(i.value for i in cls)
            raise ConfigError(f"invalid interval {text!r}: use one of {allowed}") from None

    @property
    def fixed_ms(self) -> int | None:
        """Return the bar length in ms, or None for the calendar month."""
        if self is Interval.MN1:
            return None
        if self is Interval.D1:
            return DAY_MS
        if self is Interval.W1:
            return WEEK_MS
        return int(self.value) * MINUTE_MS

    def open_time_ms(self, ts_ms: int) -> int:
        """Return the open time of the bar that contains `ts_ms`."""
        if self is Interval.MN1:
            dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
            return int(datetime(dt.year, dt.month, 1, tzinfo=UTC).timestamp() * 1000)
        if self is Interval.W1:
            return ts_ms - (ts_ms - _MONDAY_OFFSET_MS) % WEEK_MS
        length = self.fixed_ms
        assert length is not None  # only MN1 lacks a fixed length, handled above
        return ts_ms - ts_ms % length

    def next_open_ms(self, open_ms: int) -> int:
        """Return the open time of the bar after the one opening at `open_ms`."""
        if self is Interval.MN1:
            dt = datetime.fromtimestamp(open_ms / 1000, tz=UTC)
            year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
            return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
        length = self.fixed_ms
        assert length is not None
        return open_ms + length

    def step_back(self, open_ms: int, count: int) -> int:
        """Return the open time `count` bars before the bar opening at `open_ms` (count >= 0)."""
        length = self.fixed_ms
        if length is not None:
            return open_ms - count * length
        result = open_ms
        for _ in range(count):
            result = self.open_time_ms(result - 1)
        return result


_ALIASES: dict[str, Interval] = {
    "1m": Interval.M1,
    "3m": Interval.M3,
    "5m": Interval.M5,
    "15m": Interval.M15,
    "30m": Interval.M30,
    "1h": Interval.H1,
    "2h": Interval.H2,
    "4h": Interval.H4,
    "6h": Interval.H6,
    "12h": Interval.H12,
    "1d": Interval.D1,
    "1w": Interval.W1,
    "1M": Interval.MN1,
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One candle. `volume` is in base coin (linear/spot), `turnover` in quote coin."""

    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal


@dataclass(frozen=True, slots=True)
class PriceBar:
    """One mark/index-price candle (no volume)."""

    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade; `side` is the taker's side."""

    ts_ms: int
    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    trade_id: str
    is_block_trade: bool = False
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Ticker:
    """Best prices and 24 h statistics of one symbol; fields a category lacks are None."""

    symbol: str
    last_price: Decimal
    bid1_price: Decimal | None
    bid1_size: Decimal | None
    ask1_price: Decimal | None
    ask1_size: Decimal | None
    prev_price_24h: Decimal | None = None
    price_24h_pcnt: Decimal | None = None
    high_price_24h: Decimal | None = None
    low_price_24h: Decimal | None = None
    volume_24h: Decimal | None = None
    turnover_24h: Decimal | None = None
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    open_interest: Decimal | None = None
    funding_rate: Decimal | None = None
    next_funding_time_ms: int | None = None


PriceLevel = tuple[Decimal, Decimal]
"""(price, size) of one book level."""


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full order-book snapshot: bids best (highest) first, asks best (lowest) first."""

    symbol: str
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]
    ts_ms: int
    update_id: int
    seq: int | None = None
    cts_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ServerTime:
    """The exchange's clock."""

    time_ms: int
    time_ns: int
