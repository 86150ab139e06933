"""Bybit v5 private WebSocket client: authenticated account events with a gap-safe hand-over.

One `PrivateStream` is one connection to `/v5/private`. On every (re)connect it

1. authenticates (`op: auth`, expires = exchange time + `auth_expiry_s`, HMAC signature); refused
   credentials end the stream with `BybitAuthError`/`BybitSignatureError` instead of a reconnect loop;
2. subscribes to its topics (all-in-one `order`, `execution`, `position`, `wallet` by default) and
   waits for the ack; a refusal ends the stream with `PrivateSubscriptionError`;
3. re-reads over REST (the `PrivateRestReader` port, e.g. a `BybitRestClient`) the fills executed
   since it was last known current, the open and recently closed orders, positions and wallet, emits
   them as `source=RESYNC` events and then a `ResyncEvent`: a consumer such as the order tracker
   misses no fill that happened while the stream was down.

Messages become typed events (`OrdersEvent`, `ExecutionsEvent`, `PositionsEvent`, `WalletsEvent`)
with exchange and receive times; events are never dropped (the queue is unbounded: a dropped private
event would be a missed fill). JSON pings go out every `ping_interval_s` of the injected clock; a
connection that stays silent `pong_timeout_s` after a ping is declared dead and replaced, with
exponential backoff and jitter. A malformed data message, or `request_resync()`, triggers another
re-read. Secrets never appear in reprs or logs.

Consume with `async for event in stream`; `wait_live()` / `wait_synced()` raise the fatal error, if any.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bst.bybit.codec.ws_private import decode_private, encode_auth
from bst.bybit.codec.ws_public import OpReply, Unhandled, encode_request
from bst.bybit.retcodes import RetCode
from bst.bybit.signing import ws_auth_signature
from bst.domain.account_events import (
    AccountEvent,
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
    WalletsEvent,
)
from bst.domain.clock import Clock
from bst.domain.errors import (
    BybitAPIError,
    BybitAuthError,
    BybitConnectionError,
    BybitSignatureError,
    BybitTimeoutError,
)
from bst.exchange.rest import BybitRestClient
from bst.exchange.ws_connection import ReconnectingStream, SessionEndedError
from bst.exchange.ws_private_config import PrivateStreamConfig, PrivateStreamStats, PrivateSubscriptionError
from bst.exchange.ws_private_resync import PrivateRestReader, ResyncSnapshot, reread

if TYPE_CHECKING:
    from bst.domain.ports import AccountFeed

__all__ = ["PrivateStream", "PrivateStreamConfig", "PrivateStreamStats", "PrivateSubscriptionError"]

log = structlog.get_logger(__name__)


class PrivateStream(ReconnectingStream[AccountEvent]):
    """One authenticated private connection, its REST hand-over and its event queue."""

    _label = "private stream"
    # Refused credentials or topics will be refused again: stop instead of a reconnect loop.
    _fatal_errors = (BybitAuthError, PrivateSubscriptionError)

    def __init__(
        self,
        config: PrivateStreamConfig,
        *,
        rest: PrivateRestReader | None = None,
        clock: Clock | None = None,
        exchange_time: Callable[[], int] | None = None,
        on_raw: Callable[[str, int], None] | None = None,
    ) -> None:
        self.config = config
        self.stats = PrivateStreamStats()
        # The config's queue is unbounded: a dropped private event would be a missed fill.
        super().__init__(config, self.stats, clock=clock, on_raw=on_raw, task_name="bst-ws-private")
        self._rest = rest
        if exchange_time is None:
            exchange_time = rest.http.exchange_now_ms if isinstance(rest, BybitRestClient) else None
        self._exchange_time: Callable[[], int] = exchange_time or self.clock.now_ms
        self._live = False
        self._synced = False
        self._pending: dict[str, tuple[str, asyncio.Future[OpReply]]] = {}
        self._auth_failures = 0
        self._need_time_sync = isinstance(rest, BybitRestClient)
        self._since_ms: int | None = None
        self._covered_ms: int | None = None
        self._resync_wanted = asyncio.Event()

    def __repr__(self) -> str:
        return f"PrivateStream(url={self.config.url!r}, live={self._live}, connection={self.connection})"

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self, since_ms: int | None = None) -> None:
        """Start connecting in the background; the first re-read covers fills since `since_ms`.

        `since_ms` (exchange time) defaults to the first subscription minus the plan's overlap.
        """
        if self._task is None:
            self._since_ms = since_ms
            await super().start()

    @property
    def live(self) -> bool:
        """Return whether the connection is authenticated and subscribed."""
        return self._live

    @property
    def synced(self) -> bool:
        """Return whether the REST hand-over of the current connection is complete."""
        return self._synced

    @property
    def error(self) -> BaseException | None:
        """Return the error that ended the stream, if any."""
        return self._fatal

    async def wait_live(self, timeout_s: float | None = None) -> None:
        """Wait until authenticated and subscribed; raise the stream's fatal error if it ends."""
        await self.wait_state(lambda: self._live, timeout_s)

    async def wait_synced(self, timeout_s: float | None = None) -> None:
        """Wait until the current connection's REST hand-over is complete (or the fatal error)."""
        await self.wait_state(lambda: self._synced, timeout_s)

    async def wait_state(self, predicate: Callable[[], bool], timeout_s: float | None = None) -> None:
        """Wait until `predicate()` holds, re-checked on every state change of the stream."""

        def reached() -> bool:
            # A stream that failed or was closed will not change again: give up at once.
            if self._fatal is not None:
                raise self._fatal
            if predicate():
                return True
            if self._closing:
                raise BybitConnectionError("the private stream is closed")
            return False

        await self._wait_until(reached, timeout_s, "the private stream did not reach the expected state")

    def request_resync(self) -> None:
        """Re-read the account over REST now (e.g. when a consumer sees fills it lacks)."""
        self._resync_wanted.set()

    def _set_live(self, live: bool, synced: bool = False) -> None:
        self._live, self._synced = live, synced and live
        self._notify()

    def _on_stopped(self) -> None:
        self._set_live(False)

    # --- the connection ----------------------------------------------------------------------------

    def _on_disconnected(self) -> None:
        for _, future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._fatal is None:
            self._set_live(False)

    async def _before_connect(self) -> None:
        # The auth signature's expiry is in exchange time: measure that clock first when it is unknown.
        rest = self._rest
        if not self._need_time_sync or not isinstance(rest, BybitRestClient):
            return
        try:
            await rest.sync_time()
            self._need_time_sync = False
        except BybitAPIError as e:  # auth can still work with our own clock; the next connect retries
            log.warning("private stream could not sync the exchange clock", error=str(e))

    async def _on_connected(self, ws: ClientConnection) -> None:
        self._notify()
        log.info("private stream connected", url=self.config.url, connection=self.connection)

    def _session_task(self, ws: ClientConnection) -> Coroutine[Any, Any, None]:
        return self._setup(ws)

    async def _setup(self, ws: ClientConnection) -> None:
        """Authenticate, subscribe, hand over from REST; then serve re-read requests."""
        await self._authenticate(ws)
        await self._subscribe(ws)
        subscribed_ms = self._exchange_time()
        self._reset_backoff()
        self._set_live(True)
        log.info("private stream live", connection=self.connection, topics=list(self.config.topics))
        rest = self._rest
        if rest is None:
            self._set_live(True, synced=True)
            return
        if self._covered_ms is None:
            self._covered_ms = self._since_ms if self._since_ms is not None else subscribed_ms
        await self._resync(rest)
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            await self._resync(rest)

    async def _request(self, ws: ClientConnection, op: str, text: str, req_id: str) -> OpReply:
        future: asyncio.Future[OpReply] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (op, future)
        try:
            try:
                await ws.send(text)
            except ConnectionClosed as e:
                raise SessionEndedError(f"connection closed while sending {op}") from e
            try:
                reply: OpReply = await self._wait_clock(future, self.config.ack_timeout_s, f"no {op} reply")
            except BybitTimeoutError as e:
                raise SessionEndedError(str(e)) from e
            return reply
        finally:
            self._pending.pop(req_id, None)

    async def _authenticate(self, ws: ClientConnection) -> None:
        creds = self.config.credentials
        expires_ms = self._exchange_time() + round(self.config.auth_expiry_s * 1000)
        signature = ws_auth_signature(creds.reveal_secret(), expires_ms)
        req_id = self._next_req_id("auth")
        reply = await self._request(
            ws, "auth", encode_auth(creds.api_key, expires_ms, signature, req_id), req_id
        )
        if reply.success:
            self._auth_failures = 0
            return
        self.stats.auth_failures += 1
        self._auth_failures += 1
        reason = reply.ret_msg or "refused"
        lowered = reason.lower()
        if "sign" in lowered:
            raise BybitSignatureError(
                f"private stream authentication refused: {reason} (check the API secret)",
                ret_code=RetCode.SIGNATURE_ERROR,
            )
        if "key" in lowered or "expired" in lowered or "permission" in lowered:
            raise BybitAuthError(
                f"private stream authentication refused: {reason} (check the API key and environment)",
                ret_code=RetCode.API_KEY_INVALID,
            )
        if self._auth_failures >= self.config.max_auth_failures:
            raise BybitAuthError(
                f"private stream authentication refused {self._auth_failures} times in a row: {reason}"
            )
        # Most often an expiry our clock got wrong: measure the exchange clock again, then retry.
        self._need_time_sync = isinstance(self._rest, BybitRestClient)
        raise SessionEndedError(f"authentication refused: {reason}")

    async def _subscribe(self, ws: ClientConnection) -> None:
        topics = list(self.config.topics)
        req_id = self._next_req_id("sub")
        reply = await self._request(ws, "subscribe", encode_request("subscribe", topics, req_id), req_id)
        if not reply.success:
            raise PrivateSubscriptionError(
                f"private stream subscription to {', '.join(topics)} refused: {reply.ret_msg or 'refused'}"
            )

    async def _resync(self, rest: PrivateRestReader) -> None:
        """Re-read the account over REST and emit it; end the session if it keeps failing."""
        plan = self.config.resync
        started_ms = self._exchange_time()
        since_ms = (self._covered_ms if self._covered_ms is not None else started_ms) - plan.overlap_ms
        last_error: BybitAPIError | None = None
        for attempt in range(1, self.config.resync_attempts + 1):
            try:
                snapshot = await reread(rest, plan, since_ms, started_ms)
            except BybitAuthError:
                raise
            except BybitAPIError as e:
                last_error = e
                self.stats.resync_failures += 1
                log.warning("private stream re-read failed", attempt=attempt, error=str(e))
                if attempt < self.config.resync_attempts:
                    await self.clock.sleep(min(self.config.reconnect_max_s, 0.5 * 2 ** (attempt - 1)))
                continue
            self._emit_snapshot(snapshot, since_ms)
            # Everything up to the re-read is now delivered: REST covered the past, the stream since.
            self._covered_ms = max(self._covered_ms or started_ms, started_ms)
            self._set_live(True, synced=True)
            return
        raise SessionEndedError(f"the REST re-read failed {self.config.resync_attempts} times: {last_error}")

    def _emit_snapshot(self, snapshot: ResyncSnapshot, since_ms: int) -> None:
        now_ms = self._exchange_time()
        recv_ms = self.clock.now_ms()
        source = AccountEventSource.RESYNC
        # Fills first: when the consumer then sees an order's filled quantity, it holds its fills.
        if snapshot.executions:
            self._emit(ExecutionsEvent(snapshot.executions, source, now_ms, recv_ms))
        if snapshot.orders:
            self._emit(OrdersEvent(snapshot.orders, source, now_ms, recv_ms))
        if snapshot.positions is not None:
            self._emit(PositionsEvent(snapshot.positions, source, now_ms, recv_ms))
        if snapshot.wallet is not None:
            self._emit(WalletsEvent((snapshot.wallet,), source, now_ms, recv_ms))
        stats = self.stats
        stats.resyncs += 1
        stats.resync_executions += len(snapshot.executions)
        stats.resync_orders += len(snapshot.orders)
        self._emit(
            ResyncEvent(
                connection=self.connection,
                since_ms=since_ms,
                orders=len(snapshot.orders),
                executions=len(snapshot.executions),
                positions=len(snapshot.positions or ()),
                ts_ms=now_ms,
                recv_ms=recv_ms,
            )
        )
        log.info(
            "private stream re-read",
            connection=self.connection,
            since_ms=since_ms,
            executions=len(snapshot.executions),
            orders=len(snapshot.orders),
        )

    async def _on_text(self, text: str, recv_ms: int) -> None:
        out = decode_private(text, recv_ms)
        if isinstance(out, OpReply):
            self._on_reply(out)
        elif isinstance(out, Unhandled):
            self.stats.unhandled += 1
            if out.reason.startswith("malformed"):
                # A data message we could not read may have been a fill: re-read to be sure.
                self.stats.malformed += 1
                self._resync_wanted.set()
            log.warning("unhandled private stream message", reason=out.reason)
        else:
            self._count(out)
            self._emit(out)
        if self._synced:
            # Everything pushed before this frame has arrived (one ordered connection).
            self._covered_ms = self._exchange_time()
        self._notify()

    def _on_reply(self, reply: OpReply) -> None:
        if reply.is_pong:
            self.stats.pongs += 1
            return
        entry = self._pending.get(reply.req_id)
        if entry is None or entry[0] != reply.op:
            # Some replies carry no req_id: match the oldest request of the same op.
            entry = next((e for e in self._pending.values() if e[0] == reply.op), None)
        if entry is None:
            log.debug("private stream reply to no known request", op=reply.op, ret_msg=reply.ret_msg)
            return
        if not entry[1].done():
            entry[1].set_result(reply)

    def _count(self, event: AccountEvent) -> None:
        stats = self.stats
        if isinstance(event, OrdersEvent):
            stats.orders += len(event.orders)
        elif isinstance(event, ExecutionsEvent):
            stats.executions += len(event.executions)
        elif isinstance(event, PositionsEvent):
            stats.positions += len(event.positions)
        elif isinstance(event, WalletsEvent):
            stats.wallets += len(event.wallets)

    def _emit(self, event: AccountEvent) -> None:
        self.stats.events += 1
        self._put(event)


if TYPE_CHECKING:  # `make typecheck` proves the stream satisfies the port (mypy checks src/bst only)

    def _is_account_feed(stream: PrivateStream) -> AccountFeed:
        return stream
