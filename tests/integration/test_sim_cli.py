"""`bst sim` as a process: it says where it listens, serves, stops cleanly on SIGTERM, fails in one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
import typer
from typer.testing import CliRunner

from bst.app.inputs import parse_time
from bst.app.simulator import parse_ip_limit
from bst.cli import sim_cmd
from bst.domain.errors import ConfigError


def bst(*args: str) -> list[str]:
    return [sys.executable, "-m", "bst.cli.main", *args]


ENV = {**os.environ, "BYBIT_LOG_LEVEL": "WARNING", "COLUMNS": "200"}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_sim_serves_until_sigterm_then_exits_cleanly() -> None:
    process = subprocess.Popen(
        bst("sim", "--port", "0", "--seed", "5", "--ip-limit", "100/1s", "--now", "2024-06-01T12:00:30.500"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        rest = banner.split("REST ")[1].split()[0]
        reply = httpx.get(
            f"{rest}/v5/market/kline", params={"symbol": "BTCUSDT", "interval": "1", "limit": 2}
        )
        server_time = httpx.get(f"{rest}/v5/market/time").json()["time"]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert banner.startswith("bst sim listening: REST http://127.0.0.1:")
    assert f"WebSocket {rest.replace('http', 'ws')}" in banner
    assert "seed 5, 100 requests / 1 s per IP, clock frozen at 1717243230500, no trading accounts" in banner
    assert server_time == 1_717_243_230_500
    assert reply.json()["retCode"] == 0
    assert reply.headers["X-Bapi-Limit"] == "100"
    assert len(reply.json()["result"]["list"]) == 2
    assert process.returncode == 0
    assert out.strip() == "bst sim stopped"
    assert "Traceback" not in err


def test_a_taken_port_is_one_line_and_exit_1(busy_port: int) -> None:
    done = subprocess.run(
        bst("sim", "--port", str(busy_port)), capture_output=True, text=True, env=ENV, timeout=30
    )

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{busy_port}: the address is already in use (another bst sim?); "
        "pick another --port"
    ]


def test_fault_rates_adding_up_past_one_are_refused() -> None:
    app = typer.Typer()
    sim_cmd.register(app)

    outcome = CliRunner().invoke(app, ["--port", "0", "--error-rate", "0.7", "--drop-rate", "0.7"])

    assert isinstance(outcome.exception, ConfigError)
    assert str(outcome.exception) == "fault rates add up to 1.400; their sum must be at most 1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("600/5s", (600, 5.0)), ("10/250ms", (10, 0.25)), ("120 / 1", (120, 1.0)), ("off", (0, 5.0))],
)
def test_ip_limit_flag_forms(text: str, expected: tuple[int, float]) -> None:
    assert parse_ip_limit(text) == expected


@pytest.mark.parametrize("text", ["600", "0/5s", "x/5s", "600/0s"])
def test_bad_ip_limit_flags_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid --ip-limit"):
        parse_ip_limit(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01", 1_717_200_000_000),
        ("2024-06-01T12:00:30.5", 1_717_243_230_500),
        ("1717243230500", 1_717_243_230_500),
    ],
)
def test_now_flag_forms(text: str, expected: int) -> None:
    assert parse_time(text, "--now") == expected


def test_a_bad_now_flag_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid --now 'yesterday'"):
        parse_time("yesterday", "--now")
