"""The private WebSocket stream of the simulator: `/v5/private` with Bybit's auth, topics and shapes.

`{"op": "auth", "args": [api_key, expires_ms, signature]}` authenticates (signature = HMAC-SHA256 of
"GET/realtime" + expires, expires in the future); then `subscribe` to `order`, `execution`,
`execution.fast`, `position`, `wallet` (or `order.linear`, `execution.spot`,
`execution.fast.linear`, ...: all-in-one and per-category topics may not be mixed in one request).
`execution.fast` carries the trade fills only, in Bybit's reduced shape (no fee, no PnL; a maker
fill's orderLinkId ""), sent just before the same fills' `execution` message.

Every engine message of the account (`bst.engine.AccountMessage`:
a domain account event, grouped as Bybit groups a push) is sent in the order it happened, as one
`{"id", "topic", "creationTime", "data": [...]}` message encoded by the codec
(`bst.bybit.codec.ws_private`), `creationTime` being the engine time of the event; a per-category
subscription gets the items of its category only; the position topic prints `entryPrice`. JSON
pings get `{"op": "pong", "args": [now]}`. No snapshot on subscribe, as on Bybit: a client re-reads
REST after (re)connecting.

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

from bst.bybit import endpoints
from bst.bybit.codec.ws_private import (
    FAST_EXECUTION_TOPIC,
    PrivateItem,
    encode_fast_message,
    encode_private_message,
    event_items,
)
from bst.bybit.signing import ws_auth_signature
from bst.domain.account_events import ExecutionsEvent
from bst.domain.market import Category
from bst.domain.orders import ExecType, Execution
from bst.domain.portfolio import WalletBalance
from bst.engine import AccountMessage
from bst.sim.replies import json_response
from bst.sim.state import SimState
from bst.sim.trading_desk import TradingDesk, desk_of
from bst.sim.ws_hub import (
    SUBSCRIBE_REPLY_HOLD_S,
    StreamHub,
    StreamSession,
    admin_body,
    hub_of,
    serve,
    topic_args,
)

WS_PATH = endpoints.PRIVATE_WS_PATH
ADMIN_PATH = "/sim/ws/private"
POLL_S = 0.05
ALL_IN_ONE = ("order", "execution", "position", "wallet", FAST_EXECUTION_TOPIC)
CATEGORISED = {
    f"{topic}.{category.value}": (topic, category)
    for topic in ("order", "execution", "position", FAST_EXECUTION_TOPIC)
    for category in (Category.LINEAR, Category.SPOT, Category.INVERSE, Category.OPTION)
    if not (topic == "position" and category is Category.SPOT)
}


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
        self.queue: asyncio.Queue[list[AccountMessage]] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    def listener(self, messages: list[AccountMessage]) -> None:
        """Take a batch of engine messages (from any thread) and queue this account's."""
        mine = [m for m in messages if m.uid == self.uid]
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
            await self.hub.state.hold(SUBSCRIBE_REPLY_HOLD_S)
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

    def _wanted(self, topic: str, items: Sequence[PrivateItem]) -> Sequence[PrivateItem]:
        """Return the items this session subscribed to: all on the all-in-one topic, else by category."""
        if topic in self.topics:
            return items
        return [
            i
            for i in items
            if not isinstance(i, WalletBalance) and f"{topic}.{i.category.value}" in self.topics
        ]

    async def push_loop(self) -> None:
        while not self.closed:
            if await self.stop_if_due():
                return
            try:
                messages = await asyncio.wait_for(self.queue.get(), timeout=POLL_S)
            except TimeoutError:
                continue
            await self._push(messages)

    def _fast(self, event: ExecutionsEvent) -> list[Execution]:
        """Return the trade fills of `event` this session follows on `execution.fast`."""
        trades = [e for e in event.executions if e.exec_type is ExecType.TRADE]
        if FAST_EXECUTION_TOPIC in self.topics:
            return trades
        return [e for e in trades if f"{FAST_EXECUTION_TOPIC}.{e.category.value}" in self.topics]

    async def _push(self, messages: list[AccountMessage]) -> None:
        assert self.uid is not None
        for message in messages:
            if isinstance(message.event, ExecutionsEvent):
                fast = self._fast(message.event)
                if fast:  # the low-latency topic goes out first, as on Bybit
                    body = encode_fast_message(FAST_EXECUTION_TOPIC, fast, message.event.ts_ms)
                    await self.send_text(body.decode())
            topic, items = event_items(message.event)
            wanted = self._wanted(topic, items)
            if wanted:
                message_id = self.hub.next_message_id(self.uid)
                body = encode_private_message(topic, wanted, message.event.ts_ms, message_id)
                await self.send_text(body.decode())


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
