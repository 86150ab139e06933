"""Request parameters as the simulator reads them: strict, and malformed means Bybit's retCode 10001.

Every numeric parameter of a request (body or query: prices, quantities, trigger price, TP/SL,
leverage, limits, times, cursors) is read by `decimal`/`integer` here, which refuse non-numbers,
NaN/Infinity and values beyond the bounds of `bst.domain.numbers` with a `BybitInvalidParameterError`
whose retMsg is Bybit-like (`params error: qty invalid: not a finite number`) and never a Python
repr. The simulator's routes answer that error as the v5 envelope; clients do not retry a 10001.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

from bst.bybit.retcodes import RetCode
from bst.domain.errors import BybitInvalidParameterError, InvalidNumberError
from bst.domain.numbers import parse_decimal

JSON = dict[str, Any]
E = TypeVar("E", bound=Enum)


def params_error(message: str) -> BybitInvalidParameterError:
    """Return the 10001 error with `message` as its retMsg."""
    return BybitInvalidParameterError(message, ret_code=RetCode.PARAMS_ERROR)


def missing(name: str) -> BybitInvalidParameterError:
    """Return the error for a required parameter that is absent or empty."""
    return params_error(f"params error: missing required parameter: {name}")


def invalid(name: str, reason: str = "") -> BybitInvalidParameterError:
    """Return the error for a parameter whose value is not acceptable (`reason` says why)."""
    return params_error(f"params error: {name} invalid" + (f": {reason}" if reason else ""))


def decode_body(raw: bytes) -> JSON:
    """Return a POST body as a JSON object; numbers with a fraction or exponent become exact Decimals."""
    try:
        body = json.loads(raw or b"{}", parse_float=Decimal)
    except (ValueError, RecursionError):  # malformed, not UTF-8, an integer of >4300 digits, too deep
        raise params_error("params error: the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise params_error("params error: the body must be a JSON object")
    return body


def _absent(value: object) -> bool:
    return value is None or value == ""


def decimal(value: object, name: str) -> Decimal:
    """Return a numeric parameter (a JSON string or number) as an exact Decimal, or raise 10001."""
    if _absent(value):
        raise missing(name)
    try:
        return parse_decimal(value)
    except InvalidNumberError as e:
        raise invalid(name, e.reason) from None


def optional_decimal(value: object, name: str, *, zero_is_none: bool = False) -> Decimal | None:
    """Return a numeric parameter, None when absent or "" (and for 0 with `zero_is_none`)."""
    if _absent(value):
        return None
    number = decimal(value, name)
    return None if zero_is_none and number == 0 else number


def integer(value: object, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return an integer parameter within [low, high] (either bound may be None), or raise 10001."""
    number = decimal(value, name)
    if number != number.to_integral_value():
        raise invalid(name, "not an integer")
    result = int(number)
    if (low is not None and result < low) or (high is not None and result > high):
        if low is not None and high is not None:
            bounds = f"between {low} and {high}"
        else:
            bounds = f"at least {low}" if low is not None else f"at most {high}"
        raise params_error(f"params error: {name} must be {bounds}, got {result}")
    return result


def optional_integer(
    value: object, name: str, default: int, *, low: int | None = None, high: int | None = None
) -> int:
    """Return an integer parameter, `default` when absent or ""."""
    return default if _absent(value) else integer(value, name, low=low, high=high)


def text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """Return a string parameter ("" when absent), refusing objects and lists where text belongs."""
    value = body.get(name)
    if _absent(value):
        if required:
            raise missing(name)
        return ""
    if isinstance(value, dict | list):
        raise invalid(name)
    return str(value)


def flag(body: Mapping[str, Any], name: str) -> bool:
    """Return a boolean parameter (true/false, "true"/"false", 1/0, "1"/"0"; False when absent)."""
    value = body.get(name)
    if _absent(value) or value is False or value == 0 or value in ("false", "0"):
        return False
    if value is True or value == 1 or value in ("true", "1"):
        return True
    raise invalid(name, "use true or false")


def choice(body: Mapping[str, Any], name: str, kind: type[E], *, required: bool = False) -> E | None:
    """Return an enum parameter by its wire value (None when absent and optional), or raise 10001."""
    raw = text(body, name, required=required)
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise invalid(name) from None


def required_choice(body: Mapping[str, Any], name: str, kind: type[E]) -> E:
    """Return a required enum parameter, or raise 10001."""
    value = choice(body, name, kind, required=True)
    assert value is not None  # choice raised when it was absent
    return value
