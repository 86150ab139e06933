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
import contextlib
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

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
from bst.domain.clock import Clock, SystemClock
from bst.domain.errors import BybitInvalidParameterError, BybitTimeoutError, ConfigError
from bst.domain.events import BookUpdate, MarketEvent
from bst.domain.market import Category
from bst.domain.orderbook import ApplyResult, OrderBook

log = structlog.get_logger(__name__)


class SubscriptionError(BybitInvalidParameterError):
    """Bybit (or the local check) refused some topics; `failures` maps each to the reason."""

    def __init__(self, failures: dict[str, str]) -> None:
        detail = "; ".join(f"{topic}: {reason}" for topic, reason in failures.items())
        super().__init__(f"subscription refused: {detail}")
        self.failures = dict(failures)


@dataclass(frozen=True, slots=True)
class PublicStreamConfig:
    """Where to connect and how to keep the connection alive (times in seconds of the clock)."""

    base_url: str
    category: Category
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 10.0
    ack_timeout_s: float = 10.0
    open_timeout_s: float = 10.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    reconnect_factor: float = 2.0
    reconnect_jitter: float = 0.2
    event_queue_size: int = 100_000
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.category not in (Category.SPOT, Category.LINEAR, Category.INVERSE):
            raise ConfigError(f"public streams are spot, linear or inverse, not {self.category.value}")
        if not 0 < self.pong_timeout_s < self.ping_interval_s:
            raise ConfigError("pong_timeout_s must be positive and shorter than ping_interval_s")
        if self.reconnect_initial_s <= 0 or self.reconnect_max_s < self.reconnect_initial_s:
            raise ConfigError("reconnect delays must be positive, the maximum at least the initial one")

    @property
    def url(self) -> str:
        """Return the stream URL, e.g. wss://stream.bybit.com/v5/public/linear."""
        return f"{self.base_url.rstrip('/')}/v5/public/{self.category.value}"


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


_CLOSED: Any = object()


class PublicStream:
    """One public connection with its subscriptions, books and event queue."""

    def __init__(
        self,
        config: PublicStreamConfig,
        *,
        clock: Clock | None = None,
        on_raw: Callable[[str, int], None] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.books = BookSet()
        self.stats = StreamStats()
        self.failures: dict[str, str] = {}
        self._on_raw = on_raw
        self._decoder = PublicDecoder(config.category)
        self._topics: dict[str, bool] = {}  # desired topics -> acknowledged on this connection
        self._requests: dict[str, _Request] = {}
        self._sub_waiters = _Waiters()
        self._unsub_waiters = _Waiters()
        self._resyncing: set[str] = set()
        self._queue: asyncio.Queue[Any] = asyncio.Queue(config.event_queue_size)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._closing = False
        self._fatal: BaseException | None = None
        self._req_ids = itertools.count(1)
        self._rng = random.Random(config.seed)
        self._attempt = 0
        self._last_rx = 0.0

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background (returns at once; see `wait_connected`)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"bst-ws-{self.config.category.value}")

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until the connection is open (BybitTimeoutError after `timeout_s` of the clock)."""
        await self._wait_clock(self._connected.wait(), timeout_s, "the stream did not connect")

    async def wait_state(self, predicate: Callable[[], bool], timeout_s: float | None = None) -> None:
        """Wait until `predicate()` holds, checked on each connection, subscription or book-state change."""

        async def watch() -> None:
            while True:
                changed = self._changed
                if predicate():
                    return
                await changed.wait()

        await self._wait_clock(watch(), timeout_s, "the stream did not reach the expected state")

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

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
        self._closing = True
        for waiters in (self._sub_waiters, self._unsub_waiters):
            for topic in list(waiters.by_topic):
                waiters.resolve(topic, "the stream was closed")
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._connected.clear()
        self._put(_CLOSED, force=True)

    async def __aenter__(self) -> PublicStream:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __aiter__(self) -> PublicStream:
        return self

    async def __anext__(self) -> MarketEvent:
        item = await self._queue.get()
        if item is _CLOSED:
            self._put(_CLOSED, force=True)  # later readers stop too
            if self._fatal is not None:
                raise self._fatal
            raise StopAsyncIteration
        event: MarketEvent = item
        return event

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
        req_id = f"bst-{next(self._req_ids)}"
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

    async def _run(self) -> None:
        cfg = self.config
        while not self._closing:
            try:
                ws = await connect(
                    cfg.url,
                    open_timeout=cfg.open_timeout_s,
                    ping_interval=None,
                    close_timeout=1.0,
                    max_size=2**25,
                    compression=None,
                )
            except InvalidURI as e:
                self._fatal = ConfigError(f"invalid WebSocket URL {cfg.url!r}: {e}")
                self._put(_CLOSED, force=True)
                return
            except (OSError, TimeoutError, InvalidHandshake) as e:
                self.stats.connect_failures += 1
                self._notify()
                log.warning("stream connect failed", url=cfg.url, error=str(e) or type(e).__name__)
                await self._backoff()
                continue
            try:
                await self._session(ws)
            finally:
                self._ws = None
                self._connected.clear()
                self._requests.clear()
                for book in self.books:
                    book.invalidate("disconnected; waiting for a fresh snapshot")
                self._notify()
            if self._closing:
                return
            self.stats.disconnects += 1
            log.warning("stream disconnected", url=cfg.url, reconnects=self.stats.reconnects)
            await self._backoff()

    async def _backoff(self) -> None:
        cfg = self.config
        delay = min(cfg.reconnect_max_s, cfg.reconnect_initial_s * cfg.reconnect_factor**self._attempt)
        delay *= 1 + cfg.reconnect_jitter * (2 * self._rng.random() - 1)
        self._attempt += 1
        await self.clock.sleep(delay)

    async def _session(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self._decoder.reset()
        self._resyncing.clear()
        self._last_rx = self.clock.monotonic()
        for topic in self._topics:
            self._topics[topic] = False
        self._connected.set()
        self._notify()
        log.info("stream connected", url=self.config.url, topics=len(self._topics))
        if self._topics:
            await self._send_subscribe(list(self._topics))
        reader = asyncio.create_task(self._read(ws))
        keepalive = asyncio.create_task(self._keepalive(ws))
        try:
            await asyncio.wait({reader, keepalive}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, keepalive):
                task.cancel()
            for task in (reader, keepalive):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    async def _keepalive(self, ws: ClientConnection) -> None:
        cfg = self.config
        wait = cfg.ping_interval_s
        while True:
            await self.clock.sleep(wait)
            sent = self.clock.monotonic()
            try:
                await ws.send(encode_request("ping", req_id=f"ping-{next(self._req_ids)}"))
            except ConnectionClosed:
                return
            self.stats.pings_sent += 1
            await self.clock.sleep(cfg.pong_timeout_s)
            if self._last_rx < sent:
                self.stats.dead_connections += 1
                self._notify()
                log.warning("stream dead: nothing received since the last ping", url=cfg.url)
                return
            wait = cfg.ping_interval_s - cfg.pong_timeout_s

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                await self._on_text(text)
        except ConnectionClosed as e:
            log.info("stream closed by peer", code=e.rcvd.code if e.rcvd else None)

    async def _on_text(self, text: str) -> None:
        recv_ms = self.clock.now_ms()
        self._last_rx = self.clock.monotonic()
        stats = self.stats
        stats.messages += 1
        if self._on_raw is not None:
            self._on_raw(text, recv_ms)
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
        self._attempt = 0  # data flows: the next reconnect starts with a short delay again
        if self._put(event):
            stats.events += 1
        else:
            stats.dropped_events += 1

    def _put(self, item: Any, *, force: bool = False) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            if not force:
                return False
            self._queue.get_nowait()  # make room for the end marker
            self._queue.put_nowait(item)
        return True

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

    async def _wait_clock(self, awaitable: Any, timeout_s: float | None, what: str) -> Any:
        """Await `awaitable`, giving up after `timeout_s` of the injected clock."""
        task = asyncio.ensure_future(awaitable)
        if timeout_s is None:
            return await task
        timer = asyncio.ensure_future(self.clock.sleep(timeout_s))
        try:
            done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if task not in done:
            task.cancel()
            raise BybitTimeoutError(f"{what} within {timeout_s:g} s")
        return task.result()
