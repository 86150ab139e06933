"""One-call candle access for scripts and notebooks (the seed notes' API) over any KlineSource.

    fetcher = KlineFetcher(client)                       # the REST client, or anything like it
    recent = await fetcher.get_klines("BTCUSDT", "60", limit=500)
    history = await fetcher.get_klines_historical("BTCUSDT", "1", total_candles=20_000)
    frames = await fetcher.fetch_multiple_symbols(["BTCUSDT", "ETHUSDT"], "15", limit=1000)

Results are DataFrames like `load_klines` returns (or KlineArrays with `as_numpy=True`), closed
bars only unless `include_open=True`. Recent bars go through the kline cache when one is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal, overload

import pandas as pd

from bst.data.arrays import KlineArrays, concat
from bst.data.cache import KlineCache
from bst.data.fetching import fetch_page
from bst.data.loader import TimeLike, to_ms
from bst.data.manifest import SeriesKey
from bst.data.ranges import RangeSet, first_open_at_or_after, plan_windows
from bst.domain.clock import Clock, SystemClock
from bst.domain.errors import ConfigError
from bst.domain.market import Category, Interval, parse_symbol
from bst.domain.ports import KlineSource

MAX_PER_REQUEST = 1000


def _interval(value: Interval | str | int) -> Interval:
    return value if isinstance(value, Interval) else Interval.parse(str(value))


class KlineFetcher:
    """Fetch candles straight from a source, with bounded concurrency and an optional cache."""

    def __init__(
        self,
        source: KlineSource,
        *,
        category: Category = Category.LINEAR,
        cache: KlineCache | None = None,
        clock: Clock | None = None,
        concurrency: int = 5,
    ) -> None:
        if concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        self.source = source
        self.category = category
        self.cache = cache
        self.clock: Clock = clock or SystemClock()
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)

    @overload
    async def get_klines(
        self,
        symbol: str,
        interval: Interval | str | int,
        limit: int = ...,
        *,
        include_open: bool = ...,
        as_numpy: Literal[False] = ...,
    ) -> pd.DataFrame: ...

    @overload
    async def get_klines(
        self,
        symbol: str,
        interval: Interval | str | int,
        limit: int = ...,
        *,
        include_open: bool = ...,
        as_numpy: Literal[True],
    ) -> KlineArrays: ...

    async def get_klines(
        self,
        symbol: str,
        interval: Interval | str | int,
        limit: int = 200,
        *,
        include_open: bool = False,
        as_numpy: bool = False,
    ) -> pd.DataFrame | KlineArrays:
        """Return the newest `limit` bars (closed ones; plus the open one with `include_open`)."""
        if limit < 1:
            raise ConfigError("limit must be at least 1")
        iv = _interval(interval)
        symbol = parse_symbol(symbol)
        now = self.clock.now_ms()
        open_bar = iv.open_time_ms(now)
        key = SeriesKey(self.category, symbol, iv)
        closed: KlineArrays | None = None
        if self.cache is not None and limit <= self.cache.max_candles:
            cached = await self.cache.get(key)
            last_closed = iv.open_time_ms(open_bar - 1)
            if cached is not None and len(cached) >= limit and int(cached.open_time_ms[-1]) == last_closed:
                closed = cached.tail(limit)
        if closed is None:
            closed = await self._backward(symbol, iv, limit, open_bar)
            if self.cache is not None and len(closed):
                await self.cache.update(key, closed)
        bars = closed
        if include_open:
            page = await self._page(symbol, iv, open_bar, iv.next_open_ms(open_bar))
            bars = concat([closed, page]).normalized()
            if len(page):
                bars = bars.tail(limit)
        return bars if as_numpy else bars.to_frame()

    @overload
    async def get_klines_historical(
        self,
        symbol: str,
        interval: Interval | str | int,
        total_candles: int = ...,
        end_time: TimeLike = ...,
        *,
        as_numpy: Literal[False] = ...,
    ) -> pd.DataFrame: ...

    @overload
    async def get_klines_historical(
        self,
        symbol: str,
        interval: Interval | str | int,
        total_candles: int = ...,
        end_time: TimeLike = ...,
        *,
        as_numpy: Literal[True],
    ) -> KlineArrays: ...

    async def get_klines_historical(
        self,
        symbol: str,
        interval: Interval | str | int,
        total_candles: int = 2000,
        end_time: TimeLike = None,
        *,
        as_numpy: bool = False,
    ) -> pd.DataFrame | KlineArrays:
        """Return up to `total_candles` bars opening before `end_time` (default: now, closed only).

        Pages backwards through history, `1000` bars a request, several requests at once; stops
        early only where the exchange has no older bars (before the listing).
        """
        if total_candles < 1:
            raise ConfigError("total_candles must be at least 1")
        iv = _interval(interval)
        now = self.clock.now_ms()
        end = to_ms(end_time) if end_time is not None else None
        end_ms = min(end, iv.open_time_ms(now)) if end is not None else iv.open_time_ms(now)
        bars = await self._backward(parse_symbol(symbol), iv, total_candles, end_ms)
        return bars if as_numpy else bars.to_frame()

    async def fetch_multiple_symbols(
        self,
        symbols: Sequence[str],
        interval: Interval | str | int,
        limit: int = 200,
        *,
        as_numpy: bool = False,
    ) -> dict[str, pd.DataFrame | KlineArrays]:
        """Return the newest `limit` closed bars of every symbol, fetched concurrently."""
        wanted = list(dict.fromkeys(parse_symbol(s) for s in symbols))
        results = await asyncio.gather(*(self._recent(s, interval, limit, as_numpy) for s in wanted))
        return dict(zip(wanted, results, strict=True))

    async def _recent(
        self, symbol: str, interval: Interval | str | int, limit: int, as_numpy: bool
    ) -> pd.DataFrame | KlineArrays:
        if as_numpy:
            return await self.get_klines(symbol, interval, limit, as_numpy=True)
        return await self.get_klines(symbol, interval, limit)

    async def _page(self, symbol: str, interval: Interval, start_ms: int, end_ms: int) -> KlineArrays:
        async with self._slots:
            page = await fetch_page(
                self.source, self.category, symbol, interval, start_ms, end_ms, limit=MAX_PER_REQUEST
            )
        return page.bars

    async def _backward(self, symbol: str, interval: Interval, count: int, end_ms: int) -> KlineArrays:
        """Return the newest `count` bars opening before `end_ms`."""
        start = interval.step_back(first_open_at_or_after(interval, end_ms), count)
        windows = plan_windows(interval, RangeSet.of([(start, end_ms)]), MAX_PER_REQUEST)
        pages = await asyncio.gather(*(self._page(symbol, interval, w.start_ms, w.end_ms) for w in windows))
        bars = concat(pages).normalized()
        # Gaps leave fewer bars than asked: keep paging back until enough, or nothing older exists.
        oldest = start
        while len(bars) < count:
            need = count - len(bars)
            lo = interval.step_back(oldest, min(MAX_PER_REQUEST, need))
            page = await self._page(symbol, interval, lo, oldest)
            if len(page) == 0:
                break
            bars = concat([page, bars]).normalized()
            oldest = lo
        return bars.tail(count)
