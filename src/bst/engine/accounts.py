"""Accounts: coin balances, one-way linear positions, open-order exposure, margin and snapshots.

Margin model (a unified account in cross margin, simplified): the stablecoins USDT and USDC are the
collateral, each worth 1 USD; other coins are spot holdings only (shown, not lent against).
margin balance = collateral wallet + unrealised PnL at mark; available = margin balance - position
IM - order IM - collateral locked by spot orders. Position IM/MM follow Bybit's formulas on the cost
basis (see `bst.domain.portfolio.position_margins`); order IM is Bybit's order cost of the part of
the open orders that would open or grow a position, taking the larger of the buy and sell sides as
one-way mode does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from bst.domain.market import Category, Side
from bst.domain.orders import Execution, Order
from bst.domain.portfolio import (
    CoinBalance,
    FeeRate,
    Position,
    PositionStatus,
    WalletBalance,
    average_price,
    bankruptcy_price,
    order_cost,
    position_margins,
    round_to_tick,
    side_of,
    unrealised_pnl,
)
from bst.engine.config import FeeSchedule, SymbolSpec
from bst.engine.ledger import AccountBooks
from bst.engine.working import WorkingOrder

COLLATERAL_COINS = ("USDC", "USDT")
_ZERO = Decimal(0)
_RATE_QUANTUM = Decimal("0.0001")


class MarketView(Protocol):
    """What account arithmetic needs to know about the market."""

    def spec(self, symbol: str) -> SymbolSpec:
        """Return the symbol's spec."""
        ...

    def mark_price(self, symbol: str) -> Decimal | None:
        """Return the symbol's mark price (explicit, else last trade, else mid), or None."""
        ...

    def usd_price(self, coin: str) -> Decimal | None:
        """Return a coin's USD price (1 for collateral, spot COINUSDT last price), or None."""
        ...


class PositionState:
    """One linear position (one-way): signed size and exact cost basis."""

    __slots__ = (
        "created_ms",
        "cum_realised",
        "cur_realised",
        "entry_value",
        "leverage",
        "seq",
        "size",
        "status",
        "stop_loss",
        "take_profit",
        "updated_ms",
    )

    def __init__(self, leverage: Decimal) -> None:
        self.size = _ZERO
        self.entry_value = _ZERO
        self.leverage = leverage
        self.cur_realised = _ZERO
        self.cum_realised = _ZERO
        self.created_ms = 0
        self.updated_ms = 0
        self.seq = 0
        self.take_profit: Decimal | None = None
        self.stop_loss: Decimal | None = None
        self.status = PositionStatus.NORMAL


class CoinState:
    """One coin's wallet balance, the part locked by spot orders, and its realised PnL."""

    __slots__ = ("cum_realised", "locked", "wallet")

    def __init__(self, wallet: Decimal = _ZERO) -> None:
        self.wallet = wallet
        self.locked = _ZERO
        self.cum_realised = _ZERO


class Exposure:
    """Leaves quantity and value of one symbol's open linear orders that are not reduce-only."""

    __slots__ = ("buy_qty", "buy_value", "sell_qty", "sell_value")

    def __init__(self) -> None:
        self.buy_qty = _ZERO
        self.buy_value = _ZERO
        self.sell_qty = _ZERO
        self.sell_value = _ZERO

    def add(self, side: Side, qty: Decimal, price: Decimal) -> None:
        """Add (or with a negative qty, remove) open quantity at `price`."""
        if side is Side.BUY:
            self.buy_qty += qty
            self.buy_value += qty * price
        else:
            self.sell_qty += qty
            self.sell_value += qty * price


@dataclass(frozen=True, slots=True)
class MarginSummary:
    """Account-level margin figures at current mark prices (USD; collateral valued at 1)."""

    wallet: Decimal
    unrealised: Decimal
    position_im: Decimal
    position_mm: Decimal
    order_im: Decimal
    locked: Decimal
    per_coin: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]]
    """Settle coin -> (unrealised, position IM, position MM, order IM)."""

    @property
    def margin_balance(self) -> Decimal:
        """Return collateral wallet plus unrealised PnL."""
        return self.wallet + self.unrealised

    @property
    def initial_margin(self) -> Decimal:
        """Return position IM plus order IM."""
        return self.position_im + self.order_im

    @property
    def available(self) -> Decimal:
        """Return what new orders may still use."""
        return self.margin_balance - self.initial_margin - self.locked


class Account:
    """One user: balances, positions, leverage, orders and history."""

    __slots__ = (
        "books",
        "closed",
        "coins",
        "default_leverage",
        "executions",
        "exposure",
        "fees",
        "leverage",
        "links",
        "open_counts",
        "open_orders",
        "positions",
        "reduce_only_open",
        "uid",
    )

    def __init__(self, uid: int, fees: FeeSchedule, default_leverage: Decimal) -> None:
        self.uid = uid
        self.fees = fees
        self.default_leverage = default_leverage
        self.coins: dict[str, CoinState] = {}
        self.positions: dict[str, PositionState] = {}
        self.leverage: dict[str, Decimal] = {}
        self.exposure: dict[str, Exposure] = {}
        self.open_orders: dict[str, WorkingOrder] = {}
        self.open_counts: dict[tuple[Category, str], int] = {}
        self.reduce_only_open = 0
        self.links: dict[str, str] = {}
        """`category:orderLinkId` -> orderId of every order ever accepted (uniqueness check)."""
        self.closed: dict[str, Order] = {}
        """Final snapshots of closed orders by orderId, oldest first."""
        self.executions: list[Execution] = []
        self.books = AccountBooks()
        """Transaction log and closed-PnL records (`bst.engine.ledger`)."""

    def coin(self, name: str) -> CoinState:
        """Return the coin's state, creating an empty one."""
        state = self.coins.get(name)
        if state is None:
            state = self.coins[name] = CoinState()
        return state

    def position(self, symbol: str) -> PositionState:
        """Return the symbol's position, creating a flat one at the account's leverage."""
        state = self.positions.get(symbol)
        if state is None:
            state = self.positions[symbol] = PositionState(self.leverage_of(symbol))
        return state

    def leverage_of(self, symbol: str) -> Decimal:
        """Return the leverage set for `symbol` (the default until set)."""
        return self.leverage.get(symbol, self.default_leverage)

    def exposure_of(self, symbol: str) -> Exposure:
        """Return the symbol's open-order exposure, creating it."""
        state = self.exposure.get(symbol)
        if state is None:
            state = self.exposure[symbol] = Exposure()
        return state

    def open_count(self, category: Category, symbol: str) -> int:
        """Return how many open orders the account has on `symbol`."""
        return self.open_counts.get((category, symbol), 0)

    def add_open(self, order: WorkingOrder) -> None:
        """Register an accepted order as open."""
        self.open_orders[order.order_id] = order
        key = (order.category, order.symbol)
        self.open_counts[key] = self.open_counts.get(key, 0) + 1
        if order.reduce_only:
            self.reduce_only_open += 1

    def remove_open(self, order: WorkingOrder) -> None:
        """Forget an order that closed."""
        if self.open_orders.pop(order.order_id, None) is None:
            return
        key = (order.category, order.symbol)
        self.open_counts[key] -= 1
        if order.reduce_only:
            self.reduce_only_open -= 1

    def fee_rate(self, spec: SymbolSpec) -> FeeRate:
        """Return the account's fee rates on a symbol."""
        taker, maker = self.fees.rates(spec.category, spec.symbol)
        return FeeRate(spec.symbol, taker, maker, spec.instrument.base_coin)


def _symbol_order_im(account: Account, symbol: str, spec: SymbolSpec, taker: Decimal) -> Decimal:
    exposure = account.exposure.get(symbol)
    if exposure is None or (exposure.buy_qty <= 0 and exposure.sell_qty <= 0):
        return _ZERO
    position = account.positions.get(symbol)
    size = position.size if position is not None else _ZERO
    leverage = position.leverage if position is not None else account.leverage_of(symbol)
    costs = []
    for side, qty, value, closable in (
        (Side.BUY, exposure.buy_qty, exposure.buy_value, max(_ZERO, -size)),
        (Side.SELL, exposure.sell_qty, exposure.sell_value, max(_ZERO, size)),
    ):
        opening = qty - closable
        if qty <= 0 or opening <= 0:
            costs.append(_ZERO)
            continue
        costs.append(order_cost(side, opening, value / qty, leverage, taker))
    return max(costs)


def margin_summary(account: Account, market: MarketView) -> MarginSummary:
    """Return the account's margin figures at current marks."""
    wallet = sum((account.coins[c].wallet for c in COLLATERAL_COINS if c in account.coins), _ZERO)
    locked = sum((account.coins[c].locked for c in COLLATERAL_COINS if c in account.coins), _ZERO)
    per_coin: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {}
    symbols = set(account.positions) | set(account.exposure)
    upl_total = im_total = mm_total = oim_total = _ZERO
    for symbol in sorted(symbols):
        spec = market.spec(symbol)
        taker, _ = account.fees.rates(spec.category, symbol)
        upl = im = mm = _ZERO
        position = account.positions.get(symbol)
        if position is not None and position.size != 0:
            mark = market.mark_price(symbol)
            if mark is not None:
                upl = unrealised_pnl(position.size, position.entry_value, mark)
            im, mm = position_margins(
                position.size, position.entry_value, position.leverage, taker, spec.maintenance_margin_rate
            )
        oim = _symbol_order_im(account, symbol, spec, taker)
        coin = spec.instrument.settle_coin
        u0, i0, m0, o0 = per_coin.get(coin, (_ZERO, _ZERO, _ZERO, _ZERO))
        per_coin[coin] = (u0 + upl, i0 + im, m0 + mm, o0 + oim)
        upl_total += upl
        im_total += im
        mm_total += mm
        oim_total += oim
    return MarginSummary(wallet, upl_total, im_total, mm_total, oim_total, locked, per_coin)


def position_snapshot(
    account: Account,
    symbol: str,
    market: MarketView,
    summary: MarginSummary | None = None,
) -> Position:
    """Return the symbol's position as Bybit reports it (a flat row when there is none)."""
    spec = market.spec(symbol)
    state = account.positions.get(symbol)
    if state is None:
        state = PositionState(account.leverage_of(symbol))
    mark = market.mark_price(symbol) or _ZERO
    size = state.size
    taker, _ = account.fees.rates(spec.category, symbol)
    avg = average_price(state.entry_value, size)
    tick = spec.instrument.tick_size
    im = mm = upl = _ZERO
    liq: Decimal | None = None
    bust: Decimal | None = None
    if size != 0:
        im, mm = position_margins(
            size, state.entry_value, state.leverage, taker, spec.maintenance_margin_rate
        )
        upl = unrealised_pnl(size, state.entry_value, mark) if mark > 0 else _ZERO
        bust = round_to_tick(bankruptcy_price(size, avg, state.leverage), tick, up=size < 0)
        summary = summary or margin_summary(account, market)
        liq = liquidation_price(size, state.entry_value, upl, summary, tick)
    return Position(
        category=spec.category,
        symbol=symbol,
        position_idx=0,
        side=side_of(size),
        size=abs(size),
        avg_price=avg,
        position_value=state.entry_value,
        leverage=state.leverage,
        mark_price=mark,
        liq_price=liq,
        bust_price=bust,
        position_im=im,
        position_mm=mm,
        unrealised_pnl=upl,
        cur_realised_pnl=state.cur_realised,
        cum_realised_pnl=state.cum_realised,
        position_status=state.status,
        created_time_ms=state.created_ms,
        updated_time_ms=state.updated_ms,
        seq=state.seq,
        take_profit=state.take_profit,
        stop_loss=state.stop_loss,
    )


def liquidation_price(
    size: Decimal, entry_value: Decimal, upl: Decimal, summary: MarginSummary, tick: Decimal
) -> Decimal | None:
    """Return the mark price at which the account's margin balance meets its maintenance margin.

    Other positions' PnL and the maintenance margin are held at their current values (an estimate,
    as Bybit's cross-margin liqPrice is). Rounded to the tick towards the position's loss (longs down,
    shorts up), so a mark at or beyond it does liquidate. None when that price would not be positive.
    """
    base = summary.margin_balance - upl - summary.position_mm
    price = (entry_value - base) / size if size > 0 else (base + entry_value) / -size
    if price <= 0:
        return None
    rounded = round_to_tick(price, tick, up=size < 0)
    return rounded if rounded > 0 else None


def wallet_snapshot(
    account: Account,
    market: MarketView,
    coins: tuple[str, ...] = (),
    summary: MarginSummary | None = None,
) -> WalletBalance:
    """Return the account's balances; zero coins are omitted unless named in `coins`."""
    summary = summary or margin_summary(account, market)
    available = summary.available
    names = sorted(
        {n for n, c in account.coins.items() if c.wallet != 0 or c.locked != 0}
        | {n for n in summary.per_coin if n in account.coins}
        | set(coins)
    )
    if coins:
        names = [n for n in names if n in coins]
    rows = []
    total_equity = _ZERO
    for name in names:
        state = account.coins.get(name) or CoinState()
        upl, pim, pmm, oim = summary.per_coin.get(name, (_ZERO, _ZERO, _ZERO, _ZERO))
        equity = state.wallet + upl
        price = market.usd_price(name)
        usd_value = equity * price if price is not None else _ZERO
        total_equity += usd_value
        free = state.wallet - state.locked
        if name in COLLATERAL_COINS:
            free = min(free, available)
        rows.append(
            CoinBalance(
                coin=name,
                equity=equity,
                usd_value=usd_value,
                wallet_balance=state.wallet,
                locked=state.locked,
                total_order_im=oim,
                total_position_im=pim,
                total_position_mm=pmm,
                unrealised_pnl=upl,
                cum_realised_pnl=state.cum_realised,
                available_to_withdraw=max(_ZERO, free),
                margin_collateral=name in COLLATERAL_COINS,
                collateral_switch=name in COLLATERAL_COINS,
            )
        )
    margin = summary.margin_balance
    im_rate = mm_rate = None
    if margin > 0:
        im_rate = (summary.initial_margin / margin).quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP)
        mm_rate = (summary.position_mm / margin).quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP)
    return WalletBalance(
        account_type="UNIFIED",
        total_equity=total_equity,
        total_wallet_balance=summary.wallet,
        total_margin_balance=margin,
        total_available_balance=available,
        total_perp_upl=summary.unrealised,
        total_initial_margin=summary.initial_margin,
        total_maintenance_margin=summary.position_mm,
        account_im_rate=im_rate,
        account_mm_rate=mm_rate,
        coins=tuple(rows),
    )


def spot_available(account: Account, coin: str, market: MarketView) -> Decimal:
    """Return how much of `coin` a new spot order may lock (collateral also keeps margin whole)."""
    state = account.coins.get(coin)
    free = (state.wallet - state.locked) if state is not None else _ZERO
    if coin in COLLATERAL_COINS and (account.positions or account.exposure):
        free = min(free, margin_summary(account, market).available)
    return free


def account_to_state(account: Account) -> dict[str, Any]:
    """Return the account's balances, positions and settings as JSON-compatible data (no orders)."""
    return {
        "uid": account.uid,
        "default_leverage": str(account.default_leverage),
        "coins": {n: [str(c.wallet), str(c.locked), str(c.cum_realised)] for n, c in account.coins.items()},
        "positions": {
            s: {
                "size": str(p.size),
                "entry_value": str(p.entry_value),
                "leverage": str(p.leverage),
                "cur_realised": str(p.cur_realised),
                "cum_realised": str(p.cum_realised),
                "created_ms": p.created_ms,
                "updated_ms": p.updated_ms,
                "seq": p.seq,
                "take_profit": None if p.take_profit is None else str(p.take_profit),
                "stop_loss": None if p.stop_loss is None else str(p.stop_loss),
                "status": p.status.value,
            }
            for s, p in account.positions.items()
        },
        "leverage": {s: str(v) for s, v in account.leverage.items()},
        "exposure": {
            s: [str(e.buy_qty), str(e.buy_value), str(e.sell_qty), str(e.sell_value)]
            for s, e in account.exposure.items()
        },
        "links": dict(account.links),
    }


def account_from_state(state: dict[str, Any], fees: FeeSchedule) -> Account:
    """Rebuild an account saved by `account_to_state` (orders and history are restored separately)."""
    account = Account(int(state["uid"]), fees, Decimal(state["default_leverage"]))
    for name, (wallet, locked, realised) in state["coins"].items():
        coin = account.coin(name)
        coin.wallet, coin.locked, coin.cum_realised = Decimal(wallet), Decimal(locked), Decimal(realised)
    for symbol, raw in state["positions"].items():
        position = PositionState(Decimal(raw["leverage"]))
        position.size = Decimal(raw["size"])
        position.entry_value = Decimal(raw["entry_value"])
        position.cur_realised = Decimal(raw["cur_realised"])
        position.cum_realised = Decimal(raw["cum_realised"])
        position.created_ms = int(raw["created_ms"])
        position.updated_ms = int(raw["updated_ms"])
        position.seq = int(raw["seq"])
        position.take_profit = None if raw["take_profit"] is None else Decimal(raw["take_profit"])
        position.stop_loss = None if raw["stop_loss"] is None else Decimal(raw["stop_loss"])
        position.status = PositionStatus(raw["status"])
        account.positions[symbol] = position
    account.leverage = {s: Decimal(v) for s, v in state["leverage"].items()}
    for symbol, (bq, bv, sq, sv) in state["exposure"].items():
        exposure = account.exposure_of(symbol)
        exposure.buy_qty, exposure.buy_value = Decimal(bq), Decimal(bv)
        exposure.sell_qty, exposure.sell_value = Decimal(sq), Decimal(sv)
    account.links = dict(state["links"])
    return account


__all__ = [
    "COLLATERAL_COINS",
    "Account",
    "CoinState",
    "Exposure",
    "MarginSummary",
    "MarketView",
    "PositionState",
    "account_from_state",
    "account_to_state",
    "margin_summary",
    "position_snapshot",
    "spot_available",
    "wallet_snapshot",
]
