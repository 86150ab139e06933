"""The private WebSocket stream (`/v5/private`): topics, the auth op, and messages -> account events.

Data messages are `{"id", "topic", "creationTime", "data": [...]}` (no `type`, no `ts`); items have
the REST fields plus `category` (see `codec.orders` / `codec.account`). Op replies (auth, subscribe,
pong) share the public streams' decoder; the auth reply comes in two shapes
(`{"success", "ret_msg", "op": "auth", "conn_id"}` or `{"retCode", "retMsg", "op", "connId"}`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import InvalidOperation
from typing import Any

import orjson

from bst.bybit.codec._fields import boolean, dec, integer, num
from bst.bybit.codec.account import encode_position, encode_wallet, parse_position, parse_wallet
from bst.bybit.codec.orders import encode_execution, encode_order, parse_execution, parse_order
from bst.bybit.codec.ws_public import OpReply, Unhandled, decode_op_reply
from bst.domain.account_events import (
    AccountEvent,
    AccountEventSource,
    AccountStateEvent,
    ExecutionsEvent,
    FastExecution,
    OrdersEvent,
    PositionsEvent,
    WalletsEvent,
)
from bst.domain.market import Category, Side
from bst.domain.orders import Execution, Order
from bst.domain.portfolio import Position, WalletBalance

JSON = dict[str, Any]

ALL_IN_ONE_TOPICS = ("order", "execution", "position", "wallet")
"""The all-in-one private topics bst follows by default (every category in one subscription)."""
FAST_EXECUTION_TOPIC = "execution.fast"
"""The low-latency fills topic (trades only, reduced fields; `execution.fast.{category}` per category)."""

_CATEGORIES = ("spot", "linear", "inverse", "option")
_CATEGORISED = frozenset(
    [f"order.{c}" for c in _CATEGORIES]
    + [f"execution.{c}" for c in _CATEGORIES]
    + [f"execution.fast.{c}" for c in _CATEGORIES]
    + [f"position.{c}" for c in ("linear", "inverse", "option")]
)
_ALL_IN_ONE = frozenset({*ALL_IN_ONE_TOPICS, "execution.fast", "greeks", "dcp"})

PrivateMessage = AccountEvent | OpReply | Unhandled


def check_private_topics(topics: Sequence[str]) -> str | None:
    """Return why Bybit would refuse subscribing `topics` in one request, or None."""
    if not topics:
        return "no topics given"
    unknown = [t for t in topics if t not in _ALL_IN_ONE and t not in _CATEGORISED]
    if unknown:
        return f"unknown private topic {unknown[0]!r} (private topics take no symbol)"
    if any(t in _ALL_IN_ONE for t in topics) and any(t in _CATEGORISED for t in topics):
        return "all-in-one and per-category private topics cannot be mixed in one subscription"
    return None


def encode_auth(api_key: str, expires_ms: int, signature: str, req_id: str | None = None) -> str:
    """Return the `auth` op: `{"req_id", "op": "auth", "args": [api_key, expires_ms, signature]}`."""
    body: JSON = {}
    if req_id is not None:
        body["req_id"] = req_id
    body["op"] = "auth"
    body["args"] = [api_key, expires_ms, signature]
    return orjson.dumps(body).decode()


def _kind(topic: str) -> str:
    head = topic.split(".", 1)[0]
    return head if head in ("order", "execution", "position", "wallet") else ""


def decode_private(text: str | bytes, recv_ms: int) -> PrivateMessage:
    """Return the account event, op reply or Unhandled (with the reason) of one private frame."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        return Unhandled(f"not JSON: {e}")
    if not isinstance(msg, dict):
        return Unhandled("not a JSON object")
    topic = msg.get("topic")
    if not isinstance(topic, str):
        if "op" in msg or "success" in msg or "retCode" in msg:
            return decode_op_reply(msg)
        return Unhandled("neither a topic message nor an op reply", msg)
    kind = _kind(topic)
    if not kind:
        return Unhandled(f"topic {topic!r} is not followed", msg)
    data = msg.get("data")
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        return Unhandled(f"malformed {topic} message: data is not a list of objects", msg)
    try:
        created = msg.get("creationTime")
        ts_ms = recv_ms if created is None or created == "" else int(created)
        return _event(kind, data, ts_ms, recv_ms)
    except (KeyError, ValueError, TypeError, InvalidOperation) as e:
        return Unhandled(f"malformed {topic} message: {type(e).__name__}: {e}", msg)


def _event(kind: str, data: list[JSON], ts_ms: int, recv_ms: int) -> AccountEvent:
    stream = AccountEventSource.STREAM
    if kind == "order":
        return OrdersEvent(tuple(parse_order(i) for i in data), stream, ts_ms, recv_ms)
    if kind == "execution":
        return ExecutionsEvent(tuple(parse_execution(i) for i in data), stream, ts_ms, recv_ms)
    if kind == "position":
        return PositionsEvent(tuple(parse_position(i) for i in data), stream, ts_ms, recv_ms)
    return WalletsEvent(tuple(parse_wallet(i) for i in data), stream, ts_ms, recv_ms)


# --- encoding (the sim's private stream, tests) ---------------------------------------------------

PrivateItem = Order | Execution | Position | WalletBalance


def event_items(event: AccountStateEvent) -> tuple[str, Sequence[PrivateItem]]:
    """Return the all-in-one topic an account event is pushed on and the items it carries."""
    if isinstance(event, OrdersEvent):
        return "order", event.orders
    if isinstance(event, ExecutionsEvent):
        return "execution", event.executions
    if isinstance(event, PositionsEvent):
        return "position", event.positions
    return "wallet", event.wallets


_ENCODERS: dict[str, Callable[[Any], JSON]] = {
    "order": lambda o: encode_order(o, ws=True),
    "execution": lambda e: encode_execution(e, ws=True),
    "position": lambda p: encode_position(p, ws=True),
    "wallet": encode_wallet,
}


def encode_private_message(
    topic: str, items: Sequence[PrivateItem], creation_ms: int, message_id: str
) -> bytes:
    """Return one private data message of `topic` carrying `items`, as Bybit prints it."""
    encode = _ENCODERS[_kind(topic)]
    body = {"id": message_id, "topic": topic, "creationTime": creation_ms, "data": [encode(i) for i in items]}
    return orjson.dumps(body)


# --- execution.fast ---------------------------------------------------------------------------


def encode_fast_execution(ex: Execution) -> JSON:
    """Return one `execution.fast` item (a maker fill's `orderLinkId` is always "" there)."""
    return {
        "category": ex.category.value,
        "symbol": ex.symbol,
        "execId": ex.exec_id,
        "execPrice": num(ex.exec_price),
        "execQty": num(ex.exec_qty),
        "orderId": ex.order_id,
        "isMaker": ex.is_maker,
        "orderLinkId": "" if ex.is_maker else ex.order_link_id,
        "side": ex.side.value,
        "execTime": str(ex.exec_time_ms),
        "seq": ex.seq,
    }


def parse_fast_execution(item: JSON) -> FastExecution:
    """Return one `execution.fast` item."""
    return FastExecution(
        category=Category(item["category"]),
        symbol=str(item["symbol"]),
        exec_id=str(item["execId"]),
        order_id=str(item.get("orderId") or ""),
        order_link_id=str(item.get("orderLinkId") or ""),
        side=Side(item["side"]),
        exec_price=dec(item.get("execPrice")),
        exec_qty=dec(item.get("execQty")),
        is_maker=boolean(item.get("isMaker", False)),
        exec_time_ms=integer(item.get("execTime")),
        seq=integer(item.get("seq")),
    )


def encode_fast_message(topic: str, executions: Sequence[Execution], creation_ms: int) -> bytes:
    """Return one `execution.fast` message: `{topic, creationTime, data}` (no `id`, as Bybit's sample)."""
    body = {
        "topic": topic,
        "creationTime": creation_ms,
        "data": [encode_fast_execution(e) for e in executions],
    }
    return orjson.dumps(body)
