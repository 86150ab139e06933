"""Private REST endpoints of the simulator (orders, executions, positions, balances), on the engine.

Every request is authenticated as Bybit does: `X-BAPI-API-KEY` must name a configured key (10003),
`X-BAPI-TIMESTAMP` must lie within `X-BAPI-RECV-WINDOW` (default 5000 ms) before the sim clock and
less than 1 s after it (10002), and `X-BAPI-SIGN` must be the HMAC-SHA256 of timestamp + key +
recv window + payload, where the payload is the raw query string (GET) or raw body (POST) (10004).
Then the per-UID limit of the endpoint's group applies (10006 with X-Bapi-Limit* headers; spot
order endpoints have their own budget), and the engine answers; its refusals become Bybit's
retCodes. The gateway's faults apply as to every /v5 path: a dropped or held reply happens after
the order was placed, which is exactly the ambiguous outcome clients must survive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit import endpoints
from bst.bybit.codec import params
from bst.bybit.codec.account import encode_fee_rate, encode_position, encode_wallet
from bst.bybit.codec.orders import (
    check_numbers,
    decode_amend_request,
    decode_order_request,
    encode_execution,
    encode_order,
    page,
)
from bst.bybit.retcodes import RetCode
from bst.bybit.signing import verify_rest_signature
from bst.domain.errors import BybitAPIError
from bst.domain.market import Category
from bst.domain.orders import ExecType, Order, OrderFilter, OrderStatus, StopOrderType, order_filter_of
from bst.engine import MatchingEngine
from bst.sim import ws_private
from bst.sim.replies import (
    ParamError,
    category_param,
    error,
    int_param,
    ok,
    page_of,
    params_error,
    rate_limited,
    text_param,
)
from bst.sim.state import SimState
from bst.sim.trading_commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    PlaceOrder,
    SetLeverage,
    SetTradingStop,
)
from bst.sim.trading_desk import TradingDesk, desk_of

log = structlog.get_logger(__name__)
JSON = dict[str, Any]
GENERIC_PARAMS_MSG = "Request parameter error."
"""Bybit's own wording for a 10001 it does not explain."""
Work = Callable[[MatchingEngine, int], JSON]
"""A read-only query of one account (uid) on the engine."""
Action = Work | Command
"""What a request does: a query (not journaled) or a state-changing command (journaled first)."""
Prepare = Callable[[str], tuple[Category | None, list[tuple[Category, str]], Action]]
"""Parse a request's payload into (category for the rate limit, symbols to feed, action)."""
TRADING_STOP_NUMBER_FIELDS = (
    "takeProfit",
    "stopLoss",
    "trailingStop",
    "activePrice",
    "tpSize",
    "slSize",
    "tpLimitPrice",
    "slLimitPrice",
)
MAX_RECV_WINDOW_MS = 24 * 3_600_000
"""Longer windows are refused like malformed timestamps: a day-old signed request is no request."""
WEEK_MS = 7 * 86_400_000
RECENT_CLOSED = 500
_TRADED = (Category.LINEAR, Category.SPOT)


class _RefusedError(Exception):
    """A request refused before the engine saw it, with its retCode."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _paged(items: list[JSON], request: Request, category: Category, *, high: int, default: int) -> JSON:
    chunk, cursor = page_of(items, request, high=high, default=default)
    return page(chunk, category, cursor)


def _time_window(request: Request, now_ms: int) -> tuple[int, int]:
    start = int_param(request, "startTime", low=0, high=None, default=None)
    end = int_param(request, "endTime", low=0, high=None, default=None)
    if start is None and end is None:
        return now_ms - WEEK_MS, now_ms
    if start is None:
        assert end is not None
        start = end - WEEK_MS
    if end is None:
        end = start + WEEK_MS
    if end < start:
        raise ParamError("params error: endTime must not be before startTime")
    if end - start > WEEK_MS:
        raise ParamError("The time range between startTime and endTime cannot exceed 7 days")
    return start, end


def _body_category(body: JSON, allowed: Sequence[Category] = _TRADED) -> Category:
    raw = params.text(body, "category", required=True)
    try:
        category = Category(raw)
    except ValueError:
        raise ParamError(f"params error: category invalid: {raw}") from None
    if category not in allowed:
        raise ParamError(f"params error: category {raw} is not supported by the simulator")
    return category


def place_command(body: JSON) -> PlaceOrder:
    """Return the command of a `/v5/order/create` body (or a create-batch item); 10001 when malformed."""
    _body_category(body)
    return PlaceOrder(decode_order_request(body))


def amend_command(body: JSON) -> AmendOrder:
    """Return the command of a `/v5/order/amend` body (or an amend-batch item)."""
    _body_category(body)
    return AmendOrder(decode_amend_request(body))


def cancel_command(body: JSON) -> CancelOrder:
    """Return the command of a `/v5/order/cancel` body (or a cancel-batch item)."""
    category = _body_category(body)
    symbol = params.text(body, "symbol", required=True)
    order_id, link = params.text(body, "orderId"), params.text(body, "orderLinkId")
    kind = params.choice(body, "orderFilter", OrderFilter)
    return CancelOrder(category, symbol, order_id, link, kind)


class TradingRoutes:
    """Handlers bound to one SimState and its trading desk."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.desk: TradingDesk = desk_of(state)

    # --- the common path ----------------------------------------------------------------------

    def _authenticate(self, request: Request, payload: str, now_ms: int) -> int:
        headers = request.headers
        api_key = headers.get("x-bapi-api-key", "")
        known = self.desk.credentials(api_key) if api_key else None
        if known is None:
            raise _RefusedError(RetCode.API_KEY_INVALID, "API key is invalid.")
        secret, uid = known
        try:
            timestamp = params.integer(headers.get("x-bapi-timestamp", ""), "timestamp", low=0)
            recv_window = params.optional_integer(
                headers.get("x-bapi-recv-window"),
                "recv_window",
                endpoints.DEFAULT_RECV_WINDOW_MS,
                low=1,
                high=MAX_RECV_WINDOW_MS,
            )
        except BybitAPIError:
            raise _RefusedError(
                RetCode.TIMESTAMP_OUT_OF_WINDOW,
                "invalid request, please check your timestamp and recv_window param",
            ) from None
        if not now_ms - recv_window <= timestamp < now_ms + endpoints.FUTURE_TOLERANCE_MS:
            raise _RefusedError(
                RetCode.TIMESTAMP_OUT_OF_WINDOW,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now_ms}],recv_window[{recv_window}]",
            )
        signature = headers.get("x-bapi-sign", "")
        if not signature or not verify_rest_signature(
            secret, timestamp, api_key, recv_window, payload, signature
        ):
            raise _RefusedError(
                RetCode.SIGNATURE_ERROR,
                f"error sign! origin_string[{timestamp}{api_key}{recv_window}{payload}]",
            )
        return uid

    async def _private(
        self,
        request: Request,
        endpoint: endpoints.Endpoint,
        prepare: Prepare,
    ) -> Response:
        """Authenticate, parse (`prepare` gets the payload), rate-limit, run the action on the desk.

        The reply leaves only once everything it reflects is durable (`desk.durable`), refusals too.
        """
        now_ms = self.state.now_ms()
        if endpoint.method == "POST":
            payload = (await request.body()).decode("utf-8", errors="replace")
        else:
            payload = request.scope.get("query_string", b"").decode("latin-1")
        try:
            uid = self._authenticate(request, payload, now_ms)
            category, touch, action = prepare(payload)
        except _RefusedError as e:
            return error(e.code, str(e), now_ms)
        except ParamError as e:
            return params_error(str(e), now_ms)
        except BybitAPIError as e:
            return error(e.ret_code or RetCode.PARAMS_ERROR, e.ret_msg, now_ms)
        except (KeyError, ValueError, TypeError, ArithmeticError):
            # A decoder that let something through: still the client's bad input, never our internals.
            log.warning("request not decoded", path=request.url.path, exc_info=True)
            return params_error(GENERIC_PARAMS_MSG, now_ms)
        decision = self.state.check_uid_limit(str(uid), endpoint.group, category)
        if not decision.allowed:
            return rate_limited(decision, now_ms)
        try:
            try:
                result, lsn = await run_in_threadpool(self._run, uid, action, touch)
            except (BybitAPIError, ParamError):
                await self.desk.durable()  # a refusal reflects the state too: say it once that is safe
                raise
            await self.desk.durable(lsn)
        except BybitAPIError as e:
            return error(
                e.ret_code or RetCode.PARAMS_ERROR, e.ret_msg, now_ms, headers=decision.header_dict()
            )
        except ParamError as e:
            return error(RetCode.PARAMS_ERROR, str(e), now_ms, headers=decision.header_dict())
        return ok(result, now_ms, headers=decision.header_dict())

    def _run(self, uid: int, action: Action, touch: list[tuple[Category, str]]) -> tuple[JSON, int]:
        if isinstance(action, Command):
            return self.desk.execute(uid, action, touch)
        return self.desk.query(lambda engine: action(engine, uid), touch)

    # --- order entry --------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        def prepare(payload: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            command = place_command(params.decode_body(payload.encode()))
            order = command.request
            return order.category, [(order.category, order.symbol)], command

        return await self._private(request, endpoints.ORDER_CREATE, prepare)

    async def amend(self, request: Request) -> Response:
        def prepare(payload: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            command = amend_command(params.decode_body(payload.encode()))
            amend = command.request
            return amend.category, [(amend.category, amend.symbol)], command

        return await self._private(request, endpoints.ORDER_AMEND, prepare)

    async def cancel(self, request: Request) -> Response:
        def prepare(payload: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            command = cancel_command(params.decode_body(payload.encode()))
            return command.category, [(command.category, command.symbol)], command

        return await self._private(request, endpoints.ORDER_CANCEL, prepare)

    async def cancel_all(self, request: Request) -> Response:
        def prepare(payload: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            body = params.decode_body(payload.encode())
            category = _body_category(body)
            symbol = params.text(body, "symbol") or None
            base, settle = params.text(body, "baseCoin") or None, params.text(body, "settleCoin") or None
            kind = params.choice(body, "orderFilter", OrderFilter)
            stop_type = params.text(body, "stopOrderType") or None
            if stop_type is not None and (
                stop_type != StopOrderType.STOP or kind is not OrderFilter.STOP_ORDER
            ):
                raise params.invalid("stopOrderType", "only Stop, with orderFilter StopOrder")
            command = CancelAll(category, symbol, base, settle, kind, stop_type)
            return category, [(category, symbol)] if symbol else [], command

        return await self._private(request, endpoints.ORDER_CANCEL_ALL, prepare)

    async def set_leverage(self, request: Request) -> Response:
        def prepare(payload: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            body = params.decode_body(payload.encode())
            category = _body_category(body, (Category.LINEAR,))
            symbol = params.text(body, "symbol", required=True)
            buy = params.decimal(body.get("buyLeverage"), "buyLeverage")
            sell = params.decimal(body.get("sellLeverage"), "sellLeverage")
            return category, [(category, symbol)], SetLeverage(symbol, buy, sell)

        return await self._private(request, endpoints.SET_LEVERAGE, prepare)

    async def trading_stop(self, request: Request) -> Response:
        def prepare(payload: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            body = params.decode_body(payload.encode())
            category = _body_category(body, (Category.LINEAR,))
            symbol = params.text(body, "symbol", required=True)
            check_numbers(body, TRADING_STOP_NUMBER_FIELDS)
            tp = params.optional_decimal(body.get("takeProfit"), "takeProfit")
            sl = params.optional_decimal(body.get("stopLoss"), "stopLoss")
            return category, [(category, symbol)], SetTradingStop(symbol, tp, sl)

        return await self._private(request, endpoints.TRADING_STOP, prepare)

    # --- queries ------------------------------------------------------------------------------

    async def realtime(self, request: Request) -> Response:
        def prepare(_: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            category = category_param(request, _TRADED)
            symbol, base, settle = (text_param(request, n) for n in ("symbol", "baseCoin", "settleCoin"))
            if category is Category.LINEAR and not (symbol or base or settle):
                raise ParamError(
                    "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin"
                )
            order_id, link = text_param(request, "orderId") or "", text_param(request, "orderLinkId") or ""
            open_only = int_param(request, "openOnly", low=0, high=2, default=0)
            kind = params.choice(request.query_params, "orderFilter", OrderFilter)

            def work(engine: MatchingEngine, uid: int) -> JSON:
                orders = engine.open_orders(uid, category, symbol=symbol, base_coin=base, settle_coin=settle)
                if open_only:
                    recent = engine.closed_orders(uid, category, symbol=symbol)[:RECENT_CLOSED]
                    orders = sorted(orders + recent, key=lambda o: o.created_time_ms, reverse=True)
                if order_id or link:
                    orders = [o for o in orders if _named(o, order_id, link)] or _lookup(
                        engine, uid, category, order_id, link
                    )
                items = [
                    encode_order(o)
                    for o in orders
                    if _coins_match(engine, o, base, settle) and _of_kind(o, kind)
                ]
                return _paged(items, request, category, high=50, default=20)

            return category, [(category, symbol)] if symbol else [], work

        return await self._private(request, endpoints.ORDER_REALTIME, prepare)

    async def history(self, request: Request) -> Response:
        now_ms = self.state.now_ms()

        def prepare(_: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            category = category_param(request, _TRADED)
            symbol, base, settle = (text_param(request, n) for n in ("symbol", "baseCoin", "settleCoin"))
            order_id, link = text_param(request, "orderId") or "", text_param(request, "orderLinkId") or ""
            status_text = text_param(request, "orderStatus")
            try:
                status = OrderStatus(status_text) if status_text else None
            except ValueError:
                raise ParamError(f"params error: orderStatus invalid: {status_text}") from None
            start, end = _time_window(request, now_ms)
            kind = params.choice(request.query_params, "orderFilter", OrderFilter)

            def work(engine: MatchingEngine, uid: int) -> JSON:
                orders = engine.open_orders(uid, category, symbol=symbol) + engine.closed_orders(
                    uid, category, symbol=symbol, status=status, start_ms=start, end_ms=end
                )
                orders = [
                    o
                    for o in orders
                    if start <= o.created_time_ms <= end
                    and (status is None or o.status is status)
                    and (not (order_id or link) or _named(o, order_id, link))
                    and _coins_match(engine, o, base, settle)
                    and _of_kind(o, kind)
                ]
                orders.sort(key=lambda o: o.created_time_ms, reverse=True)
                return _paged([encode_order(o) for o in orders], request, category, high=50, default=20)

            return category, [], work

        return await self._private(request, endpoints.ORDER_HISTORY, prepare)

    async def executions(self, request: Request) -> Response:
        now_ms = self.state.now_ms()

        def prepare(_: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            category = category_param(request, _TRADED)
            symbol = text_param(request, "symbol")
            order_id, link = text_param(request, "orderId") or "", text_param(request, "orderLinkId") or ""
            exec_text = text_param(request, "execType")
            try:
                exec_type = ExecType(exec_text) if exec_text else None
            except ValueError:
                raise ParamError(f"params error: execType invalid: {exec_text}") from None
            start, end = _time_window(request, now_ms)

            def work(engine: MatchingEngine, uid: int) -> JSON:
                found = engine.executions(
                    uid,
                    category,
                    symbol=symbol,
                    order_id=order_id,
                    order_link_id=link,
                    exec_type=exec_type,
                    start_ms=start,
                    end_ms=end,
                )
                return _paged([encode_execution(e) for e in found], request, category, high=100, default=50)

            return category, [], work

        return await self._private(request, endpoints.EXECUTION_LIST, prepare)

    async def positions(self, request: Request) -> Response:
        def prepare(_: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            category = category_param(request, (Category.LINEAR,))
            symbol, settle = text_param(request, "symbol"), text_param(request, "settleCoin")
            if not (symbol or settle):
                raise ParamError("Missing some parameters that must be filled in, symbol or settleCoin")

            def work(engine: MatchingEngine, uid: int) -> JSON:
                rows = engine.positions(uid, symbol=symbol, settle_coin=None if symbol else settle)
                return _paged([encode_position(p) for p in rows], request, category, high=200, default=20)

            return category, [(category, symbol)] if symbol else [], work

        return await self._private(request, endpoints.POSITION_LIST, prepare)

    async def wallet(self, request: Request) -> Response:
        def prepare(_: str) -> tuple[None, list[tuple[Category, str]], Action]:
            account_type = text_param(request, "accountType", required=True)
            if account_type != "UNIFIED":
                raise ParamError("accountType only support UNIFIED")
            coins = [c for c in (text_param(request, "coin") or "").split(",") if c]

            def work(engine: MatchingEngine, uid: int) -> JSON:
                return {"list": [encode_wallet(engine.wallet(uid, coins))]}

            return None, [], work

        return await self._private(request, endpoints.WALLET_BALANCE, prepare)

    async def fee_rate(self, request: Request) -> Response:
        def prepare(_: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            category = category_param(request, _TRADED, default=Category.LINEAR)
            symbol = text_param(request, "symbol")

            def work(engine: MatchingEngine, uid: int) -> JSON:
                rates = engine.fee_rates(uid, category, symbol=symbol)
                return {"list": [encode_fee_rate(replace(r, base_coin="")) for r in rates]}

            return category, [], work

        return await self._private(request, endpoints.FEE_RATE, prepare)


def _named(order: Order, order_id: str, link: str) -> bool:
    return order.order_id == order_id if order_id else order.order_link_id == link


def _of_kind(order: Order, kind: OrderFilter | None) -> bool:
    return kind is None or order_filter_of(order.stop_order_type) is kind


def _lookup(engine: MatchingEngine, uid: int, category: Category, order_id: str, link: str) -> list[Order]:
    try:
        return [engine.get_order(uid, category, order_id=order_id, order_link_id=link)]
    except BybitAPIError:
        return []


def _coins_match(engine: MatchingEngine, order: Order, base: str | None, settle: str | None) -> bool:
    if base is None and settle is None:
        return True
    spec = next(s for s in engine.symbols() if s.symbol == order.symbol and s.category is order.category)
    return (base is None or spec.instrument.base_coin == base) and (
        settle is None or spec.instrument.settle_coin == settle
    )


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the private REST routes and the private stream (installing an empty desk if none is)."""
    handlers = TradingRoutes(state)
    table: list[tuple[endpoints.Endpoint, Callable[[Request], Any]]] = [
        (endpoints.ORDER_CREATE, handlers.create),
        (endpoints.ORDER_AMEND, handlers.amend),
        (endpoints.ORDER_CANCEL, handlers.cancel),
        (endpoints.ORDER_CANCEL_ALL, handlers.cancel_all),
        (endpoints.ORDER_REALTIME, handlers.realtime),
        (endpoints.ORDER_HISTORY, handlers.history),
        (endpoints.EXECUTION_LIST, handlers.executions),
        (endpoints.POSITION_LIST, handlers.positions),
        (endpoints.SET_LEVERAGE, handlers.set_leverage),
        (endpoints.TRADING_STOP, handlers.trading_stop),
        (endpoints.WALLET_BALANCE, handlers.wallet),
        (endpoints.FEE_RATE, handlers.fee_rate),
    ]
    rest: list[BaseRoute] = [Route(e.path, endpoint, methods=[e.method]) for e, endpoint in table]
    return [*rest, *ws_private.routes(state)]
