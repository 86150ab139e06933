"""Deterministic ids: a seeded counter rendered as Bybit-shaped order and execution ids."""

from __future__ import annotations

import hashlib
import uuid

_NUMERIC_BASE = 1_600_000_000_000_000_000


class IdFactory:
    """Produce unique ids that depend only on the seed and how many were issued before."""

    __slots__ = ("counter", "seed")

    def __init__(self, seed: int = 0, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter

    def next_uuid(self) -> str:
        """Return a UUID-4-shaped id (Bybit's derivatives orderId/execId)."""
        self.counter += 1
        digest = hashlib.blake2b(f"{self.seed}:{self.counter}".encode(), digest_size=16).digest()
        return str(uuid.UUID(bytes=digest, version=4))

    def next_numeric(self) -> str:
        """Return a 19-digit decimal id (Bybit's spot orderId/execId)."""
        self.counter += 1
        return str(_NUMERIC_BASE + (self.seed % 1_000_000) * 1_000_000_000_000 + self.counter)
