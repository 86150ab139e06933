"""One-shot market-data queries against the configured exchange (each opens and closes a client)."""

from __future__ import annotations

from bst.app.clock import ServerTimeReading, read_server_time
from bst.app.venues import rest_client
from bst.domain.errors import ConfigError
from bst.domain.instrument import Instrument
from bst.domain.market import Bar, BookSnapshot, Category, Interval, Ticker, Trade
from bst.settings import Settings

__all__ = [
    "ServerTimeReading",
    "instruments",
    "klines",
    "order_book",
    "recent_trades",
    "server_time",
    "ticker",
]


async def klines(
    settings: Settings,
    category: Category,
    symbol: str,
    interval: Interval,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 10,
) -> list[Bar]:
    """Return up to `limit` candles, oldest first (bounds inclusive on open time)."""
    async with rest_client(settings) as client:
        return await client.get_klines(
            category, symbol, interval, start_ms=start_ms, end_ms=end_ms, limit=limit
        )


async def ticker(settings: Settings, category: Category, symbol: str) -> Ticker:
    """Return the ticker of one symbol, or raise ConfigError when the exchange has none."""
    async with rest_client(settings) as client:
        found = await client.get_tickers(category, symbol)
    if not found:
        raise ConfigError(f"no ticker for {symbol} in {category.value}")
    return found[0]


async def order_book(settings: Settings, category: Category, symbol: str, depth: int) -> BookSnapshot:
    """Return an order-book snapshot of up to `depth` levels a side."""
    async with rest_client(settings) as client:
        return await client.get_orderbook(category, symbol, depth)


async def recent_trades(settings: Settings, category: Category, symbol: str, limit: int) -> list[Trade]:
    """Return the most recent public trades, oldest first."""
    async with rest_client(settings) as client:
        return await client.get_recent_trades(category, symbol, limit)


async def instruments(settings: Settings, category: Category, symbol: str | None = None) -> list[Instrument]:
    """Return the instruments of `category` (one, when `symbol` is given) with their trading rules."""
    async with rest_client(settings) as client:
        return await client.get_instruments(category, symbol)


async def server_time(settings: Settings) -> ServerTimeReading:
    """Return the exchange's clock and its offset from ours."""
    async with rest_client(settings) as client:
        return await read_server_time(client)
