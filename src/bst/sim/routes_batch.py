"""Batch order endpoints of the simulator: create-batch, amend-batch, cancel-batch, item by item.

Each item is decoded into its single endpoint's command by the same function (`place_command`,
`amend_command`, `cancel_command`) and run by that command on the engine, in request order, as one
journaled `BatchOrders` command (one desk step: the market does not move between the items of one
batch; the reply waits until the batch is durable). The reply is Bybit's: `retCode` 0 once the
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
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit import endpoints
from bst.bybit.codec import params
from bst.bybit.codec.batch import OK_MSG, decode_batch, encode_batch_reply
from bst.bybit.codec.envelope import encode_envelope
from bst.bybit.retcodes import RetCode
from bst.domain.batch import BatchItemResult
from bst.domain.errors import BybitAPIError
from bst.domain.market import Category
from bst.sim.replies import RATE_LIMIT_MSG, error, json_response, rate_limited
from bst.sim.routes_account import AccountRoutes
from bst.sim.state import SimState
from bst.sim.trading_commands import AmendOrder, BatchOrders, CancelOrder, PlaceOrder
from bst.sim.trading_routes import GENERIC_PARAMS_MSG, amend_command, cancel_command, place_command

JSON = dict[str, Any]
Item = PlaceOrder | AmendOrder | CancelOrder
_TRADED = (Category.LINEAR, Category.SPOT)


@dataclass(frozen=True, slots=True)
class _Sent:
    """An item as sent (for its reply row) and what decoding it gave: a command, or a refusal."""

    symbol: str
    order_link_id: str
    command: Item | None = None
    code: int = 0
    message: str = OK_MSG


def _text(body: JSON, name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _decode_items(bodies: Sequence[JSON], decode: Callable[[JSON], Item]) -> list[_Sent]:
    items: list[_Sent] = []
    for body in bodies:
        symbol, link = _text(body, "symbol"), _text(body, "orderLinkId")
        try:
            items.append(_Sent(symbol, link, decode(body)))
        except BybitAPIError as e:
            items.append(_Sent(symbol, link, None, e.ret_code or RetCode.PARAMS_ERROR, e.ret_msg))
        except (KeyError, ValueError, TypeError, ArithmeticError):  # a decoder let it through: bad input
            items.append(_Sent(symbol, link, None, RetCode.PARAMS_ERROR, GENERIC_PARAMS_MSG))
    return items


def _merge(category: Category, sent: Sequence[_Sent], outcomes: Sequence[JSON]) -> list[BatchItemResult]:
    """Return the reply's items: the engine's outcomes in the places of the items it ran."""
    ran = iter(outcomes)
    results: list[BatchItemResult] = []
    for item in sent:
        if item.command is None:
            results.append(
                BatchItemResult(category, item.symbol, "", item.order_link_id, item.code, item.message)
            )
            continue
        out = next(ran)
        results.append(
            BatchItemResult(
                category,
                item.symbol,
                str(out["orderId"]),
                str(out["orderLinkId"]),
                int(out["code"]),
                str(out["msg"]),
                out.get("createAt"),
            )
        )
    return results


class BatchRoutes(AccountRoutes):
    """Handlers of the three batch endpoints."""

    async def create_batch(self, request: Request) -> Response:
        return await self._batch(request, endpoints.ORDER_CREATE_BATCH, place_command, creates=True)

    async def amend_batch(self, request: Request) -> Response:
        return await self._batch(request, endpoints.ORDER_AMEND_BATCH, amend_command, creates=False)

    async def cancel_batch(self, request: Request) -> Response:
        return await self._batch(request, endpoints.ORDER_CANCEL_BATCH, cancel_command, creates=False)

    async def _batch(
        self,
        request: Request,
        endpoint: endpoints.Endpoint,
        decode: Callable[[JSON], Item],
        *,
        creates: bool,
    ) -> Response:
        def decode_request(payload: str) -> tuple[Category, list[_Sent]]:
            category, bodies = decode_batch(params.decode_body(payload.encode()), _TRADED)
            return category, _decode_items(bodies, decode)

        admitted = await self._admitted(request, decode_request)
        if isinstance(admitted, Response):
            return admitted
        now_ms, uid, (category, sent) = admitted
        decisions = [self.state.check_uid_limit(str(uid), endpoint.group, category) for _ in sent]
        if not any(d.allowed for d in decisions):
            return rate_limited(decisions[-1], now_ms)
        headers = decisions[-1].header_dict()
        sent = [
            item
            if decision.allowed or item.command is None
            else _Sent(item.symbol, item.order_link_id, None, RetCode.RATE_LIMIT, RATE_LIMIT_MSG)
            for item, decision in zip(sent, decisions, strict=True)
        ]
        commands = tuple(i.command for i in sent if i.command is not None)
        outcomes: list[JSON] = []
        try:
            if commands:
                touch = sorted({(category, i.symbol) for i in sent if i.command is not None})
                result, lsn = await run_in_threadpool(self.desk.execute, uid, BatchOrders(commands), touch)
                outcomes = result["items"]
                await self.desk.durable(lsn)
            else:
                await self.desk.durable()
        except BybitAPIError as e:  # the journal failed: nothing can be promised
            return error(e.ret_code or RetCode.SERVER_ERROR, e.ret_msg, now_ms, headers=headers)
        result, ext = encode_batch_reply(_merge(category, sent, outcomes), creates=creates)
        return json_response(encode_envelope(result, now_ms, ret_ext_info=ext), headers=headers)


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the batch order routes."""
    handlers = BatchRoutes(state)
    table: list[tuple[endpoints.Endpoint, Callable[[Request], Any]]] = [
        (endpoints.ORDER_CREATE_BATCH, handlers.create_batch),
        (endpoints.ORDER_AMEND_BATCH, handlers.amend_batch),
        (endpoints.ORDER_CANCEL_BATCH, handlers.cancel_batch),
    ]
    return [Route(e.path, endpoint, methods=[e.method]) for e, endpoint in table]
