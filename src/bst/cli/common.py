"""What every command shares: settings loading, logging setup, and clean error exits."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from bst.domain.errors import (
    BstError,
    BybitAPIError,
    BybitAuthError,
    BybitConnectionError,
    BybitInvalidIntervalError,
    BybitSymbolNotFoundError,
    BybitTimeoutError,
    ConfigError,
)
from bst.exchange.config import ClientConfig, Credentials, RateLimitConfig, RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.logs import configure_logging
from bst.settings import Settings, load_settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """A failure already phrased for the user; printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def settings(**overrides: Any) -> Settings:
    """Load settings and configure logging from them."""
    loaded = load_settings(**overrides)
    log = loaded.logging
    json_format = loaded.log_json if loaded.log_json is not None else not sys.stderr.isatty()
    configure_logging(log.level, json_format=json_format, log_dir=log.log_dir)
    return loaded


def client_config(loaded: Settings, **overrides: Any) -> ClientConfig:
    """Return the REST client configuration for `loaded` settings."""
    api = loaded.api
    credentials = None
    if api.api_key is not None and api.api_secret is not None:
        key, secret = api.api_key.get_secret_value(), api.api_secret.get_secret_value()
        if key and secret:
            credentials = Credentials(key, secret)
    retry = loaded.retry
    rate = loaded.rate_limit
    values: dict[str, Any] = {
        "base_url": api.base_url,
        "credentials": credentials,
        "timeout_s": api.timeout_s,
        "recv_window_ms": api.recv_window_ms,
        "rate": RateLimitConfig(
            requests_per_window=rate.requests_per_window, window_s=rate.window_s, penalty_s=rate.delay_s
        ),
        "retry": RetryConfig(
            max_attempts=retry.max_attempts,
            initial_delay_s=retry.initial_delay_s,
            backoff_factor=retry.backoff_factor,
            max_delay_s=retry.max_delay_s,
        ),
    }
    values.update(overrides)
    return ClientConfig(**values)


def make_client(loaded: Settings, **overrides: Any) -> BybitRestClient:
    """Return a REST client for `loaded` settings (use it as an async context manager)."""
    return BybitRestClient(client_config(loaded, **overrides))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine as the process's event loop."""
    return asyncio.run(coro)


def describe_error(exc: BaseException) -> str:
    """Return the one line shown to the user for an expected failure."""
    if isinstance(exc, BybitSymbolNotFoundError):
        return f"unknown symbol: {exc} (check the symbol and --category)"
    if isinstance(exc, BybitInvalidIntervalError):
        return f"bad interval: {exc} (use 1 3 5 15 30 60 120 240 360 720 D W M)"
    if isinstance(exc, BybitAuthError):
        return f"authentication failed: {exc} (check BYBIT_API_KEY / BYBIT_API_SECRET and BYBIT_ENV)"
    if isinstance(exc, BybitConnectionError | BybitTimeoutError):
        return f"cannot reach the exchange: {exc} (check BYBIT_ENV / BYBIT_API_BASE_URL and the network)"
    if isinstance(exc, BybitAPIError | ConfigError | BstError | CliError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_app(app: typer.Typer) -> int:
    """Run the Typer app on sys.argv; return its exit code, printing expected failures as one line."""
    return run_app_with_args(app, None)


def run_app_with_args(app: typer.Typer, args: list[str] | None) -> int:
    """Run the Typer app on `args` (None: sys.argv); return its exit code, failures as one line."""
    try:
        app(args=args, prog_name="bst", standalone_mode=False)
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        err_console.print("error: aborted")
        return 130
    except typer.TyperException as e:  # usage errors: unknown command or option, missing argument
        if type(e).__name__ == "NoArgsIsHelpError":  # `bst` or `bst market` alone: show the help
            console.print(e.format_message(), markup=False, highlight=False)
            return 0
        err_console.print(f"error: {e.format_message()}", markup=False)
        return e.exit_code if e.exit_code else 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except CliError as e:
        err_console.print(f"error: {e}")
        return e.code
    except (BstError, OSError) as e:
        err_console.print(f"error: {describe_error(e)}")
        return 1
    return 0
