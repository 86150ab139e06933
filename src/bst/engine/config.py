"""Engine settings: fee schedule, per-symbol trading rules, latency and history limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from bst.domain.instrument import Instrument
from bst.domain.market import Category

EIGHT_HOURS_MS = 8 * 3_600_000


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Maker/taker fee rates per category, with per-symbol overrides (Bybit's default tier by default).

    Fees are the exact product value x rate unless `fee_quantum` is set: Bybit's own records show
    unrounded products (8.511 x 0.00055 = 0.00468105; 0.001614 BTC x 0.001 = 0.000001614), so exact
    is the faithful default; a quantum rounds each fee half-up for users who want coarser ledgers.
    """

    linear_taker: Decimal = Decimal("0.00055")
    linear_maker: Decimal = Decimal("0.0002")
    spot_taker: Decimal = Decimal("0.001")
    spot_maker: Decimal = Decimal("0.001")
    symbol_rates: tuple[tuple[Category, str, Decimal, Decimal], ...] = ()
    """Overrides as (category, symbol, taker rate, maker rate)."""
    fee_quantum: Decimal | None = None

    def rates(self, category: Category, symbol: str) -> tuple[Decimal, Decimal]:
        """Return (taker, maker) rates of `symbol`."""
        for kind, name, taker, maker in self.symbol_rates:
            if name == symbol and kind is category:
                return taker, maker
        if category is Category.SPOT:
            return self.spot_taker, self.spot_maker
        return self.linear_taker, self.linear_maker

    def fee(self, amount: Decimal, rate: Decimal) -> Decimal:
        """Return the fee on `amount` (value, or base qty for spot buys) at `rate`."""
        fee = amount * rate
        if self.fee_quantum is None:
            return fee
        return fee.quantize(self.fee_quantum, rounding=ROUND_HALF_UP)


class BarFill(StrEnum):
    """How taker orders fill on a symbol whose market is bars without a book (candle backtests).

    Without a book a taker has nothing to take; with a bar fill it fills in full at a bar print
    (see `bst.engine.bar_fills`): `NEXT_PRINT` at the first print after it arrives (the next bar's
    open), `LAST_PRINT` at once at the last print (the close of the bar just seen).
    """

    NEXT_PRINT = "next_print"
    LAST_PRINT = "last_print"


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One tradable symbol: the instrument's filters plus the risk parameters the engine needs.

    `market_slippage_ratio` is Bybit's market-order protection (riskParameters.priceLimitRatioX: a
    market order becomes an IOC limit at reference x (1 +/- ratio); 0.01 for BTC/ETH, 0.05 for most
    others). `limit_price_band_ratio` bounds aggressive limit prices (buy above / sell below the
    reference by more than this is refused with 110003). `maintenance_margin_rate` is the first risk
    tier's MMR (0.5 % BTC/ETH, 1 % most others). `funding_interval_ms` defaults to the instrument's
    fundingInterval, else 8 h. `bar_fill` (None: takers need book liquidity) lets takers fill at bar
    prints when the book is empty, moved against the taker by `bar_slippage_ratio` (0.0005 = 5 bp).
    """

    instrument: Instrument
    maintenance_margin_rate: Decimal = Decimal("0.005")
    market_slippage_ratio: Decimal = Decimal("0.05")
    limit_price_band_ratio: Decimal = Decimal("0.1")
    default_funding_rate: Decimal = Decimal("0.0001")
    funding_interval_ms: int | None = None
    bar_fill: BarFill | None = None
    bar_slippage_ratio: Decimal = Decimal(0)

    @property
    def symbol(self) -> str:
        """Return the symbol name."""
        return self.instrument.symbol

    @property
    def category(self) -> Category:
        """Return the instrument's category."""
        return self.instrument.category

    @property
    def funding_period_ms(self) -> int:
        """Return the funding interval in ms (linear only)."""
        if self.funding_interval_ms:
            return self.funding_interval_ms
        if self.instrument.funding_interval_min > 0:
            return self.instrument.funding_interval_min * 60_000
        return EIGHT_HOURS_MS


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Delay between a request's acceptance and its effect at the book, in ms of engine time.

    Each create/amend/cancel takes `order_ms` plus a seeded uniform jitter in [0, jitter_ms]; actions
    reach the book in arrival order (ties in request order), driven by `advance_time`.
    """

    order_ms: int = 0
    jitter_ms: int = 0

    @property
    def enabled(self) -> bool:
        """Return whether any delay applies."""
        return self.order_ms > 0 or self.jitter_ms > 0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything that shapes the engine's behaviour; two engines with equal configs and inputs agree."""

    fees: FeeSchedule = field(default_factory=FeeSchedule)
    latency: LatencyModel = field(default_factory=LatencyModel)
    queue_model: bool = True
    """Resting orders fill only after the external volume ahead of them at their price has traded."""
    default_leverage: Decimal = Decimal(10)
    max_open_orders_per_symbol: int = 500
    max_closed_orders: int = 50_000
    """Closed orders kept per account for queries (oldest dropped first)."""
    max_executions: int = 100_000
    """Executions kept per account for queries (oldest dropped first)."""
    liquidation: bool = True
    emit_events: bool = True
    seed: int = 0
