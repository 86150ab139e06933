"""Admin endpoints of the simulator (`/sim/...`, plain JSON, never rate limited or faulted).

Reachable from loopback only, or with the sim's admin token (see `bst.sim.gateway.admin_refusal`).
Every value is bounded; a bad one gets HTTP 400 `{"error": "<what is wrong>"}` and changes nothing.

- `GET /sim/health`                 -> {"status": "ok"}
- `GET /sim/admin/state`            -> seed, time, clock kind, limits, counters
- `GET /sim/admin/faults`           -> the fault settings and how many faults were injected
- `POST /sim/admin/faults`          -> change fault settings: a JSON object of FaultConfig fields
                                       (partial update; `"reset": true` starts from no faults)
- `POST /sim/admin/limits`          -> {"ip_limit_requests", "ip_limit_window_s", "ip_ban_s"};
                                       counted requests are forgotten
- `POST /sim/admin/clock`           -> {"now_ms": N} or {"advance_s": S}; only with a ManualClock
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.domain.clock import ManualClock
from bst.sim.faults import FaultConfig, FaultConfigError, bounded_int, bounded_number
from bst.sim.replies import json_response
from bst.sim.state import SimState


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise FaultConfigError("body is not JSON") from None
    if not isinstance(body, dict):
        raise FaultConfigError("body must be a JSON object")
    return body


MAX_IP_LIMIT = 1_000_000_000
MIN_WINDOW_S = 0.001
MAX_WINDOW_S = 86_400.0
MAX_BAN_S = 86_400.0
MAX_NOW_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last instant a date can name."""
MAX_CLOCK_STEP_S = 100 * 365 * 86_400.0
"""One move of the manual clock: at most a century either way."""


def _bad(message: str) -> Response:
    return json_response({"error": message}, status=400)


class AdminRoutes:
    """Handlers bound to one SimState."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def _faults_view(self) -> dict[str, Any]:
        injector = self.state.faults
        return {"faults": injector.config.to_json(), "injected": dict(injector.injected)}

    async def health(self, request: Request) -> Response:
        """Report liveness."""
        return json_response({"status": "ok"})

    async def state_view(self, request: Request) -> Response:
        """Report seed, clock and counters."""
        state = self.state
        limiter = state.ip_limiter
        return json_response(
            {
                "seed": state.config.seed,
                "now_ms": state.now_ms(),
                "clock": "manual" if isinstance(state.clock, ManualClock) else type(state.clock).__name__,
                "ip_limit_requests": limiter.limit,
                "ip_limit_window_s": limiter.window_s,
                "ip_ban_s": state.ip_ban_s,
                "requests_served": state.requests_served,
                "gaps": state.generator.gaps,
            }
        )

    async def get_faults(self, request: Request) -> Response:
        """Return the fault settings."""
        return json_response(self._faults_view())

    async def set_faults(self, request: Request) -> Response:
        """Change the fault settings (partial update)."""
        try:
            body = await _json_body(request)
            base = FaultConfig() if body.pop("reset", False) else self.state.faults.config
            config = base.updated(body)
        except FaultConfigError as e:
            return _bad(str(e))
        self.state.faults.configure(config)
        return json_response(self._faults_view())

    async def set_limits(self, request: Request) -> Response:
        """Change the IP limit (and ban time); counters restart."""
        state = self.state
        try:
            body = await _json_body(request)
            unknown = sorted(set(body) - {"ip_limit_requests", "ip_limit_window_s", "ip_ban_s"})
            if unknown:
                raise FaultConfigError(f"unknown limit setting(s): {', '.join(unknown)}")
            limit = bounded_int(
                body.get("ip_limit_requests", state.ip_limiter.limit), "ip_limit_requests", 0, MAX_IP_LIMIT
            )
            window = bounded_number(
                body.get("ip_limit_window_s", state.ip_limiter.window_s),
                "ip_limit_window_s",
                MIN_WINDOW_S,
                MAX_WINDOW_S,
            )
            ban = bounded_number(body.get("ip_ban_s", state.ip_ban_s), "ip_ban_s", 0.0, MAX_BAN_S)
        except FaultConfigError as e:
            return _bad(str(e))
        state.ip_limiter.reconfigure(limit, window)
        state.ip_ban_s = ban
        state.ip_banned_until.clear()
        return json_response({"ip_limit_requests": limit, "ip_limit_window_s": window, "ip_ban_s": ban})

    async def set_clock(self, request: Request) -> Response:
        """Set or advance a manual clock."""
        clock = self.state.clock
        if not isinstance(clock, ManualClock):
            return json_response(
                {"error": "the sim runs on the system clock; start it with a manual one"}, 409
            )
        try:
            body = await _json_body(request)
            if "now_ms" in body:
                now_ms = bounded_int(body["now_ms"], "now_ms", 0, MAX_NOW_MS)
                step_s = (now_ms - clock.now_ms()) / 1000.0
            elif "advance_s" in body:
                step_s = bounded_number(body["advance_s"], "advance_s", -MAX_CLOCK_STEP_S, MAX_CLOCK_STEP_S)
            else:
                raise FaultConfigError("give now_ms or advance_s")
        except FaultConfigError as e:
            return _bad(str(e))
        clock.advance(step_s)
        return json_response({"now_ms": clock.now_ms()})


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the admin routes."""
    admin = AdminRoutes(state)
    return [
        Route("/sim/health", admin.health, methods=["GET"]),
        Route("/sim/admin/state", admin.state_view, methods=["GET"]),
        Route("/sim/admin/faults", admin.get_faults, methods=["GET"]),
        Route("/sim/admin/faults", admin.set_faults, methods=["POST"]),
        Route("/sim/admin/limits", admin.set_limits, methods=["POST"]),
        Route("/sim/admin/clock", admin.set_clock, methods=["POST"]),
    ]
