"""Bybit v5 public WebSocket client: acknowledged subscriptions, typed events, exact self-healing books.

One `PublicStream` is one connection to `/v5/public/{category}`. It

- subscribes and unsubscribes with Bybit's op format and waits for the acks; a refused topic is
  reported to the caller (`SubscriptionError`, with Bybit's reason per topic), never ignored; topics
  are checked locally first, sent at most 10 per request on spot, and the 21,000-character args
  budget of a connection is enforced;
- decodes every message into a typed event (exchange time, receive time, latency) and keeps one
  exact `OrderBook` per order-book topic in `books`; book events are emitted after they are applied;
- pings every `ping_interval_s` (JSON `{"op": "ping"}`, times from the injected clock) and declares
  the connection dead when nothing at all arrived within `pong_timeout_s` of a ping;
- reconnects with exponential backoff and jitter, then re-subscribes everything; books are marked
  stale while disconnected and become valid again with the fresh snapshots;
- on a book gap, a crossed book or malformed levels, resynchronises that topic (unsubscribe and
  subscribe again, which makes Bybit send a new snapshot), counted in `stats` and logged; the book
  refuses deltas, and says so, until the snapshot arrives.

Consume events with `async for event in stream`; `on_raw(text, recv_ms)` sees every text frame
first, exactly as received (the recorder's hook).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bst.bybit import endpoints
from bst.bybit.codec.ws_public import (
    MAX_ARGS_CHARS_PER_CONNECTION,
    OpReply,
    PublicDecoder,
    Unhandled,
    args_chars,
    batch_args,
    check_topic,
    encode_request,
    orderbook_topic,
)
from bst.domain.bookset import BookSet
from bst.domain.clock import Clock
from bst.domain.errors import BybitInvalidParameterError, ConfigError
from bst.domain.events import BookUpdate, MarketEvent
from bst.domain.market import MARKET_DATA_CATEGORIES, Category
from bst.domain.orderbook import ApplyResult, OrderBook
from bst.exchange.ws_connection import ReconnectingStream, StreamConnectionConfig

log = structlog.get_logger(__name__)


class SubscriptionError(BybitInvalidParameterError):
    """Bybit (or the local check) refused some topics; `failures` maps each to the reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        detail = "; ".join(f"{topic}: {reason}" for topic, reason in failures.items())
        super().__init__(f"subscription refused: {detail}")
        self.failures = dict(failures)


@dataclass(frozen=True, slots=True)
class PublicStreamConfig(StreamConnectionConfig):
    """A public stream: the shared connection settings plus the category it serves.

    `PublicStreamConfig(base_url, category, ping_interval_s=..., seed=...)`; a full event queue
    drops the oldest events (counted in `stats.dropped_events`).
    """

    category: Category

    def __post_init__(self) -> None:
        if self.category not in MARKET_DATA_CATEGORIES:
            raise ConfigError(f"public streams are spot, linear or inverse, not {self.category.value}")
        StreamConnectionConfig.__post_init__(self)

    @property
    def url(self) -> str:
        """Return the stream URL, e.g. wss://stream.bybit.com/v5/public/linear."""
        return endpoints.public_ws_url(self.base_url, self.category)


@dataclass(slots=True)
class StreamStats:
    """Counters of one stream since it started."""

    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    dead_connections: int = 0
    messages: int = 0
    events: int = 0
    dropped_events: int = 0
    replies: int = 0
    pings_sent: int = 0
    pongs: int = 0
    unhandled: int = 0
    gaps: int = 0
    crossed: int = 0
    malformed: int = 0
    duplicates: int = 0
    resyncs: int = 0
    subscribe_failures: int = 0
    last_latency_ms: int | None = None
    max_latency_ms: int | None = None


@dataclass(slots=True)
class _Request:
    op: str
    topics: list[str]
    resync: bool = False


@dataclass(slots=True)
class _Waiters:
    """Futures of callers waiting for a topic's ack: None when accepted, else Bybit's reason."""

    by_topic: dict[str, list[asyncio.Future[str | None]]] = field(default_factory=dict)

    def add(self, topic: str) -> asyncio.Future[str | None]:
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.by_topic.setdefault(topic, []).append(future)
        return future

    def resolve(self, topic: str, reason: str | None) -> None:
        for future in self.by_topic.pop(topic, []):
            if not future.done():
                future.set_result(reason)


class PublicStream(ReconnectingStream[MarketEvent]):
    """One public connection with its subscriptions, books and event queue."""

    _max_frame_bytes = 2**25  # 32 MiB, as before the split: book snapshots are the largest frames

    def __init__(
        self,
        config: PublicStreamConfig,
        *,
        clock: Clock | None = None,
        on_raw: Callable[[str, int], None] | None = None,
    ) -> None:
        self.config = config
        self.books = BookSet()
        self.stats = StreamStats()
        super().__init__(
            config,
            self.stats,
            clock=clock,
            on_raw=on_raw,
            task_name=f"bst-ws-{config.category.value}",
        )
        self.failures: dict[str, str] = {}
        self._decoder = PublicDecoder(config.category)
        self._topics: dict[str, bool] = {}  # desired topics -> acknowledged on this connection
        self._requests: dict[str, _Request] = {}
        self._sub_waiters = _Waiters()
        self._unsub_waiters = _Waiters()
        self._resyncing: set[str] = set()
        self._connected = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------------------

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until the connection is open (BybitTimeoutError after `timeout_s` of the clock)."""
        await self._wait_clock(self._connected.wait(), timeout_s, "the stream did not connect")

    async def wait_state(self, predicate: Callable[[], bool], timeout_s: float | None = None) -> None:
        """Wait until `predicate()` holds, checked on each connection, subscription or book-state change."""
        await self._wait_until(predicate, timeout_s, "the stream did not reach the expected state")

    @property
    def connected(self) -> bool:
        """Return whether the connection is open."""
        return self._connected.is_set()

    @property
    def topics(self) -> list[str]:
        """Return the subscribed (or being subscribed) topics."""
        return list(self._topics)

    async def close(self) -> None:
        """Close the connection and end the event iteration (pending subscribe calls fail)."""
        for waiters in (self._sub_waiters, self._unsub_waiters):
            for topic in list(waiters.by_topic):
                waiters.resolve(topic, "the stream was closed")
        await super().close()

    def _on_stopped(self) -> None:
        self._connected.clear()

    def book(self, symbol: str, depth: int) -> OrderBook | None:
        """Return the book of `orderbook.{depth}.{symbol}` (None before its first message)."""
        return self.books.get(self.config.category, symbol, depth)

    # --- subscriptions -----------------------------------------------------------------------------

    async def subscribe(self, topics: Sequence[str]) -> None:
        """Subscribe and wait for Bybit's acks; raise SubscriptionError naming each refused topic.

        Accepted topics stay subscribed even when others are refused. Topics already subscribed are
        left alone. Raises BybitTimeoutError if no ack arrives within `ack_timeout_s` (the topics stay
        wanted and are sent again on the next connection).
        """
        wanted = list(dict.fromkeys(topics))
        local = {t: r for t in wanted if (r := check_topic(t, self.config.category)) is not None}
        new = [t for t in wanted if t not in local and t not in self._topics]
        if args_chars([*self._topics, *new]) > MAX_ARGS_CHARS_PER_CONNECTION:
            raise ConfigError(
                f"these topics exceed Bybit's {MAX_ARGS_CHARS_PER_CONNECTION:,} characters of args per "
                "connection; spread them over more streams"
            )
        waiters = [(t, self._sub_waiters.add(t)) for t in new]
        for topic in new:
            self._topics[topic] = False
        if new and self._ws is not None:
            await self._send_subscribe(new)
        failures = dict(local)
        if waiters:
            results = await self._wait_clock(
                asyncio.gather(*(f for _, f in waiters)), self.config.ack_timeout_s, "no subscription ack"
            )
            failures.update({t: r for (t, _), r in zip(waiters, results, strict=True) if r is not None})
        if failures:
            raise SubscriptionError(failures)

    async def unsubscribe(self, topics: Sequence[str]) -> None:
        """Unsubscribe and wait for the acks (topics not subscribed are ignored)."""
        gone = [t for t in dict.fromkeys(topics) if t in self._topics]
        for topic in gone:
            del self._topics[topic]
            self._resyncing.discard(topic)
            self._sub_waiters.resolve(topic, "unsubscribed before the ack")
        if not gone or self._ws is None:
            return
        waiters = [(t, self._unsub_waiters.add(t)) for t in gone]
        for batch in batch_args(gone, self.config.category):
            await self._send_op("unsubscribe", batch)
        results = await self._wait_clock(
            asyncio.gather(*(f for _, f in waiters)), self.config.ack_timeout_s, "no unsubscribe ack"
        )
        failures = {t: r for (t, _), r in zip(waiters, results, strict=True) if r is not None}
        if failures:
            raise SubscriptionError(failures)

    async def _send_subscribe(self, topics: list[str], *, resync: bool = False) -> None:
        for batch in batch_args(topics, self.config.category):
            await self._send_op("subscribe", batch, resync=resync)

    async def _send_op(self, op: str, topics: list[str], *, resync: bool = False) -> None:
        ws = self._ws
        if ws is None:
            return
        req_id = self._next_req_id("bst")
        self._requests[req_id] = _Request(op, topics, resync)
        try:
            await ws.send(encode_request(op, topics, req_id))
        except ConnectionClosed:
            self._requests.pop(req_id, None)  # sent again with everything else on reconnect

    async def _on_reply(self, reply: OpReply) -> None:
        self.stats.replies += 1
        self._notify()
        if reply.is_pong:
            self.stats.pongs += 1
            return
        request = self._requests.pop(reply.req_id, None)
        if request is None:
            log.debug("reply to no known request", op=reply.op, req_id=reply.req_id, ret_msg=reply.ret_msg)
            return
        if request.op == "unsubscribe":
            for topic in request.topics:
                self._unsub_waiters.resolve(topic, None if reply.success else reply.ret_msg or "refused")
            return
        if reply.success:
            for topic in request.topics:
                if topic in self._topics:
                    self._topics[topic] = True
                self._sub_waiters.resolve(topic, None)
            return
        if len(request.topics) > 1:
            # Bybit refuses a whole request for one bad topic: ask again one by one to learn which.
            for topic in request.topics:
                if topic in self._topics:
                    await self._send_op("subscribe", [topic], resync=request.resync)
            return
        topic = request.topics[0]
        reason = reply.ret_msg or "refused"
        if reason.startswith("error:already subscribed") and request.resync:
            # The unsubscribe of this resync did not take: let the next stale delta try again.
            self._resyncing.discard(topic)
            return
        self.stats.subscribe_failures += 1
        self._topics.pop(topic, None)
        self._resyncing.discard(topic)
        self.failures[topic] = reason
        log.warning("subscription refused", topic=topic, reason=reason)
        self._sub_waiters.resolve(topic, reason)

    # --- the connection ----------------------------------------------------------------------------

    def _on_disconnected(self) -> None:
        self._connected.clear()
        self._requests.clear()
        for book in self.books:
            book.invalidate("disconnected; waiting for a fresh snapshot")
        self._notify()

    async def _on_connected(self, ws: ClientConnection) -> None:
        self._decoder.reset()
        self._resyncing.clear()
        for topic in self._topics:
            self._topics[topic] = False
        self._connected.set()
        self._notify()
        log.info("stream connected", url=self.config.url, topics=len(self._topics))
        if self._topics:
            await self._send_subscribe(list(self._topics))

    async def _on_text(self, text: str, recv_ms: int) -> None:
        stats = self.stats
        out = self._decoder.decode(text, recv_ms)
        if isinstance(out, BookUpdate):
            result = self.books.apply(out)
            if result is ApplyResult.APPLIED or result is ApplyResult.SNAPSHOT:
                if result is ApplyResult.SNAPSHOT:
                    self._resyncing.discard(orderbook_topic(out.depth, out.symbol))
                    self._notify()
                self._emit(out)
            elif result is ApplyResult.DUPLICATE:
                stats.duplicates += 1
            else:
                await self._book_broken(out, result)
            return
        if isinstance(out, OpReply):
            await self._on_reply(out)
            return
        if isinstance(out, Unhandled):
            stats.unhandled += 1
            log.debug("unhandled stream message", reason=out.reason)
            return
        self._emit(out)

    def _emit(self, event: MarketEvent) -> None:
        stats = self.stats
        latency = event.latency_ms
        stats.last_latency_ms = latency
        if stats.max_latency_ms is None or latency > stats.max_latency_ms:
            stats.max_latency_ms = latency
        self._reset_backoff()  # data flows: the next reconnect starts with a short delay again
        if self._put(event):
            stats.events += 1
        else:
            stats.dropped_events += 1

    async def _book_broken(self, update: BookUpdate, result: ApplyResult) -> None:
        topic = orderbook_topic(update.depth, update.symbol)
        if result is ApplyResult.GAP:
            self.stats.gaps += 1
        elif result is ApplyResult.CROSSED:
            self.stats.crossed += 1
        elif result is ApplyResult.MALFORMED:
            self.stats.malformed += 1
        if topic in self._resyncing or topic not in self._topics:
            return
        book = self.books.get(self.config.category, update.symbol, update.depth)
        reason = book.invalid_reason if book is not None else result.value
        self._resyncing.add(topic)
        self.stats.resyncs += 1
        self._notify()
        log.warning("order book broken, resubscribing for a fresh snapshot", topic=topic, reason=reason)
        await self._send_op("unsubscribe", [topic])
        await self._send_op("subscribe", [topic], resync=True)
