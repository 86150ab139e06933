"""The connection plumbing both WebSocket endpoints of the sim share (`ws_public`, `ws_private`).

A `StreamHub` counts one endpoint's connections and carries the drop fault; a `StreamSession` is one
connection: writes serialised by a lock (the push loop and request replies share the socket), one
close, the envelope of a client request (`{"op", "args", "req_id"}`, "Params Error" when it is not
a JSON object), and the check a push loop makes each tick (server stopping, drop injected). `serve`
runs an accepted connection until either side ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import orjson
import structlog
from starlette.requests import Request
from starlette.websockets import WebSocket, WebSocketDisconnect

from bst.sim.replies import json_response
from bst.sim.state import SimState

HubT = TypeVar("HubT")


SUBSCRIBE_REPLY_HOLD_S = 0.02
"""Real time a subscribe/unsubscribe waits before its reply, as a round trip to Bybit at least does.

pybit (5.17) sends a subscription and only then records its req_id; an ack arriving in between
raises inside its socket thread and kills the connection. Over loopback the sim answered in that
gap; Bybit's replies never come that fast.
"""


class StreamHub:
    """Every session of one WebSocket endpoint: connection counters, ids and the drop fault."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._conn_ids = itertools.count(1)
        self.drop_generation = 0
        self.connections = 0
        self.connections_total = 0
        self.messages_sent = 0

    def drop_connections(self) -> None:
        """Close every open connection of this endpoint at its next push tick (fault injection)."""
        with self._lock:
            self.drop_generation += 1

    def next_conn_number(self) -> int:
        """Return the next connection number of this endpoint (1, 2, ...)."""
        with self._lock:
            return next(self._conn_ids)

    def counters(self) -> dict[str, Any]:
        """Return the connection and message counters as JSON."""
        return {
            "connections": self.connections,
            "connections_total": self.connections_total,
            "messages_sent": self.messages_sent,
        }


def topic_args(args: Any) -> list[str] | None:
    """Return `args` of a subscribe request if it is a non-empty list of strings, else None."""
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        return None
    return args


class StreamSession:
    """One client connection of a hub; subclasses answer requests and push data."""

    label: ClassVar[str] = "stream"
    """How logs and task names call the endpoint ("public", "private")."""

    def __init__(self, hub: StreamHub, websocket: WebSocket, conn_id: str) -> None:
        self.hub = hub
        self.websocket = websocket
        self.conn_id = conn_id
        self._drop_generation = hub.drop_generation
        self._send_lock = asyncio.Lock()
        self.closed = False

    async def reply(self, op: str, success: bool, req_id: str | None, ret_msg: str | None = None) -> None:
        """Send Bybit's reply to a request."""
        raise NotImplementedError

    async def on_request(self, op: str, args: Any, req_id: str | None) -> None:
        """Answer one request that is a JSON object."""
        raise NotImplementedError

    async def push_loop(self) -> None:
        """Push data until the session closes (call `stop_if_due` every tick)."""
        raise NotImplementedError

    def on_closed(self) -> None:
        """Release what the session holds outside itself (called once, when it ends)."""

    async def send_text(self, text: str) -> None:
        """Write one message unless the session is closed (writes never interleave)."""
        async with self._send_lock:
            if self.closed:
                return
            await self.websocket.send_text(text)
            self.hub.messages_sent += 1

    async def handle(self, text: str) -> None:
        """Answer one text frame of the client."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            await self.reply("", False, None, "Params Error")
            return
        if not isinstance(request, dict):
            await self.reply("", False, None, "Params Error")
            return
        req_id = request.get("req_id")
        await self.on_request(
            str(request.get("op", "")), request.get("args"), str(req_id) if req_id is not None else None
        )

    async def stop_if_due(self) -> bool:
        """Close the session and return True if the server is stopping or a drop was injected."""
        stopping = self.hub.state.stopping
        if stopping is not None and stopping.is_set():
            await self.close(1001, "server shutting down")
            return True
        if self.hub.drop_generation != self._drop_generation:
            await self.close(1011, "fault injection: connection dropped")
            return True
        return False

    async def close(self, code: int, reason: str) -> None:
        """Close the connection once (later calls do nothing)."""
        async with self._send_lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(Exception):
                await self.websocket.close(code=code, reason=reason)


async def serve(session: StreamSession, task_prefix: str) -> None:
    """Run an accepted session: push beside answering requests until either side ends it."""
    hub = session.hub
    hub.connections += 1
    hub.connections_total += 1
    pusher = asyncio.create_task(session.push_loop(), name=f"{task_prefix}-{session.conn_id}")
    try:
        while not session.closed:
            try:
                text = await session.websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError, KeyError):
                break
            await session.handle(text)
    except Exception as e:  # a client vanishing mid-send is normal; anything else is logged
        if not session.closed:
            # Logged under the endpoint's module, as before the plumbing was shared.
            structlog.get_logger(type(session).__module__).warning(
                f"{session.label} stream session failed", conn_id=session.conn_id, error=repr(e)
            )
    finally:
        session.closed = True
        session.on_closed()
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher
        hub.connections -= 1


async def admin_body(request: Request) -> Any:
    """Return the JSON body of an admin POST ({} when empty), or a 400 response if it is not JSON."""
    try:
        return orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        return json_response({"error": "body is not JSON"}, status=400)


def hub_of(state: SimState, key: str, kind: type[HubT], make: Callable[[], HubT]) -> HubT:
    """Return the hub kept under `key` in the sim state, making it on first use."""
    hub = state.extras.get(key)
    if not isinstance(hub, kind):
        hub = make()
        state.extras[key] = hub
    return hub
