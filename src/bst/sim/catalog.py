"""The simulated venue's listings: coins (price history shape) and instruments (trading rules).

Prices follow a per-coin trend through rough real-world levels (so a 2021 BTC bar looks like 2021),
plus seeded noise; every instrument of a coin (linear, spot, inverse) shares that coin's path.
Trading rules (tick, lot, limits, launch time) mirror Bybit's published ones closely enough for a
client to round and validate orders exactly as it would against Bybit.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from bst.domain.instrument import Instrument
from bst.domain.market import Category


def utc_ms(date_text: str) -> int:
    """Return epoch ms of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM` (UTC)."""
    date_part, _, time_part = date_text.partition("T")
    year, month, day = (int(x) for x in date_part.split("-"))
    hour, minute = (int(x) for x in time_part.split(":")) if time_part else (0, 0)
    return calendar.timegm((year, month, day, hour, minute, 0)) * 1000


@dataclass(frozen=True, slots=True)
class CoinSpec:
    """One base coin: trend anchors (date, USD price), daily log volatility, deviation persistence."""

    name: str
    trend: tuple[tuple[str, float], ...]
    daily_vol: float
    deviation_phi: float = 0.95


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One listed instrument and the parameters of its synthetic market.

    `daily_turnover` is the mean quote-currency turnover per day (USD contracts for inverse);
    `trades_per_minute` is the fixed number of public trades the generator prints per minute (>= 4).
    """

    category: Category
    symbol: str
    coin: str
    quote_coin: str
    settle_coin: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_market_qty: Decimal
    min_notional: Decimal
    launch: str
    daily_turnover: float
    trades_per_minute: int
    max_leverage: Decimal = Decimal("100.00")
    max_price: Decimal = Decimal(0)
    funding_interval_min: int = 480
    spread_ticks: int = 1
    book_lot_scale: float = 1.0

    @property
    def key(self) -> str:
        """Return the stable identity `category:symbol` (seeds and caches are keyed by it)."""
        return f"{self.category.value}:{self.symbol}"

    @property
    def launch_ms(self) -> int:
        """Return the listing time in epoch ms."""
        return utc_ms(self.launch)

    @property
    def is_inverse(self) -> bool:
        """Return whether volume is in quote contracts and turnover in the base coin."""
        return self.category is Category.INVERSE

    @property
    def turnover_unit(self) -> Decimal:
        """Return the exact unit of integer turnover: tick*step (linear/spot), 1e-8 coin (inverse)."""
        if self.is_inverse:
            return Decimal("0.00000001")
        return (self.tick_size * self.qty_step).normalize()

    @property
    def inverse_turnover_factor(self) -> int:
        """Return 1e-8-coin units per (contract / price tick): turnover = size * factor / price_ticks."""
        factor = Fraction(10**8) / Fraction(self.tick_size)
        if factor.denominator != 1:
            raise ValueError(f"{self.key}: tick size {self.tick_size} must divide 1e8")
        return int(factor)

    def instrument(self) -> Instrument:
        """Return the domain instrument with these rules."""
        contract = {
            Category.LINEAR: "LinearPerpetual",
            Category.INVERSE: "InversePerpetual",
        }.get(self.category, "")
        max_price = self.max_price or (self.tick_size * 19_999_998).quantize(self.tick_size)
        return Instrument(
            symbol=self.symbol,
            category=self.category,
            status="Trading",
            base_coin=self.coin,
            quote_coin=self.quote_coin,
            settle_coin=self.settle_coin,
            tick_size=self.tick_size,
            qty_step=self.qty_step,
            min_qty=self.min_qty,
            max_qty=self.max_qty,
            max_market_qty=self.max_market_qty,
            min_notional=self.min_notional,
            min_price=self.tick_size if self.category is not Category.SPOT else Decimal(0),
            max_price=max_price if self.category is not Category.SPOT else Decimal(0),
            min_leverage=Decimal(1),
            max_leverage=self.max_leverage if self.category is not Category.SPOT else Decimal(1),
            leverage_step=Decimal("0.01"),
            contract_type=contract,
            launch_time_ms=self.launch_ms,
            funding_interval_min=self.funding_interval_min if self.category is not Category.SPOT else 0,
        )


COINS: dict[str, CoinSpec] = {
    c.name: c
    for c in (
        CoinSpec(
            "BTC",
            (
                ("2018-01-01", 13500.0),
                ("2018-12-15", 3200.0),
                ("2019-06-26", 12000.0),
                ("2020-03-13", 5000.0),
                ("2020-03-26", 6700.0),
                ("2020-12-31", 29000.0),
                ("2021-04-14", 63000.0),
                ("2021-07-20", 30000.0),
                ("2021-11-10", 67000.0),
                ("2022-06-18", 19000.0),
                ("2022-11-21", 16000.0),
                ("2023-06-30", 30500.0),
                ("2023-12-31", 42300.0),
                ("2024-03-14", 72000.0),
                ("2024-08-05", 54000.0),
                ("2024-12-17", 106000.0),
                ("2025-04-08", 77000.0),
                ("2025-10-06", 124000.0),
                ("2026-01-01", 95000.0),
            ),
            daily_vol=0.030,
        ),
        CoinSpec(
            "ETH",
            (
                ("2018-01-13", 1400.0),
                ("2018-12-15", 85.0),
                ("2020-03-13", 110.0),
                ("2020-10-21", 390.0),
                ("2021-05-11", 4100.0),
                ("2021-06-22", 1900.0),
                ("2021-11-10", 4800.0),
                ("2022-06-18", 1000.0),
                ("2023-04-14", 2100.0),
                ("2023-10-12", 1550.0),
                ("2024-03-12", 4050.0),
                ("2024-08-05", 2300.0),
                ("2024-12-16", 4000.0),
                ("2025-04-09", 1450.0),
                ("2025-08-24", 4900.0),
                ("2026-01-01", 3200.0),
            ),
            daily_vol=0.040,
        ),
        CoinSpec(
            "SOL",
            (
                ("2020-04-10", 0.95),
                ("2021-01-01", 1.5),
                ("2021-09-09", 200.0),
                ("2021-11-06", 260.0),
                ("2022-06-18", 30.0),
                ("2022-12-29", 10.0),
                ("2023-10-01", 22.0),
                ("2024-03-18", 200.0),
                ("2024-08-05", 130.0),
                ("2024-11-22", 255.0),
                ("2025-04-08", 105.0),
                ("2025-09-18", 245.0),
                ("2026-01-01", 190.0),
            ),
            daily_vol=0.055,
        ),
        CoinSpec(
            "XRP",
            (
                ("2018-01-04", 3.2),
                ("2018-12-01", 0.35),
                ("2020-03-13", 0.14),
                ("2020-12-31", 0.22),
                ("2021-04-14", 1.8),
                ("2022-06-18", 0.32),
                ("2023-07-13", 0.8),
                ("2024-07-01", 0.47),
                ("2024-12-03", 2.6),
                ("2025-07-18", 3.6),
                ("2026-01-01", 2.1),
            ),
            daily_vol=0.045,
        ),
        CoinSpec(
            "DOGE",
            (
                ("2018-01-07", 0.017),
                ("2020-12-31", 0.0046),
                ("2021-05-08", 0.70),
                ("2022-06-18", 0.05),
                ("2023-12-31", 0.09),
                ("2024-03-28", 0.22),
                ("2024-12-08", 0.46),
                ("2025-04-07", 0.14),
                ("2026-01-01", 0.14),
            ),
            daily_vol=0.060,
        ),
    )
}


def _d(text: str) -> Decimal:
    return Decimal(text)


DEFAULT_INSTRUMENTS: tuple[InstrumentSpec, ...] = (
    InstrumentSpec(
        Category.LINEAR, "BTCUSDT", "BTC", "USDT", "USDT",
        _d("0.10"), _d("0.001"), _d("0.001"), _d("1190.000"), _d("119.000"), _d("5"),
        "2020-03-26", 6.0e9, 12,
    ),
    InstrumentSpec(
        Category.LINEAR, "ETHUSDT", "ETH", "USDT", "USDT",
        _d("0.01"), _d("0.01"), _d("0.01"), _d("7240.00"), _d("724.00"), _d("5"),
        "2020-10-21", 3.0e9, 10,
    ),
    InstrumentSpec(
        Category.LINEAR, "SOLUSDT", "SOL", "USDT", "USDT",
        _d("0.010"), _d("0.1"), _d("0.1"), _d("79770.0"), _d("7977.0"), _d("5"),
        "2021-06-09", 1.2e9, 8,
    ),
    InstrumentSpec(
        Category.LINEAR, "XRPUSDT", "XRP", "USDT", "USDT",
        _d("0.0001"), _d("1"), _d("1"), _d("1500000"), _d("150000"), _d("5"),
        "2021-05-12", 6.0e8, 8, max_leverage=_d("75.00"),
    ),
    InstrumentSpec(
        Category.LINEAR, "DOGEUSDT", "DOGE", "USDT", "USDT",
        _d("0.00001"), _d("1"), _d("1"), _d("18000000"), _d("1800000"), _d("5"),
        "2021-04-23", 4.0e8, 6, max_leverage=_d("75.00"),
    ),
    InstrumentSpec(
        Category.SPOT, "BTCUSDT", "BTC", "USDT", "USDT",
        _d("0.01"), _d("0.000001"), _d("0.000048"), _d("71.73956243"), _d("71.73956243"), _d("1"),
        "2021-07-05", 4.0e8, 8,
    ),
    InstrumentSpec(
        Category.SPOT, "ETHUSDT", "ETH", "USDT", "USDT",
        _d("0.01"), _d("0.00001"), _d("0.00062"), _d("1229.2336343"), _d("1229.2336343"), _d("1"),
        "2021-07-05", 2.0e8, 8,
    ),
    InstrumentSpec(
        Category.SPOT, "SOLUSDT", "SOL", "USDT", "USDT",
        _d("0.01"), _d("0.001"), _d("0.012"), _d("15000"), _d("15000"), _d("1"),
        "2021-07-05", 1.0e8, 6,
    ),
    InstrumentSpec(
        Category.SPOT, "XRPUSDT", "XRP", "USDT", "USDT",
        _d("0.0001"), _d("0.01"), _d("1.91"), _d("1000000"), _d("1000000"), _d("1"),
        "2021-07-05", 5.0e7, 6,
    ),
    InstrumentSpec(
        Category.INVERSE, "BTCUSD", "BTC", "USD", "BTC",
        _d("0.50"), _d("1"), _d("1"), _d("1000000"), _d("100000"), _d("0"),
        "2018-11-14", 6.0e8, 8,
    ),
    InstrumentSpec(
        Category.INVERSE, "ETHUSD", "ETH", "USD", "ETH",
        _d("0.05"), _d("1"), _d("1"), _d("1000000"), _d("100000"), _d("0"),
        "2019-01-25", 1.5e8, 6, max_leverage=_d("50.00"),
    ),
)  # fmt: skip
