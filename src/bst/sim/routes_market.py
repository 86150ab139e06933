"""Public market endpoints of the simulator, with Bybit v5's shapes, limits and errors.

Kline semantics (Bybit leaves the overflow case undocumented; this is the sim's documented choice):
both bounds are inclusive on bar open time; the list is newest first; `end` defaults to and is capped
at the sim clock's now; when more than `limit` bars fall in [start, end], the newest `limit` bars
ending at `end` are returned; bars before the listing do not exist (empty list); the bar holding
"now" contains only the trades printed so far.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit import endpoints
from bst.bybit.codec.market import (
    encode_instrument,
    encode_kline_rows,
    encode_orderbook,
    encode_recent_trades,
    encode_server_time,
)
from bst.domain.instrument import Instrument
from bst.domain.market import Category
from bst.sim.columns import PriceKind
from bst.sim.generator import MarketGenerator
from bst.sim.replies import (
    ParamError,
    category_param,
    int_param,
    interval_param,
    limit_param,
    ok,
    page_of,
    params_error,
    required_param,
    symbol_invalid,
    text_param,
)
from bst.sim.scale import DecimalScale
from bst.sim.state import SimState
from bst.sim.tickers import ticker_snapshot

_TRADING = (Category.SPOT, Category.LINEAR, Category.INVERSE)
_DERIVATIVES = (Category.LINEAR, Category.INVERSE)
_ALL = (Category.SPOT, Category.LINEAR, Category.INVERSE, Category.OPTION)


def _listed_symbol(state: SimState, request: Request, category: Category, now_ms: int) -> str:
    symbol = required_param(request, "symbol")
    gen = state.generator
    if not gen.has_instrument(category, symbol) or gen.path(category, symbol).launch_minute_ms > now_ms:
        raise symbol_invalid()
    return symbol


async def _answer(state: SimState, work: Callable[[int], dict[str, Any]]) -> Response:
    """Run `work(now_ms)` off the event loop and wrap it in an envelope (10001 on ParamError)."""
    now_ms = state.now_ms()
    try:
        # The loop's default executor hands work over through a C queue: about a quarter less CPU
        # per request than anyio's worker threads (Python-level Condition), which showed up at
        # hundreds of kline pages a second.
        result = await asyncio.get_running_loop().run_in_executor(None, work, now_ms)
    except ParamError as e:
        return params_error(str(e), now_ms)
    return ok(result, now_ms)


class MarketRoutes:
    """Handlers bound to one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    @property
    def gen(self) -> MarketGenerator:
        """Return the market generator."""
        return self.state.generator

    async def server_time(self, request: Request) -> Response:
        """GET /v5/market/time."""
        now_ms = self.state.now_ms()
        return ok(encode_server_time(now_ms * 1_000_000), now_ms)

    async def kline(self, request: Request) -> Response:
        """GET /v5/market/kline."""
        return await self._klines(request, PriceKind.LAST)

    async def mark_price_kline(self, request: Request) -> Response:
        """GET /v5/market/mark-price-kline."""
        return await self._klines(request, PriceKind.MARK)

    async def index_price_kline(self, request: Request) -> Response:
        """GET /v5/market/index-price-kline."""
        return await self._klines(request, PriceKind.INDEX)

    async def _klines(self, request: Request, kind: PriceKind) -> Response:
        allowed = endpoints.KLINE_CATEGORIES if kind is PriceKind.LAST else _DERIVATIVES

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, allowed, default=Category.LINEAR)
            symbol = _listed_symbol(self.state, request, category, now_ms)
            interval = interval_param(request)
            limit = limit_param(
                request, high=endpoints.KLINE_MAX_LIMIT, default=endpoints.KLINE_DEFAULT_LIMIT
            )
            start = int_param(request, "start", low=0, high=None, default=None)
            end = int_param(request, "end", low=0, high=None, default=None)
            if start is not None and end is not None and start > end:
                raise ParamError(f"params error: start ({start}) must not be after end ({end})")
            cols = self.gen.kline_window(
                symbol,
                interval,
                category=category,
                limit=limit,
                now_ms=now_ms,
                start_ms=start,
                end_ms=end,
                kind=kind,
            )
            rows = orjson.Fragment(cols.wire_rows_json(price_only=kind is not PriceKind.LAST))
            return encode_kline_rows(category, symbol, rows)

        return await _answer(self.state, work)

    async def instruments_info(self, request: Request) -> Response:
        """GET /v5/market/instruments-info (cursor pagination)."""

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, _ALL)
            symbol = text_param(request, "symbol")
            status = text_param(request, "status")
            base_coin = text_param(request, "baseCoin")
            items = [
                i
                for i in self.gen.instruments(category, now_ms)
                if (symbol is None or i.symbol == symbol)
                and (status is None or i.status == status)
                and (base_coin is None or i.base_coin == base_coin)
            ]
            page, cursor = page_of(
                items,
                request,
                high=endpoints.INSTRUMENTS_MAX_LIMIT,
                default=endpoints.INSTRUMENTS_DEFAULT_LIMIT,
            )
            return {
                "category": category.value,
                "list": [_instrument_item(i) for i in page],
                "nextPageCursor": cursor,
            }

        return await _answer(self.state, work)

    async def tickers(self, request: Request) -> Response:
        """GET /v5/market/tickers."""

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, _ALL)
            symbol = text_param(request, "symbol")
            if category is Category.OPTION:
                return {"category": category.value, "list": []}
            if symbol is not None:
                symbols = [_listed_symbol(self.state, request, category, now_ms)]
            else:
                symbols = [i.symbol for i in self.gen.instruments(category, now_ms)]
            return {
                "category": category.value,
                "list": [ticker_snapshot(self.gen, category, s, now_ms).to_wire() for s in symbols],
            }

        return await _answer(self.state, work)

    async def orderbook(self, request: Request) -> Response:
        """GET /v5/market/orderbook."""

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, _TRADING)
            symbol = _listed_symbol(self.state, request, category, now_ms)
            default = 1 if category is Category.SPOT else 25
            depth = limit_param(request, high=1000, default=default)
            return encode_orderbook(self.gen.book_snapshot(symbol, now_ms, depth, category=category))

        return await _answer(self.state, work)

    async def recent_trade(self, request: Request) -> Response:
        """GET /v5/market/recent-trade."""

        def work(now_ms: int) -> dict[str, Any]:
            category = category_param(request, _TRADING)
            symbol = _listed_symbol(self.state, request, category, now_ms)
            high, default = (60, 60) if category is Category.SPOT else (1000, 500)
            limit = limit_param(request, high=high, default=default)
            trades = self.gen.recent_trades(symbol, now_ms, limit, category=category)
            return encode_recent_trades(category, trades)

        return await _answer(self.state, work)


def _instrument_item(instrument: Instrument) -> dict[str, Any]:
    item = encode_instrument(instrument)
    if "priceScale" in item:
        # Bybit's priceScale counts the tick's printed places ("0.10" -> "2").
        item["priceScale"] = str(DecimalScale(instrument.tick_size).places)
    return item


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the public market routes."""
    handlers = MarketRoutes(state)
    table: list[tuple[str, Callable[[Request], Any]]] = [
        (endpoints.SERVER_TIME.path, handlers.server_time),
        (endpoints.KLINE.path, handlers.kline),
        (endpoints.MARK_PRICE_KLINE.path, handlers.mark_price_kline),
        (endpoints.INDEX_PRICE_KLINE.path, handlers.index_price_kline),
        (endpoints.INSTRUMENTS_INFO.path, handlers.instruments_info),
        (endpoints.TICKERS.path, handlers.tickers),
        (endpoints.ORDERBOOK.path, handlers.orderbook),
        (endpoints.RECENT_TRADE.path, handlers.recent_trade),
    ]
    return [Route(path, endpoint, methods=["GET"]) for path, endpoint in table]
