"""The private stream codec: Bybit's recorded private payloads, op replies, topics, and a round trip."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st

from bst.bybit.codec.ws_private import (
    check_private_topics,
    decode_private,
    encode_auth,
    encode_private_message,
)
from bst.bybit.codec.ws_public import OpReply, Unhandled
from bst.bybit.signing import ws_auth_signature
from bst.domain.account_events import (
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    WalletsEvent,
)
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, Execution, OrderStatus, OrderType, TimeInForce
from bst.domain.portfolio import PositionSide

RECV = 1_800_000_000_000


def load(fixtures_dir: Path, name: str) -> str:
    return (fixtures_dir / "ws" / name).read_text()


def test_recorded_execution_messages(fixtures_dir: Path) -> None:
    full = decode_private(load(fixtures_dir, "private_execution_linear_btcusdt_2025.json"), RECV)
    fast = decode_private(load(fixtures_dir, "private_execution_fast_icpusdt.json"), RECV)

    assert isinstance(full, ExecutionsEvent)
    assert (full.source, full.ts_ms, full.recv_ms, full.latency_ms) == (
        AccountEventSource.STREAM,
        1746270400355,
        RECV,
        RECV - 1746270400355,
    )
    [fill] = full.executions
    assert (
        fill.category,
        fill.symbol,
        fill.exec_id,
        fill.exec_price,
        fill.exec_qty,
        fill.exec_fee,
        fill.exec_type,
        fill.side,
        fill.is_maker,
        fill.closed_size,
        fill.exec_time_ms,
        fill.seq,
        fill.order_link_id,
    ) == (
        Category.LINEAR,
        "BTCUSDT",
        "0ab1bdf7-4219-438b-b30a-32ec863018f7",
        Decimal("95900.1"),
        Decimal("0.5"),
        Decimal("26.3725275"),
        ExecType.TRADE,
        Side.SELL,
        False,
        Decimal("0.5"),
        1746270400353,
        140612148849382,
        "test-order-link-001",
    )
    assert isinstance(fast, ExecutionsEvent)
    [quick] = fast.executions
    assert (quick.exec_price, quick.exec_qty, quick.order_link_id, quick.exec_type) == (
        Decimal("12.015"),
        Decimal("3000"),
        "test-order-link-001",
        ExecType.UNKNOWN,  # execution.fast carries no execType
    )


def test_recorded_order_position_and_wallet_messages(fixtures_dir: Path) -> None:
    order_event = decode_private(load(fixtures_dir, "private_order_option_filled.json"), RECV)
    position_event = decode_private(load(fixtures_dir, "private_position_linear_ethusdt_2025.json"), RECV)
    wallet_event = decode_private(load(fixtures_dir, "private_wallet_unified.json"), RECV)

    assert isinstance(order_event, OrdersEvent)
    [order] = order_event.orders
    assert (
        order.category,
        order.status,
        order.order_type,
        order.time_in_force,
        order.cum_exec_qty,
        order.avg_price,
        order.cum_exec_fee,
        order.leaves_qty,
    ) == (
        Category.OPTION,
        OrderStatus.FILLED,
        OrderType.MARKET,
        TimeInForce.IOC,
        Decimal(1),
        Decimal(75),
        Decimal("0.358635"),
        Decimal(0),  # printed as "" by the option topic
    )
    assert isinstance(position_event, PositionsEvent)
    [position] = position_event.positions
    assert (position.symbol, position.side, position.size, position.avg_price, position.seq) == (
        "ETHUSDT",
        PositionSide.SELL,
        Decimal("0.01"),
        Decimal("3641.075"),  # the topic's entryPrice
        325852190774,
    )
    assert isinstance(wallet_event, WalletsEvent)
    [wallet] = wallet_event.wallets
    assert (wallet.account_type, wallet.total_equity, [c.coin for c in wallet.coins]) == (
        "UNIFIED",
        Decimal("19620.93864593"),
        ["USDC", "BTC", "USDT"],
    )


def test_op_replies_in_both_shapes(fixtures_dir: Path) -> None:
    auth = decode_private(load(fixtures_dir, "op_auth_success.json"), RECV)
    refused = decode_private(load(fixtures_dir, "op_subscribe_failure.json"), RECV)
    pong = decode_private('{"req_id": "p-1", "op": "pong", "args": ["1675418560633"], "conn_id": "c"}', RECV)
    auth_failed = decode_private(
        '{"success": false, "ret_msg": "Params Error", "op": "auth", "conn_id": "c"}', RECV
    )

    assert auth == OpReply("auth", True, "", "", "cejreaspqfm9se7usbrg-2xh")
    assert isinstance(refused, OpReply)
    assert (refused.op, refused.success, refused.ret_msg) == (
        "subscribe",
        False,
        "Invalid topic: invalid.topic.BTCUSDT",
    )
    assert isinstance(pong, OpReply)
    assert (pong.is_pong, pong.req_id) == (True, "p-1")
    assert isinstance(auth_failed, OpReply)
    assert (auth_failed.success, auth_failed.ret_msg) == (False, "Params Error")


def test_what_cannot_be_read_says_why() -> None:
    cases = {
        "not json": "not JSON",
        "[1, 2]": "not a JSON object",
        '{"hello": 1}': "neither a topic message nor an op reply",
        '{"topic": "greeks", "data": []}': "topic 'greeks' is not followed",
        '{"topic": "order", "data": {}}': "malformed order message: data is not a list of objects",
        '{"topic": "execution", "data": [{"symbol": "BTCUSDT"}]}': "malformed execution message: KeyError",
        '{"topic": "order", "data": [{"orderId": "1", "symbol": "X", "side": "Up"}]}': "malformed order",
    }
    for text, reason in cases.items():
        out = decode_private(text, RECV)
        assert isinstance(out, Unhandled), text
        assert out.reason.startswith(reason), (text, out.reason)


def test_auth_request_and_topic_rules() -> None:
    signature = ws_auth_signature("test_secret", 1700000000000)
    assert json.loads(encode_auth("test_api_key", 1700000000000, signature, "a-1")) == {
        "req_id": "a-1",
        "op": "auth",
        "args": ["test_api_key", 1700000000000, signature],
    }
    # Bybit's published vector for "GET/realtime1700000000000" with secret test_secret.
    assert signature == "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
    assert check_private_topics(["order", "execution", "position", "wallet"]) is None
    assert check_private_topics(["order.linear", "execution.fast.linear", "position.linear"]) is None
    assert check_private_topics(["order", "order.spot"]) == (
        "all-in-one and per-category private topics cannot be mixed in one subscription"
    )
    assert check_private_topics(["order.BTCUSDT"]) == (
        "unknown private topic 'order.BTCUSDT' (private topics take no symbol)"
    )
    assert check_private_topics([]) == "no topics given"


money = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**7), places=8)


@given(
    price=money,
    qty=money,
    fee=st.decimals(min_value=Decimal(-100), max_value=Decimal(100), places=10),
    exec_time=st.integers(min_value=0, max_value=2**42),
    seq=st.integers(min_value=0, max_value=2**53),
    maker=st.booleans(),
    side=st.sampled_from(Side),
)
def test_executions_survive_encode_then_decode(
    price: Decimal, qty: Decimal, fee: Decimal, exec_time: int, seq: int, maker: bool, side: Side
) -> None:
    fill = Execution(
        exec_id="e-1",
        order_id="o-1",
        order_link_id="link-1",
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=side,
        order_type=OrderType.LIMIT,
        order_price=price,
        order_qty=qty,
        leaves_qty=Decimal(0),
        exec_type=ExecType.TRADE,
        exec_price=price,
        exec_qty=qty,
        exec_value=price * qty,
        exec_fee=fee,
        fee_rate=Decimal("0.0002"),
        fee_currency="USDT",
        is_maker=maker,
        closed_size=Decimal(0),
        exec_pnl=Decimal(0),
        exec_time_ms=exec_time,
        seq=seq,
        mark_price=price,
        stop_order_type="",  # Bybit prints "UNKNOWN" for a plain order; the codec reads that as none
    )
    raw = encode_private_message("execution", [fill], exec_time, "m-1")
    event = decode_private(raw, exec_time + 5)
    assert isinstance(event, ExecutionsEvent)
    assert event.executions == (fill,)
    assert (event.ts_ms, event.latency_ms) == (exec_time, 5)
    assert orjson.loads(raw)["data"][0]["category"] == "linear"
