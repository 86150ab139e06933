"""Public WebSocket streams of the simulator: `/v5/public/{spot,linear,inverse}`, Bybit's shapes.

Topics: `orderbook.{1,50,200,1000}.{symbol}` (linear/inverse also 500), `publicTrade.{symbol}`,
`kline.{interval}.{symbol}`, `tickers.{symbol}`. Everything is a function of the sim clock and the
seeded generator, so streams agree with the REST replies: the book brackets the generator's last
trade, trades are the generator's trades, klines its bars.

Pacing: a push loop wakes every 10 ms of real time and emits what sim time between the last push and
now produced, in each topic's own cadence (orderbook.50 every 20 ms, 200 every 100 ms, 1000 every
200 ms, 1 every 10 ms; tickers every 100 ms, spot 50 ms; klines every second). Under a ManualClock
nothing moves until the clock does, and a jump of N ms is caught up step by step; beyond a minute
the stream starts over with a fresh snapshot. Book deltas carry only changed levels (size "0"
deletes), `u` grows by exactly 1 per message, level 1 sends snapshots only (re-sent with the same
`u` after 3 s unchanged), ticker deltas carry only changed fields.

Faults (for client tests), on every public connection: `drop_connections()`, `skip_deltas(n)` (the
next n book deltas are computed but never sent: a `u` gap), `send_snapshots()` (a fresh snapshot
mid-stream), `restart()` (a `u == 1` snapshot, as after a Bybit service restart), `set_delay(ms)`
(each message held that long) and `set_muted(True)` (a dead connection: no data, no pongs). They are
thread-safe, and reachable over HTTP at `POST /sim/ws` (GET reports connections and counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bst.bybit.codec.ws_public import (
    MAX_ARGS_CHARS_PER_CONNECTION,
    SPOT_MAX_ARGS_PER_REQUEST,
    Topic,
    TopicKind,
    check_topic,
    encode_op_reply,
    parse_topic,
)
from bst.domain.market import Category
from bst.sim.replies import json_response
from bst.sim.state import SimState
from bst.sim.ws_streams import BookStream, KlineStream, TickerStream, TopicStream, TradeStream

log = structlog.get_logger(__name__)

WS_PATH = "/v5/public/{channel}"
ADMIN_PATH = "/sim/ws"
TICK_S = 0.01
CHANNELS = {"spot": Category.SPOT, "linear": Category.LINEAR, "inverse": Category.INVERSE}


class PublicStreams:
    """Every public WebSocket session of one sim, and the faults injected into them (thread-safe)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._conn_ids = itertools.count(1)
        self.drop_generation = 0
        self.delay_ms = 0
        self.muted = False
        self._skip_deltas = 0
        self.snapshot_generation = 0
        self.restart_generation = 0
        self.connections = 0
        self.connections_total = 0
        self.messages_sent = 0
        self.deltas_skipped = 0

    # --- faults ----------------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Close every open public connection at its next push tick."""
        with self._lock:
            self.drop_generation += 1

    def skip_deltas(self, count: int = 1) -> None:
        """Compute but never send the next `count` book deltas (whichever topic produces them)."""
        with self._lock:
            self._skip_deltas += count

    def take_skip(self) -> bool:
        """Return True (and count it) if the delta at hand must be dropped."""
        with self._lock:
            if self._skip_deltas <= 0:
                return False
            self._skip_deltas -= 1
            self.deltas_skipped += 1
            return True

    def send_snapshots(self) -> None:
        """Make every book topic send a fresh snapshot next."""
        with self._lock:
            self.snapshot_generation += 1

    def restart(self) -> None:
        """Make every book topic send a `u == 1` snapshot next, as after a service restart."""
        with self._lock:
            self.restart_generation += 1

    def set_delay(self, delay_ms: int) -> None:
        """Hold every outgoing message `delay_ms` of real time (0 turns it off)."""
        self.delay_ms = max(0, int(delay_ms))

    def set_muted(self, muted: bool) -> None:
        """Stop (or resume) sending anything, pongs included: a dead but open connection."""
        self.muted = bool(muted)

    def reset(self) -> None:
        """Clear every fault setting and the message counters (open connections stay)."""
        with self._lock:
            self._skip_deltas = 0
            self.deltas_skipped = 0
        self.messages_sent = 0
        self.delay_ms = 0
        self.muted = False

    def view(self) -> dict[str, Any]:
        """Return settings and counters as JSON."""
        return {
            "connections": self.connections,
            "connections_total": self.connections_total,
            "messages_sent": self.messages_sent,
            "deltas_skipped": self.deltas_skipped,
            "pending_skips": self._skip_deltas,
            "delay_ms": self.delay_ms,
            "muted": self.muted,
        }

    def next_conn_id(self, category: Category) -> str:
        """Return a connection id in Bybit's style."""
        return f"sim-{category.value}-{next(self._conn_ids):06d}"


class _Session:
    """One client connection: its subscriptions and its push loop."""

    def __init__(self, hub: PublicStreams, websocket: WebSocket, category: Category) -> None:
        self.hub = hub
        self.state = hub.state
        self.websocket = websocket
        self.category = category
        self.conn_id = hub.next_conn_id(category)
        self.topics: dict[str, TopicStream] = {}
        self._send_lock = asyncio.Lock()
        self._drop_generation = hub.drop_generation
        self._snapshot_generation = hub.snapshot_generation
        self._restart_generation = hub.restart_generation
        self.closed = False

    async def send(self, text: str) -> None:
        if self.hub.delay_ms:
            await self.state.hold(self.hub.delay_ms / 1000)
        async with self._send_lock:
            if self.closed:
                return
            await self.websocket.send_text(text)
            self.hub.messages_sent += 1

    async def reply(self, op: str, success: bool, req_id: str | None, ret_msg: str | None = None) -> None:
        body = encode_op_reply(
            self.category, op, success=success, conn_id=self.conn_id, ret_msg=ret_msg, req_id=req_id
        )
        await self.send(orjson.dumps(body).decode())

    async def handle(self, text: str) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self.reply("", False, None, "Params Error")
            return
        if not isinstance(request, dict):
            await self.reply("", False, None, "Params Error")
            return
        op = str(request.get("op", ""))
        req_id = request.get("req_id")
        req = str(req_id) if req_id is not None else None
        if op == "ping":
            if not self.hub.muted:
                await self.reply("ping", True, req)
            return
        args = request.get("args")
        if op not in ("subscribe", "unsubscribe"):
            await self.reply(op, False, req, f"Invalid op: {op}")
            return
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            await self.reply(op, False, req, "Params Error")
            return
        if op == "subscribe":
            await self._subscribe(args, req)
        else:
            await self._unsubscribe(args, req)

    def _refuse_subscription(self, args: list[str]) -> str | None:
        if self.category is Category.SPOT and len(args) > SPOT_MAX_ARGS_PER_REQUEST:
            return f"args size exceeds {SPOT_MAX_ARGS_PER_REQUEST}"
        total = sum(len(t) for t in self.topics) + sum(len(a) for a in args)
        if total > MAX_ARGS_CHARS_PER_CONNECTION:
            return f"args length exceeds {MAX_ARGS_CHARS_PER_CONNECTION} characters per connection"
        gen = self.state.generator
        for topic in args:
            if topic in self.topics:
                return f"error:already subscribed,topic:{topic}"
            if check_topic(topic, self.category) is not None:
                return f"Invalid topic: {topic}"
            spec = parse_topic(topic)
            if not gen.has_instrument(self.category, spec.symbol):
                return f"Invalid topic: {topic}"
            if self.state.now_ms() < gen.path(self.category, spec.symbol).launch_minute_ms:
                return f"Invalid topic: {topic}"
        if len(set(args)) != len(args):
            return "error:duplicate topics in one request"
        return None

    async def _subscribe(self, args: list[str], req_id: str | None) -> None:
        refusal = self._refuse_subscription(args)
        if refusal is not None:
            await self.reply("subscribe", False, req_id, refusal)
            return
        now = self.state.now_ms()
        fresh = [(topic, self._make_stream(parse_topic(topic))) for topic in args]
        for topic, stream in fresh:
            self.topics[topic] = stream
        await self.reply("subscribe", True, req_id)
        for _, stream in fresh:
            for message in stream.start(now):
                await self.send(message)

    async def _unsubscribe(self, args: list[str], req_id: str | None) -> None:
        missing = [t for t in args if t not in self.topics]
        if missing:
            await self.reply("unsubscribe", False, req_id, f"error:not subscribed,topic:{missing[0]}")
            return
        for topic in args:
            del self.topics[topic]
        await self.reply("unsubscribe", True, req_id)

    def _make_stream(self, topic: Topic) -> TopicStream:
        gen = self.state.generator
        if topic.kind is TopicKind.ORDERBOOK:
            assert topic.depth is not None  # parse_topic sets it for order-book topics
            return BookStream(gen, self.category, topic.symbol, topic.depth, self.hub.take_skip)
        if topic.kind is TopicKind.TRADE:
            return TradeStream(gen, self.category, topic.symbol)
        if topic.kind is TopicKind.KLINE:
            assert topic.interval is not None  # check_topic refused bad intervals
            return KlineStream(gen, self.category, topic.symbol, topic.interval)
        return TickerStream(gen, self.category, topic.symbol)

    async def push_loop(self) -> None:
        hub = self.hub
        while not self.closed:
            await asyncio.sleep(TICK_S)
            stopping = self.state.stopping
            if stopping is not None and stopping.is_set():
                await self.close(1001, "server shutting down")
                return
            if hub.drop_generation != self._drop_generation:
                await self.close(1011, "fault injection: connection dropped")
                return
            if hub.muted or not self.topics:
                continue
            fresh_snapshot = hub.snapshot_generation != self._snapshot_generation
            restart = hub.restart_generation != self._restart_generation
            self._snapshot_generation = hub.snapshot_generation
            self._restart_generation = hub.restart_generation
            now = self.state.now_ms()
            for stream in list(self.topics.values()):
                if isinstance(stream, BookStream) and (fresh_snapshot or restart):
                    messages = stream.snapshot_now(now, restart=restart)
                else:
                    messages = stream.advance(now)
                for message in messages:
                    await self.send(message)

    async def close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(Exception):
                await self.websocket.close(code=code, reason=reason)


async def _serve(hub: PublicStreams, websocket: WebSocket) -> None:
    category = CHANNELS.get(str(websocket.path_params.get("channel", "")))
    if category is None:
        await websocket.close(code=1008, reason="unknown public channel")
        return
    await websocket.accept()
    session = _Session(hub, websocket, category)
    hub.connections += 1
    hub.connections_total += 1
    pusher = asyncio.create_task(session.push_loop(), name=f"ws-push-{session.conn_id}")
    try:
        while not session.closed:
            try:
                text = await websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError, KeyError):
                break
            await session.handle(text)
    except Exception as e:  # a client vanishing mid-send is normal; anything else is logged
        if not session.closed:
            log.warning("public stream session failed", conn_id=session.conn_id, error=repr(e))
    finally:
        session.closed = True
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher
        hub.connections -= 1


def streams_of(state: SimState) -> PublicStreams:
    """Return the public-stream hub of a sim state (created with its routes)."""
    hub = state.extras.get("ws_public")
    if not isinstance(hub, PublicStreams):
        hub = PublicStreams(state)
        state.extras["ws_public"] = hub
    return hub


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the public WebSocket routes and their admin endpoint."""
    hub = streams_of(state)

    async def endpoint(websocket: WebSocket) -> None:
        await _serve(hub, websocket)

    async def admin(request: Request) -> Response:
        if request.method == "GET":
            return json_response(hub.view())
        try:
            body = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as e:
            return json_response({"error": f"body is not JSON: {e}"}, status=400)
        if not isinstance(body, dict):
            return json_response({"error": "body must be a JSON object"}, status=400)
        if body.get("reset"):
            hub.reset()
        if "delay_ms" in body:
            hub.set_delay(int(body["delay_ms"]))
        if "mute" in body:
            hub.set_muted(bool(body["mute"]))
        if body.get("skip_deltas"):
            hub.skip_deltas(int(body["skip_deltas"]))
        if body.get("snapshot"):
            hub.send_snapshots()
        if body.get("restart"):
            hub.restart()
        if body.get("drop"):
            hub.drop_connections()
        return json_response(hub.view())

    return [WebSocketRoute(WS_PATH, endpoint), Route(ADMIN_PATH, admin, methods=["GET", "POST"])]
