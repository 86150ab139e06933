"""`bst sim` trading over loopback: signed private REST on the matching engine, fed by the generator."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from bst.bybit.signing import query_string, rest_signature
from bst.domain.clock import ManualClock, SystemClock
from bst.sim.faults import FaultConfig, FaultKind
from bst.sim.server import SimServer
from bst.sim.state import SimConfig
from bst.sim.tickers import funding_rate
from bst.sim.trading_desk import ApiAccount, TradingConfig, desk_of, install

KEY, SECRET = "simkey0001", "simsecret0001"
NOW = 1_717_243_230_500  # the sim fixtures' clock: 2024-06-01 12:00:30.500 UTC
SEED = 20240601
SYMBOL = "BTCUSDT"


class Signed:
    """A minimal signed v5 client (the real one is tested elsewhere): exact payloads, raw replies."""

    def __init__(self, sim: Any, key: str = KEY, secret: str = SECRET) -> None:
        self.sim, self.key, self.secret = sim, key, secret
        self.http = httpx.Client(base_url=sim.base_url, timeout=10)

    def _headers(self, payload: str, timestamp: int | None, recv_window: int) -> dict[str, str]:
        ts = self.sim.clock.now_ms() if timestamp is None else timestamp
        return {
            "X-BAPI-API-KEY": self.key,
            "X-BAPI-TIMESTAMP": str(ts),
            "X-BAPI-RECV-WINDOW": str(recv_window),
            "X-BAPI-SIGN": rest_signature(self.secret, ts, self.key, recv_window, payload),
            "Content-Type": "application/json",
        }

    def post(self, path: str, body: dict[str, Any], *, timestamp: int | None = None) -> dict[str, Any]:
        raw = json.dumps(body)
        reply = self.http.post(path, content=raw, headers=self._headers(raw, timestamp, 5000))
        return dict(reply.json())

    def get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        query = query_string(params)
        reply = self.http.get(f"{path}?{query}", headers=self._headers(query, None, 5000))
        return dict(reply.json())

    def order(self, **fields: Any) -> dict[str, Any]:
        return self.post("/v5/order/create", {"category": "linear", "symbol": SYMBOL, **fields})


@pytest.fixture
def trading(sim_factory: Any) -> tuple[Any, Signed]:
    sim = sim_factory(ip_limit_requests=1_000_000)
    desk_of(sim.state).add_account(ApiAccount(KEY, SECRET))
    return sim, Signed(sim)


def test_requests_must_be_signed_fresh_and_known(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    body = {"category": "linear", "symbol": SYMBOL, "side": "Buy", "orderType": "Market", "qty": "0.001"}

    assert Signed(sim, key="nobody").post("/v5/order/create", body)["retCode"] == 10003
    assert Signed(sim, secret="wrong").post("/v5/order/create", body)["retCode"] == 10004
    stale = client.post("/v5/order/create", body, timestamp=NOW - 6000)
    assert stale["retCode"] == 10002
    assert "recv_window[5000]" in stale["retMsg"]
    assert client.post("/v5/order/create", body, timestamp=NOW + 1500)["retCode"] == 10002
    assert client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL})["result"]["list"] == []


def test_market_order_fills_at_the_generators_book(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    book = sim.generator.book_snapshot(SYMBOL, NOW, 50)
    best_ask, ask_size = book.asks[0]
    assert ask_size >= Decimal("0.001")

    reply = client.order(side="Buy", orderType="Market", qty="0.001", orderLinkId="m-1")

    assert reply["retCode"] == 0
    order_id = reply["result"]["orderId"]
    fills = client.get("/v5/execution/list", {"category": "linear", "symbol": SYMBOL})["result"]["list"]
    assert [(f["orderId"], Decimal(f["execPrice"]), f["execQty"], f["isMaker"]) for f in fills] == [
        (order_id, best_ask, "0.001", False)
    ]
    fee = Decimal(fills[0]["execFee"])
    assert fee == best_ask * Decimal("0.001") * Decimal("0.00055")
    position = client.get("/v5/position/list", {"category": "linear", "symbol": SYMBOL})["result"]["list"][0]
    assert (position["side"], position["size"], Decimal(position["avgPrice"])) == ("Buy", "0.001", best_ask)
    wallet = client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"})["result"]["list"][0]
    usdt = next(c for c in wallet["coin"] if c["coin"] == "USDT")
    assert Decimal(usdt["walletBalance"]) == Decimal(100_000) - fee
    history = client.get("/v5/order/history", {"category": "linear", "orderLinkId": "m-1"})["result"]["list"]
    assert [(o["orderId"], o["orderStatus"], o["timeInForce"]) for o in history] == [
        (order_id, "Filled", "IOC")
    ]


def test_limit_order_lifecycle_and_refusals(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    bid = sim.generator.book_snapshot(SYMBOL, NOW, 50).bids[0][0]
    price = str(bid - Decimal(100))

    placed = client.order(side="Buy", orderType="Limit", qty="0.01", price=price, orderLinkId="lim-1")
    duplicate = client.order(side="Buy", orderType="Limit", qty="0.01", price=price, orderLinkId="lim-1")
    amended = client.post(
        "/v5/order/amend", {"category": "linear", "symbol": SYMBOL, "orderLinkId": "lim-1", "qty": "0.02"}
    )
    open_orders = client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL})["result"]["list"]
    cancelled = client.post(
        "/v5/order/cancel", {"category": "linear", "symbol": SYMBOL, "orderLinkId": "lim-1"}
    )
    again = client.post("/v5/order/cancel", {"category": "linear", "symbol": SYMBOL, "orderLinkId": "lim-1"})

    assert placed["retCode"] == 0
    assert (duplicate["retCode"], duplicate["retMsg"]) == (110072, "OrderLinkedID is duplicate")
    assert amended["retCode"] == 0
    assert [(o["orderLinkId"], o["qty"], o["price"], o["orderStatus"]) for o in open_orders] == [
        ("lim-1", "0.02", price, "New")
    ]
    assert cancelled["result"] == {"orderId": placed["result"]["orderId"], "orderLinkId": "lim-1"}
    assert again["retCode"] == 110001
    closed = client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL, "openOnly": "1"})
    assert [(o["orderStatus"], o["cancelType"]) for o in closed["result"]["list"]] == [
        ("Cancelled", "CancelByUser")
    ]
    too_small = client.order(side="Buy", orderType="Limit", qty="0.001", price="4000")
    assert too_small["retCode"] in (110003, 110094)
    assert client.order(side="Sell", orderType="Market", qty="0.01", reduceOnly=True)["retCode"] == 110017
    leverage = {"category": "linear", "symbol": SYMBOL, "buyLeverage": "10", "sellLeverage": "10"}
    assert client.post("/v5/position/set-leverage", leverage)["retCode"] == 110043
    assert (
        client.post("/v5/position/set-leverage", {**leverage, "buyLeverage": "20", "sellLeverage": "20"})[
            "retCode"
        ]
        == 0
    )


def test_a_lost_reply_then_a_resend_never_makes_a_second_order(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    sim.set_faults(FaultConfig(script=(FaultKind.DROP,), path_prefixes=("/v5/order/create",)))
    body = {"side": "Buy", "orderType": "Limit", "qty": "0.01", "price": "50000", "orderLinkId": "once"}

    with pytest.raises(httpx.HTTPError):
        client.order(**body)
    resend = client.order(**body)

    assert resend["retCode"] == 110072
    open_orders = client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL})["result"]["list"]
    assert [o["orderLinkId"] for o in open_orders] == ["once"]


def test_order_endpoints_have_a_per_uid_limit(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    codes = [
        client.order(side="Buy", orderType="Limit", qty="0.001", price="60000")["retCode"] for _ in range(11)
    ]
    assert codes == [0] * 10 + [10006]
    reply = client.http.get(
        "/v5/order/realtime?category=linear&symbol=BTCUSDT",
        headers=client._headers("category=linear&symbol=BTCUSDT", None, 5000),
    )
    assert reply.json()["retCode"] == 0
    assert reply.headers["x-bapi-limit"] == "50"
    sim.clock.advance(1.0)
    assert client.order(side="Buy", orderType="Limit", qty="0.001", price="60000")["retCode"] == 0


def test_resting_orders_fill_as_the_generated_market_trades_through(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    gen = sim.generator
    later = NOW + 30 * 60_000
    lowest = min(t.price for t in gen.trades(SYMBOL, NOW + 1, later))
    best_bid = gen.book_snapshot(SYMBOL, NOW, 50).bids[0][0]
    price = lowest + Decimal("0.1")
    assert price < best_bid, "the path must dip below the bid within the half hour for this test"

    placed = client.order(side="Buy", orderType="Limit", qty="0.001", price=str(price))
    sim.clock.advance(30 * 60)
    order = client.get(
        "/v5/order/realtime",
        {"category": "linear", "orderId": placed["result"]["orderId"], "symbol": SYMBOL, "openOnly": "1"},
    )

    [row] = order["result"]["list"]
    assert (row["orderStatus"], row["cumExecQty"]) == ("Filled", "0.001")
    [fill] = client.get("/v5/execution/list", {"category": "linear", "symbol": SYMBOL})["result"]["list"]
    assert (Decimal(fill["execPrice"]), fill["isMaker"], fill["feeRate"]) == (price, True, "0.0002")


def test_funding_is_settled_at_16_utc_from_the_generators_mark_and_rate(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    client.order(side="Sell", orderType="Market", qty="0.01")
    sim.clock.advance(4 * 3600)  # 12:00:30 -> 16:00:30

    funding = client.get("/v5/execution/list", {"category": "linear", "execType": "Funding"})["result"][
        "list"
    ]

    boundary = NOW - NOW % (8 * 3_600_000) + 8 * 3_600_000
    mark = sim.generator.mark_price(SYMBOL, boundary - 1)
    rate = funding_rate(sim.generator.seed, f"linear:{SYMBOL}", boundary - 1)
    assert [(f["execTime"], f["side"], f["execQty"], Decimal(f["execPrice"])) for f in funding] == [
        (str(boundary), "Sell", "0.01", mark)
    ]
    assert Decimal(funding[0]["execFee"]) == -Decimal("0.01") * mark * rate


def test_trading_state_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sim-state.json"

    def server() -> SimServer:
        sim = SimServer(SimConfig(port=0, seed=SEED, ip_limit_requests=1_000_000), clock=ManualClock(NOW))
        install(sim.state, TradingConfig(accounts=(ApiAccount(KEY, SECRET),), state_file=state_file))
        return sim.start_in_thread()

    sim = server()
    placed = Signed(sim).order(side="Buy", orderType="Limit", qty="0.01", price="50000", orderLinkId="keep")
    sim.stop_thread()
    assert state_file.exists()

    again = server()
    try:
        rows = Signed(again).get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL})["result"][
            "list"
        ]
        assert [(r["orderId"], r["orderLinkId"]) for r in rows] == [(placed["result"]["orderId"], "keep")]
        wallet = Signed(again).get("/v5/account/wallet-balance", {"accountType": "UNIFIED"})["result"][
            "list"
        ][0]
        assert Decimal(wallet["totalInitialMargin"]) > 0
    finally:
        again.stop_thread()


def test_fee_rate_and_spot_trading(trading: tuple[Any, Signed]) -> None:
    _, client = trading
    rates = client.get("/v5/account/fee-rate", {"category": "spot", "symbol": SYMBOL})
    assert rates["result"]["list"] == [{"symbol": SYMBOL, "takerFeeRate": "0.001", "makerFeeRate": "0.001"}]

    reply = client.post(
        "/v5/order/create",
        {"category": "spot", "symbol": SYMBOL, "side": "Buy", "orderType": "Market", "qty": "100"},
    )

    assert reply["retCode"] == 0
    order = client.get("/v5/order/history", {"category": "spot", "orderId": reply["result"]["orderId"]})
    row = order["result"]["list"][0]
    assert row["marketUnit"] == "quoteCoin"
    assert Decimal(row["cumExecValue"]) + Decimal(row["leavesValue"]) == Decimal(100)
    wallet = client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": "BTC,USDT"})
    coins = {c["coin"]: c for c in wallet["result"]["list"][0]["coin"]}
    assert Decimal(coins["BTC"]["walletBalance"]) == Decimal(row["cumExecQty"]) - Decimal(row["cumExecFee"])
    assert Decimal(coins["USDT"]["walletBalance"]) == Decimal(100_000) - Decimal(row["cumExecValue"])


def test_pybit_trades_against_the_sim(sim_factory: Any) -> None:
    sim = sim_factory(clock=SystemClock(), ip_limit_requests=1_000_000)
    desk_of(sim.state).add_account(ApiAccount(KEY, SECRET))
    session = HTTP(testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1, retry_delay=0)
    session.endpoint = sim.base_url
    bid = sim.generator.book_snapshot(SYMBOL, sim.clock.now_ms(), 50).bids[0][0]
    price = str(bid - Decimal(500))

    placed = session.place_order(
        category="linear",
        symbol=SYMBOL,
        side="Buy",
        orderType="Limit",
        qty="0.002",
        price=price,
        orderLinkId="py-1",
    )
    open_orders = session.get_open_orders(category="linear", symbol=SYMBOL)
    session.cancel_order(category="linear", symbol=SYMBOL, orderId=placed["result"]["orderId"])
    after = session.get_open_orders(category="linear", symbol=SYMBOL)
    positions = session.get_positions(category="linear", symbol=SYMBOL)
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")

    assert [(o["orderLinkId"], o["price"], o["orderStatus"]) for o in open_orders["result"]["list"]] == [
        ("py-1", price, "New")
    ]
    assert after["result"]["list"] == []
    assert positions["result"]["list"][0]["size"] == "0"
    assert wallet["result"]["list"][0]["coin"][0]["walletBalance"] == "100000"
    with pytest.raises(InvalidRequestError, match="110001"):
        session.cancel_order(category="linear", symbol=SYMBOL, orderId=placed["result"]["orderId"])


def test_reset_starts_the_desk_over_at_the_sim_clock(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    client.order(side="Buy", orderType="Limit", qty="0.01", price="50000")
    desk = desk_of(sim.state)
    sim.set_clock(ManualClock(NOW + 60_000))

    desk.reset()
    desk.add_account(ApiAccount(KEY, SECRET, {"USDT": Decimal(5)}))

    assert client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL})["result"]["list"] == []
    wallet = client.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"})["result"]["list"][0]
    assert wallet["totalWalletBalance"] == "5"
    assert desk.engine.now_ms == NOW + 60_000
