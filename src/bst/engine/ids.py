"""Deterministic ids: a seeded counter rendered as Bybit-shaped order and execution ids.

An id depends on the seed, the epoch and the counter. Epoch 0 (an engine nobody persists) gives
the same ids for the same seed on every run. A persistent simulator starts a new epoch at every
start (`bst sim --state-file` keeps the epoch outside the state it may lose), so an id handed out
before a crash is never handed to a different order afterwards, even if the state that held the
counter was lost: uuid-shaped ids take a different 60-bit prefix per epoch, numeric (spot) ids a
different block of 10^12 per epoch.
"""

from __future__ import annotations

import hashlib

_NUMERIC_BASE = 1_600_000_000_000_000_000
_EPOCH_NUMERIC_BASE = 3_000_000_000_000_000_000
_EPOCH_BLOCK = 10**12
_EPOCH_BLOCKS = 6_000_000  # numeric ids stay 19 digits: 3e18 + 6e6 * 1e12 < 1e19
_MASK62 = (1 << 62) - 1
_ODD = 0x2545F4914F6CDD1D  # an odd multiplier: n -> n * _ODD mod 2^62 is a bijection


class IdFactory:
    """Produce unique ids that depend only on the seed, the epoch and how many were issued before."""

    __slots__ = ("_prefix", "counter", "epoch", "seed")

    def __init__(self, seed: int = 0, counter: int = 0, epoch: int = 0) -> None:
        if epoch < 0:
            raise ValueError(f"id epoch must be >= 0, got {epoch}")
        self.seed = seed
        self.counter = counter
        self.epoch = epoch
        salt = f"bst:{seed}" if epoch == 0 else f"bst:{seed}:epoch:{epoch}"
        high = int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "big")
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
        if self.epoch == 0:
            return str(_NUMERIC_BASE + (self.seed % 1_000_000) * 1_000_000_000_000 + self.counter)
        block = (self.epoch % _EPOCH_BLOCKS) * _EPOCH_BLOCK
        return str(_EPOCH_NUMERIC_BASE + block + self.counter % _EPOCH_BLOCK)
