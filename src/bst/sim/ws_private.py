"""The private WebSocket stream of the simulator: `/v5/private` with Bybit's auth, topics and shapes.

`{"op": "auth", "args": [api_key, expires_ms, signature]}` authenticates (signature = HMAC-SHA256 of
"GET/realtime" + expires, expires in the future); then `subscribe` to `order`, `execution`,
`position`, `wallet` (or `order.linear`, `execution.spot`, ...: all-in-one and per-category topics
may not be mixed in one request). Every engine event of the account is pushed in the order it
happened, consecutive events of one topic in one message (`{"id", "topic", "creationTime",
"data": [...]}`); the position topic prints `entryPrice`. JSON pings get `{"op": "pong", "args":
[now]}`. No snapshot on subscribe, as on Bybit: a client re-reads REST after (re)connecting.

Faults: `drop_connections()` cuts every private connection (the "private stream drop" clients must
survive by re-authenticating, re-subscribing and reconciling over REST); reachable at
`POST /sim/ws/private {"drop": true}` (GET reports connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from bst.bybit.codec.account import encode_position, encode_wallet
from bst.bybit.codec.orders import encode_execution, encode_order
from bst.bybit.signing import ws_auth_signature
from bst.domain.market import Category
from bst.engine import EngineEvent, ExecutionUpdate, OrderUpdate, PositionUpdate, WalletUpdate
from bst.sim.replies import json_response
from bst.sim.state import SimState
from bst.sim.trading_desk import TradingDesk, desk_of
from bst.sim.ws_hub import StreamHub, StreamSession, admin_body, hub_of, serve, topic_args

WS_PATH = "/v5/private"
ADMIN_PATH = "/sim/ws/private"
POLL_S = 0.05
ALL_IN_ONE = ("order", "execution", "position", "wallet")
CATEGORISED = {
    f"{topic}.{category.value}": (topic, category)
    for topic in ("order", "execution", "position")
    for category in (Category.LINEAR, Category.SPOT, Category.INVERSE, Category.OPTION)
    if not (topic == "position" and category is Category.SPOT)
}


def _topic_of(event: EngineEvent) -> tuple[str, Category | None, dict[str, Any]]:
    """Return (topic, category, wire item) of one engine event."""
    if isinstance(event, OrderUpdate):
        return "order", event.order.category, encode_order(event.order, ws=True)
    if isinstance(event, ExecutionUpdate):
        return "execution", event.execution.category, encode_execution(event.execution, ws=True)
    if isinstance(event, PositionUpdate):
        return "position", event.position.category, encode_position(event.position, ws=True)
    assert isinstance(event, WalletUpdate)
    return "wallet", None, encode_wallet(event.wallet)


class PrivateStreams(StreamHub):
    """Every private WebSocket session of one sim (thread-safe counters and the drop fault)."""

    def __init__(self, state: SimState, desk: TradingDesk) -> None:
        super().__init__(state)
        self.desk = desk
        self._message_ids = itertools.count(1)

    def next_conn_id(self) -> str:
        """Return a fresh connection id."""
        return f"sim-private-{self.next_conn_number()}"

    def next_message_id(self, uid: int) -> str:
        """Return a fresh message id."""
        with self._lock:
            return f"{uid}_{next(self._message_ids)}"

    def view(self) -> dict[str, Any]:
        """Return the counters (admin GET)."""
        return {
            **self.counters(),
            "drop_generation": self.drop_generation,
        }


class _Session(StreamSession):
    """One private connection: its account once authenticated, its topics, its push queue."""

    label = "private"

    def __init__(self, hub: PrivateStreams, websocket: WebSocket) -> None:
        super().__init__(hub, websocket, hub.next_conn_id())
        self.hub: PrivateStreams = hub
        self.uid: int | None = None
        self.topics: set[str] = set()
        self.queue: asyncio.Queue[list[EngineEvent]] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    def listener(self, events: list[EngineEvent]) -> None:
        """Take a batch of engine events (from any thread) and queue this account's."""
        mine = [e for e in events if e.uid == self.uid]
        if mine and not self.closed:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self.loop.call_soon_threadsafe(self.queue.put_nowait, mine)

    def on_closed(self) -> None:
        with contextlib.suppress(ValueError):
            self.hub.desk.listeners.remove(self.listener)

    async def send(self, body: dict[str, Any]) -> None:
        await self.send_text(orjson.dumps(body).decode())

    async def reply(self, op: str, success: bool, req_id: str | None, ret_msg: str | None = None) -> None:
        body: dict[str, Any] = {
            "success": success,
            "ret_msg": ret_msg or "",
            "op": op,
            "conn_id": self.conn_id,
        }
        if req_id is not None:
            body["req_id"] = req_id
        await self.send(body)

    async def on_request(self, op: str, args: Any, req_id: str | None) -> None:
        if op == "ping":
            # The private stream answers pings with Bybit's pong shape, unlike the public one.
            pong: dict[str, Any] = {
                "op": "pong",
                "args": [str(self.hub.state.now_ms())],
                "conn_id": self.conn_id,
            }
            if req_id is not None:
                pong["req_id"] = req_id
            await self.send(pong)
        elif op == "auth":
            await self._auth(args, req_id)
        elif op in ("subscribe", "unsubscribe"):
            await self._subscribe(op, args, req_id)
        else:
            await self.reply(op, False, req_id, f"Invalid op: {op}")

    async def _auth(self, args: Any, req_id: str | None) -> None:
        if self.uid is not None:
            await self.reply("auth", False, req_id, "Repeat auth")
            return
        if not isinstance(args, list) or len(args) != 3:
            await self.reply("auth", False, req_id, "Params Error")
            return
        api_key, expires, signature = str(args[0]), args[1], str(args[2])
        known = self.hub.desk.credentials(api_key)
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            await self.reply("auth", False, req_id, "Params Error")
            return
        if known is None:
            await self.reply("auth", False, req_id, "Invalid apikey")
            return
        secret, uid = known
        if expires_ms <= self.hub.state.now_ms():
            await self.reply("auth", False, req_id, "Params Error")
            return
        if signature.lower() != ws_auth_signature(secret, expires_ms):
            await self.reply("auth", False, req_id, "Invalid sign")
            return
        self.uid = uid
        self.hub.desk.listeners.append(self.listener)
        await self.reply("auth", True, req_id)

    async def _subscribe(self, op: str, args: Any, req_id: str | None) -> None:
        if self.uid is None:
            await self.reply(op, False, req_id, "Request not authorized")
            return
        topics = topic_args(args)
        if topics is None:
            await self.reply(op, False, req_id, "Params Error")
            return
        unknown = [a for a in topics if a not in ALL_IN_ONE and a not in CATEGORISED]
        if unknown:
            await self.reply(op, False, req_id, f"Invalid topic: {unknown[0]}")
            return
        if any(a in ALL_IN_ONE for a in topics) and any(a in CATEGORISED for a in topics):
            await self.reply(op, False, req_id, "Params Error: all-in-one and categorised topics mixed")
            return
        if op == "subscribe":
            self.topics.update(topics)
        else:
            self.topics.difference_update(topics)
        await self.reply(op, True, req_id)

    def _wants(self, topic: str, category: Category | None) -> bool:
        if topic in self.topics:
            return True
        return category is not None and f"{topic}.{category.value}" in self.topics

    async def push_loop(self) -> None:
        while not self.closed:
            if await self.stop_if_due():
                return
            try:
                events = await asyncio.wait_for(self.queue.get(), timeout=POLL_S)
            except TimeoutError:
                continue
            await self._push(events)

    async def _push(self, events: list[EngineEvent]) -> None:
        run: list[dict[str, Any]] = []
        run_topic = ""
        for event in events:
            topic, category, item = _topic_of(event)
            if not self._wants(topic, category):
                continue
            if run and topic != run_topic:
                await self._send_run(run_topic, run)
                run = []
            run_topic = topic
            run.append(item)
        if run:
            await self._send_run(run_topic, run)

    async def _send_run(self, topic: str, items: list[dict[str, Any]]) -> None:
        assert self.uid is not None
        body = {
            "id": self.hub.next_message_id(self.uid),
            "topic": topic,
            "creationTime": self.hub.state.now_ms(),
            "data": items,
        }
        await self.send(body)


async def _serve(hub: PrivateStreams, websocket: WebSocket) -> None:
    await websocket.accept()
    await serve(_Session(hub, websocket), "ws-private")


def streams_of(state: SimState) -> PrivateStreams:
    """Return the private-stream hub of a sim state (created with its routes)."""
    return hub_of(state, "ws_private", PrivateStreams, lambda: PrivateStreams(state, desk_of(state)))


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the private WebSocket route and its admin endpoint."""
    hub = streams_of(state)

    async def endpoint(websocket: WebSocket) -> None:
        await _serve(hub, websocket)

    async def admin(request: Request) -> Response:
        if request.method == "POST":
            body = await admin_body(request)
            if isinstance(body, Response):
                return body
            if isinstance(body, dict) and body.get("drop"):
                hub.drop_connections()
        return json_response(hub.view())

    return [WebSocketRoute(WS_PATH, endpoint), Route(ADMIN_PATH, admin, methods=["GET", "POST"])]
