"""The private stream's settings, counters and subscription error (see `bst.exchange.ws_private`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bst.bybit import endpoints
from bst.bybit.codec.ws_private import ALL_IN_ONE_TOPICS, check_private_topics
from bst.domain.errors import BybitInvalidParameterError, ConfigError
from bst.exchange.config import Credentials
from bst.exchange.ws_connection import StreamConnectionConfig
from bst.exchange.ws_private_resync import ResyncPlan


class PrivateSubscriptionError(BybitInvalidParameterError):
    """Bybit (or the local check) refused the private topics; the message says why."""


@dataclass(frozen=True, slots=True)
class PrivateStreamConfig(StreamConnectionConfig):
    """The private stream: the shared connection settings plus key, topics and hand-over.

    `PrivateStreamConfig(base_url, credentials, topics=..., ping_interval_s=..., seed=...)`. Its
    event queue is unbounded (`event_queue_size` 0, the only value allowed): a dropped private
    event would be a missed fill.
    """

    credentials: Credentials = field(repr=False)
    topics: tuple[str, ...] = ALL_IN_ONE_TOPICS
    resync: ResyncPlan = field(default_factory=ResyncPlan)
    auth_expiry_s: float = 10.0
    max_auth_failures: int = 3
    resync_attempts: int = 3
    max_active_time: str | None = None
    event_queue_size: int = field(default=0, kw_only=True)

    def __post_init__(self) -> None:
        if (reason := check_private_topics(self.topics)) is not None:
            raise ConfigError(f"private stream topics: {reason}")
        StreamConnectionConfig.__post_init__(self)
        if self.event_queue_size != 0:
            raise ConfigError("the private stream never drops events: leave event_queue_size at 0")
        if self.auth_expiry_s <= 0:
            raise ConfigError("auth_expiry_s must be positive")
        if self.max_auth_failures < 1 or self.resync_attempts < 1:
            raise ConfigError("max_auth_failures and resync_attempts must be at least 1")

    @property
    def url(self) -> str:
        """Return the stream URL, e.g. wss://stream.bybit.com/v5/private?max_active_time=60s."""
        url = endpoints.private_ws_url(self.base_url)
        return f"{url}?max_active_time={self.max_active_time}" if self.max_active_time else url


@dataclass(slots=True)
class PrivateStreamStats:
    """Counters of one stream since it started."""

    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    dead_connections: int = 0
    auth_failures: int = 0
    messages: int = 0
    events: int = 0
    orders: int = 0
    executions: int = 0
    positions: int = 0
    wallets: int = 0
    pings_sent: int = 0
    pongs: int = 0
    unhandled: int = 0
    malformed: int = 0
    resyncs: int = 0
    resync_failures: int = 0
    resync_executions: int = 0
    resync_orders: int = 0
