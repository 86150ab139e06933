"""Market data into the engine: the domain's market events, each moving the clock first.

`MarketInput.apply(event)` is the one way in; the engine's `on_*` methods are thin shorthands over
the same handlers (`book`, `trade`, `prices`), so there is one path per kind of input. Every event
advances the clock to its time first (running due latency arrivals and funding settlements); a
stale time is applied at the current time (time never moves backwards). Events whose parts carry
their own times (the trades of a `TradesUpdate`, the legs of a bar) apply each part at its own time,
then move the clock to the event's `ts_ms`.

- `BookUpdate`: a snapshot replaces the external book, a delta sets levels (size "0" deletes). The
  exchange's decimal strings are converted exactly once, here, into the engine's `LiquidityBook`
  (see `bst.engine.book` for why it is not the domain `OrderBook`); a malformed level refuses the
  whole update before anything changed. Update ids and cross sequences are not checked: continuity
  is the feed's business (`bst.domain.orderbook` checks it for live streams).
- `TradesUpdate`: each public trade fills the resting orders it reaches and sets the last price.
- `TickerUpdate`: sets the last, mark and index prices and the funding rate when given; a next
  funding time later than now becomes the symbol's next settlement (the feed's schedule wins). The
  ticker's best bid/ask are not book data and are ignored.
- `FundingUpdate`: sets the rate the next settlement applies; its `funding_time_ms`, when later
  than now, becomes the next settlement.
- `KlineUpdate`: each confirmed bar moves the market along four prints (see `bar_path`); bars still
  open (`confirmed` false) are ignored, as their trades arrive (or not) on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from bst.domain.errors import ConfigError
from bst.domain.events import (
    BookUpdate,
    FundingUpdate,
    KlineUpdate,
    LiveBar,
    MarketEvent,
    RawLevels,
    TickerUpdate,
    TradesUpdate,
)
from bst.domain.market import Category, PriceLevel, Side
from bst.engine import bar_fills
from bst.engine.matching import Matcher
from bst.engine.timeline import Timeline
from bst.engine.venue import SymbolState, Venue


def parse_levels(symbol: str, raw: RawLevels) -> list[PriceLevel]:
    """Return exchange levels `[[price, size], ...]` as exact Decimals; ConfigError on a bad one.

    Prices must be positive and sizes non-negative finite decimal strings (size "0" deletes).
    """
    levels: list[PriceLevel] = []
    for level in raw:
        try:
            text_price, text_size = level[0], level[1]
            if type(text_price) is not str or type(text_size) is not str:
                raise TypeError("levels are decimal strings")
            price, size = Decimal(text_price), Decimal(text_size)
            if not (price.is_finite() and size.is_finite() and price > 0 and size >= 0):
                raise ValueError("price must be positive and size non-negative")
        except (IndexError, TypeError, ValueError, InvalidOperation) as e:
            raise ConfigError(f"{symbol}: malformed book level {level!r} ({e})") from e
        levels.append((price, size))
    return levels


def bar_path(live: LiveBar) -> tuple[tuple[int, Decimal], ...]:
    """Return the (time ms, price) prints a confirmed bar moves the market through.

    Open at the bar's open time; then the extreme nearer to the open (on a tie: the low first when
    the bar closed at or above its open, else the high), then the other extreme, at one and two
    thirds of the bar; the close at its last millisecond (`end_ms`).
    """
    bar = live.bar
    to_high, to_low = bar.high - bar.open, bar.open - bar.low
    low_first = to_low < to_high or (to_low == to_high and bar.close >= bar.open)
    first, second = (bar.low, bar.high) if low_first else (bar.high, bar.low)
    start, span = bar.open_time_ms, max(0, live.end_ms - bar.open_time_ms)
    return (
        (start, bar.open),
        (start + span // 3, first),
        (start + 2 * span // 3, second),
        (start + span, bar.close),
    )


class MarketInput:
    """The engine's market-data handlers over its venue, matcher and clock."""

    def __init__(self, venue: Venue, matcher: Matcher, timeline: Timeline) -> None:
        self.venue = venue
        self.matcher = matcher
        self.timeline = timeline

    def apply(self, event: MarketEvent) -> None:
        """Apply one market event (see the module docstring for what each kind does)."""
        if isinstance(event, BookUpdate):
            sym = self.symbol(event.symbol, event.category)
            bids = parse_levels(event.symbol, event.bids)
            asks = parse_levels(event.symbol, event.asks)
            self.book(sym, bids, asks, event.snapshot, event.ts_ms)
        elif isinstance(event, TradesUpdate):
            sym = self.symbol(event.symbol, event.category)
            for trade in event.trades:
                self.trade(sym, trade.price, trade.size, trade.side, trade.ts_ms)
            self.advance(event.ts_ms)
        elif isinstance(event, TickerUpdate):
            ticker = event.ticker
            self.prices(
                self.symbol(event.symbol, event.category),
                event.ts_ms,
                last=ticker.last_price if ticker.last_price > 0 else None,
                mark=ticker.mark_price,
                index=ticker.index_price,
                funding_rate=ticker.funding_rate,
                next_funding_ms=ticker.next_funding_time_ms,
            )
        elif isinstance(event, FundingUpdate):
            self.prices(
                self.symbol(event.symbol, event.category),
                event.ts_ms,
                funding_rate=event.funding_rate,
                next_funding_ms=event.funding_time_ms,
            )
        else:
            self.bars(event)

    def symbol(self, symbol: str, category: Category | None) -> SymbolState:
        """Return a listed symbol's market (`category` may be omitted while the name is unique)."""
        symbols = self.venue.symbols
        if category is not None:
            sym = symbols.get((category, symbol))
            if sym is None:
                raise ConfigError(f"{category} symbol {symbol} is not listed in the engine")
            return sym
        found = [s for (_, name), s in symbols.items() if name == symbol]
        if len(found) != 1:
            problem = "is not listed in the engine" if not found else "is listed in several categories"
            raise ConfigError(f"symbol {symbol} {problem}: pass category=")
        return found[0]

    def advance(self, now_ms: int) -> None:
        """Move the clock (running what is due) and publish the position/wallet updates it caused."""
        self.timeline.advance(now_ms)
        self.venue.flush()

    def book(
        self,
        sym: SymbolState,
        bids: Iterable[PriceLevel],
        asks: Iterable[PriceLevel],
        snapshot: bool,
        ts_ms: int,
    ) -> None:
        """Replace (snapshot) or update (delta) the external book; fill resting orders it crossed."""
        self.timeline.advance(ts_ms)
        book = sym.book
        changes = book.apply_snapshot(bids, asks) if snapshot else book.apply_delta(bids, asks)
        self.matcher.on_levels_changed(sym, changes)
        self.timeline.after_price_move(sym)

    def trade(self, sym: SymbolState, price: Decimal, size: Decimal, taker_side: Side, ts_ms: int) -> None:
        """Record a public trade; fill resting orders it reached; check TP/SL and liquidation."""
        self.timeline.advance(ts_ms)
        sym.last_price = price
        if sym.awaiting_print:
            bar_fills.on_print(self.matcher, sym, price)
        self.matcher.on_trade(sym, price, size, taker_side)
        self.timeline.after_price_move(sym)

    def prices(
        self,
        sym: SymbolState,
        ts_ms: int,
        *,
        last: Decimal | None = None,
        mark: Decimal | None = None,
        index: Decimal | None = None,
        funding_rate: Decimal | None = None,
        next_funding_ms: int | None = None,
    ) -> None:
        """Set the prices and funding terms given (None keeps a value); check TP/SL and liquidation.

        Funding terms apply to linear symbols only (spot has no funding).
        """
        timeline = self.timeline
        timeline.advance(ts_ms)
        if last is not None:
            sym.last_price = last
        if mark is not None:
            sym.mark = mark
        if index is not None:
            sym.index_price = index
        if sym.is_linear:
            if funding_rate is not None:
                sym.funding_rate = funding_rate
            if next_funding_ms is not None and next_funding_ms > self.venue.now_ms:
                sym.next_funding_ms = next_funding_ms
                self.venue.refresh_funding_due()
        timeline.after_price_move(sym)

    def bar_print(
        self, sym: SymbolState, price: Decimal, volume: Decimal, at_ms: int, previous: Decimal | None
    ) -> None:
        """Apply one print of a bar's path at `at_ms` (`previous`: the print before it in the bar).

        The market moves from `previous` to `price` continuously, so with a bar fill the TP/SL
        prices between them are printed first (the last price only); the print itself reaches
        resting orders on both sides with the bar's `volume` (see `bars`).
        """
        if previous is not None and sym.spec.bar_fill is not None and (sym.holders or sym.triggers):
            for stop in bar_fills.stops_between(self.venue, sym, previous, price):
                self.prices(sym, at_ms, last=stop)
        before = sym.last_price
        fell = before is not None and price < before
        first, second = (Side.SELL, Side.BUY) if fell else (Side.BUY, Side.SELL)
        self.trade(sym, price, volume, first, at_ms)
        self.matcher.on_trade(sym, price, volume, second)
        self.timeline.after_price_move(sym)

    def bars(self, event: KlineUpdate) -> None:
        """Move the market along each confirmed bar's path (see `bar_path`).

        Every print reaches resting orders on both sides, as a trade at that price would: buys at or
        above it and sells at or below it fill at their own price (first the side the move came
        from: a fall fills buys first). A candle carries no queue or depth, so each print offers the
        bar's whole volume to each side (a zero-volume bar moves prices without filling) and the
        queue ahead is whatever the external book showed when an order joined (none without a book).
        Prints set the last price, so TP/SL triggers on them; a triggered market order needs book
        liquidity to fill, unless the symbol has a bar fill (`bst.engine.bar_fills`): then it fills
        at the print, and the bar also moves through every TP/SL price between two of its prints
        (the last price only: such a stop print offers no volume to resting orders).
        """
        sym = self.symbol(event.symbol, event.category)
        for live in sorted((b for b in event.bars if b.confirmed), key=lambda b: b.bar.open_time_ms):
            previous: Decimal | None = None
            for at_ms, price in bar_path(live):
                self.bar_print(sym, price, live.bar.volume, at_ms, previous)
                previous = price
        self.advance(event.ts_ms)
