"""Ports: the Protocols through which upper layers reach venues, feeds and storage.

One Protocol per port. Adapters (the REST client, the simulator, stores) satisfy them
structurally; the composition root (CLI, service) wires an adapter into each port.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class KlineRowSource(KlineSource, Protocol):
    """A KlineSource that also hands over the exchange's kline rows unparsed (bulk downloads).

    Bulk history skips Decimal/Bar objects: the download engine parses the decimal strings
    straight into float columns for Parquet (about 0.4 µs a row) and keeps the same strings as
    exact values for SQL. The engine falls back to `fetch_klines` when a source lacks this.
    """

    async def fetch_kline_rows(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> Sequence[Sequence[str]]:
        """Return the wire rows `[open_time_ms, open, high, low, close, volume, turnover]` (decimal
        strings as the exchange printed them) of the bars whose open time lies in [start_ms, end_ms],
        at most `limit`, in any order (Bybit sends newest first)."""
        ...
