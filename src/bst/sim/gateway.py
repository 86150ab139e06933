"""The ASGI layer in front of every sim route: admin access, IP rate limit, faults, X-Bapi-Limit headers.

Admin routes (`/sim/...`: faults, limits, clock, stream faults) bypass the limit and the faults, so
tests can always reconfigure a misbehaving sim, but they answer only whom `admin_refusal` lets
through: a loopback peer, or, when the sim has an admin token (`bst sim --admin-token`), whoever
sends it as `Authorization: Bearer <token>` (compared in constant time, never logged). `/sim/health`
stays open. WebSocket scopes pass through untouched (streams inject their own faults).

A route that fails unexpectedly still answers: the app's error handler replies 10016 ("Internal
server error.", as Bybit) or, on admin routes, HTTP 500 with a one-line JSON error; the traceback
goes to the sim's log only.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bst.bybit.endpoints import UID_LIMITS_PER_S, endpoint_for_path
from bst.bybit.retcodes import RetCode
from bst.sim.faults import FaultKind
from bst.sim.limits import LimitDecision
from bst.sim.replies import RATE_LIMIT_MSG, SERVER_ERROR_MESSAGES, envelope_bytes
from bst.sim.state import SimState

log = structlog.get_logger(__name__)

ADMIN_PREFIX = "/sim/"
OPEN_ADMIN_PATHS = frozenset({"/sim/health"})
"""Admin paths anyone may read (liveness only)."""
ADMIN_TOKEN_MISSING = (
    "this sim's admin routes need its admin token: send the header 'Authorization: Bearer <token>'"
)
ADMIN_LOOPBACK_ONLY = (
    "the sim's admin routes answer only from loopback; start bst sim with --admin-token to manage it "
    "from elsewhere"
)
_IP_LIMIT_BODY = b"403 Forbidden: access too frequent, the IP rate limit was breached"
_REASONS = {
    500: b"Internal Server Error",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


def is_loopback(host: str) -> bool:
    """Return whether `host` (an address, or "localhost") is a loopback address (IPv4-mapped included)."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = bytes(value).partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else None
    return None


def admin_refusal(scope: Scope, admin_token: str | None) -> tuple[int, str] | None:
    """Return (HTTP status, reason) when an admin request must be refused, else None.

    With a token configured every admin request must carry it (401 otherwise); without one only
    loopback peers are served (403 otherwise). `/sim/health` is always served.
    """
    if str(scope.get("path", "")) in OPEN_ADMIN_PATHS:
        return None
    if admin_token:
        presented = _bearer(scope)
        if presented is None or not hmac.compare_digest(presented, admin_token.encode()):
            return 401, ADMIN_TOKEN_MISSING
        return None
    client = scope.get("client")
    if client and is_loopback(str(client[0])):
        return None
    return 403, ADMIN_LOOPBACK_ONLY


class DroppedConnectionError(Exception):
    """Raised after a reply's headers were sent, so the server cuts the connection mid-reply."""


class _QuietDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for every connection the sim cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnectionError)


def install_log_filter() -> None:
    """Add the drop filter to uvicorn's error logger (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


def _with_headers(message: Message, extra: list[tuple[bytes, bytes]]) -> Message:
    headers = list(message.get("headers", []))
    present = {name.lower() for name, _ in headers}
    headers.extend((name, value) for name, value in extra if name not in present)
    return {**message, "headers": headers}


async def _send_simple(
    send: Send, status: int, body: bytes, content_type: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Gateway:
    """Wraps the route app: counts every /v5 request against the IP limit, then applies faults."""

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state
        install_log_filter()

    async def _call_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route app; a failure after its (error) reply was sent is logged, not re-raised."""
        state = {"started": False, "complete": False}

        async def tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["complete"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            # Starlette's error handler has replied (10016 / admin 500) before re-raising; a reply
            # cut halfway must still end the connection, so only a finished one is swallowed.
            log.error("sim route failed", path=str(scope.get("path", "")), exc_info=True)
            if not state["complete"]:
                raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith(ADMIN_PREFIX):
            refusal = admin_refusal(scope, self.state.config.admin_token)
            if refusal is not None:
                status, why = refusal
                client = scope.get("client")
                log.warning("admin request refused", path=scope.get("path"), peer=client[0] if client else "")
                await _send_simple(send, status, orjson.dumps({"error": why}), b"application/json", [])
                return
            await self._call_app(scope, receive, send)
            return
        state = self.state
        state.requests_served += 1
        client = scope.get("client")
        ip = str(client[0]) if client else "unknown"
        limit: LimitDecision | None = None
        if state.ip_limiter.enabled or state.ip_banned_until:
            limit = state.check_ip(ip)
            if not limit.allowed:
                await _send_simple(send, 403, _IP_LIMIT_BODY, b"text/plain; charset=utf-8", limit.headers())
                return
        limit_headers = limit.headers() if limit is not None else []

        fault = state.faults.decide(str(scope.get("path", "")))
        if fault.latency_s > 0:
            await state.hold(fault.latency_s)
        now_ms = state.now_ms()
        if fault.kind is FaultKind.ERROR:
            body = envelope_bytes(fault.code, SERVER_ERROR_MESSAGES.get(fault.code, "Server error"), now_ms)
            await _send_simple(send, 200, body, b"application/json", limit_headers)
            return
        if fault.kind is FaultKind.HTTP_5XX:
            reason = _REASONS.get(fault.code, b"Server Error")
            await _send_simple(send, fault.code, reason, b"text/plain; charset=utf-8", limit_headers)
            return
        if fault.kind is FaultKind.RATE_LIMIT:
            # A 10006 is a per-UID refusal: its headers report the endpoint's own budget, as Bybit's do.
            endpoint = endpoint_for_path(str(scope.get("path", "")))
            uid_limit = UID_LIMITS_PER_S.get(endpoint.group) if endpoint is not None else None
            budget = uid_limit or (limit.limit if limit else 1)
            forced = LimitDecision(False, budget, 0, now_ms + 1000)
            body = envelope_bytes(RetCode.RATE_LIMIT, RATE_LIMIT_MSG, now_ms)
            await _send_simple(send, 200, body, b"application/json", forced.headers())
            return
        if fault.kind is FaultKind.IP_BAN:
            forced = LimitDecision(False, limit.limit if limit else 0, 0, now_ms + 1000)
            await _send_simple(send, 403, _IP_LIMIT_BODY, b"text/plain; charset=utf-8", forced.headers())
            return

        if fault.kind in (FaultKind.TIMEOUT, FaultKind.DROP):
            buffered: list[MutableMapping[str, Any]] = []

            async def capture(message: Message) -> None:
                buffered.append(message)

            await self._call_app(scope, receive, capture)
            if fault.kind is FaultKind.DROP:
                start = next((m for m in buffered if m["type"] == "http.response.start"), None)
                if start is not None:
                    await send(_with_headers(start, limit_headers))
                raise DroppedConnectionError("fault injection: connection dropped after the headers")
            await state.hold(state.faults.config.timeout_hold_s)
            for message in buffered:
                if message["type"] == "http.response.start":
                    message = _with_headers(message, limit_headers)
                await send(message)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start" and limit_headers:
                message = _with_headers(message, limit_headers)
            await send(message)

        await self._call_app(scope, receive, send_with_limits)
