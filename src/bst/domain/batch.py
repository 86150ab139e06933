"""Batch order requests: one outcome per item, in request order."""

from __future__ import annotations

from dataclasses import dataclass

from bst.domain.market import Category


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """The outcome of one item of a batch create/amend/cancel.

    `code` 0 means the item was accepted (its ids are set; `created_ms` only for creates); any other
    code is Bybit's retCode for that item alone (110001, 10001, 10006, ...) with its `message`, and
    `order_id` is then "". A batch whose items fail is still an answered request: check every item.
    """

    category: Category
    symbol: str
    order_id: str
    order_link_id: str
    code: int
    message: str
    created_ms: int | None = None

    @property
    def ok(self) -> bool:
        """Return whether the item was accepted."""
        return self.code == 0


@dataclass(frozen=True, slots=True)
class CancelRef:
    """One order to cancel in a batch: its symbol and its orderId (wins) or orderLinkId."""

    symbol: str
    order_id: str = ""
    order_link_id: str = ""


__all__ = ["BatchItemResult", "CancelRef"]
