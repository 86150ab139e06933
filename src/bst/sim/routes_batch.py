"""Batch order endpoints of the simulator: create-batch, amend-batch, cancel-batch, item by item.

Each item is decoded by its single endpoint's decoder and executed by the same engine call as
`/v5/order/create`, `/amend`, `/cancel` would (one path), in request order, inside one desk step (the
market does not move between the items of one batch). The reply is Bybit's: `retCode` 0 once the
request as a whole is acceptable, then per item, in request order, `result.list[i]` and
`retExtInfo.list[i]` (`{code, msg}`: 0/"OK", or the code its single twin would have answered). A
refused item has `orderId` "" and keeps the `orderLinkId` it was sent with.

Refused as a whole (10001): no or an unknown category, `request` not a non-empty list of objects,
more items than the category allows (20 linear, 10 spot). Rate limit as Bybit counts batches: each
item takes one request from the batch endpoint's own per-second budget (not shared with the single
endpoints); items beyond what is left fail alone with 10006, and a batch with nothing left at all
gets 10006 as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit import endpoints
from bst.bybit.codec import params
from bst.bybit.codec.batch import OK_MSG, decode_batch, encode_batch_reply
from bst.bybit.codec.envelope import encode_envelope
from bst.bybit.codec.orders import decode_amend_request, decode_order_request
from bst.bybit.retcodes import RetCode
from bst.domain.batch import BatchItemResult
from bst.domain.errors import BybitAPIError
from bst.domain.market import Category
from bst.domain.orders import AmendRequest, OrderAck, OrderRequest
from bst.engine import MatchingEngine
from bst.sim.replies import RATE_LIMIT_MSG, json_response, rate_limited
from bst.sim.routes_account import AccountRoutes
from bst.sim.state import SimState
from bst.sim.trading_routes import GENERIC_PARAMS_MSG

JSON = dict[str, Any]
R = TypeVar("R")
_TRADED = (Category.LINEAR, Category.SPOT)


@dataclass(frozen=True, slots=True)
class CancelItem:
    """One item of a cancel batch (orderId wins over orderLinkId)."""

    category: Category
    symbol: str
    order_id: str
    order_link_id: str


def decode_cancel_item(body: JSON) -> CancelItem:
    """Return a cancel item, as `/v5/order/cancel` reads its body (10001 when malformed)."""
    order_id, link = params.text(body, "orderId"), params.text(body, "orderLinkId")
    if not order_id and not link:
        raise params.params_error("params error: orderId or orderLinkId is required")
    return CancelItem(Category(body["category"]), params.text(body, "symbol", required=True), order_id, link)


def _place(engine: MatchingEngine, uid: int, request: OrderRequest) -> OrderAck:
    return engine.place_order(uid, request)


def _amend(engine: MatchingEngine, uid: int, request: AmendRequest) -> OrderAck:
    return engine.amend_order(uid, request)


def _cancel(engine: MatchingEngine, uid: int, item: CancelItem) -> OrderAck:
    return engine.cancel_order(
        uid, item.category, item.symbol, order_id=item.order_id, order_link_id=item.order_link_id
    )


@dataclass(frozen=True, slots=True)
class _Item:
    """An item as sent (for its reply row) and what decoding it gave: a request, or a refusal."""

    symbol: str
    order_link_id: str
    request: Any = None
    code: int = 0
    message: str = OK_MSG


def _sent(body: JSON, name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _decode_items(bodies: Sequence[JSON], decode: Callable[[JSON], Any]) -> list[_Item]:
    items: list[_Item] = []
    for body in bodies:
        symbol, link = _sent(body, "symbol"), _sent(body, "orderLinkId")
        try:
            items.append(_Item(symbol, link, decode(body)))
        except BybitAPIError as e:
            items.append(_Item(symbol, link, None, e.ret_code or RetCode.PARAMS_ERROR, e.ret_msg))
        except (
            KeyError,
            ValueError,
            TypeError,
            ArithmeticError,
        ):  # a decoder let it through: still bad input
            items.append(_Item(symbol, link, None, RetCode.PARAMS_ERROR, GENERIC_PARAMS_MSG))
    return items


class BatchRoutes(AccountRoutes):
    """Handlers of the three batch endpoints."""

    async def create_batch(self, request: Request) -> Response:
        return await self._batch(
            request, endpoints.ORDER_CREATE_BATCH, decode_order_request, _place, creates=True
        )

    async def amend_batch(self, request: Request) -> Response:
        return await self._batch(
            request, endpoints.ORDER_AMEND_BATCH, decode_amend_request, _amend, creates=False
        )

    async def cancel_batch(self, request: Request) -> Response:
        return await self._batch(
            request, endpoints.ORDER_CANCEL_BATCH, decode_cancel_item, _cancel, creates=False
        )

    async def _batch(
        self,
        request: Request,
        endpoint: endpoints.Endpoint,
        decode: Callable[[JSON], Any],
        act: Callable[[MatchingEngine, int, Any], OrderAck],
        *,
        creates: bool,
    ) -> Response:
        def decode_request(payload: str) -> tuple[Category, list[_Item]]:
            category, bodies = decode_batch(params.decode_body(payload.encode()), _TRADED)
            return category, _decode_items(bodies, decode)

        admitted = await self._admitted(request, decode_request)
        if isinstance(admitted, Response):
            return admitted
        now_ms, uid, (category, items) = admitted
        decisions = [self.state.check_uid_limit(str(uid), endpoint.group, category) for _ in items]
        if not any(d.allowed for d in decisions):
            return rate_limited(decisions[-1], now_ms)
        items = [
            item
            if decision.allowed or item.code
            else _Item(item.symbol, item.order_link_id, None, RetCode.RATE_LIMIT, RATE_LIMIT_MSG)
            for item, decision in zip(items, decisions, strict=True)
        ]
        touch = sorted({(category, i.symbol) for i in items if i.request is not None})

        def work(engine: MatchingEngine) -> list[BatchItemResult]:
            return [self._one(engine, uid, category, item, act, creates) for item in items]

        results = await self._on_desk(work, touch)
        result, ext = encode_batch_reply(results, creates=creates)
        body = encode_envelope(result, now_ms, ret_ext_info=ext)
        return json_response(body, headers=decisions[-1].header_dict())

    @staticmethod
    def _one(
        engine: MatchingEngine,
        uid: int,
        category: Category,
        item: _Item,
        act: Callable[[MatchingEngine, int, Any], OrderAck],
        creates: bool,
    ) -> BatchItemResult:
        """Run one decoded item (or report its refusal) as its single endpoint would."""
        if item.request is None:
            return BatchItemResult(
                category, item.symbol, "", item.order_link_id, item.code, item.message, None
            )
        try:
            ack = act(engine, uid, item.request)
        except BybitAPIError as e:
            code = e.ret_code or RetCode.PARAMS_ERROR
            return BatchItemResult(category, item.symbol, "", item.order_link_id, code, e.ret_msg, None)
        created = engine.now_ms if creates else None
        return BatchItemResult(category, item.symbol, ack.order_id, ack.order_link_id, 0, OK_MSG, created)


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the batch order routes."""
    handlers = BatchRoutes(state)
    table: list[tuple[endpoints.Endpoint, Callable[[Request], Any]]] = [
        (endpoints.ORDER_CREATE_BATCH, handlers.create_batch),
        (endpoints.ORDER_AMEND_BATCH, handlers.amend_batch),
        (endpoints.ORDER_CANCEL_BATCH, handlers.cancel_batch),
    ]
    return [Route(e.path, endpoint, methods=[e.method]) for e, endpoint in table]
