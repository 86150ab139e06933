"""Strict reading of decimal numbers: the one parser for numbers that arrive from outside.

The simulator's request decoder (`bst.bybit.codec.params`) and the CLI's argument parsing both read
numbers here, so "1e30", "NaN", "Infinity", "1e400", "abc" and "0x10" are refused the same way, with
a reason a person can act on, before any arithmetic sees them.

A number is plain decimal text (optional sign, ASCII digits, optional fraction, optional exponent),
finite, with at most MAX_INTEGER_DIGITS digits before the point and MAX_FRACTION_DIGITS after it
(trailing zeros of the fraction do not count). Every real Bybit price, quantity, leverage and epoch-ms
time fits with room to spare; anything beyond is a typo or an attack, never a trade.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from bst.domain.errors import InvalidNumberError

MAX_INTEGER_DIGITS = 18
"""Digits before the decimal point: |value| < 10**18."""
MAX_FRACTION_DIGITS = 18
"""Significant digits after the decimal point."""
MAX_TEXT_LENGTH = 64
"""Longer texts are refused before they are parsed (leading zeros included)."""

_LIMIT = 10**MAX_INTEGER_DIGITS
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,6})?")
NOT_A_NUMBER = "not a number"
NOT_FINITE = "not a finite number"
TOO_LARGE = f"too large (at most {MAX_INTEGER_DIGITS} digits before the decimal point)"
TOO_PRECISE = f"too precise (at most {MAX_FRACTION_DIGITS} digits after the decimal point)"


def parse_decimal(value: object) -> Decimal:
    """Return `value` (text, int, float or Decimal) as an exact, bounded Decimal.

    Raise InvalidNumberError (its `reason` says why) for non-numbers, booleans, NaN/Infinity, and
    values beyond the digit bounds. A fraction longer than the bound but padded with zeros is accepted
    and returned without the padding; otherwise the value keeps the scale it was written with.
    """
    if isinstance(value, bool):
        raise InvalidNumberError(NOT_A_NUMBER)
    if isinstance(value, int):
        if abs(value) >= _LIMIT:
            raise InvalidNumberError(TOO_LARGE)
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidNumberError(NOT_FINITE)
        return _bounded(Decimal(repr(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidNumberError(NOT_FINITE)
        return _bounded(value)
    if not isinstance(value, str):
        raise InvalidNumberError(NOT_A_NUMBER)
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidNumberError(f"not a number (longer than {MAX_TEXT_LENGTH} characters)")
    if _NUMBER.fullmatch(value) is None:
        special = value.strip().lstrip("+-").lower() in ("nan", "snan", "inf", "infinity")
        raise InvalidNumberError(NOT_FINITE if special else NOT_A_NUMBER)
    return _bounded(Decimal(value))


def parse_amount(text: str, what: str) -> Decimal:
    """Return a positive number a person typed for `what` ("quantity", "--limit price").

    The InvalidNumberError's message is one line naming the input, what is wrong and what to give.
    """
    try:
        value = parse_decimal(text)
    except InvalidNumberError as e:
        raise InvalidNumberError(
            e.reason, f"invalid {what} {text!r}: {e.reason}; give a positive number such as 0.01"
        ) from None
    if value <= 0:
        raise InvalidNumberError(
            "not positive", f"invalid {what} {text!r}: must be a positive number such as 0.01"
        )
    return value


def _bounded(value: Decimal) -> Decimal:
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite values only reach here
    if not any(digits):
        return Decimal(0).copy_sign(value) if not -MAX_FRACTION_DIGITS <= exponent <= 0 else value
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise InvalidNumberError(TOO_LARGE)
    if exponent >= -MAX_FRACTION_DIGITS:
        return value
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    excess = -exponent - MAX_FRACTION_DIGITS
    if trailing_zeros < excess:
        raise InvalidNumberError(TOO_PRECISE)
    return Decimal((sign, digits[: len(digits) - excess], exponent + excess))
