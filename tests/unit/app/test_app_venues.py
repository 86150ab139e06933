"""Venues: one preset table per environment (demo reads mainnet's public streams), overrides, clients."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bst.app.venues import (
    PRESETS,
    client_config,
    credentials,
    describe_settings,
    private_stream_config,
    public_stream_config,
    venue_urls,
)
from bst.domain.errors import ConfigError
from bst.domain.market import Category
from bst.settings import Environment, Settings, load_settings


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(os.environ):
        if name.startswith("BYBIT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("env", "rest", "public_ws", "private_ws"),
    [
        ("mainnet", "https://api.bybit.com", "wss://stream.bybit.com", "wss://stream.bybit.com"),
        (
            "testnet",
            "https://api-testnet.bybit.com",
            "wss://stream-testnet.bybit.com",
            "wss://stream-testnet.bybit.com",
        ),
        ("demo", "https://api-demo.bybit.com", "wss://stream.bybit.com", "wss://stream-demo.bybit.com"),
        ("sim", "http://127.0.0.1:8765", "ws://127.0.0.1:8765", "ws://127.0.0.1:8765"),
    ],
)
def test_every_environment_has_its_three_addresses(
    monkeypatch: pytest.MonkeyPatch, env: str, rest: str, public_ws: str, private_ws: str
) -> None:
    monkeypatch.setenv("BYBIT_ENV", env)
    urls = venue_urls(load_settings())
    assert (urls.rest, urls.public_ws, urls.private_ws) == (rest, public_ws, private_ws)


def test_the_table_covers_every_environment() -> None:
    assert set(PRESETS) == set(Environment)


def test_demo_streams_market_data_from_mainnet_and_the_account_from_demo() -> None:
    settings = Settings(env=Environment.DEMO, api_key="k", api_secret="s")  # type: ignore[arg-type]
    assert public_stream_config(settings, Category.LINEAR).url == "wss://stream.bybit.com/v5/public/linear"
    assert private_stream_config(settings).url == "wss://stream-demo.bybit.com/v5/private"


def test_overrides_replace_the_preset_and_lose_the_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_ENV", "demo")
    monkeypatch.setenv("BYBIT_API_BASE_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("BYBIT_WS_BASE_URL", "ws://127.0.0.1:9999/")
    urls = venue_urls(load_settings())
    assert (urls.rest, urls.public_ws, urls.private_ws) == (
        "http://127.0.0.1:9999",
        "ws://127.0.0.1:9999",
        "ws://127.0.0.1:9999",
    )


def test_client_config_maps_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "BYBIT_ENV": "testnet",
        "BYBIT_API_TIMEOUT": "7.5",
        "BYBIT_RECV_WINDOW": "8000",
        "BYBIT_RATE_LIMIT_REQUESTS": "120",
        "BYBIT_RATE_LIMIT_WINDOW": "2",
        "BYBIT_RATE_LIMIT_DELAY": "0.7",
        "BYBIT_RETRY_MAX_ATTEMPTS": "5",
        "BYBIT_RETRY_INITIAL_DELAY": "0.25",
        "BYBIT_RETRY_BACKOFF_FACTOR": "3",
        "BYBIT_RETRY_MAX_DELAY": "9",
        "BYBIT_API_KEY": "key-1",
        "BYBIT_API_SECRET": "secret-1",
    }.items():
        monkeypatch.setenv(name, value)
    config = client_config(load_settings())
    assert config.base_url == "https://api-testnet.bybit.com"
    assert (config.timeout_s, config.recv_window_ms) == (7.5, 8000)
    assert (config.rate.requests_per_window, config.rate.window_s, config.rate.penalty_s) == (120, 2.0, 0.7)
    retry = config.retry
    assert (retry.max_attempts, retry.initial_delay_s, retry.backoff_factor, retry.max_delay_s) == (
        5,
        0.25,
        3.0,
        9.0,
    )
    assert config.credentials is not None
    assert (config.credentials.api_key, config.credentials.reveal_secret()) == ("key-1", "secret-1")
    assert "secret-1" not in repr(config)


@pytest.mark.parametrize(("key", "secret"), [(None, None), ("k", None), ("k", ""), ("", "s")])
def test_half_a_key_pair_is_no_credentials(key: str | None, secret: str | None) -> None:
    settings = Settings(api_key=key, api_secret=secret)  # type: ignore[arg-type]
    assert credentials(settings) is None
    with pytest.raises(ConfigError, match="BYBIT_API_KEY and BYBIT_API_SECRET"):
        private_stream_config(settings)


def test_described_settings_mask_secrets_and_show_the_effective_addresses() -> None:
    settings = Settings(env=Environment.DEMO, api_key="visible-key", api_secret="hidden-secret")  # type: ignore[arg-type]
    shown = describe_settings(settings)
    assert shown["BYBIT_API_KEY"] == shown["BYBIT_API_SECRET"] == "********"
    assert "hidden-secret" not in str(shown)
    assert shown["(effective) REST base"] == "https://api-demo.bybit.com"
    assert shown["(effective) WS base"] == "wss://stream-demo.bybit.com"
    assert shown["(effective) public WS base"] == "wss://stream.bybit.com"
