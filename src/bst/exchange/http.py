"""The HTTP layer of the client: one pooled httpx connection set, signing, pacing, retries, time sync.

Every request goes: rate budget -> (sign) -> send -> envelope -> mapped error; transient failures
are retried by `call_with_retry`. Third-party errors are translated here, once.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import structlog

from bst.bybit import signing
from bst.bybit.codec.envelope import Envelope, decode_envelope
from bst.bybit.endpoints import SERVER_TIME, Endpoint
from bst.bybit.errors import error_for_http_status
from bst.domain.clock import SYSTEM_CLOCK, Clock
from bst.domain.errors import (
    BybitAuthError,
    BybitConnectionError,
    BybitRateLimitError,
    BybitServerError,
    BybitTimeoutError,
    BybitTimestampError,
)
from bst.exchange.config import ClientConfig
from bst.exchange.retry import call_with_retry
from bst.exchange.throttle import RateLimiter, shared_limiter

log = structlog.get_logger(__name__)

Params = dict[str, Any]


def _header_int(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class BybitHttp:
    """Sends v5 requests; owns the connection pool, the shared rate budget and the time offset."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SYSTEM_CLOCK
        self.limiter = limiter or shared_limiter(
            config.base_url,
            self.clock,
            config.rate.requests_per_window,
            config.rate.window_s,
            config.rate.uid_limits_per_s,
        )
        limits = httpx.Limits(
            max_connections=config.max_connections, max_keepalive_connections=config.max_connections
        )
        self._client = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.timeout_s),
            limits=limits,
            transport=transport,
            headers={"User-Agent": "bst/0.1"},
        )
        self.time_offset_ms = 0
        self._time_synced = False
        self.requests_sent = 0

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    # -- public entry -------------------------------------------------------------------------

    async def call(
        self, endpoint: Endpoint, params: Params | None = None, *, repeat_safe: bool = True
    ) -> Envelope:
        """Send one request with pacing and retries; return the successful envelope.

        A request that is not `repeat_safe` (one that changes state: create, amend, cancel) is never
        repeated once it may have taken effect: a timeout, a connection cut after sending, or a server
        failure (10000, 10016, HTTP 5xx: the exchange may have acted before failing) raise with
        `outcome_unknown` True for the caller to resolve.
        """
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        safe = repeat_safe or endpoint.method == "GET"

        async def once() -> Envelope:
            try:
                return await self._send(endpoint, clean)
            except BybitServerError as e:
                if not safe:
                    e.outcome_unknown = True
                raise

        return await call_with_retry(
            once, config=self.config.retry, clock=self.clock, what=endpoint.path, repeat_safe=safe
        )

    async def sync_time(self) -> int:
        """Measure the offset of the exchange clock against ours (ms) from /v5/market/time."""
        sent_ms = self.clock.now_ms()
        envelope = await self._send(SERVER_TIME, {})
        received_ms = self.clock.now_ms()
        nano = envelope.result.get("timeNano")
        server_ms = int(nano) // 1_000_000 if nano else int(envelope.time_ms or received_ms)
        self.time_offset_ms = server_ms - (sent_ms + received_ms) // 2
        self._time_synced = True
        log.info("time.synced", offset_ms=self.time_offset_ms, rtt_ms=received_ms - sent_ms)
        return self.time_offset_ms

    def exchange_now_ms(self) -> int:
        """Return our best estimate of the exchange's clock."""
        return self.clock.now_ms() + self.time_offset_ms

    # -- one attempt ----------------------------------------------------------------------------

    async def _send(self, endpoint: Endpoint, params: Params) -> Envelope:
        async with self.limiter.slot(endpoint.group):
            return await self._send_in_slot(endpoint, params)

    async def _send_in_slot(self, endpoint: Endpoint, params: Params) -> Envelope:
        headers: dict[str, str] = {}
        body: str | None = None
        query = ""
        if endpoint.method == "GET":
            query = signing.query_string({k: _wire(v) for k, v in params.items()})
            payload = query
        else:
            # Sign the exact bytes we send: serialise once and send that string verbatim.
            body = json.dumps(params, separators=(",", ":"))
            payload = body
            headers["Content-Type"] = "application/json"
        if endpoint.signed:
            headers.update(await self._auth_headers(payload))
        url = endpoint.path + (f"?{query}" if query else "")
        self.requests_sent += 1
        started = self.clock.monotonic()
        try:
            response = await self._client.request(endpoint.method, url, content=body, headers=headers)
            log.debug(
                "request.done",
                path=endpoint.path,
                status=response.status_code,
                duration_ms=round((self.clock.monotonic() - started) * 1000, 2),
                trace_id=response.headers.get("Traceid", ""),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            # Nothing was sent: repeating is always safe.
            raise BybitConnectionError(
                f"cannot connect to {self.config.base_url}: {type(e).__name__}: {e}".rstrip(": ")
            ) from e
        except httpx.TimeoutException as e:
            raise BybitTimeoutError(f"no reply from {endpoint.path} within {self.config.timeout_s} s") from e
        except httpx.HTTPError as e:
            raise BybitConnectionError(
                f"connection to {self.config.base_url} broke during {endpoint.path}: {type(e).__name__}",
                outcome_unknown=True,
            ) from e
        return self._decode(endpoint, response)

    async def _auth_headers(self, payload: str) -> dict[str, str]:
        creds = self.config.credentials
        if creds is None:
            raise BybitAuthError("this endpoint needs credentials: set BYBIT_API_KEY and BYBIT_API_SECRET")
        if not self._time_synced:
            await self.sync_time()
        timestamp = self.exchange_now_ms()
        recv = self.config.recv_window_ms
        signature = signing.rest_signature(creds.reveal_secret(), timestamp, creds.api_key, recv, payload)
        return {
            "X-BAPI-API-KEY": creds.api_key,
            "X-BAPI-TIMESTAMP": str(timestamp),
            "X-BAPI-RECV-WINDOW": str(recv),
            "X-BAPI-SIGN": signature,
            "X-BAPI-SIGN-TYPE": "2",
        }

    def _decode(self, endpoint: Endpoint, response: httpx.Response) -> Envelope:
        headers = response.headers
        limit = _header_int(headers, "X-Bapi-Limit")
        remaining = _header_int(headers, "X-Bapi-Limit-Status")
        reset_ms = _header_int(headers, "X-Bapi-Limit-Reset-Timestamp")
        self.limiter.observe_headers(endpoint.group, limit, remaining)
        try:
            # orjson parses a 1000-bar kline page about 2.5x faster than the stdlib.
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        try:
            if response.status_code != 200 and not (isinstance(body, dict) and "retCode" in body):
                raise error_for_http_status(response.status_code, response.text)
            return decode_envelope(body, response.status_code)
        except BybitRateLimitError as e:
            e.reset_at_ms = reset_ms
            wait_s = self.config.rate.penalty_s
            if reset_ms is not None:
                wait_s = max(wait_s, (reset_ms - self.exchange_now_ms()) / 1000)
            self.limiter.back_off(endpoint.group, wait_s, ip_wide=response.status_code in (403, 429))
            raise
        except BybitTimestampError:
            self._time_synced = False  # the next signed attempt re-measures the offset first
            raise


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
