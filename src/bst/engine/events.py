"""The engine's outbox: the private stream's own account events, addressed to their account.

The engine speaks the vocabulary the private stream delivers (`bst.domain.account_events`), so a
strategy cannot tell a backtest from a live account: each `AccountMessage` carries one
`OrdersEvent`, `ExecutionsEvent`, `PositionsEvent` or `WalletsEvent` for the account `uid`, with
`source` STREAM and `ts_ms` = `recv_ms` = the engine time it happened.

Order, as the engine guarantees it: for each matching step an account sees its executions, then the
order's new state; position and wallet updates follow once per action (a request, a market-data
event, a clock advance with its funding settlements and latency arrivals), in that order.

Grouping, as Bybit groups a private message (one topic per message, `data` a list): items of one
kind that follow each other in one account's own sequence, at the same engine time within one
action, form one event (a taker that walks three levels: one `ExecutionsEvent` with three
executions, then one `OrdersEvent`; another account's fill in between does not split them, as each
account has its own stream). Another kind, another instant or the end of the action starts a new
event. Messages of different accounts interleave in the outbox in the order they were opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from bst.domain.account_events import (
    AccountEventSource,
    AccountStateEvent,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    WalletsEvent,
)
from bst.domain.orders import Execution, Order
from bst.domain.portfolio import Position, WalletBalance

_STREAM = AccountEventSource.STREAM
Item = TypeVar("Item", Order, Execution, Position, WalletBalance)


@dataclass(frozen=True, slots=True)
class AccountMessage:
    """One private-stream message for account `uid`: what the sim pushes and a backtest reads."""

    uid: int
    event: AccountStateEvent


class _Draft(Generic[Item]):
    """An event still being filled: the items of one kind, account and instant."""

    __slots__ = ("items", "ts_ms", "uid")

    def __init__(self, uid: int, ts_ms: int) -> None:
        self.uid = uid
        self.ts_ms = ts_ms
        self.items: list[Item] = []

    def freeze(self) -> AccountStateEvent:
        """Return the finished domain event."""
        raise NotImplementedError


class _Orders(_Draft[Order]):
    __slots__ = ()

    def freeze(self) -> AccountStateEvent:
        return OrdersEvent(tuple(self.items), _STREAM, self.ts_ms, self.ts_ms)


class _Executions(_Draft[Execution]):
    __slots__ = ()

    def freeze(self) -> AccountStateEvent:
        return ExecutionsEvent(tuple(self.items), _STREAM, self.ts_ms, self.ts_ms)


class _Positions(_Draft[Position]):
    __slots__ = ()

    def freeze(self) -> AccountStateEvent:
        return PositionsEvent(tuple(self.items), _STREAM, self.ts_ms, self.ts_ms)


class _Wallets(_Draft[WalletBalance]):
    __slots__ = ()

    def freeze(self) -> AccountStateEvent:
        return WalletsEvent(tuple(self.items), _STREAM, self.ts_ms, self.ts_ms)


Draft = TypeVar("Draft", _Orders, _Executions, _Positions, _Wallets)


class Outbox:
    """Account events in the order they happened, grouped into messages (see the module docstring)."""

    __slots__ = ("_drafts", "_open")

    def __init__(self) -> None:
        self._drafts: list[_Orders | _Executions | _Positions | _Wallets] = []
        self._open: dict[int, _Orders | _Executions | _Positions | _Wallets] = {}
        """Each account's newest draft in the current action: the one an item of its kind joins."""

    def order(self, uid: int, order: Order, now_ms: int) -> None:
        """Queue an order's new state."""
        self._draft(uid, _Orders, now_ms).items.append(order)

    def execution(self, uid: int, execution: Execution, now_ms: int) -> None:
        """Queue a fill or a funding settlement."""
        self._draft(uid, _Executions, now_ms).items.append(execution)

    def position(self, uid: int, position: Position, now_ms: int) -> None:
        """Queue a position's new state."""
        self._draft(uid, _Positions, now_ms).items.append(position)

    def wallet(self, uid: int, wallet: WalletBalance, now_ms: int) -> None:
        """Queue the account's new balances."""
        self._draft(uid, _Wallets, now_ms).items.append(wallet)

    def end_action(self) -> None:
        """Close every open message: what comes next belongs to another action."""
        self._open.clear()

    def drain(self) -> list[AccountMessage]:
        """Return every message since the last drain, oldest first, and clear the outbox."""
        drafts, self._drafts = self._drafts, []
        self._open.clear()
        return [AccountMessage(d.uid, d.freeze()) for d in drafts]

    def _draft(self, uid: int, kind: type[Draft], now_ms: int) -> Draft:
        draft = self._open.get(uid)
        if isinstance(draft, kind) and draft.ts_ms == now_ms:
            return draft
        fresh = kind(uid, now_ms)
        self._drafts.append(fresh)
        self._open[uid] = fresh
        return fresh
