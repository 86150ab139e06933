"""Field converters shared by the codec modules (Bybit prints empty values as "" or "0")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def dec(value: Any, default: str = "0") -> Decimal:
    """Return `value` as Decimal; "" and None give `default`."""
    if value is None or value == "":
        return Decimal(default)
    return Decimal(str(value))


def opt_dec(value: Any, *, zero_is_none: bool = False) -> Decimal | None:
    """Return `value` as Decimal, or None for "" / None (and "0" when `zero_is_none`)."""
    if value is None or value == "":
        return None
    number = Decimal(str(value))
    if zero_is_none and number == 0:
        return None
    return number


def integer(value: Any, default: int = 0) -> int:
    """Return `value` as int; "" and None give `default`."""
    if value is None or value == "":
        return default
    return int(value)


def boolean(value: Any) -> bool:
    """Return a Bybit boolean that may arrive as a bool, "true"/"false" or 0/1."""
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def num(value: Decimal | int) -> str:
    """Return a number as Bybit prints it: plain digits, never an exponent (`9.99E-7` -> `0.000000999`)."""
    if isinstance(value, int):
        return str(value)
    return format(value, "f")


def text(value: Decimal | int | None, *, empty: str = "") -> str:
    """Return how Bybit prints an optional number: its plain digits, or `empty`."""
    return empty if value is None else num(value)


def money(value: Decimal | int) -> str:
    """Return an amount of money as Bybit prints it: plain digits, no trailing zeros, zero as "0".

    `Decimal("0.000")` is "0" and `Decimal("12.50")` is "12.5": a ledger never shows "0.0".
    """
    if value == 0:
        return "0"
    text = num(value)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def opt_money(value: Decimal | None, *, empty: str = "") -> str:
    """Return an optional amount of money (`money`), or `empty` when absent."""
    return empty if value is None else money(value)
