"""The engine's mutable state in one place: symbols, accounts, open orders, time, ids and the outbox."""

from __future__ import annotations

import hashlib
import heapq
from decimal import Decimal
from typing import Any, NoReturn

from bst.bybit.errors import error_for_code
from bst.domain.market import Category
from bst.domain.orders import Execution, TriggerBy
from bst.engine.accounts import (
    COLLATERAL_COINS,
    Account,
    margin_summary,
    position_snapshot,
    wallet_snapshot,
)
from bst.engine.book import LiquidityBook
from bst.engine.config import EngineConfig, SymbolSpec
from bst.engine.events import AccountMessage, Outbox
from bst.engine.ids import IdFactory
from bst.engine.triggers import TriggerBook
from bst.engine.working import RestingSide, WorkingOrder

_ONE = Decimal(1)


def fail(ret_code: int, ret_msg: str) -> NoReturn:
    """Raise the error the Bybit client would raise for this retCode (the server maps it back)."""
    raise error_for_code(ret_code, ret_msg)


class SymbolState:
    """One symbol's market: external book, resting user orders, prices and the funding clock."""

    __slots__ = (
        "awaiting_print",
        "book",
        "buys",
        "checked_last",
        "checked_reference",
        "funding_rate",
        "holders",
        "index_price",
        "last_price",
        "mark",
        "next_funding_ms",
        "sells",
        "spec",
        "triggers",
    )

    def __init__(self, spec: SymbolSpec) -> None:
        self.spec = spec
        self.book = LiquidityBook()
        self.buys = RestingSide(is_buy=True)
        self.sells = RestingSide(is_buy=False)
        self.last_price: Decimal | None = None
        self.mark: Decimal | None = None
        self.index_price: Decimal | None = None
        self.funding_rate: Decimal | None = None
        self.next_funding_ms: int | None = None
        self.checked_last: Decimal | None = None
        self.checked_reference: Decimal | None = None
        """Last and reference price at the last TP/SL and liquidation checks."""
        self.holders: dict[int, None] = {}
        """Accounts with a non-zero position here (insertion-ordered set)."""
        self.awaiting_print: list[WorkingOrder] = []
        """Takers waiting for the next print (`BarFill.NEXT_PRINT`), in arrival order."""
        self.triggers = TriggerBook()
        """Untriggered conditional orders, by the price they watch."""

    @property
    def is_linear(self) -> bool:
        """Return whether the symbol is a linear contract."""
        return self.spec.category is Category.LINEAR

    def resting(self, is_buy: bool) -> RestingSide:
        """Return the resting orders of one side."""
        return self.buys if is_buy else self.sells

    def watched_price(self, by: TriggerBy) -> Decimal | None:
        """Return the price a conditional order watching `by` compares with its trigger.

        Last price is the last public trade; mark is the mark price (else last trade, else mid, as
        everywhere in the engine); index is the index price when one was fed, else the mark. Spot
        orders always watch the last price.
        """
        if by is TriggerBy.LAST_PRICE or not self.is_linear:
            return self.last_price
        if by is TriggerBy.INDEX_PRICE and self.index_price is not None:
            return self.index_price
        return self.reference_price()

    def reference_price(self) -> Decimal | None:
        """Return the price market orders are protected around: mark, else last trade, else mid."""
        if self.mark is not None:
            return self.mark
        if self.last_price is not None:
            return self.last_price
        return self.book.mid_price()


class Venue:
    """Everything the engine mutates; implements `MarketView` for account arithmetic."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.now_ms = 0
        self.started = False
        self.ids = IdFactory(config.seed)
        self.priority = 0
        self.exec_seq = 0
        self.request_seq = 0
        self.symbols: dict[tuple[Category, str], SymbolState] = {}
        self.accounts: dict[int, Account] = {}
        self.orders: dict[str, WorkingOrder] = {}
        """Every open order of every account, by orderId."""
        self.pending: list[tuple[int, int, str, dict[str, Any]]] = []
        """Heap of (arrival ms, request seq, action, arguments) still travelling to the book."""
        self.outbox = Outbox()
        self.funding_due_ms: int | None = None
        """The earliest funding time of any symbol (cached for the clock's fast path)."""
        self._dirty: dict[int, dict[str, None]] = {}

    def refresh_funding_due(self) -> None:
        """Recompute the earliest funding time after a symbol's schedule changed."""
        times = [s.next_funding_ms for s in self.symbols.values() if s.next_funding_ms is not None]
        self.funding_due_ms = min(times) if times else None

    # --- MarketView ---------------------------------------------------------------------------

    def spec(self, symbol: str) -> SymbolSpec:
        """Return a linear symbol's spec."""
        return self.symbols[(Category.LINEAR, symbol)].spec

    def mark_price(self, symbol: str) -> Decimal | None:
        """Return a linear symbol's mark price: explicit, else last trade, else mid."""
        return self.symbols[(Category.LINEAR, symbol)].reference_price()

    def usd_price(self, coin: str) -> Decimal | None:
        """Return 1 for collateral coins, the spot COINUSDT price for others, else None."""
        if coin in COLLATERAL_COINS:
            return _ONE
        state = self.symbols.get((Category.SPOT, f"{coin}USDT"))
        if state is None:
            return None
        return state.reference_price()

    def sym_of(self, order: WorkingOrder) -> SymbolState:
        """Return the market an order trades on."""
        return self.symbols[(order.category, order.symbol)]

    # --- counters -----------------------------------------------------------------------------

    def next_priority(self) -> int:
        """Return the next time-priority number."""
        self.priority += 1
        return self.priority

    def next_exec_seq(self) -> int:
        """Return the next execution/position sequence number (Bybit's `seq`)."""
        self.exec_seq += 1
        return self.exec_seq

    def new_order_id(self, category: Category) -> str:
        """Return a fresh orderId shaped like Bybit's for the category."""
        return self.ids.next_numeric() if category is Category.SPOT else self.ids.next_uuid()

    def delay_ms(self) -> int:
        """Return this request's latency (constant plus seeded jitter)."""
        latency = self.config.latency
        self.request_seq += 1
        if latency.jitter_ms <= 0:
            return latency.order_ms
        digest = hashlib.blake2b(f"{self.config.seed}:lat:{self.request_seq}".encode(), digest_size=8)
        return latency.order_ms + int.from_bytes(digest.digest(), "big") % (latency.jitter_ms + 1)

    def schedule(self, action: str, arguments: dict[str, Any]) -> None:
        """Queue an action to reach the book after the latency."""
        heapq.heappush(self.pending, (self.now_ms + self.delay_ms(), self.request_seq, action, arguments))

    # --- events and history -------------------------------------------------------------------

    def emit_order(self, order: WorkingOrder) -> None:
        """Queue an order update (when events are on)."""
        if self.config.emit_events:
            self.outbox.order(order.uid, order.snapshot(), self.now_ms)

    def record_execution(self, account: Account, execution: Execution) -> None:
        """Store an execution in the account's history and queue its update."""
        account.executions.append(execution)
        limit = self.config.max_executions
        if len(account.executions) > limit + limit // 4:
            del account.executions[: len(account.executions) - limit]
        if self.config.emit_events:
            self.outbox.execution(account.uid, execution, self.now_ms)

    def archive(self, order: WorkingOrder) -> None:
        """Move a closed order from the open set to the account's closed history."""
        account = self.accounts[order.uid]
        account.remove_open(order)
        self.orders.pop(order.order_id, None)
        account.closed[order.order_id] = order.snapshot()
        limit = self.config.max_closed_orders
        if len(account.closed) > limit + limit // 4:
            for order_id in list(account.closed)[: len(account.closed) - limit]:
                del account.closed[order_id]

    def touch(self, uid: int, symbol: str | None = None) -> None:
        """Mark an account's wallet (and a linear symbol's position) as changed."""
        symbols = self._dirty.setdefault(uid, {})
        if symbol is not None:
            symbols[symbol] = None

    def flush(self) -> None:
        """End the action: queue the position and wallet updates of every account touched since."""
        dirty, self._dirty = self._dirty, {}
        if not self.config.emit_events:
            return
        outbox = self.outbox
        now_ms = self.now_ms
        for uid, symbols in dirty.items():
            account = self.accounts[uid]
            summary = margin_summary(account, self)
            for symbol in symbols:
                outbox.position(uid, position_snapshot(account, symbol, self, summary), now_ms)
            outbox.wallet(uid, wallet_snapshot(account, self, summary=summary), now_ms)
        outbox.end_action()

    def drain(self) -> list[AccountMessage]:
        """Return and clear the outbox."""
        return self.outbox.drain()
