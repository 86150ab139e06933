"""Ports: the Protocols through which upper layers reach venues, feeds and storage.

One Protocol per port. Adapters (the REST client, the simulator, stores) satisfy them
structurally; the composition root (CLI, service) wires an adapter into each port.
"""

from __future__ import annotations

from typing import Protocol

from bst.domain.market import Bar, Category, Interval


class KlineSource(Protocol):
    """Anything that returns exchange candles for a time range (the REST client, the simulator)."""

    async def fetch_klines(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> list[Bar]:
        """Return the bars whose open time lies in [start_ms, end_ms], oldest first, at most `limit`."""
        ...
