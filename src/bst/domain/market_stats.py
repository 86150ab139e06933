"""Market statistics beside prices: funding history, open interest, risk tiers and liquidations."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bst.domain.market import MINUTE_MS, Side

DEFAULT_RISK_ID = 1
"""The one risk tier bst's engine applies to every position (Bybit's tier 1)."""
DEFAULT_RISK_LIMIT_VALUE = Decimal(2_000_000)
"""The position value that tier is published for (`riskLimitValue`)."""


@dataclass(frozen=True, slots=True)
class FundingRateRecord:
    """One funding settlement of a perpetual: the rate applied at `funding_time_ms` (epoch ms)."""

    symbol: str
    funding_rate: Decimal
    funding_time_ms: int


class OpenInterestInterval(StrEnum):
    """The sampling intervals of `/v5/market/open-interest` (`intervalTime`)."""

    M5 = "5min"
    M15 = "15min"
    M30 = "30min"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def ms(self) -> int:
        """Return the interval's length in ms."""
        return _INTERVAL_MINUTES[self] * MINUTE_MS


_INTERVAL_MINUTES = {
    OpenInterestInterval.M5: 5,
    OpenInterestInterval.M15: 15,
    OpenInterestInterval.M30: 30,
    OpenInterestInterval.H1: 60,
    OpenInterestInterval.H4: 240,
    OpenInterestInterval.D1: 1440,
}


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """Open interest at `ts_ms`: both sides summed; `single_side` is one side (None when not sent).

    Units: base coin for linear contracts, USD (contracts) for inverse.
    """

    ts_ms: int
    open_interest: Decimal
    single_side: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RiskLimitTier:
    """One risk-limit tier: positions valued up to `risk_limit_value` need these margin rates.

    `initial_margin` and `maintenance_margin` are rates (0.01 = 1 %); `mm_deduction` is the amount
    Bybit subtracts from the maintenance margin of a position in this tier (None when not given).
    """

    tier_id: int
    symbol: str
    risk_limit_value: Decimal
    maintenance_margin: Decimal
    initial_margin: Decimal
    is_lowest_risk: bool
    max_leverage: Decimal
    mm_deduction: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Liquidation:
    """One liquidation printed by the exchange: `side` is the liquidated position's side (Buy = a long).

    `price` is the bankruptcy price, `size` the quantity closed (base coin; contracts for inverse).
    """

    ts_ms: int
    symbol: str
    side: Side
    size: Decimal
    price: Decimal


__all__ = [
    "DEFAULT_RISK_ID",
    "DEFAULT_RISK_LIMIT_VALUE",
    "FundingRateRecord",
    "Liquidation",
    "OpenInterest",
    "OpenInterestInterval",
    "RiskLimitTier",
]
