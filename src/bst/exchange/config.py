"""What the client needs to know, as plain values: the composition root builds it from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from bst.bybit import endpoints


class Credentials:
    """An API key and secret that never show up in reprs, logs or error messages."""

    __slots__ = ("_key", "_secret")

    def __init__(self, api_key: str, api_secret: str) -> None:
        if not api_key or not api_secret:
            raise ValueError("both an API key and an API secret are required")
        self._key = api_key
        self._secret = api_secret

    @property
    def api_key(self) -> str:
        """Return the API key (sent in X-BAPI-API-KEY)."""
        return self._key

    def reveal_secret(self) -> str:
        """Return the secret, for signing only."""
        return self._secret

    def __repr__(self) -> str:
        return "Credentials(api_key='****', api_secret='****')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Client-side budget: at most `requests_per_window` requests in any `window_s` (IP limit)."""

    requests_per_window: int = 550
    window_s: float = endpoints.IP_LIMIT_WINDOW_S
    # Wait after a rate-limit reply that carries no reset time.
    penalty_s: float = 1.0
    # Per-UID per-group limits (requests per second) for signed endpoints.
    uid_limits_per_s: dict[endpoints.RateGroup, int] = field(
        default_factory=lambda: dict(endpoints.UID_LIMITS_PER_S)
    )


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retries of transient failures: exponential backoff with jitter."""

    max_attempts: int = 3
    initial_delay_s: float = 1.0
    backoff_factor: float = 2.0
    max_delay_s: float = 30.0
    jitter_s: float = 0.25


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything the REST client needs."""

    base_url: str = f"http://127.0.0.1:{endpoints.SIM_DEFAULT_PORT}"
    credentials: Credentials | None = None
    timeout_s: float = 10.0
    recv_window_ms: int = endpoints.DEFAULT_RECV_WINDOW_MS
    rate: RateLimitConfig = field(default_factory=RateLimitConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)
    max_connections: int = 20
