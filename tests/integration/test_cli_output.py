"""The CLI as a new user meets it, each fix as a subprocess: a fast help, whole values in pipes,
logs apart from human output, and the configured concurrency honoured exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bst.cli import main
from bst.domain.market import Interval
from bst.sim.faults import FaultConfig

HELP_BOUND_S = 1.5
"""Generous: about 0.2 s of CPU on this machine (1.5-2.3 s before the fix)."""


def bst_env(**extra: str) -> dict[str, str]:
    """Return the environment of a user's shell: no BYBIT_ settings, no COLUMNS, quick retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_") and k != "COLUMNS"}
    env.update({"BYBIT_RETRY_INITIAL_DELAY": "0.01", "BYBIT_RETRY_MAX_ATTEMPTS": "2"})
    env.update(extra)
    return env


def bst(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bst.cli.main", *args], capture_output=True, text=True, env=env, timeout=180
    )


# --- help ----------------------------------------------------------------------------------------


def test_help_lists_every_command_without_importing_any() -> None:
    probe = (
        "import sys\n"
        "from bst.cli import common, main\n"
        "code = common.run_app_with_args(main.app, ['--help'])\n"
        "ours = ('bst.', 'pandas', 'httpx', 'sqlalchemy')\n"
        "print(code, sorted(m for m in sys.modules if m.startswith(ours)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=bst_env(), timeout=60
    )
    code, loaded = result.stderr.strip().split(" ", 1)
    assert code == "0"
    assert eval(loaded) == ["bst.cli", "bst.cli.common", "bst.cli.main", "bst.domain", "bst.domain.errors"]
    for name, entry in main.COMMANDS.items():
        assert f" {name} " in result.stdout
        assert entry.help.split()[0] in result.stdout


def test_help_is_quick() -> None:
    timings = []
    for _ in range(3):  # the best of three: other work on the machine only ever adds time
        started = time.perf_counter()
        result = bst("--help", env=bst_env())
        timings.append(time.perf_counter() - started)
        assert result.returncode == 0
    assert min(timings) < HELP_BOUND_S, timings


@pytest.mark.parametrize("name", sorted(main.COMMANDS))
def test_the_listed_help_line_is_the_commands_own(name: str) -> None:
    command = main.load_command(name)
    assert command is not None
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert main.COMMANDS[name].help == own


# --- pipes and logs --------------------------------------------------------------------------------


@pytest.fixture
def deep_dir(tmp_path: Path) -> Path:
    """A store directory whose path alone is wider than a terminal."""
    return tmp_path / ("a-long-directory-name-" * 4) / "data"


def test_piped_output_keeps_whole_values_and_lines_and_no_log_mixes_in(sim: Any, deep_dir: Path) -> None:
    env = bst_env(
        BYBIT_ENV="sim",
        BYBIT_API_BASE_URL=sim.base_url,
        BYBIT_DATA_DIR=str(deep_dir),
        BYBIT_DATABASE_URL=f"sqlite+aiosqlite:///{deep_dir}/bst.sqlite",
        BYBIT_LOG_LEVEL="DEBUG",  # the chattiest level: still nothing on stderr without -v
    )
    args = ["download", "SOLUSDT", "ETHUSDT", "-i", "60", "--since", "2024-05-01", "--until", "2024-05-03"]
    downloaded = bst(*args, env=env)
    assert downloaded.returncode == 0, downloaded.stderr
    assert downloaded.stderr == ""
    lines = downloaded.stdout.splitlines()
    assert f"done: 96 new bars in {deep_dir / 'klines'}" in lines
    assert "download summary" in lines  # a table title on its own line, never wrapped
    assert "…" not in downloaded.stdout

    listed = bst("data", "list", env=env)
    assert listed.returncode == 0
    assert listed.stderr == ""
    assert listed.stdout.splitlines()[0] == f"candles in {deep_dir / 'klines'}"
    rows = [line for line in listed.stdout.splitlines() if "USDT" in line]
    assert [row.split("│")[2].strip() for row in rows] == ["ETHUSDT", "SOLUSDT"]
    assert all("2024-05-01 00:00 UTC" in row and "2024-05-02 23:00 UTC" in row for row in rows)
    assert "…" not in listed.stdout

    as_json = json.loads(bst("data", "list", "--json", env=env).stdout)
    assert [(r["symbol"], r["bars"]) for r in as_json] == [("ETHUSDT", 48), ("SOLUSDT", 48)]


def test_verbose_sends_json_log_lines_to_stderr_and_keeps_stdout_human(sim: Any, tmp_path: Path) -> None:
    env = bst_env(
        BYBIT_ENV="sim",
        BYBIT_API_BASE_URL=sim.base_url,
        BYBIT_DATA_DIR=str(tmp_path / "data"),
        BYBIT_DB_PERSIST_ENABLED="false",
        BYBIT_LOG_LEVEL="DEBUG",
    )
    args = ["download", "BTCUSDT", "-i", "60", "--since", "2024-05-01", "--until", "2024-05-02"]
    result = bst("-v", *args, env=env)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]  # every stderr line is a log record
    assert records
    assert all({"event", "level", "timestamp"} <= record.keys() for record in records)
    assert "download summary" in result.stdout.splitlines()
    assert not any(line.startswith("{") for line in result.stdout.splitlines())  # no log record


def test_list_commands_answer_in_json(sim: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = bst_env(
        BYBIT_ENV="sim",
        BYBIT_API_BASE_URL=sim.base_url,
        BYBIT_DATA_DIR=str(data),
        BYBIT_DATABASE_URL=f"sqlite+aiosqlite:///{data}/bst.sqlite",
    )
    args = ["download", "BTCUSDT", "-i", "D", "--since", "2024-05-01", "--until", "2024-05-04", "--json"]
    summary = json.loads(bst(*args, env=env).stdout)
    assert (summary["bars_written"], summary["concurrency"], summary["store"]) == (3, 7, str(data / "klines"))
    assert [(s["symbol"], s["interval"], s["complete"]) for s in summary["series"]] == [
        ("BTCUSDT", "D", True)
    ]

    shown = json.loads(bst("data", "show", "BTCUSDT", "-i", "D", "--json", env=env).stdout)
    truth = sim.generator.bar_columns("BTCUSDT", Interval.D1, 1_714_521_600_000, 1_714_694_400_000)
    assert [r["open_time_ms"] for r in shown] == truth.open_time_ms.tolist()
    assert [r["close"] for r in shown] == truth.to_float()["close"].tolist()

    verified = json.loads(bst("data", "verify", "--json", env=env).stdout)
    assert [(v["series"], v["ok"], v["bars"]) for v in verified] == [("linear/BTCUSDT/D", True, 3)]

    stats = json.loads(bst("db", "stats", "--json", env=env).stdout)
    assert [(s["symbol"], s["interval"], s["rows"]) for s in stats] == [("BTCUSDT", "D", 3)]

    current = json.loads(bst("db", "current", "--json", env=env).stdout)
    assert current["up_to_date"] is True

    clock = json.loads(bst("market", "time", "--json", env=env).stdout)
    assert clock["time_ms"] == sim.clock.now_ms()


def test_the_recording_report_path_stays_on_its_line(sim: Any, deep_dir: Path) -> None:
    out = deep_dir / "recordings"
    env = bst_env(BYBIT_ENV="sim", BYBIT_WS_BASE_URL=sim.ws_url)
    result = bst("record", "BTCUSDT", "--out", str(out), "--duration", "1s", env=env)
    assert result.returncode == 0, result.stderr
    (continuity,) = [line for line in result.stdout.splitlines() if line.startswith("continuity:")]
    (report,) = out.glob("report-linear-*.json")
    assert continuity.endswith(f"report: {report}")


# --- concurrency --------------------------------------------------------------------------------


class CountingProxy:
    """A loopback HTTP proxy in front of the sim that counts kline requests in flight at once."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.in_flight = 0
        self.max_in_flight = 0
        self.klines = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                counted = self.path.startswith("/v5/market/kline")
                if counted:
                    with proxy._lock:
                        proxy.in_flight += 1
                        proxy.klines += 1
                        proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    status, headers, body = proxy.forward(self.path, dict(self.headers))
                finally:
                    if counted:
                        with proxy._lock:
                            proxy.in_flight -= 1
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "date",
                        "server",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        request = urllib.request.Request(self.upstream + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                return reply.status, list(reply.headers.items()), reply.read()
        except urllib.error.HTTPError as e:
            return e.code, list(e.headers.items()), e.read()


@pytest.fixture
def counting_proxy(sim_factory: Any) -> Iterator[CountingProxy]:
    # Held replies make requests that are allowed to overlap really overlap.
    sim = sim_factory(faults=FaultConfig(latency_ms=25), ip_limit_requests=0)
    proxy = CountingProxy(sim.base_url)
    proxy.thread.start()
    yield proxy
    proxy.server.shutdown()
    proxy.server.server_close()


@pytest.mark.parametrize(
    ("flag", "setting", "expected"),
    [([], "1", 1), (["--concurrency", "1"], "8", 1), (["--concurrency", "3"], "1", 3)],
    ids=["setting-1", "flag-1-over-setting-8", "flag-3-over-setting-1"],
)
def test_concurrency_is_honoured_exactly(
    counting_proxy: CountingProxy, tmp_path: Path, flag: list[str], setting: str, expected: int
) -> None:
    env = bst_env(
        BYBIT_ENV="sim",
        BYBIT_API_BASE_URL=counting_proxy.url,
        BYBIT_DATA_DIR=str(tmp_path / "data"),
        BYBIT_DB_PERSIST_ENABLED="false",
        BYBIT_MAX_REQUESTS_PER_BATCH=setting,
    )
    # Six 1000-bar windows of one series.
    args = ["download", "BTCUSDT", "-i", "1", "--since", "2024-05-01", "--until", "2024-05-05T04:00", *flag]
    result = bst(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["concurrency"] == expected
    assert counting_proxy.klines == 6
    if expected == 1:
        assert counting_proxy.max_in_flight == 1
    else:  # the proxy does see overlap when it is allowed, so the == 1 above can fail
        assert 2 <= counting_proxy.max_in_flight <= expected
