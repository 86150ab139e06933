"""The simulator's ASGI app: route modules collected over one SimState, behind the gateway.

A route module is any module with `routes(state: SimState) -> Sequence[BaseRoute]` (HTTP routes or
WebSocket routes). To add one (public streams, private trading endpoints), append it to
`ROUTE_MODULES` — one line — or pass `modules=` to `build_app` / `SimServer`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from bst.sim import (
    routes_account,
    routes_admin,
    routes_batch,
    routes_fallback,
    routes_market,
    routes_market_stats,
    trading_routes,
    ws_public,
)
from bst.sim.gateway import Gateway
from bst.sim.replies import internal_error
from bst.sim.state import SimState


class RouteModule(Protocol):
    """A module (or object) contributing routes to the simulator."""

    def routes(self, state: SimState) -> Sequence[BaseRoute]:
        """Return the routes this module serves."""
        ...


# Every route module the sim serves; other features add theirs here.
ROUTE_MODULES: tuple[ModuleType | RouteModule, ...] = (
    routes_market,
    routes_market_stats,
    routes_admin,
    trading_routes,
    routes_account,
    routes_batch,
    ws_public,
)


def build_app(state: SimState, modules: Sequence[ModuleType | RouteModule] | None = None) -> Gateway:
    """Return the sim's ASGI app over `state` with the routes of `modules` (default ROUTE_MODULES).

    `routes_fallback` always comes last: unknown paths and methods get Bybit's answer, Bybit paths
    the sim does not implement a 10017 naming them.
    """
    collected: list[BaseRoute] = []
    for module in ROUTE_MODULES if modules is None else modules:
        collected.extend(module.routes(state))
    collected.extend(routes_fallback.routes(state))  # last: answers whatever no route above serves

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        for hook in list(state.on_startup):
            await hook()
        try:
            yield
        finally:
            for hook in reversed(state.on_shutdown):
                await hook()

    async def on_error(request: Request, exc: Exception) -> Response:
        return internal_error(request.url.path, state.now_ms())

    app = Starlette(routes=collected, lifespan=lifespan, exception_handlers={Exception: on_error})
    return Gateway(app, state)
