"""`bst` as a user runs it: a subprocess against a real `bst sim`; failures are one line, exit 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest

from bst.domain.market import Interval


def run_bst(args: list[str], sim: Any | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    environ.update(
        {"BYBIT_RETRY_INITIAL_DELAY": "0.01", "BYBIT_RETRY_MAX_ATTEMPTS": "2", "BYBIT_LOG_LEVEL": "ERROR"}
    )
    if sim is not None:
        environ.update({"BYBIT_ENV": "sim", "BYBIT_API_BASE_URL": sim.base_url})
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bst.cli.main", *args], capture_output=True, text=True, env=environ, timeout=60
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_kline_json_matches_the_generator(sim: Any) -> None:
    result = run_bst(["market", "kline", "BTCUSDT", "-i", "60", "--limit", "10", "--json"], sim)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    now = sim.clock.now_ms()
    last_open = Interval.H1.open_time_ms(now)
    truth = sim.generator.bars("BTCUSDT", Interval.H1, last_open - 9 * 3_600_000, last_open, now_ms=now)
    assert [r["open_time_ms"] for r in rows] == [b.open_time_ms for b in truth]
    assert [r["close"] for r in rows] == [str(b.close) for b in truth]


def test_kline_table_is_printed(sim: Any) -> None:
    result = run_bst(["market", "kline", "ETHUSDT", "-i", "D", "--limit", "3"], sim)
    assert result.returncode == 0, result.stderr
    assert "ETHUSDT linear D (3 bars)" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["market", "kline", "NOPEUSDT", "-i", "60"], "unknown symbol"),
        (["market", "kline", "BTCUSDT", "-i", "7"], "invalid interval '7'"),
        (["market", "kline", "BTCUSDT", "-c", "option"], "klines exist for spot, linear and inverse"),
        (["market", "kline", "BTCUSDT", "--start", "yesterday"], "invalid time 'yesterday'"),
        (["market", "ticker", "BTCUSDT", "-c", "futures"], "invalid category 'futures'"),
    ],
)
def test_bad_input_is_one_clear_line(sim: Any, args: list[str], fragment: str) -> None:
    assert_one_line_failure(run_bst(args, sim), fragment)


def test_invalid_setting_is_one_clear_line() -> None:
    assert_one_line_failure(run_bst(["market", "time"], BYBIT_API_TIMEOUT="soon"), "BYBIT_API_TIMEOUT='soon'")


def test_unreachable_host_is_one_clear_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_bst(["market", "time"], BYBIT_ENV="sim", BYBIT_API_BASE_URL=f"http://127.0.0.1:{port}")
    assert_one_line_failure(result, "cannot reach the exchange")


def test_trading_without_credentials_is_one_clear_line(sim: Any) -> None:
    assert_one_line_failure(run_bst(["balance"], sim), "BYBIT_API_KEY")


def test_mainnet_orders_need_the_explicit_flag() -> None:
    result = run_bst(["order", "buy", "BTCUSDT", "0.01"], BYBIT_API_KEY="k", BYBIT_API_SECRET="s")
    assert_one_line_failure(result, "--mainnet")


def test_config_show_masks_secrets() -> None:
    result = run_bst(
        ["config", "show", "--json"], BYBIT_API_KEY="visible-key", BYBIT_API_SECRET="hidden-secret"
    )
    assert result.returncode == 0
    shown = json.loads(result.stdout)
    assert shown["BYBIT_API_SECRET"] == "********"
    assert "hidden-secret" not in result.stdout + result.stderr
    assert "visible-key" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["market", "kline"], "Missing argument 'symbol'"),
        (["market", "klin"], "Did you mean 'kline'?"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], fragment: str) -> None:
    result = run_bst(args)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_is_listed_in_the_help() -> None:
    result = run_bst(["--help"])
    assert result.returncode == 0
    for command in (
        "balance",
        "config",
        "data",
        "db",
        "download",
        "market",
        "order",
        "orders",
        "positions",
        "record",
        "sim",
        "watch",
    ):
        assert f" {command} " in result.stdout, command
