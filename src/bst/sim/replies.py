"""Building Bybit v5 replies and reading request parameters, for every sim route module."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bst.bybit.codec import params
from bst.bybit.codec.envelope import encode_envelope
from bst.bybit.retcodes import INTERVAL_INVALID_MSG, SYMBOL_INVALID_MSG, RetCode
from bst.domain.errors import BybitAPIError
from bst.domain.market import Category, Interval
from bst.sim.limits import LimitDecision

RATE_LIMIT_MSG = "Too many visits!"
SERVER_ERROR_MESSAGES: dict[int, str] = {
    RetCode.SERVER_TIMEOUT: "Server Timeout",
    RetCode.SERVER_ERROR: "Internal server error.",
}
CURSOR_INVALID_MSG = "params error: cursor invalid"
_CURSOR_DIGITS = 9
_INTERVALS = {i.value: i for i in Interval}
T = TypeVar("T")


class ParamError(Exception):
    """A request parameter is missing or invalid; the message is Bybit's retMsg (retCode 10001)."""


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Return a JSON response serialised with orjson."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def ok(result: dict[str, Any], now_ms: int, headers: Mapping[str, str] | None = None) -> Response:
    """Return a success envelope (retCode 0, retMsg "OK")."""
    return json_response(encode_envelope(result, now_ms), headers=headers)


def error(code: int, message: str, now_ms: int, headers: Mapping[str, str] | None = None) -> Response:
    """Return an error envelope in an HTTP 200 reply, as Bybit does for business errors."""
    return json_response(encode_envelope({}, now_ms, ret_code=code, ret_msg=message), headers=headers)


def internal_error(path: str, now_ms: int) -> Response:
    """Return the reply to a route that failed unexpectedly (no traceback, no Python text in it).

    Bybit paths get retCode 10016 "Internal server error." in HTTP 200, as Bybit answers; admin
    paths get HTTP 500 with a one-line JSON error.
    """
    if path.startswith("/sim/"):
        return json_response({"error": "internal error in the sim; its log has the details"}, 500)
    return error(RetCode.SERVER_ERROR, SERVER_ERROR_MESSAGES[RetCode.SERVER_ERROR], now_ms)


def params_error(message: str, now_ms: int) -> Response:
    """Return a 10001 parameter error."""
    return error(RetCode.PARAMS_ERROR, message, now_ms)


def rate_limited(decision: LimitDecision, now_ms: int) -> Response:
    """Return the 10006 reply with its X-Bapi-Limit* headers (for per-UID limits)."""
    return error(RetCode.RATE_LIMIT, RATE_LIMIT_MSG, now_ms, headers=decision.header_dict())


def envelope_bytes(code: int, message: str, now_ms: int) -> bytes:
    """Return the serialised error envelope (for replies built below the router)."""
    return orjson.dumps(encode_envelope({}, now_ms, ret_code=code, ret_msg=message))


# --- parameters ------------------------------------------------------------------------------


def text_param(request: Request, name: str, *, required: bool = False) -> str | None:
    """Return a query parameter ("" counts as absent)."""
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise ParamError(f"params error: missing required parameter: {name}")
        return None
    return value


def required_param(request: Request, name: str) -> str:
    """Return a required query parameter."""
    value = text_param(request, name, required=True)
    assert value is not None  # text_param raised otherwise
    return value


def category_param(
    request: Request, allowed: Collection[Category], *, default: Category | None = None
) -> Category:
    """Return the `category` parameter, checked against the categories this endpoint serves."""
    raw = text_param(request, "category", required=default is None)
    if raw is None:
        assert default is not None
        return default
    try:
        category = Category(raw)
    except ValueError:
        raise ParamError(f"params error: category invalid: {raw}") from None
    if category not in allowed:
        raise ParamError(f"params error: category {raw} is not supported by this endpoint")
    return category


def int_param(request: Request, name: str, *, low: int, high: int | None, default: int | None) -> int | None:
    """Return an integer parameter within [low, high] (or `default` when absent), read strictly."""
    raw = text_param(request, name)
    if raw is None:
        return default
    try:
        return params.integer(raw, name, low=low, high=high)
    except BybitAPIError as e:
        raise ParamError(e.ret_msg) from None


def limit_param(request: Request, *, high: int, default: int) -> int:
    """Return `limit` within [1, high]."""
    value = int_param(request, "limit", low=1, high=high, default=default)
    assert value is not None
    return value


def encode_cursor(offset: int) -> str:
    """Return the opaque `nextPageCursor` of the page starting at `offset` (every paginated sim route)."""
    return base64.urlsafe_b64encode(f"offset={offset}".encode()).decode().rstrip("=")


def cursor_param(request: Request) -> int:
    """Return the offset the `cursor` parameter points at (0 when absent), refusing foreign cursors."""
    cursor = text_param(request, "cursor")
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error):  # not base64, or not UTF-8 inside
        raise ParamError(CURSOR_INVALID_MSG) from None
    name, _, value = text.partition("=")
    if name != "offset" or not value.isascii() or not value.isdigit() or len(value) > _CURSOR_DIGITS:
        raise ParamError(CURSOR_INVALID_MSG)
    return int(value)


def page_of(items: Sequence[T], request: Request, *, high: int, default: int) -> tuple[list[T], str]:
    """Return the page of `items` that `limit` and `cursor` ask for, and the next cursor ("" at the end)."""
    limit = limit_param(request, high=high, default=default)
    offset = cursor_param(request)
    chunk = list(items[offset : offset + limit])
    more = offset + limit < len(items)
    return chunk, encode_cursor(offset + limit) if more else ""


def interval_param(request: Request) -> Interval:
    """Return the kline `interval` (wire names only: 1 3 5 15 30 60 120 240 360 720 D W M)."""
    raw = required_param(request, "interval")
    interval = _INTERVALS.get(raw)
    if interval is None:
        raise ParamError(INTERVAL_INVALID_MSG)
    return interval


def symbol_invalid() -> ParamError:
    """Return the unknown-symbol error."""
    return ParamError(SYMBOL_INVALID_MSG)
