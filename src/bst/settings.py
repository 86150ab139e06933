"""All configuration in one typed object, read once at the top (CLI or service) and passed down.

Every field is an environment variable with the `BYBIT_` prefix, flat as the seed notes name
them (`BYBIT_API_TIMEOUT`, `BYBIT_RATE_LIMIT_DELAY`, `BYBIT_LOG_LEVEL`, ...); `.env` is read too.
Fields are grouped (`settings.api`, `settings.retry`, ...) so each layer gets only its part.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bst.bybit import endpoints
from bst.domain.errors import ConfigError

DEFAULT_JWT_SECRET = "change-me-in-production"


class Environment(StrEnum):
    """Which Bybit (or the local simulator) the client talks to."""

    MAINNET = "mainnet"
    TESTNET = "testnet"
    DEMO = "demo"
    SIM = "sim"


class ApiSettings(BaseModel):
    """Which Bybit to reach and how; its addresses come from `bst.app.venues` (presets + overrides)."""

    model_config = ConfigDict(frozen=True)

    env: Environment
    api_key: SecretStr | None
    api_secret: SecretStr | None
    timeout_s: float
    recv_window_ms: int


class RateLimitSettings(BaseModel):
    """Client-side request pacing."""

    model_config = ConfigDict(frozen=True)

    delay_s: float
    requests_per_window: int
    window_s: float
    max_requests_per_batch: int


class RetrySettings(BaseModel):
    """Retry policy for transient failures."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int
    initial_delay_s: float
    backoff_factor: float
    max_delay_s: float


class CacheSettings(BaseModel):
    """Kline cache (Redis, else in-process)."""

    model_config = ConfigDict(frozen=True)

    enabled: bool
    redis_url: str | None
    ttl_s: int
    max_candles: int


class DatabaseSettings(BaseModel):
    """SQL persistence."""

    model_config = ConfigDict(frozen=True)

    url: str
    persist_enabled: bool


class LoggingSettings(BaseModel):
    """structlog output."""

    model_config = ConfigDict(frozen=True)

    level: str
    json_format: bool
    log_dir: Path | None


class MetricsSettings(BaseModel):
    """Prometheus metrics."""

    model_config = ConfigDict(frozen=True)

    enabled: bool


class Settings(BaseSettings):
    """Effective configuration: defaults, then `.env`, then the environment."""

    model_config = SettingsConfigDict(
        env_prefix="BYBIT_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    env: Environment = Field(
        Environment.MAINNET, description="which exchange: mainnet, testnet, demo or sim (local bst sim)"
    )
    api_base_url: str | None = Field(None, description="REST base URL; overrides the env preset")
    ws_base_url: str | None = Field(
        None, description="WebSocket base URL of both streams; overrides the env preset"
    )
    api_key: SecretStr | None = Field(None, description="API key (private endpoints only)")
    api_secret: SecretStr | None = Field(None, description="API secret (private endpoints only)")
    api_timeout: float = Field(10.0, gt=0, le=300, description="HTTP timeout per request, seconds")
    recv_window: int = Field(
        endpoints.DEFAULT_RECV_WINDOW_MS, ge=100, le=60000, description="X-BAPI-RECV-WINDOW, ms"
    )
    rate_limit_delay: float = Field(
        0.2, ge=0, le=60, description="pause after a rate-limit reply that carries no reset time, s"
    )
    rate_limit_requests: int = Field(
        550, ge=1, le=600, description="client budget of requests per window (Bybit IP limit: 600/5 s)"
    )
    rate_limit_window: float = Field(5.0, gt=0, le=60, description="rate-limit window, seconds")
    max_requests_per_batch: int = Field(
        7, ge=1, le=100, description="concurrent requests per batch (bst download: in flight, exactly)"
    )
    retry_max_attempts: int = Field(3, ge=1, le=20, description="attempts per request, first included")
    retry_initial_delay: float = Field(1.0, ge=0, le=60, description="first backoff, seconds")
    retry_backoff_factor: float = Field(2.0, ge=1, le=10, description="backoff multiplier")
    retry_max_delay: float = Field(30.0, ge=0, le=600, description="longest single backoff, seconds")
    cache_enabled: bool = Field(True, description="cache recent klines")
    redis_url: str | None = Field(None, description="redis://host:port/db; unset = in-process cache")
    cache_ttl: int = Field(3600, ge=1, description="cache TTL, seconds")
    cache_max_candles: int = Field(2000, ge=1, description="candles kept per cached series")
    database_url: str = Field("sqlite+aiosqlite:///data/bst.sqlite", description="SQLAlchemy async URL")
    db_persist_enabled: bool = Field(True, description="also write downloaded klines to SQL")
    data_dir: Path = Field(Path("data"), description="Parquet store and recordings")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="log level"
    )
    log_json: bool | None = Field(None, description="JSON log lines; default: JSON unless a terminal")
    log_dir: Path | None = Field(None, description="write rotating logs here (general + errors)")
    enable_metrics: bool = Field(True, description="expose Prometheus metrics")
    jwt_secret: SecretStr = Field(SecretStr(DEFAULT_JWT_SECRET), description="service JWT signing key")
    development: bool = Field(False, description="development mode (allows the default JWT secret)")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("env", mode="before")
    @classmethod
    def _lower_env(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def api(self) -> ApiSettings:
        """Return the API group (the environment's addresses: `bst.app.venues.venue_urls`)."""
        return ApiSettings(
            env=self.env,
            api_key=self.api_key,
            api_secret=self.api_secret,
            timeout_s=self.api_timeout,
            recv_window_ms=self.recv_window,
        )

    @property
    def rate_limit(self) -> RateLimitSettings:
        """Return the rate-limit group."""
        return RateLimitSettings(
            delay_s=self.rate_limit_delay,
            requests_per_window=self.rate_limit_requests,
            window_s=self.rate_limit_window,
            max_requests_per_batch=self.max_requests_per_batch,
        )

    @property
    def retry(self) -> RetrySettings:
        """Return the retry group."""
        return RetrySettings(
            max_attempts=self.retry_max_attempts,
            initial_delay_s=self.retry_initial_delay,
            backoff_factor=self.retry_backoff_factor,
            max_delay_s=self.retry_max_delay,
        )

    @property
    def cache(self) -> CacheSettings:
        """Return the cache group."""
        return CacheSettings(
            enabled=self.cache_enabled,
            redis_url=self.redis_url,
            ttl_s=self.cache_ttl,
            max_candles=self.cache_max_candles,
        )

    @property
    def database(self) -> DatabaseSettings:
        """Return the database group."""
        return DatabaseSettings(url=self.database_url, persist_enabled=self.db_persist_enabled)

    @property
    def logging(self) -> LoggingSettings:
        """Return the logging group."""
        return LoggingSettings(
            level=self.log_level,
            json_format=bool(self.log_json) if self.log_json is not None else False,
            log_dir=self.log_dir,
        )

    @property
    def metrics(self) -> MetricsSettings:
        """Return the metrics group."""
        return MetricsSettings(enabled=self.enable_metrics)

    def masked(self) -> dict[str, str]:
        """Return every effective setting as `BYBIT_NAME -> value`, secrets masked."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                text = "********" if value.get_secret_value() else ""
            elif value is None:
                text = ""
            else:
                text = str(value.value if isinstance(value, StrEnum) else value)
            shown[f"BYBIT_{name.upper()}"] = text
        return shown


def load_settings(**overrides: Any) -> Settings:
    """Return the settings, or raise ConfigError naming the first bad variable and what is allowed."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        err = e.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        given = err.get("input")
        raise ConfigError(
            f"invalid BYBIT_{field.upper()}={given!r}: {err['msg']}"
            if not isinstance(given, dict)
            else f"invalid BYBIT_{field.upper()}: {err['msg']}"
        ) from None


def describe_fields() -> list[tuple[str, str, str]]:
    """Return (variable, default, description) for every setting, for docs and `.env.example`."""
    rows: list[tuple[str, str, str]] = []
    for name, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, SecretStr) or default is None:
            default_text = ""
        else:
            default_text = str(default.value if isinstance(default, StrEnum) else default)
        rows.append((f"BYBIT_{name.upper()}", default_text, info.description or ""))
    return rows
