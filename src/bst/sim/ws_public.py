"""Public WebSocket streams of the simulator: `/v5/public/{spot,linear,inverse}`, Bybit's shapes.

Topics: `orderbook.{1,50,200,1000}.{symbol}` (linear/inverse also 500), `publicTrade.{symbol}`,
`kline.{interval}.{symbol}`, `tickers.{symbol}`, and for derivatives `allLiquidation.{symbol}` and
`liquidation.{symbol}`. Everything is a function of the sim clock and the
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
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from bst.bybit import endpoints
from bst.bybit.codec.ws_public import (
    LIQUIDATION_KINDS,
    MAX_ARGS_CHARS_PER_CONNECTION,
    SPOT_MAX_ARGS_PER_REQUEST,
    Topic,
    TopicKind,
    check_topic,
    encode_op_reply,
    parse_topic,
)
from bst.domain.market import Category
from bst.sim.faults import FaultConfigError, bounded_int
from bst.sim.replies import json_response
from bst.sim.state import SimState
from bst.sim.ws_hub import (
    SUBSCRIBE_REPLY_HOLD_S,
    StreamHub,
    StreamSession,
    admin_body,
    hub_of,
    serve,
    topic_args,
)
from bst.sim.ws_streams import (
    BookStream,
    KlineStream,
    LiquidationStream,
    TickerStream,
    TopicStream,
    TradeStream,
)

WS_PATH = endpoints.PUBLIC_WS_PATH
ADMIN_PATH = "/sim/ws"
MAX_DELAY_MS = 60_000
MAX_SKIPPED_DELTAS = 1_000_000
TICK_S = 0.01
CHANNELS = {"spot": Category.SPOT, "linear": Category.LINEAR, "inverse": Category.INVERSE}


class PublicStreams(StreamHub):
    """Every public WebSocket session of one sim, and the faults injected into them (thread-safe)."""

    def __init__(self, state: SimState) -> None:
        super().__init__(state)
        self.delay_ms = 0
        self.muted = False
        self._skip_deltas = 0
        self.snapshot_generation = 0
        self.restart_generation = 0
        self.deltas_skipped = 0

    # --- faults (drop_connections comes with the hub) ---------------------------------------------

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
            **self.counters(),
            "deltas_skipped": self.deltas_skipped,
            "pending_skips": self._skip_deltas,
            "delay_ms": self.delay_ms,
            "muted": self.muted,
        }

    def next_conn_id(self, category: Category) -> str:
        """Return a connection id in Bybit's style."""
        return f"sim-{category.value}-{self.next_conn_number():06d}"


class _Session(StreamSession):
    """One client connection: its subscriptions and its push loop."""

    label = "public"

    def __init__(self, hub: PublicStreams, websocket: WebSocket, category: Category) -> None:
        super().__init__(hub, websocket, hub.next_conn_id(category))
        self.hub: PublicStreams = hub
        self.state = hub.state
        self.category = category
        self.topics: dict[str, TopicStream] = {}
        self._snapshot_generation = hub.snapshot_generation
        self._restart_generation = hub.restart_generation

    async def send(self, text: str) -> None:
        if self.hub.delay_ms:
            await self.state.hold(self.hub.delay_ms / 1000)
        await self.send_text(text)

    async def reply(self, op: str, success: bool, req_id: str | None, ret_msg: str | None = None) -> None:
        body = encode_op_reply(
            self.category, op, success=success, conn_id=self.conn_id, ret_msg=ret_msg, req_id=req_id
        )
        await self.send(orjson.dumps(body).decode())

    async def on_request(self, op: str, args: Any, req_id: str | None) -> None:
        if op == "ping":
            if not self.hub.muted:  # a muted connection plays dead: no pongs either
                await self.reply("ping", True, req_id)
            return
        if op not in ("subscribe", "unsubscribe"):
            await self.reply(op, False, req_id, f"Invalid op: {op}")
            return
        topics = topic_args(args)
        if topics is None:
            await self.reply(op, False, req_id, "Params Error")
            return
        await self.state.hold(SUBSCRIBE_REPLY_HOLD_S)
        if op == "subscribe":
            await self._subscribe(topics, req_id)
        else:
            await self._unsubscribe(topics, req_id)

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
        if topic.kind in LIQUIDATION_KINDS:
            every_one = topic.kind is TopicKind.ALL_LIQUIDATION
            return LiquidationStream(gen, self.category, topic.symbol, every_one=every_one)
        if topic.kind is TopicKind.KLINE:
            assert topic.interval is not None  # check_topic refused bad intervals
            return KlineStream(gen, self.category, topic.symbol, topic.interval)
        return TickerStream(gen, self.category, topic.symbol)

    async def push_loop(self) -> None:
        hub = self.hub
        while not self.closed:
            await asyncio.sleep(TICK_S)
            if await self.stop_if_due():
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


async def _serve(hub: PublicStreams, websocket: WebSocket) -> None:
    category = CHANNELS.get(str(websocket.path_params.get("category", "")))
    if category is None:
        await websocket.close(code=1008, reason="unknown public channel")
        return
    await websocket.accept()
    await serve(_Session(hub, websocket, category), "ws-push")


def streams_of(state: SimState) -> PublicStreams:
    """Return the public-stream hub of a sim state (created with its routes)."""
    return hub_of(state, "ws_public", PublicStreams, lambda: PublicStreams(state))


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the public WebSocket routes and their admin endpoint."""
    hub = streams_of(state)

    async def endpoint(websocket: WebSocket) -> None:
        await _serve(hub, websocket)

    async def admin(request: Request) -> Response:
        if request.method == "GET":
            return json_response(hub.view())
        body = await admin_body(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict):
            return json_response({"error": "body must be a JSON object"}, status=400)
        try:
            delay_ms = (
                bounded_int(body["delay_ms"], "delay_ms", 0, MAX_DELAY_MS) if "delay_ms" in body else None
            )
            skips = bounded_int(body.get("skip_deltas") or 0, "skip_deltas", 0, MAX_SKIPPED_DELTAS)
        except FaultConfigError as e:
            return json_response({"error": str(e)}, status=400)
        if body.get("reset"):
            hub.reset()
        if delay_ms is not None:
            hub.set_delay(delay_ms)
        if "mute" in body:
            hub.set_muted(bool(body["mute"]))
        if skips:
            hub.skip_deltas(skips)
        if body.get("snapshot"):
            hub.send_snapshots()
        if body.get("restart"):
            hub.restart()
        if body.get("drop"):
            hub.drop_connections()
        return json_response(hub.view())

    return [WebSocketRoute(WS_PATH, endpoint), Route(ADMIN_PATH, admin, methods=["GET", "POST"])]
