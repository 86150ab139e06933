"""`bst sim` private WebSocket: auth, topics, pushes of the engine's events, and the drop fault."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from test_sim_trading import KEY, NOW, SECRET, SYMBOL, Signed
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bst.bybit.signing import ws_auth_signature
from bst.sim.trading_desk import ApiAccount, desk_of


@pytest.fixture
def trading(sim_factory: Any) -> tuple[Any, Signed]:
    sim = sim_factory(ip_limit_requests=1_000_000)
    desk_of(sim.state).add_account(ApiAccount(KEY, SECRET))
    return sim, Signed(sim)


def send(ws: ClientConnection, **message: Any) -> dict[str, Any]:
    ws.send(json.dumps(message))
    return dict(json.loads(ws.recv(timeout=5)))


def auth(
    ws: ClientConnection, expires: int = NOW + 10_000, secret: str = SECRET, key: str = KEY
) -> dict[str, Any]:
    return send(ws, op="auth", req_id="a1", args=[key, expires, ws_auth_signature(secret, expires)])


def messages(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(ws.recv(timeout=5)) for _ in range(count)]


def test_auth_is_checked_before_any_subscription(trading: tuple[Any, Signed]) -> None:
    sim, _ = trading
    with connect(f"{sim.ws_url}/v5/private") as ws:
        early = send(ws, op="subscribe", args=["order"])
        unknown = auth(ws, key="nobody")
        bad_sign = auth(ws, secret="wrong")
        expired = auth(ws, expires=NOW - 1)
        good = auth(ws)
        again = auth(ws)
        pong = send(ws, op="ping", req_id="p1")

    assert (early["success"], early["ret_msg"]) == (False, "Request not authorized")
    assert [r["ret_msg"] for r in (unknown, bad_sign, expired)] == [
        "Invalid apikey",
        "Invalid sign",
        "Params Error",
    ]
    assert (good["op"], good["success"], good["ret_msg"], good["req_id"]) == ("auth", True, "", "a1")
    assert again["success"] is False
    assert (pong["op"], pong["args"], pong["req_id"]) == ("pong", [str(NOW)], "p1")


def test_fills_are_pushed_as_execution_order_position_wallet(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    with connect(f"{sim.ws_url}/v5/private") as ws:
        auth(ws)
        assert send(ws, op="subscribe", args=["order", "execution", "position", "wallet"])["success"]

        placed = client.order(side="Buy", orderType="Market", qty="0.002", orderLinkId="ws-1")
        pushed = messages(ws, 4)

    assert [m["topic"] for m in pushed] == ["execution", "order", "position", "wallet"]
    [fill] = pushed[0]["data"]
    [order] = pushed[1]["data"]
    [position] = pushed[2]["data"]
    [wallet] = pushed[3]["data"]
    rest_fill = client.get("/v5/execution/list", {"category": "linear", "symbol": SYMBOL})["result"]["list"][
        0
    ]
    assert (fill["execId"], fill["execPrice"], fill["category"]) == (
        rest_fill["execId"],
        rest_fill["execPrice"],
        "linear",
    )
    assert (order["orderId"], order["orderLinkId"], order["orderStatus"]) == (
        placed["result"]["orderId"],
        "ws-1",
        "Filled",
    )
    assert (position["size"], Decimal(position["entryPrice"])) == ("0.002", Decimal(fill["execPrice"]))
    assert Decimal(wallet["totalWalletBalance"]) == Decimal(100_000) - Decimal(fill["execFee"])
    assert all(m["creationTime"] == NOW for m in pushed)


def test_a_resting_fill_is_pushed_without_any_request(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    gen = sim.generator
    lowest = min(t.price for t in gen.trades(SYMBOL, NOW + 1, NOW + 30 * 60_000))
    price = lowest + Decimal("0.1")
    with connect(f"{sim.ws_url}/v5/private") as ws:
        auth(ws)
        send(ws, op="subscribe", args=["execution"])
        client.order(side="Buy", orderType="Limit", qty="0.001", price=str(price))

        sim.clock.advance(30 * 60)  # the desk's ticker notices; no REST call follows
        [pushed] = messages(ws, 1)

    assert pushed["topic"] == "execution"
    assert [(Decimal(f["execPrice"]), f["isMaker"]) for f in pushed["data"]] == [(price, True)]


def test_categorised_topics_filter_by_category(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    with connect(f"{sim.ws_url}/v5/private") as ws:
        auth(ws)
        mixed = send(ws, op="subscribe", args=["order", "order.spot"])
        assert send(ws, op="subscribe", args=["order.spot"])["success"]
        client.order(side="Buy", orderType="Limit", qty="0.001", price="50000")
        client.post(
            "/v5/order/create",
            {
                "category": "spot",
                "symbol": SYMBOL,
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.001",
                "price": "50000",
            },
        )
        [pushed] = messages(ws, 1)

    assert mixed["success"] is False
    assert [(o["category"], o["orderStatus"]) for o in pushed["data"]] == [("spot", "New")]


def test_the_drop_fault_cuts_private_connections(trading: tuple[Any, Signed]) -> None:
    sim, _ = trading
    with connect(f"{sim.ws_url}/v5/private") as ws:
        auth(ws)
        view = httpx.post(f"{sim.base_url}/sim/ws/private", json={"drop": True}).json()
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    assert view["connections"] == 1
    with connect(f"{sim.ws_url}/v5/private") as again:
        assert auth(again)["success"] is True
