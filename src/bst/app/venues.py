"""Where each environment lives, and the clients and stream configs built from `Settings`.

`PRESETS` is the one table of environment addresses; `venue_urls` applies the user's overrides
(`BYBIT_API_BASE_URL`, `BYBIT_WS_BASE_URL`) to it. Everything that talks to Bybit or `bst sim`
gets its configuration from the functions here, so the CLI and the service connect the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from bst.bybit import endpoints
from bst.domain.errors import ConfigError
from bst.domain.market import Category
from bst.exchange.config import ClientConfig, Credentials, RateLimitConfig, RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.exchange.ws_private import PrivateStreamConfig
from bst.exchange.ws_public import PublicStreamConfig
from bst.settings import Environment, Settings

__all__ = [
    "PRESETS",
    "BybitRestClient",
    "ClientConfig",
    "Credentials",
    "PrivateStreamConfig",
    "PublicStreamConfig",
    "VenueUrls",
    "client_config",
    "credentials",
    "describe_settings",
    "private_stream_config",
    "public_stream_config",
    "rest_client",
    "venue_urls",
]


@dataclass(frozen=True, slots=True)
class VenueUrls:
    """The three bases of one environment: REST, public streams, private stream (no trailing /)."""

    rest: str
    public_ws: str
    private_ws: str


_SIM_REST = f"http://127.0.0.1:{endpoints.SIM_DEFAULT_PORT}"
_SIM_WS = f"ws://127.0.0.1:{endpoints.SIM_DEFAULT_PORT}"

PRESETS = MappingProxyType(
    {
        Environment.MAINNET: VenueUrls(endpoints.MAINNET_REST, endpoints.MAINNET_WS, endpoints.MAINNET_WS),
        Environment.TESTNET: VenueUrls(endpoints.TESTNET_REST, endpoints.TESTNET_WS, endpoints.TESTNET_WS),
        # Demo trading has its own REST API and private stream but no public streams: it trades
        # against mainnet's market, so its market data is mainnet's.
        Environment.DEMO: VenueUrls(endpoints.DEMO_REST, endpoints.MAINNET_WS, endpoints.DEMO_WS),
        Environment.SIM: VenueUrls(_SIM_REST, _SIM_WS, _SIM_WS),
    }
)
"""Every environment's addresses (BYBIT_ENV -> bases)."""


def venue_urls(settings: Settings) -> VenueUrls:
    """Return the environment's bases with BYBIT_API_BASE_URL / BYBIT_WS_BASE_URL applied.

    BYBIT_WS_BASE_URL replaces both stream bases (one server serves both, as `bst sim` does).
    """
    preset = PRESETS[settings.env]
    ws = settings.ws_base_url
    return VenueUrls(
        rest=(settings.api_base_url or preset.rest).rstrip("/"),
        public_ws=(ws or preset.public_ws).rstrip("/"),
        private_ws=(ws or preset.private_ws).rstrip("/"),
    )


def credentials(settings: Settings) -> Credentials | None:
    """Return the API key pair, or None when either half is missing or empty."""
    key, secret = settings.api_key, settings.api_secret
    if key is None or secret is None or not key.get_secret_value() or not secret.get_secret_value():
        return None
    return Credentials(key.get_secret_value(), secret.get_secret_value())


def client_config(settings: Settings) -> ClientConfig:
    """Return the REST client configuration: address, key, timeouts, pacing and retries."""
    rate, retry = settings.rate_limit, settings.retry
    return ClientConfig(
        base_url=venue_urls(settings).rest,
        credentials=credentials(settings),
        timeout_s=settings.api_timeout,
        recv_window_ms=settings.recv_window,
        rate=RateLimitConfig(
            requests_per_window=rate.requests_per_window, window_s=rate.window_s, penalty_s=rate.delay_s
        ),
        retry=RetryConfig(
            max_attempts=retry.max_attempts,
            initial_delay_s=retry.initial_delay_s,
            backoff_factor=retry.backoff_factor,
            max_delay_s=retry.max_delay_s,
        ),
    )


def rest_client(settings: Settings) -> BybitRestClient:
    """Return a REST client for the configured environment (use it as an async context manager)."""
    return BybitRestClient(client_config(settings))


def public_stream_config(settings: Settings, category: Category) -> PublicStreamConfig:
    """Return the public stream of `category` for the configured environment (demo reads mainnet's)."""
    return PublicStreamConfig(venue_urls(settings).public_ws, category)


def private_stream_config(settings: Settings) -> PrivateStreamConfig:
    """Return the private stream of the configured account; ConfigError without credentials."""
    keys = credentials(settings)
    if keys is None:
        raise ConfigError("the private stream needs credentials: set BYBIT_API_KEY and BYBIT_API_SECRET")
    return PrivateStreamConfig(venue_urls(settings).private_ws, keys)


def describe_settings(settings: Settings) -> dict[str, str]:
    """Return every setting as `BYBIT_NAME -> value` (secrets masked) plus the effective addresses."""
    shown = settings.masked()
    urls = venue_urls(settings)
    shown["(effective) REST base"] = urls.rest
    shown["(effective) WS base"] = urls.private_ws
    shown["(effective) public WS base"] = urls.public_ws
    return shown
