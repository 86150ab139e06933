"""The run's books: every account event the engine emitted, and the equity curve, as exact records.

`RunBook` takes the account's events as the engine publishes them (at engine time, before any
response latency: what happened, not when the strategy heard of it) and the equity samples the
runner asks for; `ledger()` returns them as a `Ledger`. Round trips are built as executions arrive
(`bst.backtest.round_trips`), so nothing is re-read at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from bst.backtest.prices import PriceRecorder
from bst.backtest.result import EquityPoint, Ledger, PositionPoint
from bst.backtest.round_trips import RoundTripBook
from bst.domain.account_events import (
    AccountEvent,
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
)
from bst.domain.orders import ExecType, Execution, Order
from bst.domain.portfolio import PositionSide
from bst.engine import MatchingEngine

__all__ = ["RunBook"]

_ZERO = Decimal(0)


class RunBook:
    """Orders, executions, positions and equity of one backtest account (see the module docstring)."""

    def __init__(self, settle_coin: str) -> None:
        self.settle_coin = settle_coin
        self._orders: dict[str, Order] = {}
        self._executions: list[Execution] = []
        self._positions: list[PositionPoint] = []
        self._equity: list[EquityPoint] = []
        self._trips = RoundTripBook()
        self._sizes: dict[str, Decimal] = {}
        self.fees = _ZERO
        self.funding = _ZERO
        self.prices = PriceRecorder()
        """Each symbol's price at the equity samples (what the report draws for order-book runs)."""

    def on_events(self, events: Iterable[AccountEvent]) -> None:
        """Book the account's events (hand-over events carry nothing new and are skipped)."""
        for event in events:
            if isinstance(event, ResyncEvent) or event.source is AccountEventSource.RESYNC:
                continue
            if isinstance(event, ExecutionsEvent):
                for execution in event.executions:
                    self._executions.append(execution)
                    self._trips.add(execution)
                    if execution.exec_type is ExecType.FUNDING:
                        self.funding += execution.exec_fee
                    else:
                        self.fees += execution.exec_fee
            elif isinstance(event, OrdersEvent):
                for order in event.orders:
                    self._orders[order.order_id] = order
            elif isinstance(event, PositionsEvent):
                for position in event.positions:
                    size = -position.size if position.side is PositionSide.SELL else position.size
                    if size:
                        self._sizes[position.symbol] = size
                    else:
                        self._sizes.pop(position.symbol, None)
                    self._positions.append(
                        PositionPoint(
                            event.ts_ms,
                            position.symbol,
                            size,
                            position.avg_price,
                            position.mark_price,
                            position.unrealised_pnl,
                            position.cum_realised_pnl,
                        )
                    )

    def sample(
        self, ts_ms: int, engine: MatchingEngine, uid: int, prices: Mapping[str, Decimal]
    ) -> EquityPoint:
        """Record the account's equity now: wallet and unrealised PnL (the engine's, exact) and the
        gross value of the open positions at `prices` (each symbol's last price)."""
        wallet = engine.wallet(uid, (self.settle_coin,)).coin(self.settle_coin)
        balance = wallet.wallet_balance if wallet is not None else _ZERO
        unrealised = wallet.unrealised_pnl if wallet is not None else _ZERO
        value = sum((abs(size) * prices.get(symbol, _ZERO) for symbol, size in self._sizes.items()), _ZERO)
        point = EquityPoint(ts_ms, balance, unrealised, value)
        if self._equity and self._equity[-1].ts_ms == ts_ms:
            self._equity[-1] = point
        else:
            self._equity.append(point)
            self.prices.record(ts_ms, prices)
        return point

    @property
    def last_equity(self) -> EquityPoint | None:
        """Return the latest equity sample."""
        return self._equity[-1] if self._equity else None

    @property
    def execution_count(self) -> int:
        """Return how many executions were booked."""
        return len(self._executions)

    def open_qty(self, symbol: str) -> Decimal:
        """Return the signed quantity of `symbol` still open in the round-trip lots."""
        return self._trips.open_qty(symbol)

    def ledger(self) -> Ledger:
        """Return the exact records booked so far."""
        orders = sorted(self._orders.values(), key=lambda o: (o.created_time_ms, o.updated_time_ms))
        return Ledger(
            orders=tuple(orders),
            executions=tuple(self._executions),
            trades=tuple(self._trips.round_trips()),
            equity=tuple(self._equity),
            positions=tuple(self._positions),
        )
