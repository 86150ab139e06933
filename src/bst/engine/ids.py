"""Deterministic ids: a seeded counter rendered as Bybit-shaped order and execution ids."""

from __future__ import annotations

import hashlib

_NUMERIC_BASE = 1_600_000_000_000_000_000
_MASK62 = (1 << 62) - 1
_ODD = 0x2545F4914F6CDD1D  # an odd multiplier: n -> n * _ODD mod 2^62 is a bijection


class IdFactory:
    """Produce unique ids that depend only on the seed and how many were issued before."""

    __slots__ = ("_prefix", "counter", "seed")

    def __init__(self, seed: int = 0, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter
        high = int.from_bytes(hashlib.blake2b(f"bst:{seed}".encode(), digest_size=8).digest(), "big")
        high = (high & ~0xF000) | 0x4000  # UUID version 4
        text = f"{high:016x}"
        self._prefix = f"{text[:8]}-{text[8:12]}-{text[12:16]}-"

    def next_uuid(self) -> str:
        """Return a UUID-4-shaped id (Bybit's derivatives orderId/execId), unique per counter value."""
        self.counter += 1
        low = (2 << 62) | ((self.counter * _ODD) & _MASK62)  # RFC 4122 variant bits, then a bijection
        text = f"{low:016x}"
        return f"{self._prefix}{text[:4]}-{text[4:]}"

    def next_numeric(self) -> str:
        """Return a 19-digit decimal id (Bybit's spot orderId/execId)."""
        self.counter += 1
        return str(_NUMERIC_BASE + (self.seed % 1_000_000) * 1_000_000_000_000 + self.counter)
