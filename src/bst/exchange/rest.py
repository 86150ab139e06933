"""The Bybit v5 REST client: typed market-data calls here, signed trading calls in `private_rest`.

Usage:
    async with BybitRestClient(ClientConfig(base_url=...)) as client:
        bars = await client.get_klines(Category.LINEAR, "BTCUSDT", Interval.H1, limit=10)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
import numpy.typing as npt

from bst.bybit import endpoints as ep
from bst.bybit.codec import market as codec
from bst.bybit.retcodes import RetCode
from bst.domain.clock import Clock
from bst.domain.errors import BybitInvalidParameterError, BybitSymbolNotFoundError
from bst.domain.instrument import Instrument
from bst.domain.market import Bar, BookSnapshot, Category, Interval, PriceBar, ServerTime, Ticker, Trade
from bst.exchange.account_rest import AccountRestMixin
from bst.exchange.config import ClientConfig
from bst.exchange.http import BybitHttp, Params
from bst.exchange.market_stats_rest import MarketStatsMixin
from bst.exchange.private_rest import PrivateRestMixin
from bst.exchange.throttle import RateLimiter

if TYPE_CHECKING:
    from bst.domain.ports import KlineRowSource, OrderGateway

_ORDERBOOK_LIMITS = {Category.SPOT: 1000, Category.LINEAR: 1000, Category.INVERSE: 1000, Category.OPTION: 25}
_TRADE_LIMITS = {Category.SPOT: 60, Category.LINEAR: 1000, Category.INVERSE: 1000, Category.OPTION: 100}


def _check_limit(name: str, value: int, high: int) -> None:
    if not 1 <= value <= high:
        raise BybitInvalidParameterError(f"{name} must be between 1 and {high}, got {value}")


def _check_kline_category(category: Category) -> None:
    if category not in ep.KLINE_CATEGORIES:
        raise BybitInvalidParameterError(f"klines exist for spot, linear and inverse, not {category.value}")


class BybitRestClient(PrivateRestMixin, AccountRestMixin, MarketStatsMixin):
    """Async Bybit v5 REST client with one pooled connection set, shared pacing and retries."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = BybitHttp(config, clock=clock, limiter=limiter, transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    def __repr__(self) -> str:
        return f"BybitRestClient(base_url={self.http.config.base_url!r})"

    # -- market data ----------------------------------------------------------------------------

    async def get_server_time(self) -> ServerTime:
        """Return the exchange clock."""
        env = await self.http.call(ep.SERVER_TIME)
        return codec.parse_server_time(env.result, env.time_ms)

    async def sync_time(self) -> int:
        """Measure and remember the exchange clock offset (ms); signed calls use it."""
        return await self.http.sync_time()

    async def _kline_result(
        self,
        endpoint: ep.Endpoint,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
    ) -> dict[str, Any]:
        if endpoint is ep.KLINE:
            _check_kline_category(category)
        _check_limit("limit", limit, ep.KLINE_MAX_LIMIT)
        if start_ms is not None and end_ms is not None and start_ms > end_ms:
            raise BybitInvalidParameterError(f"start {start_ms} is after end {end_ms}")
        params: Params = {
            "category": category.value,
            "symbol": symbol,
            "interval": Interval(interval).value,
            "start": start_ms,
            "end": end_ms,
            "limit": limit,
        }
        env = await self.http.call(endpoint, params)
        return env.result

    async def get_klines(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = ep.KLINE_DEFAULT_LIMIT,
    ) -> list[Bar]:
        """Return up to `limit` (1..1000) candles, oldest first; bounds inclusive on open time."""
        result = await self._kline_result(ep.KLINE, category, symbol, interval, start_ms, end_ms, limit)
        return codec.parse_klines(result)

    async def fetch_klines(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = ep.KLINE_MAX_LIMIT,
    ) -> list[Bar]:
        """Return the candles opening in [start_ms, end_ms], oldest first (the KlineSource port)."""
        return await self.get_klines(
            category, symbol, interval, start_ms=start_ms, end_ms=end_ms, limit=limit
        )

    async def fetch_kline_rows(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = ep.KLINE_MAX_LIMIT,
    ) -> Sequence[Sequence[str]]:
        """Return the unparsed wire rows (7 decimal strings each, newest first): the KlineRowSource port."""
        result = await self._kline_result(ep.KLINE, category, symbol, interval, start_ms, end_ms, limit)
        rows: Sequence[Sequence[str]] = result.get("list") or []
        return rows

    async def fetch_kline_columns(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = ep.KLINE_MAX_LIMIT,
    ) -> dict[str, npt.NDArray[Any]]:
        """Return candles as research columns (int64 open_time_ms, float64 OHLCV+turnover), oldest first."""
        result = await self._kline_result(ep.KLINE, category, symbol, interval, start_ms, end_ms, limit)
        return codec.parse_klines_columns(result)

    async def get_mark_price_klines(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = ep.KLINE_DEFAULT_LIMIT,
    ) -> list[PriceBar]:
        """Return mark-price candles, oldest first."""
        result = await self._kline_result(
            ep.MARK_PRICE_KLINE, category, symbol, interval, start_ms, end_ms, limit
        )
        return codec.parse_price_klines(result)

    async def get_instruments(
        self,
        category: Category,
        symbol: str | None = None,
        *,
        status: str | None = None,
        page_limit: int = 500,
    ) -> list[Instrument]:
        """Return every instrument of `category` (all pages, following nextPageCursor)."""
        _check_limit("page_limit", page_limit, ep.INSTRUMENTS_MAX_LIMIT)
        found: list[Instrument] = []
        cursor = ""
        seen: set[str] = set()
        while True:
            params: Params = {
                "category": category.value,
                "symbol": symbol or None,
                "status": status,
                "limit": page_limit,
                "cursor": cursor or None,
            }
            env = await self.http.call(ep.INSTRUMENTS_INFO, params)
            page, cursor = codec.parse_instruments(env.result, category)
            found.extend(page)
            # A cursor seen before would loop forever; Bybit ends with "" (spot has no pagination).
            if not cursor or not page or cursor in seen:
                return found
            seen.add(cursor)

    async def get_instrument(self, category: Category, symbol: str) -> Instrument:
        """Return one instrument, or raise BybitSymbolNotFoundError."""
        found = await self.get_instruments(category, symbol)
        for inst in found:
            if inst.symbol == symbol:
                return inst
        raise BybitSymbolNotFoundError(
            f"symbol {symbol} not found in {category.value}", ret_code=RetCode.PARAMS_ERROR
        )

    async def get_tickers(self, category: Category, symbol: str | None = None) -> list[Ticker]:
        """Return the tickers of one symbol or of the whole category."""
        env = await self.http.call(ep.TICKERS, {"category": category.value, "symbol": symbol or None})
        return codec.parse_tickers(env.result)

    async def get_orderbook(self, category: Category, symbol: str, limit: int = 25) -> BookSnapshot:
        """Return an order-book snapshot of up to `limit` levels a side."""
        _check_limit("limit", limit, _ORDERBOOK_LIMITS[category])
        env = await self.http.call(
            ep.ORDERBOOK, {"category": category.value, "symbol": symbol, "limit": limit}
        )
        return codec.parse_orderbook(env.result)

    async def get_recent_trades(self, category: Category, symbol: str, limit: int = 60) -> list[Trade]:
        """Return the most recent public trades, oldest first."""
        _check_limit("limit", limit, _TRADE_LIMITS[category])
        env = await self.http.call(
            ep.RECENT_TRADE, {"category": category.value, "symbol": symbol, "limit": limit}
        )
        return codec.parse_recent_trades(env.result)


if TYPE_CHECKING:  # `make typecheck` proves the client satisfies the ports (mypy checks src/bst only)

    def _is_order_gateway(client: BybitRestClient) -> OrderGateway:
        return client

    def _is_kline_row_source(client: BybitRestClient) -> KlineRowSource:
        return client
