"""Bybit v5 retCode / HTTP status -> the domain error tree (the real v5 meanings, not the seed's)."""

from __future__ import annotations

from bst.domain.errors import (
    BybitAPIError,
    BybitAuthError,
    BybitInvalidIntervalError,
    BybitInvalidParameterError,
    BybitOrderError,
    BybitRateLimitError,
    BybitServerError,
    BybitSignatureError,
    BybitSymbolNotFoundError,
    BybitTimestampError,
)

RATE_LIMIT_CODES = frozenset({10006, 10018})
AUTH_CODES = frozenset({10003, 10005, 10007, 10008, 10009, 10010, 10024, 10027, 10028, 33004})
PARAMETER_CODES = frozenset({10001, 10014, 10017, 10029})
SERVER_CODES = frozenset({10000, 10016, 429})

# Messages the simulator sends, and the gist of what Bybit sends, for the two 10001 cases users care
# about most: they get their own error classes so a CLI can say "unknown symbol" precisely.
SYMBOL_INVALID_MSG = "params error: symbol invalid"
INTERVAL_INVALID_MSG = "params error: interval invalid"


def error_for_code(ret_code: int, ret_msg: str, http_status: int | None = 200) -> BybitAPIError:
    """Return the error matching a non-zero retCode."""
    lowered = ret_msg.lower()
    if ret_code in RATE_LIMIT_CODES:
        return BybitRateLimitError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code == 10004:
        return BybitSignatureError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code == 10002:
        return BybitTimestampError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in AUTH_CODES:
        return BybitAuthError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in SERVER_CODES:
        return BybitServerError(ret_msg, ret_code=ret_code, http_status=http_status)
    if ret_code in PARAMETER_CODES or ret_code == 170121:
        if "symbol" in lowered and ("invalid" in lowered or "not exist" in lowered):
            return BybitSymbolNotFoundError(ret_msg, ret_code=ret_code, http_status=http_status)
        if "interval" in lowered:
            return BybitInvalidIntervalError(ret_msg, ret_code=ret_code, http_status=http_status)
        return BybitInvalidParameterError(ret_msg, ret_code=ret_code, http_status=http_status)
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
