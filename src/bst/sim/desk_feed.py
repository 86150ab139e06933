"""The generator's market as the engine's input: domain market events for the trading desk's feeder.

What the desk feeds for a symbol between two syncs (sim times `fed_ms` < t <= `now_ms`):
- its public trades, one `TradesUpdate` per trade (the generator's trades, times and ids); after a
  pause longer than `CATCH_UP_LIMIT_MS` only the trades of that last stretch (prices still move);
- for a linear symbol a `TickerUpdate` (last trade price, mark price, the period's funding rate and
  the next funding time) one millisecond before each funding boundary passed, so a settlement pays
  the generator's rate at the generator's mark, and at `now_ms`;
- a fresh `BOOK_DEPTH`-level book snapshot at `now_ms`, when the engine's book is `BOOK_REFRESH_MS`
  old or more (the desk decides; `book_event` builds it).
A newly fed symbol starts with a ticker (a spot one: the last price only) and a book at `now_ms`.

Every event is a pure function of the generator (its seed) and the times asked for, so the same
syncs feed the same events and the engine books the same ids and fills. Sources are lazy: a long
catch-up asks the generator for one funding period of trades at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from bst.domain.events import BookUpdate, MarketEvent, TickerUpdate, TradesUpdate
from bst.domain.market import Category, Ticker
from bst.sim.columns import PriceKind
from bst.sim.generator import MarketGenerator
from bst.sim.tickers import FUNDING_PERIOD_MS, funding_rate

BOOK_DEPTH = 50
BOOK_REFRESH_MS = 100
CATCH_UP_LIMIT_MS = 6 * 3_600_000
"""Trades older than this before now are not replayed after a long pause (prices still are)."""

SymbolKey = tuple[Category, str]


def ticker_event(gen: MarketGenerator, category: Category, symbol: str, at_ms: int) -> TickerUpdate:
    """Return the prices the engine needs at `at_ms`: last trade, and for linear mark, index, funding."""
    last = gen.last_price(symbol, at_ms, category=category)
    mark = index = rate = next_funding_ms = None
    if category is Category.LINEAR:
        mark = gen.mark_price(symbol, at_ms, category=category)
        index = gen.mark_price(symbol, at_ms, category=category, kind=PriceKind.INDEX)
        rate = funding_rate(gen.seed, gen.path(category, symbol).spec.key, at_ms)
        next_funding_ms = (at_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
    ticker = Ticker(
        symbol=symbol,
        last_price=last,
        bid1_price=None,
        bid1_size=None,
        ask1_price=None,
        ask1_size=None,
        mark_price=mark,
        index_price=index,
        funding_rate=rate,
        next_funding_time_ms=next_funding_ms,
    )
    return TickerUpdate(category, symbol, ticker, True, None, at_ms, at_ms)


def book_event(gen: MarketGenerator, category: Category, symbol: str, at_ms: int) -> BookUpdate:
    """Return the generator's book at `at_ms` as a snapshot message (levels as exact strings)."""
    snapshot = gen.book_snapshot(symbol, at_ms, BOOK_DEPTH, category=category)
    return BookUpdate(
        category,
        symbol,
        BOOK_DEPTH,
        True,
        [[str(p), str(q)] for p, q in snapshot.bids],
        [[str(p), str(q)] for p, q in snapshot.asks],
        snapshot.update_id,
        snapshot.seq,
        at_ms,
        snapshot.cts_ms,
        at_ms,
    )


def start_sources(gen: MarketGenerator, key: SymbolKey, now_ms: int) -> list[Iterable[MarketEvent]]:
    """Return the sources that bring a newly fed symbol's market into the engine at `now_ms`."""
    category, symbol = key
    return [[ticker_event(gen, category, symbol, now_ms)], [book_event(gen, category, symbol, now_ms)]]


def _ends(fed_ms: int, now_ms: int) -> list[int]:
    """Return the times a symbol fed up to `fed_ms` is fed to: before each funding boundary, now."""
    first = (fed_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
    return [b - 1 for b in range(first, now_ms + 1, FUNDING_PERIOD_MS) if b - 1 > fed_ms] + [now_ms]


def _trades(gen: MarketGenerator, key: SymbolKey, fed_ms: int, now_ms: int) -> Iterator[TradesUpdate]:
    category, symbol = key
    first_trade_ms = now_ms - CATCH_UP_LIMIT_MS
    start = fed_ms + 1
    for end in _ends(fed_ms, now_ms):
        lo = max(start, first_trade_ms)
        if lo <= end:
            for trade in gen.trades(symbol, lo, end, category=category):
                yield TradesUpdate(category, symbol, (trade,), trade.ts_ms, trade.ts_ms)
        start = end + 1


def _tickers(gen: MarketGenerator, key: SymbolKey, fed_ms: int, now_ms: int) -> Iterator[TickerUpdate]:
    category, symbol = key
    for end in _ends(fed_ms, now_ms):
        yield ticker_event(gen, category, symbol, end)


def sync_sources(
    gen: MarketGenerator, fed_ms: Mapping[SymbolKey, int], books: Iterable[SymbolKey], now_ms: int
) -> list[Iterable[MarketEvent]]:
    """Return the sources that bring symbols fed up to `fed_ms` to `now_ms`, plus books at now.

    Source order settles ties: at one instant the trades of every symbol come first, then the
    tickers, then the books (symbols in `fed_ms` order).
    """
    behind = [(key, ms) for key, ms in fed_ms.items() if ms < now_ms]
    sources: list[Iterable[MarketEvent]] = [_trades(gen, key, ms, now_ms) for key, ms in behind]
    sources += [_tickers(gen, key, ms, now_ms) for key, ms in behind if key[0] is Category.LINEAR]
    sources += [[book_event(gen, category, symbol, now_ms)] for category, symbol in books]
    return sources
