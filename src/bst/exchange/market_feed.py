"""The `MarketFeed` port over Bybit's public WebSocket streams (mainnet, testnet, demo, `bst sim`).

`PublicMarketFeed` opens one `PublicStream` per category the subscriptions name (a Bybit public
connection serves one category), translates each `MarketSubscription` to its Bybit topic with the
codec's topic builders, and merges the streams' events into one iteration in arrival order. The
streams keep their whole behaviour: acknowledged subscriptions, exact self-healing books,
reconnects with re-subscription.

Bybit publishes funding only inside the ticker: a `FUNDING` subscription shares the ticker's topic
and delivers a `FundingUpdate` whenever the rate or the next settlement time changes, and tickers
themselves arrive only when `TICKER` was asked for too.

A subscription Bybit does not publish (a book depth the category does not offer, bars without an
interval, spot funding, an option stream) is refused with `ConfigError` before anything is sent; a
topic the venue itself refuses raises the stream's `SubscriptionError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from typing import Any, Self

from bst.bybit.codec.ws_public import subscription_topic
from bst.domain.clock import Clock
from bst.domain.errors import ConfigError
from bst.domain.events import MarketEvent, TickerUpdate
from bst.domain.feeds import FundingTracker
from bst.domain.market import Category
from bst.domain.ports import MarketChannel, MarketSubscription
from bst.exchange.ws_public import PublicStream, PublicStreamConfig

_END: Any = object()
"""The end marker of the merged queue; put back when read so that every reader stops."""


class PublicMarketFeed:
    """`MarketFeed` over one `PublicStream` per category, created on first subscription.

    `template` gives the URL and connection settings; each category's stream copies it with its own
    category. Events reach the reader in the order the streams delivered them (arrival order).
    """

    def __init__(self, template: PublicStreamConfig, *, clock: Clock | None = None) -> None:
        self._template = template
        self._clock = clock
        self._streams: dict[Category, PublicStream] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[Any] = asyncio.Queue(template.event_queue_size)
        self._error: BaseException | None = None
        self._closed = False
        self._tickers: set[tuple[Category, str]] = set()
        """Symbols whose tickers the reader asked for (a funding subscription shares their topic)."""
        self._funding: set[tuple[Category, str]] = set()
        self._funding_tracker = FundingTracker()

    def __repr__(self) -> str:
        return f"PublicMarketFeed(base_url={self._template.base_url!r}, categories={list(self._streams)})"

    def stream(self, category: Category) -> PublicStream | None:
        """Return the category's stream (its books and stats), None before it is subscribed."""
        return self._streams.get(category)

    async def subscribe(self, subscriptions: Sequence[MarketSubscription]) -> None:
        """Subscribe and wait for the venue's acks; check every subscription before sending any."""
        if self._closed:
            raise ConfigError("the market feed is closed; create a new one")
        wanted: dict[Category, list[str]] = {}
        configs: dict[Category, PublicStreamConfig] = {}
        for sub in subscriptions:
            topic = subscription_topic(sub)
            if sub.category not in configs and sub.category not in self._streams:
                configs[sub.category] = dataclasses.replace(self._template, category=sub.category)
            wanted.setdefault(sub.category, []).append(topic)
        for sub in subscriptions:
            if sub.channel is MarketChannel.TICKER:
                self._tickers.add((sub.category, sub.symbol))
            elif sub.channel is MarketChannel.FUNDING:
                self._funding.add((sub.category, sub.symbol))
        for category, topics in wanted.items():
            stream = self._streams.get(category)
            if stream is None:
                stream = self._open(configs[category])
            await stream.subscribe(topics)

    async def close(self) -> None:
        """Close every stream; events already received are still delivered, then iteration ends."""
        if self._closed:
            return
        self._closed = True
        for stream in self._streams.values():
            await stream.close()
        for pump in self._pumps:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        self._end()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> MarketEvent:
        """Return the next event; raise a stream's fatal error, or stop once closed and drained."""
        item = await self._queue.get()
        if item is _END:
            self._end()
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        event: MarketEvent = item
        return event

    # --- internals ---------------------------------------------------------------------------------

    def _open(self, config: PublicStreamConfig) -> PublicStream:
        stream = PublicStream(config, clock=self._clock)
        self._streams[config.category] = stream
        self._pumps.append(asyncio.create_task(self._pump(stream), name=f"bst-feed-{config.category.value}"))
        return stream

    async def _pump(self, stream: PublicStream) -> None:
        """Move one stream's events to the merged queue (waiting when it is full: no silent loss)."""
        await stream.start()
        try:
            async for event in stream:
                if isinstance(event, TickerUpdate):
                    await self._on_ticker(event)
                else:
                    await self._queue.put(event)
        except Exception as e:  # a stream that failed for good ends the feed with its error
            self._error = e
            self._end()

    async def _on_ticker(self, update: TickerUpdate) -> None:
        key = (update.category, update.symbol)
        if key in self._tickers:
            await self._queue.put(update)
        if key in self._funding and (funding := self._funding_tracker.on_ticker(update)) is not None:
            await self._queue.put(funding)

    def _end(self) -> None:
        try:
            self._queue.put_nowait(_END)
        except asyncio.QueueFull:  # a reader that stopped reading: the end marker must still fit
            self._queue.get_nowait()
            self._queue.put_nowait(_END)


__all__ = ["PublicMarketFeed"]
