"""`bst sim` over loopback against bad input and strangers: 10001s in HTTP 200, no retries, guarded admin.

Bad numbers (1e30, NaN, Infinity, 1e400, text) in every numeric field of the private API are refused
with retCode 10001 and a Bybit-like retMsg, place nothing, and are not retried by the bst client or
pybit. The admin routes answer a real non-loopback peer only with the admin token. The CLI refuses
the same numbers in one line with exit 2, and `bst sim` warns when it listens beyond loopback.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP
from test_sim_trading import KEY, SECRET, SYMBOL, Signed
from test_trading_rest import Recorder, trading_client

from bst.bybit import endpoints
from bst.bybit.signing import rest_signature
from bst.domain.clock import SystemClock
from bst.domain.errors import BybitInvalidParameterError
from bst.sim.gateway import ADMIN_LOOPBACK_ONLY, ADMIN_TOKEN_MISSING, is_loopback
from bst.sim.replies import encode_cursor
from bst.sim.trading_desk import ApiAccount, desk_of

BAD_NUMBERS = ["1e30", "NaN", "Infinity", "1e400", "abc"]
PYTHON_INTERNALS = re.compile(
    r"<class|Traceback|decimal\.|InvalidOperation|ConversionSyntax|KeyError|ValueError"
)
LIMIT_BUY = {"side": "Buy", "orderType": "Limit", "qty": "0.001", "price": "60000"}
"""Rests: the generated BTCUSDT book is near 67,700 at the sim fixtures' clock."""


@pytest.fixture
def trading(sim_factory: Any) -> tuple[Any, Signed]:
    sim = sim_factory(ip_limit_requests=1_000_000)
    desk_of(sim.state).add_account(ApiAccount(KEY, SECRET))
    return sim, Signed(sim)


def open_orders(client: Signed) -> list[dict[str, Any]]:
    return list(client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL})["result"]["list"])


def assert_clean_10001(reply: dict[str, Any], field: str) -> None:
    assert reply["retCode"] == 10001, reply
    assert reply["retMsg"].startswith(f"params error: {field} invalid"), reply["retMsg"]
    assert PYTHON_INTERNALS.search(reply["retMsg"]) is None


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("field", ["price", "qty", "triggerPrice", "takeProfit", "stopLoss"])
def test_bad_numbers_in_an_order_are_a_10001_and_place_nothing(
    trading: tuple[Any, Signed], field: str, value: str
) -> None:
    _, client = trading

    reply = client.order(**{**LIMIT_BUY, field: value})

    assert_clean_10001(reply, field)
    assert open_orders(client) == []


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "true", "[1]", '{"a": 1}'])
def test_bad_json_numbers_in_a_raw_body_are_a_10001_in_http_200(
    trading: tuple[Any, Signed], raw: str
) -> None:
    sim, _ = trading
    body = '{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", ' + (
        f'"qty": {raw}, "price": "60000"}}'
    )
    now = sim.clock.now_ms()
    headers = {
        "X-BAPI-API-KEY": KEY,
        "X-BAPI-TIMESTAMP": str(now),
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": rest_signature(SECRET, now, KEY, 5000, body),
    }

    reply = httpx.post(f"{sim.base_url}/v5/order/create", content=body, headers=headers, timeout=10)

    assert reply.status_code == 200
    assert_clean_10001(reply.json(), "qty")


def test_absurd_but_well_formed_values_are_refused_by_the_engine_as_bybit_does(
    trading: tuple[Any, Signed],
) -> None:
    _, client = trading

    take_profit = client.order(**LIMIT_BUY, takeProfit="1e17")
    qty = client.order(**{**LIMIT_BUY, "qty": "1e17"})
    price = client.order(**{**LIMIT_BUY, "price": "1e17"})
    negative = client.order(**{**LIMIT_BUY, "qty": "-1"})

    assert (take_profit["retCode"], take_profit["retMsg"]) == (
        10001,
        "params error: takeProfit invalid: 100000000000000000 is out of permissible range",
    )
    assert qty["retCode"] == 10001
    assert qty["retMsg"].startswith("The number of contracts exceeds maximum limit allowed: too large")
    assert (price["retCode"], price["retMsg"]) == (
        110003,
        "Order price 100000000000000000 is out of permissible range",
    )
    assert (negative["retCode"], negative["retMsg"]) == (
        10001,
        "params error: qty invalid: must be positive, got -1",
    )
    assert open_orders(client) == []


@pytest.mark.parametrize("value", ["NaN", "1e400", "abc", "-Infinity"])
def test_amend_leverage_and_trading_stop_refuse_bad_numbers(trading: tuple[Any, Signed], value: str) -> None:
    _, client = trading
    placed = client.order(**{**LIMIT_BUY, "price": "60000", "orderLinkId": "keep-1"})
    assert placed["retCode"] == 0

    amend = client.post(
        "/v5/order/amend", {"category": "linear", "symbol": SYMBOL, "orderLinkId": "keep-1", "price": value}
    )
    leverage = client.post(
        "/v5/position/set-leverage",
        {"category": "linear", "symbol": SYMBOL, "buyLeverage": value, "sellLeverage": value},
    )
    stop = client.post(
        "/v5/position/trading-stop", {"category": "linear", "symbol": SYMBOL, "stopLoss": value}
    )

    assert_clean_10001(amend, "price")
    assert_clean_10001(leverage, "buyLeverage")
    assert_clean_10001(stop, "stopLoss")
    assert [(o["orderLinkId"], o["price"]) for o in open_orders(client)] == [("keep-1", "60000")]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"limit": "1e400"},
            "params error: limit invalid: too large (at most 18 digits before the decimal point)",
        ),
        ({"limit": "NaN"}, "params error: limit invalid: not a finite number"),
        ({"openOnly": "x"}, "params error: openOnly invalid: not a number"),
        ({"cursor": "b2Zmc2V0PTFlNDAw"}, "params error: cursor invalid"),  # "offset=1e400"
    ],
)
def test_bad_query_numbers_are_a_10001(
    trading: tuple[Any, Signed], params: dict[str, str], message: str
) -> None:
    _, client = trading

    reply = client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL, **params})

    assert (reply["retCode"], reply["retMsg"]) == (10001, message)


@pytest.mark.parametrize("recv_window", ["NaN", "1e400", "-5", "5000.5", "99999999999"])
def test_a_malformed_recv_window_is_a_10002_not_a_500(trading: tuple[Any, Signed], recv_window: str) -> None:
    sim, _ = trading
    now = sim.clock.now_ms()
    query = "category=linear&symbol=BTCUSDT"
    headers = {
        "X-BAPI-API-KEY": KEY,
        "X-BAPI-TIMESTAMP": str(now),
        "X-BAPI-RECV-WINDOW": recv_window,
        "X-BAPI-SIGN": "0" * 64,
    }

    reply = httpx.get(f"{sim.base_url}/v5/order/realtime?{query}", headers=headers, timeout=10)

    assert reply.status_code == 200
    assert reply.json()["retCode"] == 10002


async def test_the_bst_client_gets_the_10001_once_and_does_not_retry(trading: tuple[Any, Signed]) -> None:
    sim, _ = trading
    recorder = Recorder()
    body = {"category": "linear", "symbol": SYMBOL, **LIMIT_BUY, "qty": "NaN"}

    async with trading_client(sim, key=KEY, secret=SECRET, transport=recorder) as client:
        with pytest.raises(BybitInvalidParameterError) as refused:
            await client.http.call(endpoints.ORDER_CREATE, body, repeat_safe=False)
        with pytest.raises(BybitInvalidParameterError):
            await client.http.call(
                endpoints.ORDER_REALTIME, {"category": "linear", "symbol": SYMBOL, "limit": "1e30"}
            )

    assert (refused.value.ret_code, refused.value.http_status) == (10001, 200)
    assert refused.value.ret_msg == "params error: qty invalid: not a finite number"
    assert [(path, code) for path, code, _ in recorder.replies if path != "/v5/market/time"] == [
        ("/v5/order/create", 10001),
        ("/v5/order/realtime", 10001),
    ]


def test_pybit_gets_the_10001_as_an_invalid_request(sim_factory: Any) -> None:
    sim = sim_factory(clock=SystemClock(), ip_limit_requests=1_000_000)
    desk_of(sim.state).add_account(ApiAccount(KEY, SECRET))
    session = HTTP(testnet=False, api_key=KEY, api_secret=SECRET, max_retries=3, retry_delay=0)
    session.endpoint = sim.base_url
    served = sim.state.requests_served

    with pytest.raises(
        InvalidRequestError, match=r"params error: qty invalid: not a finite number \(ErrCode: 10001\)"
    ):
        session.place_order(category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="NaN")

    assert sim.state.requests_served == served + 1


# --- admin routes from a real non-loopback peer ------------------------------------------------


def non_loopback_address() -> str | None:
    """Return this host's address on a non-loopback interface (a UDP connect sends nothing)."""
    for target in ("192.0.2.1", "10.255.255.255", "203.0.113.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect((target, 9))
            except OSError:
                continue
            address = str(probe.getsockname()[0])
            if not is_loopback(address):
                return address
    return None


@pytest.fixture
def outside_address() -> str:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address to reach the sim from")
    return address


def test_a_peer_beyond_loopback_cannot_touch_the_admin_routes(sim_factory: Any, outside_address: str) -> None:
    sim = sim_factory(host="0.0.0.0")
    outside = f"http://{outside_address}:{sim.port}"

    faults = httpx.post(f"{outside}/sim/admin/faults", json={"error_rate": 1.0}, timeout=10)
    clock = httpx.post(f"{outside}/sim/admin/clock", json={"advance_s": 3600}, timeout=10)
    drop = httpx.post(f"{outside}/sim/ws/private", json={"drop": True}, timeout=10)
    market = httpx.get(f"{outside}/v5/market/time", timeout=10)
    local = httpx.get(f"{sim.base_url}/sim/admin/faults", timeout=10)

    assert [(r.status_code, r.json()) for r in (faults, clock, drop)] == [
        (403, {"error": ADMIN_LOOPBACK_ONLY})
    ] * 3
    assert market.json()["retCode"] == 0
    assert local.json()["faults"]["error_rate"] == 0.0
    assert sim.clock.now_ms() == 1_717_243_230_500


def test_with_a_token_the_admin_routes_work_from_anywhere_for_its_holder(
    sim_factory: Any, outside_address: str
) -> None:
    sim = sim_factory(host="0.0.0.0", admin_token="tok-123")
    outside = f"http://{outside_address}:{sim.port}"

    anonymous = httpx.post(f"{sim.base_url}/sim/admin/clock", json={"advance_s": 1}, timeout=10)
    holder = httpx.post(
        f"{outside}/sim/admin/clock",
        json={"advance_s": 1},
        headers={"Authorization": "Bearer tok-123"},
        timeout=10,
    )

    assert (anonymous.status_code, anonymous.json()) == (401, {"error": ADMIN_TOKEN_MISSING})
    assert holder.json() == {"now_ms": 1_717_243_230_500 + 1000}


def test_bst_sim_warns_when_it_listens_beyond_loopback_and_never_prints_the_token() -> None:
    env = {**os.environ, "BYBIT_LOG_LEVEL": "ERROR", "COLUMNS": "300"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bst.cli.main", "sim", "--host", "0.0.0.0", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "BST_SIM_ADMIN_TOKEN": "never-shown-token"},
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        rest = banner.split("REST ")[1].split()[0]
        refused = httpx.get(f"{rest}/sim/admin/state", timeout=10)
        allowed = httpx.get(
            f"{rest}/sim/admin/state", headers={"Authorization": "Bearer never-shown-token"}, timeout=10
        )
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    port = rest.rsplit(":", 1)[1]
    assert err.strip().splitlines() == [
        f"warning: bst sim listens on 0.0.0.0, beyond loopback: anyone who can reach port {port} can use its "
        "API and trading accounts; admin routes need the admin token"
    ]
    assert (refused.status_code, allowed.status_code) == (401, 200)
    assert "never-shown-token" not in banner + out + err
    assert process.returncode == 0


# --- the CLI --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["1e30"],
            "error: invalid quantity '1e30': too large (at most 18 digits before the decimal point); ",
        ),
        (["0.01", "--limit", "1e400"], "error: invalid --limit price '1e400': too large"),
        (["NaN"], "error: invalid quantity 'NaN': not a finite number; "),
        (
            ["0.01", "--limit", "-1"],
            "error: invalid --limit price '-1': must be a positive number such as 0.01",
        ),
        (["abc"], "error: invalid quantity 'abc': not a number; "),
        (["0.01", "--limit", "Infinity"], "error: invalid --limit price 'Infinity': not a finite number"),
        (["-1"], "error: No such option: -1"),  # click reads it as an option: still a usage error
    ],
)
def test_bad_numbers_on_the_command_line_are_one_line_and_exit_2(
    trading: tuple[Any, Signed], args: list[str], message: str
) -> None:
    sim, client = trading
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    env.update(
        {
            "BYBIT_ENV": "sim",
            "BYBIT_API_BASE_URL": sim.base_url,
            "BYBIT_API_KEY": KEY,
            "BYBIT_API_SECRET": SECRET,
            "BYBIT_LOG_LEVEL": "ERROR",
            "COLUMNS": "300",
        }
    )
    served = sim.state.requests_served

    done = subprocess.run(
        [sys.executable, "-m", "bst.cli.main", "order", "buy", SYMBOL, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(message)
    assert "Traceback" not in done.stderr
    assert sim.state.requests_served == served  # refused before anything was sent
    assert open_orders(client) == []


def test_an_order_with_a_huge_but_parseable_quantity_is_refused_locally(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    env.update(
        {
            "BYBIT_ENV": "sim",
            "BYBIT_API_BASE_URL": sim.base_url,
            "BYBIT_API_KEY": KEY,
            "BYBIT_API_SECRET": SECRET,
            "BYBIT_LOG_LEVEL": "ERROR",
        }
    )

    done = subprocess.run(
        [sys.executable, "-m", "bst.cli.main", "order", "buy", SYMBOL, "1e17", "--limit", "60000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "order refused before sending: quantity 100000000000000000.000 is above the maximum" in done.stderr
    assert open_orders(client) == []


def test_every_sim_page_reads_the_same_cursor(trading: tuple[Any, Signed]) -> None:
    sim, client = trading
    for link in ("pg-1", "pg-2", "pg-3"):
        assert client.order(**{**LIMIT_BUY, "price": "60000", "orderLinkId": link})["retCode"] == 0

    first = client.get("/v5/order/realtime", {"category": "linear", "symbol": SYMBOL, "limit": "2"})["result"]
    second = client.get(
        "/v5/order/realtime",
        {"category": "linear", "symbol": SYMBOL, "limit": "2", "cursor": first["nextPageCursor"]},
    )["result"]
    market = httpx.get(
        f"{sim.base_url}/v5/market/instruments-info",
        params={"category": "linear", "limit": 2, "cursor": first["nextPageCursor"]},
        timeout=10,
    ).json()["result"]
    everything = httpx.get(
        f"{sim.base_url}/v5/market/instruments-info", params={"category": "linear"}, timeout=10
    ).json()["result"]["list"]

    assert len(first["list"]) == 2
    assert [o["orderLinkId"] for o in second["list"]] == ["pg-1"]
    assert second["nextPageCursor"] == ""
    assert [i["symbol"] for i in market["list"]] == [i["symbol"] for i in everything[2:4]]
    assert len(everything) > 4
    assert market["nextPageCursor"] == encode_cursor(4)
    assert Decimal(second["list"][0]["price"]) == Decimal("60000")
