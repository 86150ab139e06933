"""An account's books: the transaction log (every balance change) and closed-PnL records.

`Transaction` is one row of Bybit's unified transaction log (`/v5/account/transaction-log`): one
coin's balance change with its cause. `change = cash_flow + funding - fee` always, and
`cash_balance` is the coin's wallet balance right after the row, so the newest row of a coin always
shows that coin's wallet balance.

`ClosedPnl` is one row of `/v5/position/closed-pnl`: what one order realised by closing (part of) a
linear position, accumulated over its fills. `closed_pnl = (exit - entry for a long, entry - exit
for a short) - open_fee - close_fee`, where `open_fee` is the part of the fees paid to open the
position that the closed quantity carried and `close_fee` the closing fills' fees. Funding is not
in it (Bybit books funding apart, as SETTLEMENT rows of the transaction log).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, OrderType


class TransactionType(StrEnum):
    """Bybit's transaction-log `type` (the values bst writes or reads; Bybit has more)."""

    TRADE = "TRADE"
    SETTLEMENT = "SETTLEMENT"
    TRANSFER_IN = "TRANSFER_IN"
    TRANSFER_OUT = "TRANSFER_OUT"
    DELIVERY = "DELIVERY"
    LIQUIDATION = "LIQUIDATION"
    ADL = "ADL"
    INTEREST = "INTEREST"
    FEE_REFUND = "FEE_REFUND"
    BONUS = "BONUS"


class Transaction(NamedTuple):
    """One balance change of one coin (a fill, a funding settlement, a transfer).

    A NamedTuple rather than a frozen dataclass: the engine writes one per fill on its hot path, and
    a frozen dataclass costs several times as much to build.

    `side` is the fill's side (for funding: the position's side), None for transfers; `size` is the
    signed position after the row (0 for spot and transfers); `funding` is positive when received;
    `fee` positive when paid. Trade fields are empty ("" / 0) for transfers.
    """

    transaction_id: str
    category: Category | None
    symbol: str
    side: Side | None
    transaction_time_ms: int
    type: TransactionType
    currency: str
    qty: Decimal
    size: Decimal
    trade_price: Decimal | None
    funding: Decimal | None
    fee: Decimal | None
    fee_rate: Decimal | None
    cash_flow: Decimal
    change: Decimal
    cash_balance: Decimal
    trade_id: str = ""
    order_id: str = ""
    order_link_id: str = ""


class ClosedPnl(NamedTuple):
    """What one order realised by closing a linear position (see the module docstring).

    A NamedTuple, grown fill by fill on the engine's hot path (`_replace` is cheap).
    """

    category: Category
    symbol: str
    order_id: str
    side: Side
    qty: Decimal
    order_price: Decimal
    order_type: OrderType
    exec_type: ExecType
    closed_size: Decimal
    cum_entry_value: Decimal
    avg_entry_price: Decimal
    cum_exit_value: Decimal
    avg_exit_price: Decimal
    closed_pnl: Decimal
    open_fee: Decimal
    close_fee: Decimal
    fill_count: int
    leverage: Decimal
    created_time_ms: int
    updated_time_ms: int


__all__ = ["ClosedPnl", "Transaction", "TransactionType"]
