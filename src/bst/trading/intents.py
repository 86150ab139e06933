"""What a strategy decided: order intents with deterministic orderLinkIds, queued until sent.

A strategy's callbacks never send anything. The context validates each request against the
instrument, gives it the next id of the run (`OrderIds`), and queues an intent; the runtime sends
the queue through the execution policy after the callback has returned. The same inputs therefore
give the same intents, with the same ids and times, in a backtest and live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bst.domain.errors import BstError, ConfigError
from bst.domain.market import Category
from bst.domain.orders import ORDER_LINK_ID_MAX_LEN, AmendRequest, OrderRequest
from bst.trading.execution import Resolution

__all__ = [
    "MAX_TAG_LEN",
    "AmendIntent",
    "CancelAllIntent",
    "CancelIntent",
    "Intent",
    "IntentResult",
    "OrderIds",
    "SubmitIntent",
]

MAX_TAG_LEN = 24
"""Longest run tag: `tag-` plus up to 11 digits of sequence stays within Bybit's 36 characters."""
_MAX_SEQ = 10 ** (ORDER_LINK_ID_MAX_LEN - MAX_TAG_LEN - 1) - 1
_TAG = re.compile(rf"[A-Za-z0-9_]{{1,{MAX_TAG_LEN}}}")


class OrderIds:
    """Deterministic orderLinkIds of one run: `{tag}-{seq}`, seq counting up from `first`.

    The same tag and the same decisions give the same ids. A live run needs a tag no earlier run on
    the account used (Bybit refuses a reused orderLinkId); a backtest may reuse its tag freely.
    """

    def __init__(self, tag: str, first: int = 1) -> None:
        if _TAG.fullmatch(tag) is None:
            raise ConfigError(
                f"invalid run tag {tag!r}: use 1-{MAX_TAG_LEN} letters, digits or '_' (it prefixes "
                "every orderLinkId of the run)"
            )
        if not 1 <= first <= _MAX_SEQ:
            raise ConfigError(f"the first order sequence number must be in [1, {_MAX_SEQ}], got {first}")
        self.tag = tag
        self._next = first

    @property
    def next_seq(self) -> int:
        """Return the sequence number the next id will carry."""
        return self._next

    def peek(self) -> str:
        """Return the id the next `take()` will return, without using it."""
        if self._next > _MAX_SEQ:
            raise BstError(f"run {self.tag} has used all {_MAX_SEQ} order ids; start a run with a new tag")
        return f"{self.tag}-{self._next}"

    def take(self) -> str:
        """Return the next id and move past it."""
        link = self.peek()
        self._next += 1
        return link

    def rewind(self, seq: int) -> None:
        """Move back to `seq` (ids taken since were never sent: their callback failed)."""
        self._next = min(self._next, seq)


@dataclass(frozen=True, slots=True)
class SubmitIntent:
    """Place `request` (on the instrument's grid, orderLinkId assigned)."""

    request: OrderRequest
    at_ms: int
    """The strategy's time when it decided (`ctx.now_ms`)."""
    trace_id: str

    @property
    def order_link_id(self) -> str:
        """Return the id of the order this intent places."""
        return self.request.order_link_id


@dataclass(frozen=True, slots=True)
class AmendIntent:
    """Amend an order of this run (values absolute, on the grid)."""

    request: AmendRequest
    at_ms: int
    trace_id: str

    @property
    def order_link_id(self) -> str:
        """Return the id of the order this intent amends."""
        return self.request.order_link_id


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """Cancel one order of this run."""

    category: Category
    symbol: str
    order_link_id: str
    at_ms: int
    trace_id: str


@dataclass(frozen=True, slots=True)
class CancelAllIntent:
    """Cancel every open order of `symbol` (those of other runs on the account included)."""

    category: Category
    symbol: str
    at_ms: int
    trace_id: str

    @property
    def order_link_id(self) -> str:
        """Return "" (a cancel-all names no order)."""
        return ""


Intent = SubmitIntent | AmendIntent | CancelIntent | CancelAllIntent
"""Anything a strategy can ask of the venue."""


@dataclass(frozen=True, slots=True)
class IntentResult:
    """What became of one sent intent.

    Invariant: `error` is None exactly when `resolution` is DONE. UNKNOWN means the venue may have
    acted (the tracker keeps the order UNKNOWN until the account feed or a lookup tells).
    """

    intent: Intent
    resolution: Resolution
    order_id: str = ""
    error: BstError | None = None

    @property
    def ok(self) -> bool:
        """Return whether the venue did what was asked."""
        return self.resolution is Resolution.DONE

    @property
    def reason(self) -> str:
        """Return one line on why the intent failed ("" when it did not)."""
        return str(self.error) if self.error is not None else ""
