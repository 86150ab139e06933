"""Order-book vocabulary: sides, apply results, counters, the stale-book error, exact level parsing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from enum import StrEnum

from bst.domain.errors import BstError

_EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)


class BookSide(StrEnum):
    """A side of the book."""

    BID = "bid"
    ASK = "ask"


class ApplyResult(StrEnum):
    """What applying one message did to the book."""

    SNAPSHOT = "snapshot"
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    GAP = "gap"
    CROSSED = "crossed"
    REJECTED = "rejected"
    MALFORMED = "malformed"

    @property
    def needs_resync(self) -> bool:
        """Return whether the book is now invalid and needs a fresh snapshot."""
        return self in _RESYNC


_RESYNC = frozenset({ApplyResult.GAP, ApplyResult.CROSSED, ApplyResult.REJECTED, ApplyResult.MALFORMED})


class StaleBookError(BstError):
    """The order book is known to be stale (gap, crossed, not yet snapshotted): do not trade on it."""


class MalformedLevelError(Exception):
    """A level could not be read (internal to the book, which reports ApplyResult.MALFORMED)."""


@dataclass(slots=True)
class BookStats:
    """Counters of what the book has seen since it was created."""

    snapshots: int = 0
    deltas: int = 0
    restarts: int = 0
    gaps: int = 0
    crossed: int = 0
    duplicates: int = 0
    rejected: int = 0
    malformed: int = 0
    unknown_deletes: int = 0


def decimal_units(text: object) -> tuple[int, int]:
    """Return (units, decimals) with text == units * 10**-decimals, exactly; reject junk and negatives."""
    try:
        value = Decimal(text if isinstance(text, str) else str(text))
    except (InvalidOperation, ValueError, TypeError):
        raise MalformedLevelError(f"not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise MalformedLevelError(f"not a finite number: {text!r}")
    if value < 0:
        raise MalformedLevelError(f"negative value: {text!r}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite decimals always have an int exponent
    decimals = max(0, -exponent)
    return int(value.scaleb(decimals, _EXACT)), decimals
