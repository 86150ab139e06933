"""What a market feed delivers for which subscription: shared by every `MarketFeed` adapter.

`subscription_of(event)` names the (normalised) subscription an event belongs to, so a feed over
stored events filters them exactly as a live venue's topics would. `FundingTracker` turns tickers
into `FundingUpdate`s (a live venue publishes funding only inside its ticker), so a `FUNDING`
subscription delivers the same kind of event live and in a backtest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bst.domain.events import (
    BookUpdate,
    FundingUpdate,
    KlineUpdate,
    MarketEvent,
    TickerUpdate,
    TradesUpdate,
)
from bst.domain.market import Category
from bst.domain.ports import MarketChannel, MarketSubscription


def subscription_of(event: MarketEvent) -> MarketSubscription:
    """Return the normalised subscription that delivers `event` (fields its channel ignores cleared)."""
    if isinstance(event, BookUpdate):
        return MarketSubscription(MarketChannel.BOOK, event.category, event.symbol, depth=event.depth)
    if isinstance(event, TradesUpdate):
        return MarketSubscription(MarketChannel.TRADES, event.category, event.symbol)
    if isinstance(event, KlineUpdate):
        return MarketSubscription(MarketChannel.BARS, event.category, event.symbol, interval=event.interval)
    if isinstance(event, TickerUpdate):
        return MarketSubscription(MarketChannel.TICKER, event.category, event.symbol)
    return MarketSubscription(MarketChannel.FUNDING, event.category, event.symbol)


def normalised(subscription: MarketSubscription) -> MarketSubscription:
    """Return `subscription` with the fields its channel ignores cleared (depth off the book, ...)."""
    channel, category, symbol = subscription.channel, subscription.category, subscription.symbol
    if channel is MarketChannel.BOOK:
        return MarketSubscription(channel, category, symbol, depth=subscription.depth)
    if channel is MarketChannel.BARS:
        return MarketSubscription(channel, category, symbol, interval=subscription.interval)
    return MarketSubscription(channel, category, symbol)


@dataclass(slots=True)
class FundingTracker:
    """Derive `FundingUpdate`s from tickers: one each time a symbol's rate or next settlement changes."""

    _last: dict[tuple[Category, str], tuple[object, object]] = field(default_factory=dict)

    def on_ticker(self, update: TickerUpdate) -> FundingUpdate | None:
        """Return the funding terms `update` announces when they are new, else None.

        A ticker without a rate or a next settlement time (spot, or a delta before any) says nothing.
        """
        ticker = update.ticker
        rate, due_ms = ticker.funding_rate, ticker.next_funding_time_ms
        if rate is None or due_ms is None:
            return None
        key = (update.category, update.symbol)
        if self._last.get(key) == (rate, due_ms):
            return None
        self._last[key] = (rate, due_ms)
        return FundingUpdate(update.category, update.symbol, rate, due_ms, update.ts_ms, update.recv_ms)
