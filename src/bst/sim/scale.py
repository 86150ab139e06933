"""Exact integer-units -> decimal text, the way Bybit prints numbers (no floats, no exponents)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import numpy.typing as npt


class DecimalScale:
    """Converts an integer count of `unit` (e.g. ticks of 0.10, lots of 0.001) to decimal text.

    `plain` drops trailing zeros ("43488", "43376.1", as in kline rows); `fixed` keeps the unit's
    printed places ("51444.40" for a 0.10 tick, as in tickers and trades).
    """

    __slots__ = ("_multiplier", "_places", "unit")

    def __init__(self, unit: Decimal) -> None:
        _, digits, exponent = unit.as_tuple()
        if not unit.is_finite() or unit <= 0 or not isinstance(exponent, int):
            raise ValueError(f"unit must be a positive finite decimal, got {unit}")
        self.unit = unit
        mantissa = int("".join(str(d) for d in digits))
        self._multiplier: int
        self._places: int
        if exponent >= 0:
            self._multiplier = mantissa * 10**exponent
            self._places = 0
        else:
            self._multiplier = mantissa
            self._places = -exponent

    @property
    def multiplier(self) -> int:
        """Return m where unit = m / 10**places."""
        return self._multiplier

    @property
    def places(self) -> int:
        """Return the unit's decimal places as printed."""
        return self._places

    def _split(self, count: int) -> tuple[str, int, int]:
        value = count * self._multiplier
        sign = "-" if value < 0 else ""
        whole, frac = divmod(abs(value), 10**self._places)
        return sign, whole, frac

    def fixed(self, count: int) -> str:
        """Return `count * unit` with exactly the unit's decimal places."""
        sign, whole, frac = self._split(int(count))
        if self._places == 0:
            return f"{sign}{whole}"
        return f"{sign}{whole}.{frac:0{self._places}d}"

    def plain(self, count: int) -> str:
        """Return `count * unit` without trailing zeros."""
        text = self.fixed(count)
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text

    def fixed_texts(self, counts: npt.NDArray[np.int64]) -> list[str]:
        """Return `fixed` of many counts at once (the hot path of kline replies)."""
        scaled = counts * self._multiplier if self._multiplier != 1 else counts
        if self._places == 0:
            return [str(v) for v in scaled.tolist()]
        if (scaled < 0).any():
            return [self.fixed(int(c)) for c in counts.tolist()]
        power = 10**self._places
        pattern = f"%d.%0{self._places}d"
        return [
            pattern % (w, f)
            for w, f in zip((scaled // power).tolist(), (scaled % power).tolist(), strict=True)
        ]

    def plain_texts(self, counts: npt.NDArray[np.int64]) -> list[str]:
        """Return `plain` of many counts at once (the hot path of kline replies)."""
        scaled = counts * self._multiplier if self._multiplier != 1 else counts
        if self._places == 0:
            return [str(v) for v in scaled.tolist()]
        if (scaled < 0).any():
            return [self.plain(int(c)) for c in counts.tolist()]
        power = 10**self._places
        pattern = f"%d.%0{self._places}d"
        return [
            (pattern % (w, f)).rstrip("0") if f else str(w)
            for w, f in zip((scaled // power).tolist(), (scaled % power).tolist(), strict=True)
        ]

    def plain_decimal(self, count: int) -> Decimal:
        """Return `count * unit` as a Decimal without trailing zeros."""
        return Decimal(self.plain(count))

    def fixed_decimal(self, count: int) -> Decimal:
        """Return `count * unit` as a Decimal carrying the unit's places."""
        return Decimal(self.fixed(count))


def plain_text(value: Decimal) -> str:
    """Return `value` as positional text without trailing zeros or an exponent."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
