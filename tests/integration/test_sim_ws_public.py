"""`bst sim` public streams on the wire: reply shapes per channel, refusals, cadence, level 1, admin."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bst.sim.ws_public import streams_of

TIMEOUT_S = 10


@pytest.fixture
def hub(sim: Any) -> Any:
    hub = streams_of(sim.state)
    hub.reset()
    return hub


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT_S):
        message = orjson.loads(await ws.recv())
    assert isinstance(message, dict)
    return message


async def _op(ws: ClientConnection, **body: Any) -> dict[str, Any]:
    await ws.send(json.dumps(body))
    return await _recv(ws)


async def _drain(ws: ClientConnection) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            await ws.recv()


@pytest.fixture
async def linear(sim: Any, hub: Any) -> AsyncIterator[ClientConnection]:
    async with connect(f"{sim.ws_url}/v5/public/linear") as ws:
        yield ws


async def test_linear_reply_shapes(linear: ClientConnection) -> None:
    pong = await _op(linear, op="ping")
    conn_id = pong["conn_id"]
    assert pong == {"success": True, "ret_msg": "pong", "conn_id": conn_id, "req_id": "", "op": "ping"}
    ack = await _op(linear, op="subscribe", req_id="a1", args=["publicTrade.BTCUSDT"])
    assert ack == {"success": True, "ret_msg": "", "conn_id": conn_id, "req_id": "a1", "op": "subscribe"}
    again = await _op(linear, op="subscribe", req_id="a2", args=["publicTrade.BTCUSDT"])
    assert again["success"] is False
    assert again["ret_msg"] == "error:already subscribed,topic:publicTrade.BTCUSDT"
    bad = await _op(linear, op="subscribe", args=["orderbook.50.NOPE"])
    assert bad == {
        "success": False,
        "ret_msg": "Invalid topic: orderbook.50.NOPE",
        "conn_id": conn_id,
        "req_id": "",
        "op": "subscribe",
    }
    assert (await _op(linear, op="unsubscribe", req_id="u", args=["publicTrade.BTCUSDT"]))["success"] is True
    assert (await _op(linear, op="unsubscribe", args=["publicTrade.BTCUSDT"]))["success"] is False
    assert (await _op(linear, op="subscribe", args="x"))["ret_msg"] == "Params Error"
    assert (await _op(linear, op="dance"))["ret_msg"] == "Invalid op: dance"


async def test_spot_reply_shapes_and_args_limit(sim: Any, hub: Any) -> None:
    async with connect(f"{sim.ws_url}/v5/public/spot") as ws:
        pong = await _op(ws, op="ping")
        assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"], "op": "ping"}
        ack = await _op(ws, op="subscribe", args=["tickers.BTCUSDT"])
        assert (ack["success"], ack["ret_msg"], "req_id" in ack) == (True, "subscribe", False)
        snapshot = await _recv(ws)
        assert (snapshot["topic"], snapshot["type"]) == ("tickers.BTCUSDT", "snapshot")
        too_many = await _op(
            ws, op="subscribe", args=[f"kline.{i}.BTCUSDT" for i in (1, 3, 5, 15, 30, 60)] * 2
        )
        assert (too_many["success"], too_many["ret_msg"]) == (False, "args size exceeds 10")
        no_500 = await _op(ws, op="subscribe", args=["orderbook.500.BTCUSDT"])
        assert no_500["ret_msg"] == "Invalid topic: orderbook.500.BTCUSDT"


async def test_book_cadence_and_u_sequence(sim: Any, linear: ClientConnection) -> None:
    start = sim.clock.now_ms()
    await _op(linear, op="subscribe", args=["orderbook.50.BTCUSDT"])
    snapshot = await _recv(linear)
    assert (snapshot["type"], snapshot["ts"], len(snapshot["data"]["b"]), len(snapshot["data"]["a"])) == (
        "snapshot",
        start,
        50,
        50,
    )
    sim.clock.advance(1.0)
    deltas = []
    u = snapshot["data"]["u"]
    while not deltas or deltas[-1]["ts"] < start + 500:
        message = await _recv(linear)
        deltas.append(message)
        u += 1
        assert message["data"]["u"] == u
        assert message["type"] == "delta"
        assert (message["ts"] - start) % 20 == 0  # orderbook.50 pushes on a 20 ms grid
    seqs = [snapshot["data"]["seq"]] + [d["data"]["seq"] for d in deltas]
    assert seqs == sorted(seqs)


async def test_level1_is_snapshots_only_and_resent_when_quiet(sim: Any, linear: ClientConnection) -> None:
    await _op(linear, op="subscribe", args=["orderbook.1.BTCUSDT"])
    first = await _recv(linear)
    assert first["type"] == "snapshot"
    sim.clock.advance(3.0)
    later = await _recv(linear)
    assert later["type"] == "snapshot"
    assert (len(later["data"]["b"]), len(later["data"]["a"])) == (1, 1)
    if later["data"]["b"] == first["data"]["b"] and later["data"]["a"] == first["data"]["a"]:
        assert later["data"]["u"] == first["data"]["u"]  # unchanged for 3 s: re-sent with the same u
    else:
        assert later["data"]["u"] == first["data"]["u"] + 1


async def test_admin_route_injects_faults(sim: Any, hub: Any, linear: ClientConnection) -> None:
    await _op(linear, op="subscribe", args=["orderbook.50.BTCUSDT"])
    snapshot = await _recv(linear)
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        view = (await http.post("/sim/ws", json={"skip_deltas": 1, "delay_ms": 0})).json()
        assert (view["connections"], view["pending_skips"]) == (1, 1)
        sim.clock.advance(0.1)
        first_delta = await _recv(linear)
        assert first_delta["data"]["u"] == snapshot["data"]["u"] + 2  # one delta never sent
        assert (await http.get("/sim/ws")).json()["deltas_skipped"] == 1
        await http.post("/sim/ws", json={"snapshot": True})
        while (await _recv(linear))["type"] != "snapshot":
            pass
        await http.post("/sim/ws", json={"drop": True})
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(linear)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1011, "fault injection: connection dropped")


async def test_delay_fault_holds_every_message(hub: Any, linear: ClientConnection) -> None:
    fast_start = time.monotonic()
    await _op(linear, op="ping")
    fast = time.monotonic() - fast_start
    hub.set_delay(200)
    slow_start = time.monotonic()
    pong = await _op(linear, op="ping")
    slow = time.monotonic() - slow_start
    assert pong["ret_msg"] == "pong"
    assert slow >= 0.2 > fast


async def test_mute_fault_stops_pongs(hub: Any, linear: ClientConnection) -> None:
    hub.set_muted(True)
    await linear.send(json.dumps({"op": "ping", "req_id": "quiet"}))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await linear.recv()
    hub.set_muted(False)
    assert (await _op(linear, op="ping", req_id="loud"))["req_id"] == "loud"
