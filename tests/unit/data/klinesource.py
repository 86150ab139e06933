"""KlineSource adapters over the simulator's generator (ground truth), with fault injection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import numpy as np

from bst.bybit.codec.market import encode_klines
from bst.data.arrays import KlineArrays
from bst.domain.errors import BybitServerError, BybitSymbolNotFoundError
from bst.domain.market import Bar, Category, Interval
from bst.sim.generator import MarketGenerator, UnknownInstrumentError


class GeneratorBars:
    """Serve /v5/market/kline semantics from a MarketGenerator as Bars (the KlineSource port)."""

    def __init__(
        self,
        generator: MarketGenerator,
        now_ms: int,
        *,
        fail_on: Callable[[int], BaseException | None] | None = None,
        gate: asyncio.Event | None = None,
        gate_after: int = 0,
    ) -> None:
        self.generator = generator
        self.now_ms = now_ms
        self.fail_on = fail_on
        self.gate = gate
        self.gate_after = gate_after
        self.gated = asyncio.Event()  # set when the first request reaches the gate
        self.calls: list[tuple[str, Interval, int, int]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def _window(
        self, category: Category, symbol: str, interval: Interval, start_ms: int, end_ms: int, limit: int
    ) -> list[Bar]:
        number = len(self.calls)
        self.calls.append((symbol, interval, start_ms, end_ms))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let other requests start: concurrency is observable
            if self.gate is not None and number >= self.gate_after:
                self.gated.set()
                await self.gate.wait()
            if self.fail_on is not None and (error := self.fail_on(number)) is not None:
                raise error
            try:
                cols = self.generator.kline_window(
                    symbol,
                    interval,
                    category=category,
                    limit=limit,
                    now_ms=self.now_ms,
                    start_ms=start_ms,
                    end_ms=end_ms,
                )
            except UnknownInstrumentError:
                raise BybitSymbolNotFoundError("params error: symbol invalid", ret_code=10001) from None
            return cols.to_bars()
        finally:
            self.in_flight -= 1

    async def fetch_klines(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> list[Bar]:
        return await self._window(category, symbol, interval, start_ms, end_ms, limit)


class GeneratorRows(GeneratorBars):
    """The same, also offering unparsed wire rows (the KlineRowSource port), newest first."""

    async def fetch_kline_rows(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> list[list[str]]:
        bars = await self._window(category, symbol, interval, start_ms, end_ms, limit)
        rows: list[list[str]] = encode_klines(category, symbol, bars)["list"]
        return rows


def fail_calls(
    *numbers: int, error: type[BaseException] = BybitServerError
) -> Callable[[int], BaseException | None]:
    """Return a fault plan failing the given call numbers (0-based)."""
    wanted = set(numbers)

    def plan(number: int) -> BaseException | None:
        return error("injected failure") if number in wanted else None

    return plan


def truth(
    generator: MarketGenerator,
    symbol: str,
    interval: Interval,
    start_ms: int,
    end_ms: int,
    *,
    category: Category = Category.LINEAR,
    now_ms: int | None = None,
) -> KlineArrays:
    """Return the generator's bars opening in [start_ms, end_ms) as store columns."""
    cols = generator.bar_columns(symbol, interval, start_ms, end_ms - 1, category=category, now_ms=now_ms)
    f = cols.to_float()
    return KlineArrays(
        np.asarray(f["open_time_ms"], dtype=np.int64),
        *(
            np.asarray(f[name], dtype=np.float64)
            for name in ("open", "high", "low", "close", "volume", "turnover")
        ),
    )


def exact_truth(
    generator: MarketGenerator, symbol: str, interval: Interval, start_ms: int, end_ms: int
) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]]:
    """Return the generator's bars as exact tuples."""
    bars = generator.bars(symbol, interval, start_ms, end_ms - 1)
    return [(b.open_time_ms, b.open, b.high, b.low, b.close, b.volume, b.turnover) for b in bars]
