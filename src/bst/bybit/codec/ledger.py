"""Closed PnL (`/v5/position/closed-pnl`) and the transaction log (`/v5/account/transaction-log`).

Both print every value as a string; money without trailing zeros (`money`), empty fields as "".
The transaction log's `side` is "None" for rows that belong to no trade (transfers).
"""

from __future__ import annotations

from typing import Any

from bst.bybit.codec._fields import dec, integer, money, num, opt_dec, opt_money
from bst.domain.ledger import ClosedPnl, Transaction, TransactionType
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, OrderType

JSON = dict[str, Any]
NO_SIDE = "None"


def encode_closed_pnl(record: ClosedPnl) -> JSON:
    """Return one closed-PnL list item."""
    return {
        "symbol": record.symbol,
        "orderType": record.order_type.value,
        "leverage": num(record.leverage),
        "updatedTime": str(record.updated_time_ms),
        "side": record.side.value,
        "orderId": record.order_id,
        "closedPnl": money(record.closed_pnl),
        "openFee": money(record.open_fee),
        "closeFee": money(record.close_fee),
        "avgEntryPrice": money(record.avg_entry_price),
        "qty": num(record.qty),
        "cumEntryValue": money(record.cum_entry_value),
        "createdTime": str(record.created_time_ms),
        "orderPrice": money(record.order_price),
        "closedSize": num(record.closed_size),
        "avgExitPrice": money(record.avg_exit_price),
        "execType": record.exec_type.value,
        "fillCount": str(record.fill_count),
        "cumExitValue": money(record.cum_exit_value),
    }


def parse_closed_pnl(item: JSON, category: Category = Category.LINEAR) -> ClosedPnl:
    """Return one closed-PnL record (`openFee`/`closeFee` may be absent: 0)."""
    return ClosedPnl(
        category=category,
        symbol=str(item["symbol"]),
        order_id=str(item.get("orderId") or ""),
        side=Side(item["side"]),
        qty=dec(item.get("qty")),
        order_price=dec(item.get("orderPrice")),
        order_type=OrderType(item.get("orderType") or "UNKNOWN"),
        exec_type=ExecType(item.get("execType") or "Trade"),
        closed_size=dec(item.get("closedSize")),
        cum_entry_value=dec(item.get("cumEntryValue")),
        avg_entry_price=dec(item.get("avgEntryPrice")),
        cum_exit_value=dec(item.get("cumExitValue")),
        avg_exit_price=dec(item.get("avgExitPrice")),
        closed_pnl=dec(item.get("closedPnl")),
        open_fee=dec(item.get("openFee")),
        close_fee=dec(item.get("closeFee")),
        fill_count=integer(item.get("fillCount")),
        leverage=dec(item.get("leverage"), "1"),
        created_time_ms=integer(item.get("createdTime")),
        updated_time_ms=integer(item.get("updatedTime")),
    )


def encode_transaction(row: Transaction) -> JSON:
    """Return one transaction-log list item."""
    return {
        "id": row.transaction_id,
        "symbol": row.symbol,
        "category": row.category.value if row.category is not None else "",
        "side": row.side.value if row.side is not None else NO_SIDE,
        "transactionTime": str(row.transaction_time_ms),
        "type": row.type.value,
        "transSubType": "",
        "qty": num(row.qty),
        "size": num(row.size) if row.size else "0",
        "currency": row.currency,
        "tradePrice": opt_money(row.trade_price),
        "funding": opt_money(row.funding),
        "fee": opt_money(row.fee),
        "cashFlow": money(row.cash_flow),
        "change": money(row.change),
        "cashBalance": money(row.cash_balance),
        "feeRate": "" if row.fee_rate is None else num(row.fee_rate),
        "bonusChange": "",
        "tradeId": row.trade_id,
        "orderId": row.order_id,
        "orderLinkId": row.order_link_id,
        "extraFees": "",
    }


def parse_transaction(item: JSON) -> Transaction:
    """Return one transaction-log row (empty numbers are None where the field is optional)."""
    category, side = item.get("category"), item.get("side")
    return Transaction(
        transaction_id=str(item.get("id") or ""),
        category=Category(category) if category else None,
        symbol=str(item.get("symbol") or ""),
        side=Side(side) if side in (Side.BUY.value, Side.SELL.value) else None,
        transaction_time_ms=integer(item.get("transactionTime")),
        type=TransactionType(item["type"]),
        currency=str(item.get("currency") or ""),
        qty=dec(item.get("qty")),
        size=dec(item.get("size")),
        trade_price=opt_dec(item.get("tradePrice")),
        funding=opt_dec(item.get("funding")),
        fee=opt_dec(item.get("fee")),
        fee_rate=opt_dec(item.get("feeRate")),
        cash_flow=dec(item.get("cashFlow")),
        change=dec(item.get("change")),
        cash_balance=dec(item.get("cashBalance")),
        trade_id=str(item.get("tradeId") or ""),
        order_id=str(item.get("orderId") or ""),
        order_link_id=str(item.get("orderLinkId") or ""),
    )
