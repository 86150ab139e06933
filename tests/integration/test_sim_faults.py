"""`bst sim` over loopback: IP limit and headers, each injected fault, admin API, lifecycle, extensions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit.endpoints import RateGroup
from bst.domain.clock import ManualClock
from bst.domain.errors import ConfigError
from bst.domain.market import Category
from bst.sim import replies
from bst.sim.faults import FaultConfig, FaultKind
from bst.sim.server import SimServer
from bst.sim.state import SimConfig, SimState

NOW = 1_717_243_230_500
TIME = "/v5/market/time"


def get(server: Any, path: str = TIME, timeout: float = 5.0, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.base_url}{path}", params=params, timeout=timeout)


def admin(server: Any, path: str, payload: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/sim/admin/{path}", json=payload, timeout=5.0)


def test_every_reply_carries_the_ip_limit_headers_and_a_breach_gets_403(sim_factory: Any) -> None:
    server = sim_factory(ip_limit_requests=5, ip_limit_window_s=5.0)

    replies_ = [get(server) for _ in range(6)]

    assert [r.status_code for r in replies_] == [200] * 5 + [403]
    assert [r.headers["X-Bapi-Limit-Status"] for r in replies_] == ["4", "3", "2", "1", "0", "0"]
    assert {r.headers["X-Bapi-Limit"] for r in replies_} == {"5"}
    assert replies_[0].headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW)
    assert replies_[5].headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW + 5000)
    assert "access too frequent" in replies_[5].text
    assert httpx.get(f"{server.base_url}/sim/admin/state").json()["requests_served"] == 6


def test_the_window_rolls_with_the_sim_clock(sim_factory: Any) -> None:
    clock = ManualClock(NOW)
    server = sim_factory(clock=clock, ip_limit_requests=2, ip_limit_window_s=5.0)
    first = [get(server).status_code for _ in range(3)]

    clock.advance(5.0)

    assert first == [200, 200, 403]
    assert get(server).status_code == 200


def test_an_ip_ban_set_through_the_admin_api_outlasts_the_window(sim_factory: Any) -> None:
    clock = ManualClock(NOW)
    server = sim_factory(clock=clock)
    changed = admin(server, "limits", {"ip_limit_requests": 1, "ip_limit_window_s": 1, "ip_ban_s": 600})
    statuses = [get(server).status_code for _ in range(2)]

    clock.advance(60.0)
    banned = get(server)
    clock.advance(541.0)

    assert changed.json() == {"ip_limit_requests": 1, "ip_limit_window_s": 1.0, "ip_ban_s": 600.0}
    assert statuses == [200, 403]
    assert banned.status_code == 403
    assert banned.headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW + 600_000)
    assert get(server).status_code == 200


def test_error_faults_are_http_200_envelopes_with_server_error_codes(sim: Any) -> None:
    sim.set_faults(FaultConfig(error_rate=1.0, error_codes=(10016,)))

    reply = get(sim)

    assert reply.status_code == 200
    assert reply.json() == {
        "retCode": 10016,
        "retMsg": "Internal server error.",
        "result": {},
        "retExtInfo": {},
        "time": NOW,
    }


def test_5xx_faults_return_the_status(sim: Any) -> None:
    sim.set_faults(FaultConfig(http_5xx_rate=1.0, http_5xx_codes=(502,)))

    reply = get(sim)

    assert reply.status_code == 502
    assert reply.text == "Bad Gateway"


def test_timeout_faults_hold_the_reply_past_the_client_timeout(sim: Any) -> None:
    sim.set_faults(FaultConfig(timeout_rate=1.0, timeout_hold_s=5.0))

    with pytest.raises(httpx.ReadTimeout):
        get(sim, timeout=0.3)
    sim.set_faults(FaultConfig())
    assert get(sim).status_code == 200


def test_drop_faults_cut_the_connection_after_the_headers(sim: Any) -> None:
    sim.set_faults(FaultConfig(drop_rate=1.0))

    with pytest.raises(httpx.RemoteProtocolError):
        get(sim, "/v5/market/kline", symbol="BTCUSDT", interval="1")


def test_forced_rate_limit_faults_give_10006_and_403(sim: Any) -> None:
    sim.set_faults(FaultConfig(script=(FaultKind.RATE_LIMIT, FaultKind.IP_BAN)))

    limited, banned = get(sim), get(sim)

    assert limited.status_code == 200
    assert limited.json()["retCode"] == 10006
    assert limited.json()["retMsg"] == "Too many visits!"
    assert limited.headers["X-Bapi-Limit-Status"] == "0"
    assert limited.headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW + 1000)
    assert banned.status_code == 403
    assert get(sim).status_code == 200


def test_latency_is_added_to_every_request(sim: Any) -> None:
    sim.set_faults(FaultConfig(latency_ms=150))

    started = time.perf_counter()
    reply = get(sim)
    elapsed = time.perf_counter() - started

    assert reply.status_code == 200
    assert elapsed >= 0.15


def test_faults_set_through_the_admin_api_are_deterministic_and_counted(sim: Any) -> None:
    settings = {"reset": True, "error_rate": 0.3, "http_5xx_rate": 0.2, "seed": 11, "error_codes": [10000]}

    first = admin(sim, "faults", settings)
    outcomes_one = [outcome(get(sim)) for _ in range(24)]
    admin(sim, "faults", settings)
    outcomes_two = [outcome(get(sim)) for _ in range(24)]
    view = httpx.get(f"{sim.base_url}/sim/admin/faults").json()

    assert first.status_code == 200
    assert first.json()["faults"]["error_rate"] == 0.3
    assert outcomes_one == outcomes_two
    assert {"ok", "10000", "5xx"} == set(outcomes_one)
    assert view["injected"] == {
        "error": outcomes_two.count("10000"),
        "5xx": outcomes_two.count("5xx"),
    }


def outcome(reply: httpx.Response) -> str:
    if reply.status_code >= 500:
        return "5xx"
    code = reply.json()["retCode"]
    return "ok" if code == 0 else str(code)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"error_rate": 2}, "error_rate must be within [0, 1], got 2"),
        (
            {"latency_ms": 1e308},
            "latency_ms must be a number within [0, 60000]: too large "
            "(at most 18 digits before the decimal point)",
        ),
        ({"timeout_hold_s": "NaN"}, "timeout_hold_s must be a number within [0, 600]: not a finite number"),
        ({"wobble": 1}, "unknown fault setting(s): wobble"),
    ],
)
def test_bad_admin_fault_settings_get_400(sim: Any, payload: dict[str, Any], error: str) -> None:
    reply = admin(sim, "faults", payload)

    assert reply.status_code == 400
    assert reply.json() == {"error": error}


def test_admin_routes_are_never_faulted_or_limited(sim_factory: Any) -> None:
    server = sim_factory(ip_limit_requests=1, faults=FaultConfig(http_5xx_rate=1.0))

    statuses = [get(server).status_code for _ in range(2)]
    state = httpx.get(f"{server.base_url}/sim/admin/state").json()
    moved = admin(server, "clock", {"advance_s": 2.5})

    assert statuses == [502, 403]
    assert state["seed"] == 20240601
    assert state["clock"] == "manual"
    assert moved.json() == {"now_ms": NOW + 2500}
    assert httpx.get(f"{server.base_url}/sim/health").json() == {"status": "ok"}


def test_a_taken_port_is_one_clear_error(sim: Any) -> None:
    with pytest.raises(
        ConfigError, match=f"cannot listen on 127.0.0.1:{sim.port}: the address is already in use"
    ):
        SimServer(SimConfig(port=sim.port)).start_in_thread()


async def test_the_sim_runs_on_the_tests_own_event_loop() -> None:
    async with (
        SimServer(SimConfig(port=0, seed=3), clock=ManualClock(NOW)) as server,
        httpx.AsyncClient() as client,
    ):
        reply = await client.get(f"{server.base_url}{TIME}")
        assert server.ws_url == f"ws://127.0.0.1:{server.port}"

    assert reply.json()["result"]["timeSecond"] == str(NOW // 1000)
    assert not server.running


class OrderRoutes:
    """A stand-in private route module: per-UID limit via SimState, as trading routes will do."""

    @staticmethod
    def routes(state: SimState) -> Sequence[BaseRoute]:
        async def create(request: Request) -> Response:
            uid = request.headers.get("X-BAPI-API-KEY", "anonymous")
            decision = state.check_uid_limit(uid, RateGroup.ORDER_CREATE, Category.LINEAR)
            if not decision.allowed:
                return replies.rate_limited(decision, state.now_ms())
            return replies.ok({"orderId": "1"}, state.now_ms(), headers=decision.header_dict())

        return [Route("/v5/test/uid-limited", create, methods=["POST"])]


def test_route_modules_plug_in_and_their_uid_limit_headers_win(sim_factory: Any) -> None:
    from bst.sim import routes_admin, routes_market

    server = sim_factory(modules=(routes_market, routes_admin, OrderRoutes))
    url = f"{server.base_url}/v5/test/uid-limited"

    answers = [httpx.post(url, headers={"X-BAPI-API-KEY": "k1"}, json={}) for _ in range(11)]

    assert [a.json()["retCode"] for a in answers] == [0] * 10 + [10006]
    assert answers[0].headers["X-Bapi-Limit"] == "10"
    assert answers[0].headers["X-Bapi-Limit-Status"] == "9"
    assert answers[10].headers["X-Bapi-Limit-Status"] == "0"
    assert answers[10].headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW + 1000)
    assert get(server).headers["X-Bapi-Limit"] == "600"
