"""Signed REST calls beyond single orders: batch orders, closed PnL, the transaction log.

Mixed into `BybitRestClient` (needs `self.http` and the `_paged` reader of `PrivateRestMixin`).
A batch is one request: its reply judges every item apart (`BatchItemResult.code`, 0 = accepted),
and a lost reply raises with `outcome_unknown` for the whole batch (each order may or may not
exist; look them up by the orderLinkId every created item carries). The client paces a batch as one
request of the batch group; Bybit counts each item, and its `X-Bapi-Limit-Status` corrects the
client's budget after the reply (items beyond the budget come back with code 10006).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from bst.bybit import endpoints as ep
from bst.bybit.codec import batch as batch_codec
from bst.bybit.codec import ledger as ledger_codec
from bst.domain.batch import BatchItemResult, CancelRef
from bst.domain.errors import OrderValidationError
from bst.domain.instrument import Instrument
from bst.domain.ledger import ClosedPnl, Transaction, TransactionType
from bst.domain.market import Category
from bst.domain.order_rules import prepare_order
from bst.domain.orders import AmendRequest, OrderRequest
from bst.exchange.http import BybitHttp, Params

T = TypeVar("T")


def _check_batch(category: Category, count: int) -> None:
    most = ep.BATCH_MAX_ITEMS.get(category)
    if most is None:
        raise OrderValidationError(
            f"batch orders exist for linear, inverse, option and spot, not {category.value}"
        )
    if not 1 <= count <= most:
        raise OrderValidationError(f"a {category.value} batch carries 1 to {most} orders, got {count}")


def _one_category(categories: set[Category]) -> Category:
    if len(categories) != 1:
        raise OrderValidationError("a batch carries orders of one category")
    return next(iter(categories))


class AccountRestMixin:
    """Batch orders and the account's books; mixed into `BybitRestClient`."""

    http: BybitHttp

    async def _paged(
        self, endpoint: ep.Endpoint, params: Params, parse: Callable[[dict[str, Any]], T]
    ) -> list[T]:
        raise NotImplementedError  # PrivateRestMixin's reader

    # -- batches ----------------------------------------------------------------------------------

    async def place_batch_orders(
        self, requests: Sequence[OrderRequest], instruments: Mapping[str, Instrument] | None = None
    ) -> list[BatchItemResult]:
        """Check, round and send up to 20 (spot 10) orders of one category in one request.

        Each order is prepared as `place_order` prepares it (rounded to its instrument when given,
        always with an orderLinkId); the results come back in request order, refused items with
        Bybit's code. A lost reply raises with `outcome_unknown`: resolve each item by orderLinkId.
        """
        category = _one_category({r.category for r in requests}) if requests else Category.LINEAR
        _check_batch(category, len(requests))
        prepared = [prepare_order(r, (instruments or {}).get(r.symbol)) for r in requests]
        env = await self.http.call(
            ep.ORDER_CREATE_BATCH, batch_codec.encode_batch_create(prepared), repeat_safe=False
        )
        return batch_codec.parse_batch_reply(env.result, env.ret_ext_info, category)

    async def amend_batch_orders(self, requests: Sequence[AmendRequest]) -> list[BatchItemResult]:
        """Amend up to 20 (spot 10) open orders of one category in one request; results in order."""
        category = _one_category({r.category for r in requests}) if requests else Category.LINEAR
        _check_batch(category, len(requests))
        if any(not r.order_id and not r.order_link_id for r in requests):
            raise OrderValidationError("every amend needs an orderId or an orderLinkId")
        body = batch_codec.encode_batch_amend(requests)
        env = await self.http.call(ep.ORDER_AMEND_BATCH, body, repeat_safe=False)
        return batch_codec.parse_batch_reply(env.result, env.ret_ext_info, category)

    async def cancel_batch_orders(
        self, category: Category, orders: Sequence[CancelRef]
    ) -> list[BatchItemResult]:
        """Cancel up to 20 (spot 10) orders in one request; a gone order is its item's 110001/170213."""
        _check_batch(category, len(orders))
        if any(not o.order_id and not o.order_link_id for o in orders):
            raise OrderValidationError("every cancel needs an orderId or an orderLinkId")
        body = batch_codec.encode_batch_cancel(category, orders)
        env = await self.http.call(ep.ORDER_CANCEL_BATCH, body, repeat_safe=False)
        return batch_codec.parse_batch_reply(env.result, env.ret_ext_info, category)

    # -- books ------------------------------------------------------------------------------------

    async def get_closed_pnl(
        self,
        category: Category = Category.LINEAR,
        *,
        symbol: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[ClosedPnl]:
        """Return closed-PnL records (newest first), all pages; the window is at most 7 days."""
        params: Params = {
            "category": category.value,
            "symbol": symbol,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": ep.CLOSED_PNL_MAX_LIMIT,
        }
        return await self._paged(ep.CLOSED_PNL, params, lambda i: ledger_codec.parse_closed_pnl(i, category))

    async def get_transaction_log(
        self,
        *,
        category: Category | None = None,
        currency: str | None = None,
        kind: TransactionType | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Transaction]:
        """Return the unified account's transaction log (newest first), all pages (default: 24 h)."""
        params: Params = {
            "accountType": "UNIFIED",
            "category": category.value if category else None,
            "currency": currency,
            "type": kind.value if kind else None,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": ep.TRANSACTION_LOG_MAX_LIMIT,
        }
        return await self._paged(ep.TRANSACTION_LOG, params, ledger_codec.parse_transaction)
