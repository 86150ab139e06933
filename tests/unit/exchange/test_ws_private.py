"""`PrivateStream` against a scripted loopback server: auth, acks, dead connections, re-reads, errors.

The server is a real `websockets` server on 127.0.0.1 whose replies each test chooses; the REST side
is an in-memory reader recording what the hand-over asked for. The stream runs on a ManualClock, so
pings, pong deadlines and backoff happen only when a test advances it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import structlog
from websockets.asyncio.server import Server, ServerConnection, serve

from bst.bybit.codec.ws_private import encode_private_message
from bst.bybit.signing import ws_auth_signature
from bst.domain.account_events import (
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
    WalletsEvent,
)
from bst.domain.clock import ManualClock
from bst.domain.errors import (
    BybitAuthError,
    BybitConnectionError,
    BybitServerError,
    BybitSignatureError,
    ConfigError,
)
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, Execution, Order, OrderStatus, OrderType, TimeInForce
from bst.domain.portfolio import Position, WalletBalance
from bst.exchange.config import Credentials
from bst.exchange.ws_private import PrivateStream, PrivateStreamConfig, PrivateSubscriptionError
from bst.exchange.ws_private_resync import ResyncPlan

KEY, SECRET = "unit-key", "unit-secret-do-not-print"
T0 = 1_700_000_000_000
WAIT_S = 5.0
OVERLAP = ResyncPlan().overlap_ms


def fill(exec_id: str, exec_time_ms: int) -> Execution:
    return Execution(
        exec_id=exec_id,
        order_id="o-1",
        order_link_id="l-1",
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        order_price=Decimal(50_000),
        order_qty=Decimal("0.002"),
        leaves_qty=Decimal(0),
        exec_type=ExecType.TRADE,
        exec_price=Decimal(50_000),
        exec_qty=Decimal("0.001"),
        exec_value=Decimal(50),
        exec_fee=Decimal("0.0275"),
        fee_rate=Decimal("0.00055"),
        fee_currency="USDT",
        is_maker=False,
        closed_size=Decimal(0),
        exec_pnl=Decimal(0),
        exec_time_ms=exec_time_ms,
        seq=exec_time_ms,
        stop_order_type="UNKNOWN",
    )


def order(status: OrderStatus, cum: str, updated_ms: int) -> Order:
    return Order(
        order_id="o-1",
        order_link_id="l-1",
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=Decimal(50_000),
        qty=Decimal("0.002"),
        time_in_force=TimeInForce.GTC,
        status=status,
        reject_reason="EC_NoError",
        cancel_type="UNKNOWN",
        create_type="CreateByUser",
        avg_price=None,
        leaves_qty=Decimal("0.002") - Decimal(cum),
        leaves_value=Decimal(0),
        cum_exec_qty=Decimal(cum),
        cum_exec_value=Decimal(0),
        cum_exec_fee=Decimal(0),
        fee_currency="",
        reduce_only=False,
        close_on_trigger=False,
        position_idx=0,
        created_time_ms=T0,
        updated_time_ms=updated_ms,
    )


@dataclass
class FakeReader:
    """The REST reads of the hand-over, in memory; `failures` are raised first, one per call."""

    executions: list[Execution] = field(default_factory=list)
    open_orders: list[Order] = field(default_factory=list)
    recent_orders: list[Order] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    execution_starts: list[int | None] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        if self.failures:
            raise self.failures.pop(0)

    async def get_open_orders(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        settle_coin: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        open_only: int = 0,
    ) -> list[Order]:
        self._maybe_fail(f"orders/{open_only}")
        return list(self.recent_orders if open_only else self.open_orders)

    async def get_executions(
        self,
        category: Category,
        *,
        symbol: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Execution]:
        self._maybe_fail("executions")
        self.execution_starts.append(start_ms)
        return [e for e in self.executions if start_ms is None or e.exec_time_ms >= start_ms]

    async def get_positions(
        self, category: Category, *, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[Position]:
        self._maybe_fail("positions")
        return []

    async def get_wallet_balance(
        self, account_type: str = "UNIFIED", coins: list[str] | None = None
    ) -> WalletBalance:
        self._maybe_fail("wallet")
        zero = Decimal(0)
        return WalletBalance("UNIFIED", zero, zero, zero, zero, zero, zero, zero, None, None, ())


Reply = Callable[[dict[str, Any]], dict[str, Any] | None]


def ok_reply(msg: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "ret_msg": "", "op": msg["op"], "conn_id": "c-1", "req_id": msg.get("req_id")}


class ScriptedServer:
    """A loopback `/v5/private`: replies to auth/subscribe/ping as configured, records what it gets."""

    def __init__(self, *, auth: Reply = ok_reply, subscribe: Reply = ok_reply, pong: bool = True) -> None:
        self.auth, self.subscribe, self.pong = auth, subscribe, pong
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.connections: list[ServerConnection] = []
        self._server: Server | None = None
        self.url = ""

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        self.paths.append(ws.request.path if ws.request else "")
        async for text in ws:
            msg = json.loads(text)
            self.received.append(msg)
            op = msg.get("op")
            reply: dict[str, Any] | None = None
            if op == "auth":
                reply = self.auth(msg)
            elif op == "subscribe":
                reply = self.subscribe(msg)
            elif op == "ping" and self.pong:
                reply = {"req_id": msg.get("req_id"), "op": "pong", "args": ["1"], "conn_id": "c-1"}
            if reply is not None:
                await ws.send(json.dumps(reply))

    async def push(self, data: str | bytes) -> None:
        await self.connections[-1].send(data if isinstance(data, str) else data.decode())

    async def drop(self) -> None:
        await self.connections[-1].close(1011, "dropped by the test")

    def ops(self, op: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("op") == op]

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as running:
        yield running


class ExchangeTime:
    """A settable exchange clock (ms)."""

    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def make_stream(
    url: str, reader: FakeReader | None = None, *, now: ExchangeTime | None = None, **overrides: Any
) -> tuple[PrivateStream, ManualClock]:
    clock = ManualClock(T0)
    config = PrivateStreamConfig(url, Credentials(KEY, SECRET), **{"seed": 3, **overrides})
    return PrivateStream(config, rest=reader, clock=clock, exchange_time=now or ExchangeTime()), clock


async def wait(stream: PrivateStream, predicate: Callable[[], bool]) -> None:
    await asyncio.wait_for(stream.wait_state(predicate), WAIT_S)


async def test_auth_then_subscribe_with_expiry_from_the_exchange_clock(server: ScriptedServer) -> None:
    stream, _ = make_stream(server.url, FakeReader(), max_active_time="60s")
    await stream.start()
    await asyncio.wait_for(stream.wait_synced(), WAIT_S)
    await stream.close()

    [auth] = server.ops("auth")
    expires = T0 + 10_000
    assert auth["args"] == [KEY, expires, ws_auth_signature(SECRET, expires)]
    [subscribe] = server.ops("subscribe")
    assert subscribe["args"] == ["order", "execution", "position", "wallet"]
    assert auth["req_id"] != subscribe["req_id"]
    assert server.paths == ["/v5/private?max_active_time=60s"]


async def test_replies_without_req_id_in_the_retcode_shape_are_understood() -> None:
    def auth(msg: dict[str, Any]) -> dict[str, Any]:
        return {"op": "auth", "success": True, "retCode": 0, "retMsg": "", "connId": "x"}

    def subscribe(msg: dict[str, Any]) -> dict[str, Any]:
        return {"success": True, "ret_msg": "", "op": "subscribe", "conn_id": "x"}

    async with ScriptedServer(auth=auth, subscribe=subscribe) as scripted:
        stream, _ = make_stream(scripted.url)
        await stream.start()
        await asyncio.wait_for(stream.wait_synced(), WAIT_S)
        assert stream.live
        await stream.close()


async def test_stream_events_keep_their_order_and_times(server: ScriptedServer) -> None:
    stream, _ = make_stream(server.url)
    await stream.start()
    await asyncio.wait_for(stream.wait_live(), WAIT_S)
    for i in range(300):
        await server.push(encode_private_message("execution", [fill(f"e-{i}", T0 + i)], T0 + i, f"m-{i}"))
    events = [await asyncio.wait_for(anext(stream), WAIT_S) for _ in range(300)]
    await stream.close()

    assert all(isinstance(e, ExecutionsEvent) for e in events)
    assert [e.executions[0].exec_id for e in events if isinstance(e, ExecutionsEvent)] == [
        f"e-{i}" for i in range(300)
    ]
    assert [e.ts_ms for e in events if isinstance(e, ExecutionsEvent)] == [T0 + i for i in range(300)]
    assert {e.source for e in events if isinstance(e, ExecutionsEvent)} == {AccountEventSource.STREAM}
    assert (stream.stats.executions, stream.stats.events) == (300, 300)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    with pytest.raises(BybitConnectionError, match="closed"):
        await stream.wait_live()


async def test_a_silent_connection_is_declared_dead_and_replaced() -> None:
    async with ScriptedServer(pong=False) as silent:
        reader = FakeReader()
        stream, clock = make_stream(silent.url, reader)
        await stream.start()
        await asyncio.wait_for(stream.wait_synced(), WAIT_S)

        clock.advance(20.0)
        await wait(stream, lambda: stream.stats.pings_sent == 1)
        clock.advance(10.0)  # no pong, nothing else either
        await wait(stream, lambda: stream.stats.dead_connections == 1 and not stream.live)
        clock.advance(1.0)  # the reconnect backoff
        await wait(stream, lambda: stream.connection == 2 and stream.synced)
        await stream.close()

    assert len(silent.connections) == 2
    assert len(silent.ops("auth")) == len(silent.ops("subscribe")) == 2
    assert (stream.stats.reconnects, stream.stats.resyncs) == (1, 2)


async def test_a_refused_subscription_ends_the_stream() -> None:
    def refuse(msg: dict[str, Any]) -> dict[str, Any]:
        return {"success": False, "ret_msg": "Invalid topic: wallet", "op": "subscribe", "conn_id": "x"}

    async with ScriptedServer(subscribe=refuse) as scripted:
        stream, clock = make_stream(scripted.url)
        await stream.start()
        with pytest.raises(PrivateSubscriptionError, match="refused: Invalid topic: wallet"):
            await asyncio.wait_for(stream.wait_live(), WAIT_S)
        clock.advance(60.0)
        await asyncio.sleep(0.02)
        with pytest.raises(PrivateSubscriptionError):
            await anext(stream)
    assert len(scripted.connections) == 1


async def test_refused_credentials_are_fatal_and_secrets_stay_out_of_errors_and_logs() -> None:
    def invalid_sign(msg: dict[str, Any]) -> dict[str, Any]:
        return {"success": False, "ret_msg": "Invalid sign", "op": "auth", "conn_id": "x"}

    async with ScriptedServer(auth=invalid_sign) as scripted:
        stream, _ = make_stream(scripted.url, FakeReader())
        with structlog.testing.capture_logs() as logs:
            await stream.start()
            with pytest.raises(BybitSignatureError) as refused:
                await asyncio.wait_for(stream.wait_live(), WAIT_S)
            await stream.close()

    signature = scripted.ops("auth")[0]["args"][2]
    printed = [str(refused.value), repr(stream), repr(stream.config), *map(repr, logs)]
    assert refused.value.ret_code == 10004
    assert not [text for text in printed if SECRET in text or signature in text]
    assert stream.error is refused.value


async def test_an_auth_refusal_of_unknown_cause_is_retried_then_reported() -> None:
    def params_error(msg: dict[str, Any]) -> dict[str, Any]:
        return {"success": False, "ret_msg": "Params Error", "op": "auth", "conn_id": "x"}

    async with ScriptedServer(auth=params_error) as scripted:
        stream, clock = make_stream(scripted.url, max_auth_failures=2)
        await stream.start()
        await wait(stream, lambda: stream.stats.auth_failures == 1 and stream.stats.disconnects == 1)
        clock.advance(1.0)
        with pytest.raises(BybitAuthError, match="refused 2 times in a row: Params Error"):
            await asyncio.wait_for(stream.wait_live(), WAIT_S)
    assert len(scripted.connections) == 2


async def test_the_re_read_starts_where_the_stream_was_last_known_current(server: ScriptedServer) -> None:
    now = ExchangeTime(T0)
    gap_fill = fill("gap", T0 + 30_000)
    reader = FakeReader(executions=[fill("old", T0 - 2 * OVERLAP)])
    stream, clock = make_stream(server.url, reader, now=now)
    await stream.start(since_ms=T0 - OVERLAP)
    await asyncio.wait_for(stream.wait_synced(), WAIT_S)

    now.now_ms = T0 + 20_000
    await server.push(encode_private_message("execution", [fill("live", T0 + 20_000)], T0 + 20_000, "m"))
    await wait(stream, lambda: stream.stats.executions == 1)
    now.now_ms = T0 + 50_000  # the gap: a fill executes while nobody listens
    reader.executions.append(gap_fill)
    await server.drop()
    await wait(stream, lambda: not stream.live)
    clock.advance(1.0)
    await wait(stream, lambda: stream.connection == 2 and stream.synced)
    events: list[Any] = []
    while sum(isinstance(e, ResyncEvent) for e in events) < 2:
        events.append(await asyncio.wait_for(anext(stream), WAIT_S))
    await stream.close()

    assert reader.execution_starts == [T0 - 2 * OVERLAP, T0 + 20_000 - OVERLAP]
    resyncs = [e for e in events if isinstance(e, ResyncEvent)]
    assert [(r.connection, r.since_ms, r.executions) for r in resyncs] == [
        (1, T0 - 2 * OVERLAP, 1),
        (2, T0 + 20_000 - OVERLAP, 1),
    ]
    handed = [e for e in events if isinstance(e, ExecutionsEvent) and e.source is AccountEventSource.RESYNC]
    assert [[f.exec_id for f in e.executions] for e in handed] == [["old"], ["gap"]]


async def test_orders_are_merged_newest_first_wins_and_fills_come_before_them(server: ScriptedServer) -> None:
    reader = FakeReader(
        executions=[fill("e-2", T0 - 10), fill("e-1", T0 - 20)],
        open_orders=[order(OrderStatus.PARTIALLY_FILLED, "0.001", T0 - 20)],
        recent_orders=[order(OrderStatus.FILLED, "0.002", T0 - 10)],
    )
    stream, _ = make_stream(server.url, reader)
    await stream.start()
    events = [await asyncio.wait_for(anext(stream), WAIT_S) for _ in range(5)]
    await stream.close()

    assert [type(e) for e in events] == [
        ExecutionsEvent,
        OrdersEvent,
        PositionsEvent,
        WalletsEvent,
        ResyncEvent,
    ]
    fills, orders, positions = events[0], events[1], events[2]
    assert isinstance(fills, ExecutionsEvent)
    assert [f.exec_id for f in fills.executions] == ["e-1", "e-2"]  # oldest first
    assert isinstance(orders, OrdersEvent)
    assert [(o.status, o.cum_exec_qty) for o in orders.orders] == [(OrderStatus.FILLED, Decimal("0.002"))]
    assert isinstance(positions, PositionsEvent)
    assert positions.positions == ()  # read, and none open
    assert reader.calls == ["executions", "orders/0", "orders/1", "positions", "wallet"]


async def test_re_read_failures_are_retried_then_the_connection_is_replaced(server: ScriptedServer) -> None:
    busy = BybitServerError("Server error", ret_code=10016)
    reader = FakeReader(failures=[busy, busy])
    stream, clock = make_stream(server.url, reader, resync_attempts=2)
    await stream.start()
    await wait(stream, lambda: stream.stats.resync_failures == 1)
    clock.advance(0.5)
    await wait(stream, lambda: stream.stats.resync_failures == 2 and not stream.live)
    clock.advance(1.0)
    await wait(stream, lambda: stream.connection == 2 and stream.synced)
    await stream.close()
    assert (stream.stats.resyncs, len(server.connections)) == (1, 2)


async def test_a_credentials_error_of_the_re_read_is_fatal(server: ScriptedServer) -> None:
    reader = FakeReader(failures=[BybitAuthError("API key is invalid.", ret_code=10003)])
    stream, _ = make_stream(server.url, reader)
    await stream.start()
    with pytest.raises(BybitAuthError, match="API key is invalid"):
        await asyncio.wait_for(stream.wait_synced(), WAIT_S)
    await stream.close()


async def test_a_malformed_data_message_triggers_another_re_read(server: ScriptedServer) -> None:
    reader = FakeReader()
    stream, _ = make_stream(server.url, reader)
    await stream.start()
    await asyncio.wait_for(stream.wait_synced(), WAIT_S)
    await server.push('{"topic": "execution", "creationTime": 1, "data": [{"symbol": "BTCUSDT"}]}')
    await wait(stream, lambda: stream.stats.resyncs == 2)
    stream.request_resync()
    await wait(stream, lambda: stream.stats.resyncs == 3)
    await stream.close()
    assert (stream.stats.malformed, stream.stats.unhandled, stream.connection) == (1, 1, 1)


def test_config_is_checked_and_hides_the_secret() -> None:
    creds = Credentials(KEY, SECRET)
    with pytest.raises(ConfigError, match=r"unknown private topic 'order\.BTCUSDT'"):
        PrivateStreamConfig("ws://x", creds, topics=("order.BTCUSDT",))
    with pytest.raises(ConfigError, match="pong_timeout_s"):
        PrivateStreamConfig("ws://x", creds, ping_interval_s=10, pong_timeout_s=10)
    with pytest.raises(ConfigError, match="at least 1"):
        PrivateStreamConfig("ws://x", creds, resync_attempts=0)
    config = PrivateStreamConfig("wss://stream.bybit.com/", creds)
    assert config.url == "wss://stream.bybit.com/v5/private"
    assert SECRET not in repr(config)
