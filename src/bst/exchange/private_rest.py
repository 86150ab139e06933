"""Signed REST calls: orders, executions, positions, wallet, fees, leverage.

`BybitRestClient` is an `OrderGateway` (`bst.domain.ports`). Orders are validated and rounded
against the instrument before sending and always carry an `orderLinkId`. Each order request is sent
once: a lost reply raises with `outcome_unknown` True and is never resolved here (no lookup, no
re-send); the execution policy (`bst.trading.execution`) decides what to do about it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bst.bybit import endpoints as ep
from bst.bybit.codec import account as account_codec
from bst.bybit.codec import orders as order_codec
from bst.bybit.retcodes import RetCode
from bst.domain.errors import BybitAPIError, BybitInvalidParameterError, OrderValidationError
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.domain.order_rules import prepare_order
from bst.domain.orders import AmendRequest, Execution, Order, OrderAck, OrderFilter, OrderRequest
from bst.domain.portfolio import FeeRate, Position, WalletBalance
from bst.exchange.http import BybitHttp, Params

T = TypeVar("T")

MAX_PAGES = 200


class PrivateRestMixin:
    """Signed endpoints; mixed into `BybitRestClient` (needs `self.http`)."""

    http: BybitHttp

    # -- orders -----------------------------------------------------------------------------

    async def place_order(self, request: OrderRequest, instrument: Instrument | None = None) -> OrderAck:
        """Check and round `request` against `instrument` (if given), then send it once; return its ids.

        A lost reply (timeout, connection cut after sending, a server failure) raises with
        `outcome_unknown` True: the order may exist. Nothing is looked up or re-sent here;
        `bst.trading.execution` resolves it by orderLinkId.
        """
        prepared = prepare_order(request, instrument)
        body = order_codec.encode_order_request(prepared)
        env = await self.http.call(ep.ORDER_CREATE, body, repeat_safe=False)
        return order_codec.parse_ack(env.result)

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

    async def amend_order(self, request: AmendRequest) -> OrderAck:
        """Amend qty/price/TP/SL of an open order (by orderId, else orderLinkId); send it once."""
        if not request.order_id and not request.order_link_id:
            raise OrderValidationError("amend needs an orderId or an orderLinkId")
        body = order_codec.encode_amend_request(request)
        env = await self.http.call(ep.ORDER_AMEND, body, repeat_safe=False)
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
        """Cancel one open order (by orderId, else orderLinkId); send it once.

        A gone order raises `BybitOrderNotFoundError`; a lost reply raises with `outcome_unknown`.
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
        env = await self.http.call(ep.ORDER_CANCEL, params, repeat_safe=False)
        return order_codec.parse_ack(env.result)

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
        self, account_type: str = "UNIFIED", coins: Sequence[str] | None = None
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
