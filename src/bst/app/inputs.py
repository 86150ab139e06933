"""Parsers of the text users type (CLI arguments, later the service's query strings).

Each returns a typed value or raises ConfigError with one line naming the argument, what was
given and what to give instead. Categories and symbols are parsed in `bst.domain.market`
(`Category.parse`, `parse_symbol`), intervals by `Interval.parse`, and amounts by
`bst.domain.numbers.parse_amount` (InvalidNumberError).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from bst.domain.errors import ConfigError
from bst.domain.market import Interval, parse_symbol

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?", re.IGNORECASE)
_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}


def parse_time(text: str, what: str = "time") -> int:
    """Return epoch ms of "2024-06-01", "2024-06-01T12:00[:30[.5]]" (UTC unless an offset is given)
    or of an epoch-ms number; `what` names the argument in the error ("--since")."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"invalid {what} {text!r}: use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or epoch ms"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def parse_duration(text: str) -> float:
    """Return seconds from "90", "45s", "10m", "1h30m", "500ms" (0 = no limit)."""
    compact = text.strip().replace(" ", "")
    pos = 0
    total = 0.0
    for match in _DURATION.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_S[(match.group(2) or "").lower()]
        pos = match.end()
    if not compact or pos != len(compact):
        raise ConfigError(f"invalid duration {text!r}: use e.g. 90, 45s, 10m, 1h30m")
    return total


def parse_intervals(texts: Iterable[str]) -> tuple[Interval, ...]:
    """Return the distinct intervals named, in order."""
    return tuple(dict.fromkeys(Interval.parse(t) for t in texts))


def parse_symbols(texts: Iterable[str]) -> tuple[str, ...]:
    """Return the distinct symbols named (blank entries skipped), in order; at least one."""
    symbols = tuple(dict.fromkeys(parse_symbol(t) for t in texts if t.strip()))
    if not symbols:
        raise ConfigError("give at least one symbol")
    return symbols
