"""pybit, Bybit's own SDK, calls every endpoint and topic of the wider surface against `bst sim`.

HTTP: batch place/amend/cancel, closed PnL, position and margin mode switches, account info,
transaction log, coin balances, key info, funding history, open interest, risk limits — no 404, no
crash, Bybit's shapes. WebSocket: `execution.fast` on the private stream, `allLiquidation` and
`liquidation` and the public tape's rate on the public stream. pybit signs with the real clock, so
these sims run on a SystemClock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP, WebSocket
from test_trading_rest import KEY, SECRET, SYMBOL, fresh_desk, top_of_book

from bst.domain.clock import SystemClock
from bst.sim.liquidations import liquidations
from bst.sim.tape import prints

D = Decimal


def pybit_session(sim: Any) -> HTTP:
    session = HTTP(testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1, retry_delay=0)
    session.endpoint = sim.base_url  # pybit builds every URL from `endpoint`
    return session


class SimWebSocket(WebSocket):  # type: ignore[misc]
    """pybit's WebSocket, connecting to the sim instead of Bybit's host."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._sim_url = url
        super().__init__(**kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(self._sim_url)


@pytest.fixture
def live_sim(sim_factory: Any) -> Any:
    return fresh_desk(sim_factory(clock=SystemClock(), ip_limit_requests=1_000_000))


def test_pybit_batch_orders(live_sim: Any) -> None:
    session = pybit_session(live_sim)
    bid, _, _, _ = top_of_book(live_sim)

    def buy(price: Decimal, link: str, qty: str = "0.001") -> dict[str, str]:
        return {
            "symbol": SYMBOL,
            "side": "Buy",
            "orderType": "Limit",
            "qty": qty,
            "price": str(price),
            "orderLinkId": link,
        }

    placed = session.place_batch_order(
        category="linear",
        request=[buy(bid - 500, "p-1"), buy(bid - 600, "p-2"), buy(bid - 600, "p-3", "NaN")],
    )
    second_id = placed["result"]["list"][1]["orderId"]
    amended = session.amend_batch_order(
        category="linear",
        request=[
            {"symbol": SYMBOL, "orderLinkId": "p-1", "price": str(bid - 550)},
            {"symbol": SYMBOL, "orderLinkId": "nope", "qty": "0.002"},
        ],
    )
    cancelled = session.cancel_batch_order(
        category="linear",
        request=[{"symbol": SYMBOL, "orderLinkId": "p-1"}, {"symbol": SYMBOL, "orderId": second_id}],
    )
    with pytest.raises(InvalidRequestError, match="at most 10 orders, got 11"):
        session.place_batch_order(category="spot", request=[{"symbol": SYMBOL}] * 11)

    assert placed["retCode"] == 0
    assert [i["code"] for i in placed["retExtInfo"]["list"]] == [0, 0, 10001]
    assert [i["orderLinkId"] for i in placed["result"]["list"]] == ["p-1", "p-2", "p-3"]
    assert placed["result"]["list"][2]["orderId"] == placed["result"]["list"][2]["createAt"] == ""
    assert set(placed["result"]["list"][0]) == {"category", "symbol", "orderId", "orderLinkId", "createAt"}
    assert [i["code"] for i in amended["retExtInfo"]["list"]] == [0, 110001]
    assert [i["code"] for i in cancelled["retExtInfo"]["list"]] == [0, 0]
    assert session.get_open_orders(category="linear", symbol=SYMBOL)["result"]["list"] == []


def test_pybit_account_endpoints(live_sim: Any) -> None:
    session = pybit_session(live_sim)
    session.place_order(category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.002")
    session.place_order(
        category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.002", reduceOnly=True
    )
    closed = session.get_closed_pnl(category="linear", symbol=SYMBOL)
    log = session.get_transaction_log(accountType="UNIFIED", category="linear")
    info = session.get_account_info()
    coins = session.get_coins_balance(accountType="UNIFIED", coin="USDT")
    key = session.get_api_key_information()
    refused: list[str] = []
    for call in (
        lambda: session.switch_position_mode(category="linear", symbol=SYMBOL, mode=0),
        lambda: session.switch_position_mode(category="linear", coin="USDT", mode=3),
        lambda: session.set_margin_mode(setMarginMode="REGULAR_MARGIN"),
        lambda: session.set_margin_mode(setMarginMode="ISOLATED_MARGIN"),
    ):
        with pytest.raises(InvalidRequestError) as error:
            call()
        refused.append(str(error.value.status_code))
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]["coin"][0]

    [record] = closed["result"]["list"]
    assert (record["symbol"], record["side"], record["closedSize"], record["fillCount"]) == (
        SYMBOL,
        "Sell",
        "0.002",
        "1",
    )
    assert D(record["closedPnl"]) == D(record["cumExitValue"]) - D(record["cumEntryValue"]) - D(
        record["openFee"]
    ) - D(record["closeFee"])
    rows = log["result"]["list"]
    assert [r["type"] for r in rows] == ["TRADE", "TRADE"]
    assert rows[0]["cashBalance"] == wallet["walletBalance"]
    assert info["result"]["marginMode"] == "REGULAR_MARGIN"
    assert coins["result"]["balance"][0]["walletBalance"] == wallet["walletBalance"]
    assert (key["result"]["apiKey"], key["result"]["secret"]) == (KEY, "")
    assert refused == ["110025", "110029", "110026", "3400045"]


def test_pybit_market_statistics(live_sim: Any) -> None:
    session = pybit_session(live_sim)
    funding = session.get_funding_rate_history(category="linear", symbol=SYMBOL, limit=3)
    interest = session.get_open_interest(category="linear", symbol=SYMBOL, intervalTime="1h", limit=4)
    following = session.get_open_interest(
        category="linear",
        symbol=SYMBOL,
        intervalTime="1h",
        limit=4,
        cursor=interest["result"]["nextPageCursor"],
    )
    tiers = session.get_risk_limit(category="linear", symbol=SYMBOL)
    inverse = session.get_risk_limit(category="inverse")

    times = [int(r["fundingRateTimestamp"]) for r in funding["result"]["list"]]
    assert times == sorted(times, reverse=True)
    assert {t % (8 * 3_600_000) for t in times} == {0}
    stamps = [int(p["timestamp"]) for p in interest["result"]["list"] + following["result"]["list"]]
    assert stamps == [stamps[0] - i * 3_600_000 for i in range(8)]
    assert all(D(p["openInterest"]) > 0 for p in interest["result"]["list"])
    [tier] = tiers["result"]["list"]
    assert (tier["maintenanceMargin"], tier["initialMargin"], tier["maxLeverage"]) == (
        "0.005",
        "0.01",
        "100.00",
    )
    assert [t["symbol"] for t in inverse["result"]["list"]] == ["BTCUSD", "ETHUSD"]


def test_pybit_meets_bybits_answers_for_missing_routes(live_sim: Any) -> None:
    session = pybit_session(live_sim)
    with pytest.raises(InvalidRequestError, match="bst sim does not implement") as unserved:
        session.get_borrow_history(currency="USDT")  # a Bybit endpoint the sim lacks: 10017, not a 404
    assert unserved.value.status_code == 10017
    with pytest.raises(FailedRequestError) as unknown:  # a path Bybit does not have: HTTP 404, as Bybit
        session._submit_request(
            method="GET", path=f"{live_sim.base_url}/v5/no/such-path", query={}, auth=False
        )
    assert unknown.value.status_code == 404


def collect(until: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if until():
            return True
        time.sleep(0.05)
    return until()


def test_pybit_fast_executions_precede_the_full_ones(live_sim: Any) -> None:
    session = pybit_session(live_sim)
    lock = threading.Lock()
    seen: list[tuple[str, dict[str, Any]]] = []

    def on(topic: str) -> Callable[[dict[str, Any]], None]:
        def handle(message: dict[str, Any]) -> None:
            with lock:
                seen.extend((topic, item) for item in message["data"])

        return handle

    ws = SimWebSocket(
        f"{live_sim.ws_url}/v5/private",
        channel_type="private",
        testnet=False,
        api_key=KEY,
        api_secret=SECRET,
        retries=3,
        private_auth_expire=10,
    )
    try:
        ws.fast_execution_stream(on("fast"))
        ws.execution_stream(on("full"))
        time.sleep(0.5)  # both subscriptions acknowledged before the fill
        placed = session.place_order(
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="0.003",
            orderLinkId="fast-1",
        )
        order_id = placed["result"]["orderId"]
        assert collect(lambda: sum(1 for t, i in seen if t == "full" and i["orderId"] == order_id) > 0, 20)
    finally:
        ws.exit()
    with lock:
        fast = [i for t, i in seen if t == "fast" and i["orderId"] == order_id]
        full = [i for t, i in seen if t == "full" and i["orderId"] == order_id]
        first_full = next(k for k, (t, i) in enumerate(seen) if t == "full" and i["orderId"] == order_id)
        first_fast = next(k for k, (t, i) in enumerate(seen) if t == "fast" and i["orderId"] == order_id)
    assert first_fast < first_full
    assert [(i["execId"], i["execPrice"], i["execQty"]) for i in fast] == [
        (i["execId"], i["execPrice"], i["execQty"]) for i in full
    ]
    reduced = {"category", "symbol", "execId", "execPrice", "execQty", "orderId", "isMaker", "orderLinkId"}
    assert set(fast[0]) == reduced | {"side", "execTime", "seq"}
    assert (fast[0]["orderLinkId"], fast[0]["isMaker"], fast[0]["side"]) == ("fast-1", False, "Buy")


def test_pybit_liquidations_and_a_busy_tape(sim: Any) -> None:
    start = sim.clock.now_ms()
    target = start + 60_000
    expected_all = liquidations(sim.generator, SYMBOL, start + 1, target)
    tape = prints(sim.generator, SYMBOL, start + 1, target)
    assert expected_all
    lock = threading.Lock()
    got: dict[str, list[dict[str, Any]]] = {"all": [], "old": [], "trades": []}

    def on(name: str) -> Callable[[dict[str, Any]], None]:
        def handle(message: dict[str, Any]) -> None:
            with lock:
                got[name].append(message)

        return handle

    ws = SimWebSocket(f"{sim.ws_url}/v5/public/linear", channel_type="linear", testnet=False, retries=3)
    try:
        ws.all_liquidation_stream(SYMBOL, on("all"))
        ws.liquidation_stream(SYMBOL, on("old"))
        ws.trade_stream(SYMBOL, on("trades"))
        time.sleep(0.5)
        sim.clock.advance(60.0)
        last_id = tape[-1].trade_id
        assert collect(lambda: any(t["i"] == last_id for m in got["trades"] for t in m["data"]), 30)
        assert collect(lambda: sum(len(m["data"]) for m in got["all"]) >= len(expected_all), 30)
    finally:
        ws.exit()
    with lock:
        rows = [r for m in got["all"] for r in m["data"]]
        old = [m["data"] for m in got["old"]]
        printed = [t for m in got["trades"] for t in m["data"]]
    assert [(r["T"], r["S"], D(r["v"]), D(r["p"])) for r in rows] == [
        (x.ts_ms, x.side.value, x.size, x.price) for x in expected_all
    ]
    assert [(o["updatedTime"], o["side"], D(o["size"])) for o in old] == [
        (x.ts_ms, x.side.value, x.size) for x in expected_all
    ]
    assert all(m["topic"] == f"allLiquidation.{SYMBOL}" and m["type"] == "snapshot" for m in got["all"])
    assert [t["i"] for t in printed] == [t.trade_id for t in tape]
    assert len(tape) > 400  # about 14 prints a second on BTCUSDT (the generator alone: 12 a minute)
