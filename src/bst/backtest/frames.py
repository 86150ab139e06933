"""The result frames: a `Ledger`'s exact records as pandas DataFrames with the saved columns.

Money, prices and quantities become float64 (research data; the ledger keeps the exact values);
times become UTC `datetime64[ms]`. Every frame has its columns even when empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pandas as pd

from bst.backtest.result import (
    EQUITY_COLUMNS,
    FILL_COLUMNS,
    ORDER_COLUMNS,
    POSITION_COLUMNS,
    TRADE_COLUMNS,
    EquityPoint,
    Ledger,
    PositionPoint,
    RoundTrip,
)
from bst.domain.orders import Execution, Order

__all__ = ["equity_frame", "fills_frame", "frames", "orders_frame", "positions_frame", "trades_frame"]


def _times(values: Sequence[int]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(values, dtype="int64"), unit="ms", utc=True))


def _floats(values: Sequence[Decimal]) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype="float64")


def trades_frame(trades: Sequence[RoundTrip]) -> pd.DataFrame:
    """Return one row per round trip (`TRADE_COLUMNS`)."""
    entry = _times([t.entry_time_ms for t in trades])
    exit_ = _times([t.exit_time_ms for t in trades])
    return pd.DataFrame(
        {
            "symbol": [t.symbol for t in trades],
            "side": ["long" if t.is_long else "short" for t in trades],
            "qty": _floats([t.qty for t in trades]),
            "entry_time": entry,
            "exit_time": exit_,
            "entry_price": _floats([t.entry_price for t in trades]),
            "exit_price": _floats([t.exit_price for t in trades]),
            "gross_pnl": _floats([t.gross_pnl for t in trades]),
            "fees": _floats([t.fees for t in trades]),
            "funding": _floats([t.funding for t in trades]),
            "pnl": _floats([t.pnl for t in trades]),
            "return_pct": _floats(
                [t.pnl / t.entry_value * 100 if t.entry_value else Decimal(0) for t in trades]
            ),
            "duration": exit_ - entry,
            "entry_order_id": [t.entry_order_id for t in trades],
            "exit_order_id": [t.exit_order_id for t in trades],
        },
        columns=list(TRADE_COLUMNS),
    )


def equity_frame(points: Sequence[EquityPoint]) -> pd.DataFrame:
    """Return the equity curve indexed by `time` (`EQUITY_COLUMNS`)."""
    equity = _floats([p.equity for p in points])
    peak = np.maximum.accumulate(equity) if len(equity) else equity
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, (equity / peak - 1) * 100, 0.0)
    frame = pd.DataFrame(
        {
            "equity": equity,
            "wallet": _floats([p.wallet for p in points]),
            "unrealised_pnl": _floats([p.unrealised_pnl for p in points]),
            "position_value": _floats([p.position_value for p in points]),
            "drawdown_pct": drawdown,
        },
        index=_times([p.ts_ms for p in points]),
        columns=list(EQUITY_COLUMNS),
    )
    frame.index.name = "time"
    return frame


def orders_frame(orders: Sequence[Order]) -> pd.DataFrame:
    """Return each order's final state (`ORDER_COLUMNS`)."""
    return pd.DataFrame(
        {
            "created_time": _times([o.created_time_ms for o in orders]),
            "updated_time": _times([o.updated_time_ms for o in orders]),
            "order_id": [o.order_id for o in orders],
            "order_link_id": [o.order_link_id for o in orders],
            "symbol": [o.symbol for o in orders],
            "side": [o.side.value for o in orders],
            "order_type": [o.order_type.value for o in orders],
            "time_in_force": [o.time_in_force.value for o in orders],
            "qty": _floats([o.qty for o in orders]),
            "price": _floats([o.price for o in orders]),
            "status": [o.status.value for o in orders],
            "cum_exec_qty": _floats([o.cum_exec_qty for o in orders]),
            "avg_price": [float(o.avg_price) if o.avg_price is not None else np.nan for o in orders],
            "cum_exec_fee": _floats([o.cum_exec_fee for o in orders]),
            "reduce_only": [o.reduce_only for o in orders],
            "create_type": [o.create_type for o in orders],
            "reject_reason": [o.reject_reason for o in orders],
        },
        columns=list(ORDER_COLUMNS),
    )


def fills_frame(executions: Sequence[Execution]) -> pd.DataFrame:
    """Return every execution (`FILL_COLUMNS`)."""
    return pd.DataFrame(
        {
            "time": _times([e.exec_time_ms for e in executions]),
            "exec_id": [e.exec_id for e in executions],
            "order_id": [e.order_id for e in executions],
            "order_link_id": [e.order_link_id for e in executions],
            "symbol": [e.symbol for e in executions],
            "side": [e.side.value for e in executions],
            "exec_type": [e.exec_type.value for e in executions],
            "qty": _floats([e.exec_qty for e in executions]),
            "price": _floats([e.exec_price for e in executions]),
            "value": _floats([e.exec_value for e in executions]),
            "fee": _floats([e.exec_fee for e in executions]),
            "fee_rate": _floats([e.fee_rate for e in executions]),
            "is_maker": [e.is_maker for e in executions],
            "closed_size": _floats([e.closed_size for e in executions]),
            "exec_pnl": _floats([e.exec_pnl for e in executions]),
        },
        columns=list(FILL_COLUMNS),
    )


def positions_frame(points: Sequence[PositionPoint]) -> pd.DataFrame:
    """Return every position change (`POSITION_COLUMNS`)."""
    return pd.DataFrame(
        {
            "time": _times([p.ts_ms for p in points]),
            "symbol": [p.symbol for p in points],
            "size": _floats([p.size for p in points]),
            "avg_price": _floats([p.avg_price for p in points]),
            "mark_price": _floats([p.mark_price for p in points]),
            "unrealised_pnl": _floats([p.unrealised_pnl for p in points]),
            "cum_realised_pnl": _floats([p.cum_realised_pnl for p in points]),
        },
        columns=list(POSITION_COLUMNS),
    )


def frames(ledger: Ledger) -> dict[str, pd.DataFrame]:
    """Return every frame of a ledger, by its name (trades, equity, orders, fills, positions)."""
    return {
        "trades": trades_frame(ledger.trades),
        "equity": equity_frame(ledger.equity),
        "orders": orders_frame(ledger.orders),
        "fills": fills_frame(ledger.executions),
        "positions": positions_frame(ledger.positions),
    }
