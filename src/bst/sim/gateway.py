"""The ASGI layer in front of every sim route: IP rate limit, fault injection, X-Bapi-Limit headers.

Admin routes (`/sim/...`) bypass both, so tests can always reconfigure a misbehaving sim.
WebSocket scopes pass through untouched (streams inject their own faults).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bst.bybit.endpoints import UID_LIMITS_PER_S, endpoint_for_path
from bst.bybit.retcodes import RetCode
from bst.sim.faults import FaultKind
from bst.sim.limits import LimitDecision
from bst.sim.replies import RATE_LIMIT_MSG, SERVER_ERROR_MESSAGES, envelope_bytes
from bst.sim.state import SimState

ADMIN_PREFIX = "/sim/"
_IP_LIMIT_BODY = b"403 Forbidden: access too frequent, the IP rate limit was breached"
_REASONS = {
    500: b"Internal Server Error",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
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

            await self.app(scope, receive, capture)
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

        await self.app(scope, receive, send_with_limits)
