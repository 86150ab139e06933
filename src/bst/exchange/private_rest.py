"""Signed REST calls: orders, executions, positions, wallet, fees, leverage.

Orders are validated and rounded against the instrument before sending, always carry an
`orderLinkId`, and are never re-sent blindly: when a create's reply is lost, the order is looked up
by its `orderLinkId` first, and only re-sent (same id, so the exchange refuses a duplicate) when the
exchange has no trace of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import structlog

from bst.bybit import endpoints as ep
from bst.bybit.codec import account as account_codec
from bst.bybit.codec import orders as order_codec
from bst.bybit.retcodes import RetCode
from bst.domain.errors import (
    BybitAPIError,
    BybitDuplicateOrderError,
    BybitInvalidParameterError,
    BybitOrderNotFoundError,
    OrderValidationError,
)
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.order_rules import prepare_order
from bst.domain.orders import (
    AmendRequest,
    Execution,
    Order,
    OrderAck,
    OrderFilter,
    OrderRequest,
    OrderStatus,
)
from bst.domain.portfolio import FeeRate, Position, WalletBalance
from bst.exchange.http import BybitHttp, Params

log = structlog.get_logger(__name__)
T = TypeVar("T")

CANCELLED_STATUSES = frozenset(
    {OrderStatus.CANCELLED, OrderStatus.PARTIALLY_FILLED_CANCELED, OrderStatus.DEACTIVATED}
)
"""What a cancelled order reports (`Deactivated`: a conditional order cancelled before it triggered)."""
MAX_PAGES = 200


class PrivateRestMixin:
    """Signed endpoints; mixed into `BybitRestClient` (needs `self.http`)."""

    http: BybitHttp

    # -- orders -----------------------------------------------------------------------------

    async def place_order(self, req: OrderRequest, instrument: Instrument | None = None) -> OrderAck:
        """Validate, round and place an order; resolve a lost reply by orderLinkId, never duplicate."""
        prepared = prepare_order(req, instrument)
        body = order_codec.encode_order_request(prepared)
        unknown_before = False
        for _ in range(3):
            try:
                env = await self.http.call(ep.ORDER_CREATE, body, repeat_safe=False)
                return order_codec.parse_ack(env.result)
            except BybitAPIError as e:
                if unknown_before and isinstance(e, BybitDuplicateOrderError):
                    # Our earlier, unanswered attempt did reach the exchange after all.
                    found = await self.find_order(prepared.category, prepared.symbol, prepared.order_link_id)
                    if found is not None:
                        return OrderAck(found.order_id, found.order_link_id)
                if unknown_before and not e.outcome_unknown:
                    # The resend was refused, but the first attempt may yet surface (the exchange's
                    # order lists can lag): the refusal does not settle what happened to the order.
                    raise BybitAPIError(
                        f"order {prepared.order_link_id}: a reply was lost and the resend failed ({e}); "
                        "query it by orderLinkId before placing it again",
                        ret_code=e.ret_code,
                        outcome_unknown=True,
                    ) from e
                if not e.outcome_unknown:
                    raise
                unknown_before = True
                log.warning("order.outcome_unknown", order_link_id=prepared.order_link_id, error=str(e))
                found = await self.find_order(prepared.category, prepared.symbol, prepared.order_link_id)
                if found is not None:
                    return OrderAck(found.order_id, found.order_link_id)
        raise BybitAPIError(
            f"order {prepared.order_link_id} could not be confirmed after 3 attempts; "
            "query it by orderLinkId before placing it again",
            outcome_unknown=True,
        )

    async def find_order(
        self, category: Category, symbol: str, order_link_id: str = "", *, order_id: str = ""
    ) -> Order | None:
        """Return the order with `order_link_id` (or `order_id`): open, recently closed or in history."""
        ids: Params = {"order_link_id": order_link_id or None, "order_id": order_id or None}
        for open_only in (0, 1):
            found = await self.get_open_orders(category, symbol=symbol, open_only=open_only, **ids)
            if found:
                return found[0]
        history = await self.get_order_history(category, symbol=symbol, **ids)
        return history[0] if history else None

    async def amend_order(self, req: AmendRequest) -> OrderAck:
        """Amend qty/price/TP/SL of an open order (by orderId, else orderLinkId)."""
        if not req.order_id and not req.order_link_id:
            raise OrderValidationError("amend needs an orderId or an orderLinkId")
        env = await self.http.call(ep.ORDER_AMEND, order_codec.encode_amend_request(req), repeat_safe=False)
        return order_codec.parse_ack(env.result)

    async def cancel_order(
        self,
        category: Category,
        symbol: str,
        *,
        order_id: str = "",
        order_link_id: str = "",
        order_filter: OrderFilter | None = None,
    ) -> OrderAck:
        """Cancel one open order (by orderId, else orderLinkId); a lost reply is resolved by looking it up.

        Spot finds a conditional or TP/SL order only with its `order_filter` (StopOrder, tpslOrder).
        """
        if not order_id and not order_link_id:
            raise OrderValidationError("cancel needs an orderId or an orderLinkId")
        params: Params = {
            "category": category.value,
            "symbol": symbol,
            "orderId": order_id or None,
            "orderLinkId": order_link_id or None,
            "orderFilter": order_filter.value if order_filter else None,
        }
        unknown_before = False
        for _ in range(3):
            try:
                env = await self.http.call(ep.ORDER_CANCEL, params, repeat_safe=False)
                return order_codec.parse_ack(env.result)
            except BybitAPIError as e:
                if not e.outcome_unknown and not (unknown_before and isinstance(e, BybitOrderNotFoundError)):
                    raise  # a plain refusal, e.g. cancelling an order that is already closed
                unknown_before = True
                # The reply was lost (or the repeat found the order gone): ask what became of it.
                found = await self.find_order(category, symbol, order_link_id, order_id=order_id)
                if found is not None and found.status in CANCELLED_STATUSES:
                    return OrderAck(found.order_id, found.order_link_id)
                if found is None or not found.status.is_open:
                    raise
        raise BybitAPIError(
            f"cancel of {order_id or order_link_id} could not be confirmed after 3 attempts; query the order",
            outcome_unknown=True,
        )

    async def cancel_all_orders(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OrderAck]:
        """Cancel every open order of a symbol (or settle coin); return what was cancelled."""
        if category in (Category.LINEAR, Category.INVERSE) and not symbol and not settle_coin:
            settle_coin = "USDT" if category is Category.LINEAR else None
            if settle_coin is None:
                raise OrderValidationError("inverse cancel-all needs a symbol or a settle coin")
        params: Params = {"category": category.value, "symbol": symbol, "settleCoin": settle_coin}
        env = await self.http.call(ep.ORDER_CANCEL_ALL, params, repeat_safe=True)
        return [order_codec.parse_ack(i) for i in env.result.get("list") or []]

    # -- queries ----------------------------------------------------------------------------

    async def _paged(
        self, endpoint: ep.Endpoint, params: Params, parse: Callable[[dict[str, Any]], T]
    ) -> list[T]:
        items: list[T] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            env = await self.http.call(endpoint, {**params, "cursor": cursor or None})
            items.extend(parse(i) for i in env.result.get("list") or [])
            cursor = str(env.result.get("nextPageCursor") or "")
            if not cursor or not env.result.get("list"):
                return items
        raise BybitInvalidParameterError(f"{endpoint.path}: more than {MAX_PAGES} pages; narrow the query")

    async def get_open_orders(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        settle_coin: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        open_only: int = 0,
    ) -> list[Order]:
        """Return open orders (openOnly=0) or recently closed ones (openOnly=1), all pages."""
        if category is Category.LINEAR and not symbol and not settle_coin:
            settle_coin = "USDT"
        params: Params = {
            "category": category.value,
            "symbol": symbol,
            "settleCoin": settle_coin,
            "orderId": order_id,
            "orderLinkId": order_link_id,
            "openOnly": open_only,
            "limit": 50,
        }
        return await self._paged(ep.ORDER_REALTIME, params, lambda i: order_codec.parse_order(i, category))

    async def get_order_history(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Order]:
        """Return closed orders (newest first), all pages."""
        params = _window_params(category, symbol, order_id, order_link_id, start_ms, end_ms, limit=50)
        return await self._paged(ep.ORDER_HISTORY, params, lambda i: order_codec.parse_order(i, category))

    async def get_executions(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Execution]:
        """Return executions (newest first), all pages."""
        params = _window_params(category, symbol, order_id, order_link_id, start_ms, end_ms, limit=100)
        return await self._paged(
            ep.EXECUTION_LIST, params, lambda i: order_codec.parse_execution(i, category)
        )

    async def get_positions(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[Position]:
        """Return positions of a symbol (flat included) or all non-zero ones of a settle coin."""
        if not symbol and not settle_coin:
            settle_coin = "USDT"
        params: Params = {
            "category": category.value,
            "symbol": symbol,
            "settleCoin": settle_coin,
            "limit": 200,
        }
        return await self._paged(
            ep.POSITION_LIST, params, lambda i: account_codec.parse_position(i, category)
        )

    async def get_wallet_balance(
        self, account_type: str = "UNIFIED", coins: list[str] | None = None
    ) -> WalletBalance:
        """Return the account's balances (zero balances omitted unless named in `coins`)."""
        params: Params = {"accountType": account_type, "coin": ",".join(coins) if coins else None}
        env = await self.http.call(ep.WALLET_BALANCE, params)
        wallets = account_codec.parse_wallets(env.result)
        if not wallets:
            raise BybitAPIError(f"no {account_type} account in the wallet-balance reply")
        return wallets[0]

    async def get_fee_rates(self, category: Category, symbol: str | None = None) -> list[FeeRate]:
        """Return the account's maker/taker fee rates."""
        env = await self.http.call(ep.FEE_RATE, {"category": category.value, "symbol": symbol})
        return account_codec.parse_fee_rates(env.result)

    async def set_leverage(self, category: Category, symbol: str, leverage: str) -> bool:
        """Set both sides' leverage; return False when it already had that value (110043)."""
        params: Params = {
            "category": category.value,
            "symbol": symbol,
            "buyLeverage": leverage,
            "sellLeverage": leverage,
        }
        try:
            await self.http.call(ep.SET_LEVERAGE, params, repeat_safe=True)
        except BybitAPIError as e:
            if e.ret_code == RetCode.LEVERAGE_NOT_MODIFIED:
                return False
            raise
        return True


def _window_params(
    category: Category,
    symbol: str | None,
    order_id: str | None,
    order_link_id: str | None,
    start_ms: int | None,
    end_ms: int | None,
    *,
    limit: int,
) -> Params:
    """Return the query of the history-style endpoints (order history, executions)."""
    return {
        "category": category.value,
        "symbol": symbol,
        "orderId": order_id,
        "orderLinkId": order_link_id,
        "startTime": start_ms,
        "endTime": end_ms,
        "limit": limit,
    }
