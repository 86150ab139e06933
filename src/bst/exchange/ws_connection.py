"""The connection machinery both Bybit WebSocket clients share (`PublicStream`, `PrivateStream`).

A `ReconnectingStream` holds one WebSocket at a time. It connects with the options both streams use
(no library pings: Bybit wants JSON pings; no compression), sends `{"op": "ping"}` every
`ping_interval_s` of the injected clock and declares the connection dead when nothing at all arrived
within `pong_timeout_s` of a ping, reads text frames, and reconnects with exponential backoff and
jitter until closed. A subclass says what a new connection does (subscribe, authenticate, hand
over), what a frame means, and what to forget when a connection ends. Events go to a queue read
with `async for`; state changes wake `wait_state` callers; every wait is measured on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import KW_ONLY, dataclass
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from bst.bybit.codec.ws_public import encode_request
from bst.domain.clock import Clock, SystemClock
from bst.domain.errors import BybitTimeoutError, ConfigError

EventT = TypeVar("EventT")

CLOSED: Any = object()
"""The end marker of an event queue; it is put back when read so that every reader stops."""


@dataclass(frozen=True, slots=True)
class StreamConnectionConfig:
    """Where a stream connects and how it keeps the connection: the settings both streams share.

    Times are seconds of the stream's clock. `PublicStreamConfig` and `PrivateStreamConfig` extend
    it with what only they need (category; credentials, topics, hand-over) and name their `url`.
    Every setting but `base_url` is keyword-only. `event_queue_size` bounds the events waiting for
    the reader (0: unbounded); `seed` makes the reconnect jitter reproducible.
    """

    base_url: str
    _: KW_ONLY
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
        if not 0 < self.pong_timeout_s < self.ping_interval_s:
            raise ConfigError("pong_timeout_s must be positive and shorter than ping_interval_s")
        if self.reconnect_initial_s <= 0 or self.reconnect_max_s < self.reconnect_initial_s:
            raise ConfigError("reconnect delays must be positive, the maximum at least the initial one")
        if self.ack_timeout_s <= 0 or self.open_timeout_s <= 0:
            raise ConfigError("ack_timeout_s and open_timeout_s must be positive")
        if self.event_queue_size < 0:
            raise ConfigError("event_queue_size must be 0 (unbounded) or more")

    @property
    def url(self) -> str:
        """Return the URL to connect to (the stream configs add their endpoint's path)."""
        return self.base_url


class ConnectionCounters(Protocol):
    """The counters of a stream's stats that the connection machinery keeps."""

    connects: int
    reconnects: int
    connect_failures: int
    disconnects: int
    dead_connections: int
    messages: int
    pings_sent: int


async def wait_clock(clock: Clock, awaitable: Awaitable[Any], timeout_s: float | None, what: str) -> Any:
    """Await `awaitable`, giving up with BybitTimeoutError after `timeout_s` of `clock`."""
    task = asyncio.ensure_future(awaitable)
    if timeout_s is None:
        return await task
    timer = asyncio.ensure_future(clock.sleep(timeout_s))
    try:
        done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if task not in done:
        task.cancel()
        raise BybitTimeoutError(f"{what} within {timeout_s:g} s")
    return task.result()


class SessionEndedError(Exception):
    """This connection cannot go on (no ack, a failed hand-over, auth to retry): reconnect."""


class ReconnectingStream(Generic[EventT]):
    """One self-healing WebSocket and its event queue; subclasses fill in the protocol.

    Hooks: `_before_connect` (each attempt), `_on_connected` (awaited before reading starts),
    `_session_task` (work that runs beside the reader; its exception ends the session), `_on_text`
    (each frame), `_on_disconnected` (after each session), `_on_stopped` (closed or failed).
    Exceptions of `_fatal_errors` raised by a session end the stream instead of a reconnect.
    """

    _label: ClassVar[str] = "stream"
    """How logs name the stream."""
    _max_frame_bytes: ClassVar[int] = 2**24
    _fatal_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(
        self,
        settings: StreamConnectionConfig,
        counters: ConnectionCounters,
        *,
        clock: Clock | None,
        on_raw: Callable[[str, int], None] | None,
        task_name: str,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.connection = 0
        """How many connections were opened so far (the current one's number)."""
        self._settings = settings
        self._counters = counters
        self._on_raw = on_raw
        self._task_name = task_name
        self._queue: asyncio.Queue[Any] = asyncio.Queue(settings.event_queue_size)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._closing = False
        self._fatal: BaseException | None = None
        self._req_ids = itertools.count(1)
        self._rng = random.Random(settings.seed)
        self._attempt = 0
        self._last_rx = 0.0
        # Logs keep the subclass's module as the logger name, as before the split.
        self._log = structlog.get_logger(type(self).__module__)

    # --- hooks -------------------------------------------------------------------------------------

    async def _before_connect(self) -> None:
        """Prepare a connection attempt."""

    async def _on_connected(self, ws: ClientConnection) -> None:
        """Start a fresh connection (counted already); frames are read once this returns."""

    def _session_task(self, ws: ClientConnection) -> Coroutine[Any, Any, None] | None:
        """Return the work to run beside the reader for this connection, if any."""
        return None

    async def _on_text(self, text: str, recv_ms: int) -> None:
        """Handle one text frame received at `recv_ms` (clock ms)."""
        raise NotImplementedError

    def _on_disconnected(self) -> None:
        """Forget what belonged to the connection that just ended."""

    def _on_stopped(self) -> None:
        """Mark the stream down for good (closed, or a fatal error)."""

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background (returns at once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._task_name)

    async def close(self) -> None:
        """Close the connection and end the event iteration."""
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._on_stopped()
        self._put(CLOSED, force=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EventT:
        item = await self._queue.get()
        if item is CLOSED:
            self._put(CLOSED, force=True)  # later readers stop too
            if self._fatal is not None:
                raise self._fatal
            raise StopAsyncIteration
        event: EventT = item
        return event

    def _fail(self, error: BaseException) -> None:
        self._fatal = error
        self._on_stopped()
        self._put(CLOSED, force=True)
        self._log.error(f"{self._label} stopped", url=self._settings.url, error=str(error))

    def _put(self, item: Any, *, force: bool = False) -> bool:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            if not force:
                return False
            self._queue.get_nowait()  # make room for the end marker
            self._queue.put_nowait(item)
        return True

    # --- state changes and waits -------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every `_wait_until` caller to check its predicate again."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait_until(self, predicate: Callable[[], bool], timeout_s: float | None, what: str) -> None:
        """Wait until `predicate()` holds (it may raise to give up), re-checked on each `_notify`."""

        async def watch() -> None:
            while True:
                changed = self._changed  # taken before the check, so no change slips in between
                if predicate():
                    return
                await changed.wait()

        await self._wait_clock(watch(), timeout_s, what)

    async def _wait_clock(self, awaitable: Awaitable[Any], timeout_s: float | None, what: str) -> Any:
        """Await `awaitable`, giving up after `timeout_s` of the injected clock."""
        return await wait_clock(self.clock, awaitable, timeout_s, what)

    # --- the connection ----------------------------------------------------------------------------

    async def _run(self) -> None:
        cfg = self._settings
        log = self._log
        while not self._closing:
            await self._before_connect()
            try:
                ws = await connect(
                    cfg.url,
                    open_timeout=cfg.open_timeout_s,
                    ping_interval=None,
                    close_timeout=1.0,
                    max_size=self._max_frame_bytes,
                    compression=None,
                )
            except InvalidURI as e:
                self._fail(ConfigError(f"invalid WebSocket URL {cfg.url!r}: {e}"))
                return
            except (OSError, TimeoutError, InvalidHandshake) as e:
                self._counters.connect_failures += 1
                self._notify()
                log.warning(f"{self._label} connect failed", url=cfg.url, error=str(e) or type(e).__name__)
                await self._backoff()
                continue
            try:
                await self._session(ws)
            except self._fatal_errors as e:
                self._fail(e)
                return
            except SessionEndedError as e:
                log.warning(f"{self._label} session ended", url=cfg.url, reason=str(e))
            finally:
                self._ws = None
                self._on_disconnected()
            if self._closing:
                return
            self._counters.disconnects += 1
            log.warning(
                f"{self._label} disconnected",
                url=cfg.url,
                connection=self.connection,
                reconnects=self._counters.reconnects,
            )
            await self._backoff()

    async def _backoff(self) -> None:
        cfg = self._settings
        delay = min(cfg.reconnect_max_s, cfg.reconnect_initial_s * cfg.reconnect_factor**self._attempt)
        delay *= 1 + cfg.reconnect_jitter * (2 * self._rng.random() - 1)
        self._attempt += 1
        await self.clock.sleep(delay)

    def _reset_backoff(self) -> None:
        """Start the next reconnect with the shortest delay again (the connection proved good)."""
        self._attempt = 0

    def _next_req_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._req_ids)}"

    async def _session(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.connection += 1
        self._counters.connects += 1
        if self.connection > 1:
            self._counters.reconnects += 1
        self._last_rx = self.clock.monotonic()
        await self._on_connected(ws)
        reader = asyncio.create_task(self._read(ws))
        keepalive = asyncio.create_task(self._keepalive(ws))
        tasks = [reader, keepalive]
        work = self._session_task(ws)
        setup = asyncio.create_task(work) if work is not None else None
        if setup is not None:
            tasks.append(setup)
        pending: set[asyncio.Task[None]] = set(tasks)
        try:
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if setup in done and (error := setup.exception()) is not None:
                    raise error
                if reader in done or keepalive in done:
                    return
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    async def _keepalive(self, ws: ClientConnection) -> None:
        cfg = self._settings
        wait = cfg.ping_interval_s
        while True:
            await self.clock.sleep(wait)
            sent = self.clock.monotonic()
            try:
                await ws.send(encode_request("ping", req_id=self._next_req_id("ping")))
            except ConnectionClosed:
                return
            self._counters.pings_sent += 1
            self._notify()
            await self.clock.sleep(cfg.pong_timeout_s)
            if self._last_rx < sent:
                self._counters.dead_connections += 1
                self._notify()
                self._log.warning(f"{self._label} dead: nothing received since the last ping", url=cfg.url)
                return
            # Anything received counts as alive, so the next ping is due a full interval after this one.
            wait = cfg.ping_interval_s - cfg.pong_timeout_s

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                recv_ms = self.clock.now_ms()
                self._last_rx = self.clock.monotonic()
                self._counters.messages += 1
                if self._on_raw is not None:
                    self._on_raw(text, recv_ms)
                await self._on_text(text, recv_ms)
        except ConnectionClosed as e:
            self._log.info(f"{self._label} closed by peer", code=e.rcvd.code if e.rcvd else None)
