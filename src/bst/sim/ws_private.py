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
import threading
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bst.bybit.codec.account import encode_position, encode_wallet
from bst.bybit.codec.orders import encode_execution, encode_order
from bst.bybit.signing import ws_auth_signature
from bst.domain.market import Category
from bst.sim.engine import EngineEvent, ExecutionUpdate, OrderUpdate, PositionUpdate, WalletUpdate
from bst.sim.replies import json_response
from bst.sim.state import SimState
from bst.sim.trading_desk import TradingDesk, desk_of

log = structlog.get_logger(__name__)

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


class PrivateStreams:
    """Every private WebSocket session of one sim (thread-safe counters and the drop fault)."""

    def __init__(self, state: SimState, desk: TradingDesk) -> None:
        self.state = state
        self.desk = desk
        self._lock = threading.Lock()
        self._conn_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self.drop_generation = 0
        self.connections = 0
        self.connections_total = 0
        self.messages_sent = 0

    def drop_connections(self) -> None:
        """Cut every open private connection (fault injection)."""
        with self._lock:
            self.drop_generation += 1

    def next_conn_id(self) -> str:
        """Return a fresh connection id."""
        with self._lock:
            return f"sim-private-{next(self._conn_ids)}"

    def next_message_id(self, uid: int) -> str:
        """Return a fresh message id."""
        with self._lock:
            return f"{uid}_{next(self._message_ids)}"

    def view(self) -> dict[str, Any]:
        """Return the counters (admin GET)."""
        return {
            "connections": self.connections,
            "connections_total": self.connections_total,
            "messages_sent": self.messages_sent,
            "drop_generation": self.drop_generation,
        }


class _Session:
    """One private connection: its account once authenticated, its topics, its push queue."""

    def __init__(self, hub: PrivateStreams, websocket: WebSocket) -> None:
        self.hub = hub
        self.websocket = websocket
        self.conn_id = hub.next_conn_id()
        self.uid: int | None = None
        self.topics: set[str] = set()
        self.queue: asyncio.Queue[list[EngineEvent]] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self._drop_generation = hub.drop_generation
        self._send_lock = asyncio.Lock()
        self.closed = False

    def listener(self, events: list[EngineEvent]) -> None:
        """Take a batch of engine events (from any thread) and queue this account's."""
        mine = [e for e in events if e.uid == self.uid]
        if mine and not self.closed:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self.loop.call_soon_threadsafe(self.queue.put_nowait, mine)

    async def send(self, body: dict[str, Any]) -> None:
        async with self._send_lock:
            if self.closed:
                return
            await self.websocket.send_text(orjson.dumps(body).decode())
            self.hub.messages_sent += 1

    async def reply(self, op: str, success: bool, req_id: Any, ret_msg: str = "") -> None:
        body: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "op": op, "conn_id": self.conn_id}
        if req_id is not None:
            body["req_id"] = str(req_id)
        await self.send(body)

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
        args = request.get("args")
        if op == "ping":
            pong: dict[str, Any] = {
                "op": "pong",
                "args": [str(self.hub.state.now_ms())],
                "conn_id": self.conn_id,
            }
            if req_id is not None:
                pong["req_id"] = str(req_id)
            await self.send(pong)
        elif op == "auth":
            await self._auth(args, req_id)
        elif op in ("subscribe", "unsubscribe"):
            await self._subscribe(op, args, req_id)
        else:
            await self.reply(op, False, req_id, f"Invalid op: {op}")

    async def _auth(self, args: Any, req_id: Any) -> None:
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

    async def _subscribe(self, op: str, args: Any, req_id: Any) -> None:
        if self.uid is None:
            await self.reply(op, False, req_id, "Request not authorized")
            return
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            await self.reply(op, False, req_id, "Params Error")
            return
        unknown = [a for a in args if a not in ALL_IN_ONE and a not in CATEGORISED]
        if unknown:
            await self.reply(op, False, req_id, f"Invalid topic: {unknown[0]}")
            return
        if any(a in ALL_IN_ONE for a in args) and any(a in CATEGORISED for a in args):
            await self.reply(op, False, req_id, "Params Error: all-in-one and categorised topics mixed")
            return
        if op == "subscribe":
            self.topics.update(args)
        else:
            self.topics.difference_update(args)
        await self.reply(op, True, req_id)

    def _wants(self, topic: str, category: Category | None) -> bool:
        if topic in self.topics:
            return True
        return category is not None and f"{topic}.{category.value}" in self.topics

    async def push_loop(self) -> None:
        hub = self.hub
        while not self.closed:
            stopping = hub.state.stopping
            if stopping is not None and stopping.is_set():
                await self.close(1001, "server shutting down")
                return
            if hub.drop_generation != self._drop_generation:
                await self.close(1011, "fault injection: connection dropped")
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

    async def close(self, code: int, reason: str) -> None:
        async with self._send_lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(Exception):
                await self.websocket.close(code=code, reason=reason)


async def _serve(hub: PrivateStreams, websocket: WebSocket) -> None:
    await websocket.accept()
    session = _Session(hub, websocket)
    hub.connections += 1
    hub.connections_total += 1
    pusher = asyncio.create_task(session.push_loop(), name=f"ws-private-{session.conn_id}")
    try:
        while not session.closed:
            try:
                text = await websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError, KeyError):
                break
            await session.handle(text)
    except Exception as e:  # a client vanishing mid-send is normal; anything else is logged
        if not session.closed:
            log.warning("private stream session failed", conn_id=session.conn_id, error=repr(e))
    finally:
        session.closed = True
        with contextlib.suppress(ValueError):
            hub.desk.listeners.remove(session.listener)
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher
        hub.connections -= 1


def streams_of(state: SimState) -> PrivateStreams:
    """Return the private-stream hub of a sim state (created with its routes)."""
    hub = state.extras.get("ws_private")
    if not isinstance(hub, PrivateStreams):
        hub = PrivateStreams(state, desk_of(state))
        state.extras["ws_private"] = hub
    return hub


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the private WebSocket route and its admin endpoint."""
    hub = streams_of(state)

    async def endpoint(websocket: WebSocket) -> None:
        await _serve(hub, websocket)

    async def admin(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = orjson.loads(await request.body() or b"{}")
            except orjson.JSONDecodeError as e:
                return json_response({"error": f"body is not JSON: {e}"}, status=400)
            if isinstance(body, dict) and body.get("drop"):
                hub.drop_connections()
        return json_response(hub.view())

    return [WebSocketRoute(WS_PATH, endpoint), Route(ADMIN_PATH, admin, methods=["GET", "POST"])]
