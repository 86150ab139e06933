"""Who may use the sim's admin routes: loopback peers, or holders of the admin token (no server needed).

The peer address is the ASGI scope's client, so a request from 10.x or 192.0.2.x is simulated
exactly as uvicorn would report it; the routes behind the gateway are the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bst.domain.clock import ManualClock
from bst.domain.errors import ConfigError
from bst.domain.numbers import TOO_LARGE
from bst.sim import routes_admin, routes_market, ws_public
from bst.sim.app import build_app
from bst.sim.faults import FaultConfig
from bst.sim.gateway import ADMIN_LOOPBACK_ONLY, ADMIN_TOKEN_MISSING, admin_refusal, is_loopback
from bst.sim.server import exposure_warning
from bst.sim.state import SimConfig, SimState

T0 = 1_717_243_230_500
TOKEN = "s3cret-admin-token"


class Exploding:
    """A route module whose routes fail unexpectedly (a bug), on a /v5 path and an admin path."""

    @staticmethod
    def routes(state: SimState) -> list[Route]:
        async def boom(request: Request) -> Response:
            raise ZeroDivisionError("internal detail that must not leak")

        return [Route("/v5/test/boom", boom), Route("/sim/admin/boom", boom)]


def make_state(**config: Any) -> SimState:
    return SimState(SimConfig(seed=1, ip_limit_requests=0, **config), ManualClock(T0))


@pytest.fixture
async def client_at() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(state: SimState, peer: str) -> httpx.AsyncClient:
        app = build_app(state, (routes_admin, routes_market, ws_public, Exploding))
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://sim")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
async def test_loopback_peers_may_manage_a_sim_without_a_token(client_at: Any, peer: str) -> None:
    state = make_state()
    client = client_at(state, peer)

    changed = await client.post("/sim/admin/faults", json={"error_rate": 1.0})

    assert changed.status_code == 200
    assert state.faults.config.error_rate == 1.0


@pytest.mark.parametrize("peer", ["10.0.0.7", "192.0.2.2", "2001:db8::1", "::ffff:10.0.0.7", "testclient"])
async def test_other_peers_are_refused_and_change_nothing(client_at: Any, peer: str) -> None:
    state = make_state()
    client = client_at(state, peer)

    for method, path, body in [
        ("POST", "/sim/admin/faults", {"error_rate": 1.0}),
        ("POST", "/sim/admin/clock", {"advance_s": 3600}),
        ("POST", "/sim/admin/limits", {"ip_limit_requests": 1}),
        ("GET", "/sim/admin/state", None),
        ("POST", "/sim/ws", {"mute": True}),
        ("GET", "/sim/ws/private", None),
    ]:
        reply = await client.request(method, path, json=body)
        assert (reply.status_code, reply.json()) == (403, {"error": ADMIN_LOOPBACK_ONLY}), path

    assert state.faults.config == FaultConfig()
    assert state.now_ms() == T0
    assert (await client.get("/sim/health")).json() == {"status": "ok"}
    assert (await client.get("/v5/market/time")).json()["retCode"] == 0  # the exchange itself is open


async def test_with_a_token_every_peer_needs_it_and_a_holder_anywhere_may_use_it(client_at: Any) -> None:
    state = make_state(admin_token=TOKEN)
    local, remote = client_at(state, "127.0.0.1"), client_at(state, "203.0.113.9")

    bare = await local.post("/sim/admin/clock", json={"advance_s": 1})
    wrong = await remote.post(
        "/sim/admin/clock", json={"advance_s": 1}, headers={"Authorization": "Bearer nope"}
    )
    basic = await remote.post(
        "/sim/admin/clock", json={"advance_s": 1}, headers={"Authorization": f"Basic {TOKEN}"}
    )
    good = await remote.post(
        "/sim/admin/clock", json={"advance_s": 1}, headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert [r.status_code for r in (bare, wrong, basic)] == [401, 401, 401]
    assert bare.json() == {"error": ADMIN_TOKEN_MISSING}
    assert TOKEN not in bare.text + wrong.text
    assert good.json() == {"now_ms": T0 + 1000}
    assert (await remote.get("/sim/health")).status_code == 200


def test_the_token_never_shows_in_the_config_or_the_warning() -> None:
    config = SimConfig(host="0.0.0.0", port=8765, admin_token=TOKEN)

    warning = exposure_warning(config)

    assert TOKEN not in repr(config)
    assert warning is not None
    assert TOKEN not in warning
    assert "beyond loopback" in warning
    assert "admin routes need the admin token" in warning


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.0.2.2", True),
    ],
)
def test_a_warning_is_due_exactly_beyond_loopback(host: str, exposed: bool) -> None:
    assert (exposure_warning(SimConfig(host=host)) is not None) is exposed
    assert is_loopback(host) is not exposed


def test_an_empty_token_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="must not be empty"):
        SimConfig(admin_token=" ")


def test_refusal_rules_read_the_scope_only() -> None:
    scope = {"type": "http", "path": "/sim/admin/faults", "headers": [], "client": ("10.1.1.1", 1)}
    assert admin_refusal(scope, None) == (403, ADMIN_LOOPBACK_ONLY)
    assert admin_refusal({**scope, "client": None}, None) == (403, ADMIN_LOOPBACK_ONLY)
    assert admin_refusal({**scope, "path": "/sim/health"}, None) is None
    with_token = {**scope, "headers": [(b"authorization", f"Bearer {TOKEN}".encode())]}
    assert admin_refusal(with_token, TOKEN) is None


async def test_an_unexpected_route_failure_is_a_10016_or_a_500_line_never_a_traceback(client_at: Any) -> None:
    client = client_at(make_state(), "127.0.0.1")

    v5 = await client.get("/v5/test/boom")
    admin = await client.get("/sim/admin/boom")

    assert v5.status_code == 200
    assert (v5.json()["retCode"], v5.json()["retMsg"]) == (10016, "Internal server error.")
    assert admin.status_code == 500
    assert admin.json() == {"error": "internal error in the sim; its log has the details"}
    assert "internal detail" not in v5.text + admin.text


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        (
            "/sim/admin/limits",
            {"ip_limit_window_s": 0},
            "ip_limit_window_s must be within [0.001, 86400], got 0",
        ),
        (
            "/sim/admin/limits",
            {"ip_ban_s": "forever"},
            "ip_ban_s must be a number within [0, 86400]: not a number",
        ),
        (
            "/sim/admin/limits",
            {"ip_limit_requests": 1.5},
            "ip_limit_requests must be a whole number within [0, 1000000000], got 1.5",
        ),
        (
            "/sim/admin/clock",
            {"advance_s": 1e308},
            "advance_s must be a number within [-3153600000, 3153600000]: " + TOO_LARGE,
        ),
        (
            "/sim/admin/clock",
            {"now_ms": -5},
            "now_ms must be a whole number within [0, 253402300799999], got -5",
        ),
        (
            "/sim/admin/clock",
            {"now_ms": "NaN"},
            "now_ms must be a whole number within [0, 253402300799999]: not a finite number",
        ),
        ("/sim/admin/clock", {}, "give now_ms or advance_s"),
        (
            "/sim/admin/faults",
            {"latency_ms": 1e308},
            "latency_ms must be a number within [0, 60000]: " + TOO_LARGE,
        ),
        (
            "/sim/ws",
            {"delay_ms": 1e12},
            "delay_ms must be a whole number within [0, 60000], got 1000000000000",
        ),
        (
            "/sim/ws",
            {"skip_deltas": "x"},
            "skip_deltas must be a whole number within [0, 1000000]: not a number",
        ),
        ("/sim/admin/faults", "[", "body is not JSON"),
    ],
)
async def test_admin_values_are_bounded_with_a_one_line_400(
    client_at: Any, path: str, body: Any, error: str
) -> None:
    state = make_state()
    client = client_at(state, "127.0.0.1")

    if isinstance(body, str):
        reply = await client.post(path, content=body)
    else:
        reply = await client.post(path, json=body)

    assert (reply.status_code, reply.json()) == (400, {"error": error})
    assert state.now_ms() == T0
    assert state.faults.config == FaultConfig()
