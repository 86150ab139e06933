"""What the simulator answers where no route serves the request: never a bare 404, never a traceback.

- A Bybit v5 endpoint the simulator does not implement (`bst.bybit.v5_paths`): HTTP 200 with
  retCode 10017 and a retMsg naming the path as not supported by the simulator, so a client that
  reached the sim learns at once why, the way it learns of any refusal.
- Any other path, or a served path asked with the wrong method: Bybit's answer to a path it does
  not route, HTTP 404 (its documented "Cannot find path"; what clients report for unknown v5 paths
  and for a GET to a POST-only path). Bybit's 404 body is not on record; the sim sends its v5
  envelope with retCode 10017 "Route not found." (Bybit's own code and wording for it), so a client
  reading the body gets a reason and one reading the status gets Bybit's.
- Under `/sim/` (admin): HTTP 404 with a one-line JSON error.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit.endpoints import endpoint_for_path
from bst.bybit.retcodes import ROUTE_NOT_FOUND_MSG, RetCode
from bst.bybit.v5_paths import is_unserved_bybit_path
from bst.sim.replies import envelope_bytes, error, json_response
from bst.sim.state import SimState

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
NOT_FOUND = 404


def unserved_message(path: str) -> str:
    """Return the retMsg for a Bybit endpoint the simulator does not implement."""
    return f"Route not found: {path} is a Bybit v5 endpoint bst sim does not implement"


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the catch-all route; it must come after every other module's routes."""

    async def fallback(request: Request) -> Response:
        path = request.url.path
        now_ms = state.now_ms()
        if path.startswith("/sim/"):
            return json_response({"error": f"no admin route {request.method} {path}"}, status=NOT_FOUND)
        served = endpoint_for_path(path)
        if served is None and is_unserved_bybit_path(path):
            return error(RetCode.ROUTE_NOT_FOUND, unserved_message(path), now_ms)
        if served is not None:
            message = f"{ROUTE_NOT_FOUND_MSG} {path} takes {served.method}, not {request.method}"
        else:
            message = ROUTE_NOT_FOUND_MSG
        body = envelope_bytes(RetCode.ROUTE_NOT_FOUND, message, now_ms)
        return Response(body, status_code=NOT_FOUND, media_type="application/json")

    return [Route("/{path:path}", fallback, methods=ALL_METHODS)]
