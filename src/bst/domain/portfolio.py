"""Positions, balances and the PnL/margin arithmetic of linear (USDT-settled) contracts.

Money is exact `Decimal`. A position's cost basis is kept exactly as `entry_value` (the sum of
qty x price of the fills that opened it); its `avg_price` is derived for display. Closing part of a
position releases the proportional cost, rounded half-even to `MONEY_QUANTUM` only when the division
does not terminate, and that same amount leaves the cost basis, so realised PnL and the remaining
cost always add up to what was paid. Margin figures (IM, MM, bankruptcy/liquidation prices) are risk
estimates, not money flows, and are rounded for display.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, Inexact, localcontext
from enum import StrEnum

from bst.domain.instrument import to_step
from bst.domain.market import Category, Side

MONEY_QUANTUM = Decimal("1E-8")
"""Settlement-coin precision used when a proportional cost does not divide exactly (Bybit shows 8 dp)."""
PRICE_QUANTUM = Decimal("1E-8")
"""Precision of the displayed average entry price."""
_ZERO = Decimal(0)
_ONE = Decimal(1)


class PositionSide(StrEnum):
    """Bybit position `side`: `Buy` long, `Sell` short, `""` flat."""

    BUY = "Buy"
    SELL = "Sell"
    NONE = ""


class PositionStatus(StrEnum):
    """Bybit `positionStatus`."""

    NORMAL = "Normal"
    LIQ = "Liq"
    ADL = "Adl"


def side_of(signed_size: Decimal) -> PositionSide:
    """Return the position side of a signed size (positive long, negative short)."""
    if signed_size > 0:
        return PositionSide.BUY
    if signed_size < 0:
        return PositionSide.SELL
    return PositionSide.NONE


def signed_qty(side: Side, qty: Decimal) -> Decimal:
    """Return `qty` signed by `side`: positive for Buy, negative for Sell."""
    return qty if side is Side.BUY else -qty


@dataclass(frozen=True, slots=True)
class FillEffect:
    """What one fill does to a one-way position."""

    size: Decimal
    """Signed size after the fill."""
    entry_value: Decimal
    """Cost basis of the remaining position (always >= 0)."""
    closed_size: Decimal
    """Quantity of the fill that reduced the previous position."""
    realised_pnl: Decimal
    """Price PnL realised by the closed part, before fees."""


def apply_fill(size: Decimal, entry_value: Decimal, side: Side, qty: Decimal, price: Decimal) -> FillEffect:
    """Return the position after a fill of `qty` at `price` on `side` (one-way mode, flips allowed)."""
    delta = signed_qty(side, qty)
    if size == 0 or (size > 0) == (delta > 0):
        return FillEffect(size + delta, entry_value + qty * price, _ZERO, _ZERO)
    held = abs(size)
    closed = min(qty, held)
    released = entry_value if closed == held else proportional_cost(entry_value, closed, held)
    exit_value = closed * price
    pnl = exit_value - released if size > 0 else released - exit_value
    remaining_cost = entry_value - released
    opened = qty - closed
    if opened > 0:
        return FillEffect(signed_qty(side, opened), opened * price, closed, pnl)
    return FillEffect(size + delta, remaining_cost, closed, pnl)


def proportional_cost(entry_value: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """Return `entry_value * part / whole`, exact when it terminates, else half-even to 8 dp."""
    with localcontext() as ctx:
        ctx.traps[Inexact] = True
        try:
            return entry_value * part / whole
        except Inexact:
            pass
    return (entry_value * part / whole).quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def average_price(entry_value: Decimal, size: Decimal) -> Decimal:
    """Return the displayed average entry price (`entry_value / |size|`, 8 dp), 0 when flat."""
    if size == 0:
        return _ZERO
    avg = entry_value / abs(size)
    rounded = avg.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)
    return avg if avg == rounded else rounded


def unrealised_pnl(size: Decimal, entry_value: Decimal, mark_price: Decimal) -> Decimal:
    """Return the PnL of closing the whole position at `mark_price` (exact)."""
    if size == 0:
        return _ZERO
    value = abs(size) * mark_price
    return value - entry_value if size > 0 else entry_value - value


def bankruptcy_price(size: Decimal, avg_price: Decimal, leverage: Decimal) -> Decimal:
    """Return where the position's initial margin is lost: long avg x (1 - 1/lev), short x (1 + 1/lev)."""
    if size == 0:
        return _ZERO
    factor = _ONE - _ONE / leverage if size > 0 else _ONE + _ONE / leverage
    return avg_price * factor


def order_cost(side: Side, qty: Decimal, price: Decimal, leverage: Decimal, taker_rate: Decimal) -> Decimal:
    """Return Bybit's linear order cost: IM + fee to open + fee to close at the bankruptcy price.

    Rounded up to 8 dp (a reservation, not a money flow).
    """
    value = qty * price
    close_factor = _ONE - _ONE / leverage if side is Side.BUY else _ONE + _ONE / leverage
    cost = value / leverage + value * taker_rate + value * close_factor * taker_rate
    return cost.quantize(MONEY_QUANTUM, rounding=ROUND_UP)


def position_margins(
    size: Decimal,
    entry_value: Decimal,
    leverage: Decimal,
    taker_rate: Decimal,
    maintenance_rate: Decimal,
) -> tuple[Decimal, Decimal]:
    """Return (initial, maintenance) margin of a position, Bybit-style, rounded up to 8 dp.

    IM = value / leverage + close fee; MM = value x maintenance rate + close fee, where value is the
    cost basis and the close fee is |size| x bankruptcy price x taker rate.
    """
    if size == 0:
        return _ZERO, _ZERO
    avg = entry_value / abs(size)
    close_fee = abs(size) * bankruptcy_price(size, avg, leverage) * taker_rate
    im = entry_value / leverage + close_fee
    mm = entry_value * maintenance_rate + close_fee
    return im.quantize(MONEY_QUANTUM, rounding=ROUND_UP), mm.quantize(MONEY_QUANTUM, rounding=ROUND_UP)


def funding_fee(size: Decimal, mark_price: Decimal, rate: Decimal) -> Decimal:
    """Return the funding a position pays (positive) or receives (negative): size x mark x rate.

    Longs pay a positive rate and shorts receive it (the signed size carries the direction).
    """
    return size * mark_price * rate


def round_to_tick(price: Decimal, tick: Decimal, *, up: bool) -> Decimal:
    """Return `price` on the tick grid, rounded up or down (`instrument.to_step`, the one rounding)."""
    return to_step(price, tick, ROUND_UP if up else ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class Position:
    """One linear position as Bybit reports it (`/v5/position/list`, private `position` topic).

    `cur_realised_pnl` covers the current position since it was opened and includes fees and funding;
    `cum_realised_pnl` is all-time. `liq_price`/`bust_price` are None when not applicable.
    """

    category: Category
    symbol: str
    position_idx: int
    side: PositionSide
    size: Decimal
    avg_price: Decimal
    position_value: Decimal
    leverage: Decimal
    mark_price: Decimal
    liq_price: Decimal | None
    bust_price: Decimal | None
    position_im: Decimal
    position_mm: Decimal
    unrealised_pnl: Decimal
    cur_realised_pnl: Decimal
    cum_realised_pnl: Decimal
    position_status: PositionStatus
    created_time_ms: int
    updated_time_ms: int
    seq: int
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    auto_add_margin: int = 0
    is_reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class CoinBalance:
    """One coin of a unified account (`/v5/account/wallet-balance` `coin[]`)."""

    coin: str
    equity: Decimal
    usd_value: Decimal
    wallet_balance: Decimal
    locked: Decimal
    total_order_im: Decimal
    total_position_im: Decimal
    total_position_mm: Decimal
    unrealised_pnl: Decimal
    cum_realised_pnl: Decimal
    available_to_withdraw: Decimal
    borrow_amount: Decimal = Decimal(0)
    accrued_interest: Decimal = Decimal(0)
    bonus: Decimal = Decimal(0)
    margin_collateral: bool = True
    collateral_switch: bool = True


@dataclass(frozen=True, slots=True)
class WalletBalance:
    """A unified account's balances (`/v5/account/wallet-balance` list item, private `wallet` topic).

    Account totals are in USD; rates are None when the margin balance is not positive.
    """

    account_type: str
    total_equity: Decimal
    total_wallet_balance: Decimal
    total_margin_balance: Decimal
    total_available_balance: Decimal
    total_perp_upl: Decimal
    total_initial_margin: Decimal
    total_maintenance_margin: Decimal
    account_im_rate: Decimal | None
    account_mm_rate: Decimal | None
    coins: tuple[CoinBalance, ...]

    def coin(self, name: str) -> CoinBalance | None:
        """Return the balance of coin `name`, or None when the account holds none."""
        for balance in self.coins:
            if balance.coin == name:
                return balance
        return None


@dataclass(frozen=True, slots=True)
class FeeRate:
    """One symbol's trading fee rates (`/v5/account/fee-rate`); negative means a rebate."""

    symbol: str
    taker_fee_rate: Decimal
    maker_fee_rate: Decimal
    base_coin: str = ""


__all__ = [
    "MONEY_QUANTUM",
    "PRICE_QUANTUM",
    "CoinBalance",
    "FeeRate",
    "FillEffect",
    "Position",
    "PositionSide",
    "PositionStatus",
    "WalletBalance",
    "apply_fill",
    "average_price",
    "bankruptcy_price",
    "funding_fee",
    "order_cost",
    "position_margins",
    "proportional_cost",
    "round_to_tick",
    "side_of",
    "signed_qty",
]
