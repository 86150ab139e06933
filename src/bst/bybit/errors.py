"""Bybit v5 retCode / HTTP status -> the domain error tree (the real v5 meanings, not the seed's)."""

from __future__ import annotations

from bst.bybit.retcodes import (
    AUTH_CODES,
    DUPLICATE_ORDER_CODES,
    INTERVAL_INVALID_MSG,
    ORDER_NOT_FOUND_CODES,
    PARAMETER_CODES,
    RATE_LIMIT_CODES,
    SERVER_CODES,
    SYMBOL_INVALID_MSG,
    RetCode,
)
from bst.domain.errors import (
    BybitAPIError,
    BybitAuthError,
    BybitDuplicateOrderError,
    BybitInvalidIntervalError,
    BybitInvalidParameterError,
    BybitOrderError,
    BybitOrderNotFoundError,
    BybitRateLimitError,
    BybitServerError,
    BybitSignatureError,
    BybitSymbolNotFoundError,
    BybitTimestampError,
)

__all__ = ["INTERVAL_INVALID_MSG", "SYMBOL_INVALID_MSG", "error_for_code", "error_for_http_status"]


def error_for_code(ret_code: int, ret_msg: str, http_status: int | None = 200) -> BybitAPIError:
    """Return the error matching a non-zero retCode."""
    lowered = ret_msg.lower()
    if ret_code in RATE_LIMIT_CODES:
        return BybitRateLimitError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code == RetCode.SIGNATURE_ERROR:
        return BybitSignatureError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code == RetCode.TIMESTAMP_OUT_OF_WINDOW:
        return BybitTimestampError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in AUTH_CODES:
        return BybitAuthError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in SERVER_CODES:
        return BybitServerError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in PARAMETER_CODES:
        if "symbol" in lowered and ("invalid" in lowered or "not exist" in lowered):
            return BybitSymbolNotFoundError(ret_msg, ret_code=ret_code, http_status=http_status)
        if "interval" in lowered:
            return BybitInvalidIntervalError(ret_msg, ret_code=ret_code, http_status=http_status)
        return BybitInvalidParameterError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in ORDER_NOT_FOUND_CODES:
        return BybitOrderNotFoundError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in DUPLICATE_ORDER_CODES:
        return BybitDuplicateOrderError(ret_msg, ret_code=ret_code, http_status=http_status)
    if 110000 <= ret_code < 200000:
        return BybitOrderError(ret_msg, ret_code=ret_code, http_status=http_status)
    return BybitAPIError(ret_msg, ret_code=ret_code, http_status=http_status)


def error_for_http_status(http_status: int, body_text: str = "") -> BybitAPIError:
    """Return the error for a non-2xx HTTP reply that carried no usable v5 envelope."""
    detail = body_text.strip()[:200] or f"HTTP {http_status}"
    if http_status in (403, 429):
        return BybitRateLimitError(
            f"access too frequent (HTTP {http_status}): {detail}", http_status=http_status
        )
    if http_status == 401:
        return BybitAuthError(f"unauthorised (HTTP 401): {detail}", http_status=http_status)
    if http_status >= 500:
        return BybitServerError(f"server error (HTTP {http_status}): {detail}", http_status=http_status)
    if http_status == 404:
        return BybitInvalidParameterError(f"route not found (HTTP 404): {detail}", http_status=http_status)
    return BybitInvalidParameterError(f"bad request (HTTP {http_status}): {detail}", http_status=http_status)
