"""`bst download` and `bst data` end to end against `bst sim`: bad input, inspection, faults, kill -9.

Most runs are in-process (`run_app` with argv and environment set); the kill -9 case runs the CLI
as a subprocess and kills it right after it reports a saved file.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from bst.cli import common, main
from bst.data.manifest import SeriesKey
from bst.data.store import KlineStore
from bst.data.verify import verify_series
from bst.domain.market import Category, Interval
from bst.sim.faults import FaultConfig, FaultKind

MIN = 60_000


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def cli_env(sim: Any, tmp_path: Path) -> dict[str, str]:
    return {
        "BYBIT_ENV": "sim",
        "BYBIT_API_BASE_URL": sim.base_url,
        "BYBIT_DATA_DIR": str(tmp_path / "data"),
        "BYBIT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/bst.sqlite",
        "BYBIT_RETRY_MAX_ATTEMPTS": "2",
        "BYBIT_RETRY_INITIAL_DELAY": "0.01",
        "BYBIT_RETRY_MAX_DELAY": "0.05",
        "BYBIT_LOG_LEVEL": "WARNING",
        "BYBIT_CACHE_ENABLED": "true",
        "COLUMNS": "200",
    }


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Return `run(args, env) -> (exit code, stdout, stderr)` running `bst` in this process."""
    monkeypatch.delenv("BYBIT_REDIS_URL", raising=False)

    def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["bst", *args])
        code = common.run_app(main.app)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def truth_close(
    sim: Any, symbol: str, interval: Interval, start: int, end: int
) -> tuple[list[int], list[float]]:
    cols = sim.generator.bar_columns(symbol, interval, start, end - 1).to_float()
    return cols["open_time_ms"].tolist(), cols["close"].tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPEUSDT", "--since", "2023-01-01"], "error: unknown symbol"),
        (["BTCUSDT", "-i", "7", "--since", "2023-01-01"], "error: invalid interval '7'"),
        (
            ["BTCUSDT", "--since", "2023-02-01", "--until", "2023-01-01"],
            "error: --since 2023-02-01 is not before",
        ),
        (["BTCUSDT", "--since", "2019-06-01"], "error: BTCUSDT (linear) was listed on 2020-03-26"),
        (["BTCUSDT", "--since", "2023-01-01", "-c", "option"], "error: invalid category 'option'"),
        (["BTCUSDT", "--since", "someday"], "error: invalid --since 'someday'"),
        (["BTCUSDT", "--since", "2031-01-01"], "error: --since 2031-01-01 is in the future"),
    ],
)
def test_bad_input_is_one_clear_line(
    sim: Any, tmp_path: Path, run_cli: Any, args: list[str], message: str
) -> None:
    code, _, err = run_cli(["download", *args], cli_env(sim, tmp_path))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(message), lines[0]
    assert not (tmp_path / "data" / "klines").exists() or not any(
        (tmp_path / "data" / "klines").rglob("*.parquet")
    )


def test_unreachable_exchange_is_one_clear_line(tmp_path: Path, run_cli: Any) -> None:
    env = {
        **cli_env(type("Down", (), {"base_url": "http://127.0.0.1:1"})(), tmp_path),
        "BYBIT_LOG_LEVEL": "ERROR",
    }
    code, _, err = run_cli(["download", "BTCUSDT", "--since", "2023-01-01"], env)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("error: cannot reach the exchange")


def test_download_then_list_show_verify_export(sim: Any, tmp_path: Path, run_cli: Any) -> None:
    env = cli_env(sim, tmp_path)
    args = [
        "download",
        "BTCUSDT",
        "ethusdt",
        "-i",
        "60",
        "-i",
        "D",
        "--since",
        "2023-01-01",
        "--until",
        "2023-03-01",
    ]
    code, out, err = run_cli(args, env)
    assert code == 0, err
    assert "download summary" in out
    assert "done: 2,950 new bars" in out  # (1416 hours + 59 days) x 2 symbols
    code, out, _ = run_cli(["data", "list", "--json"], env)
    listed = {(r["symbol"], r["interval"]): r for r in json.loads(out)}
    assert {k: (r["bars"], r["first_open_ms"], r["last_open_ms"]) for k, r in listed.items()} == {
        ("BTCUSDT", "60"): (1416, ms(2023, 1, 1), ms(2023, 2, 28, 23)),
        ("BTCUSDT", "D"): (59, ms(2023, 1, 1), ms(2023, 2, 28)),
        ("ETHUSDT", "60"): (1416, ms(2023, 1, 1), ms(2023, 2, 28, 23)),
        ("ETHUSDT", "D"): (59, ms(2023, 1, 1), ms(2023, 2, 28)),
    }
    code, out, _ = run_cli(["data", "show", "BTCUSDT", "-i", "60", "--tail", "2"], env)
    _, closes = truth_close(sim, "BTCUSDT", Interval.H1, ms(2023, 2, 28, 22), ms(2023, 3, 1))
    assert code == 0
    assert "2023-02-28 22:00" in out
    assert "2023-02-28 23:00" in out
    assert f"{closes[-1]:.10g}" in out
    code, out, _ = run_cli(["data", "verify"], env)
    assert code == 0
    assert out.count(" ok") == 4
    csv_path = tmp_path / "btc_d.csv"
    code, _, _ = run_cli(["data", "export", "BTCUSDT", "-i", "D", "-f", "csv", "-o", str(csv_path)], env)
    assert code == 0
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    _, closes = truth_close(sim, "BTCUSDT", Interval.D1, ms(2023, 1, 1), ms(2023, 3, 1))
    assert [float(r["close"]) for r in rows] == closes
    assert rows[0]["open_time"].startswith("2023-01-01 00:00:00")
    pq_path = tmp_path / "eth_60.parquet"
    code, _, _ = run_cli(
        [
            "data",
            "export",
            "ETHUSDT",
            "-i",
            "60",
            "-f",
            "parquet",
            "-o",
            str(pq_path),
            "--since",
            "2023-02-01",
        ],
        env,
    )
    assert code == 0
    assert pq.read_table(pq_path).num_rows == 28 * 24
    code, out, _ = run_cli(["db", "stats"], env)
    assert code == 0
    assert "1,416" in out
    served = sim.state.requests_served
    code, out, _ = run_cli(args, env)  # everything is stored: only the time and instruments calls
    assert code == 0
    assert "done: 0 new bars" in out
    assert sim.state.requests_served - served == 3  # server time + 2 instruments-info


def test_a_server_failure_mid_run_stops_cleanly_and_a_rerun_completes(
    sim_factory: Any, tmp_path: Path, run_cli: Any
) -> None:
    # Server time, instruments-info, 10 kline pages, then every request fails.
    script = (FaultKind.NONE,) * 12 + (FaultKind.HTTP_5XX,) * 1000
    sim = sim_factory(faults=FaultConfig(script=script), ip_limit_requests=0)
    env = {**cli_env(sim, tmp_path), "BYBIT_LOG_LEVEL": "ERROR"}
    args = [
        "download",
        "BTCUSDT",
        "-i",
        "1",
        "--since",
        "2023-03-20",
        "--until",
        "2023-04-09",
        "--concurrency",
        "1",
    ]
    code, _, err = run_cli(args, env)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("error: 1 of 1 series stopped early")
    assert "run the same command again to resume" in err
    store = KlineStore(tmp_path / "data")
    key = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
    covered = store.manifest(key).covered
    # The 10 pages fetched before the failure are saved, nothing more.
    assert covered.spans == ((ms(2023, 3, 20), ms(2023, 3, 20) + 10_000 * MIN),)
    assert verify_series(store, key).ok
    sim.set_faults(FaultConfig())
    code, _, err = run_cli(args, env)
    assert code == 0, err
    times, closes = truth_close(sim, "BTCUSDT", Interval.M1, ms(2023, 3, 20), ms(2023, 4, 9))
    stored = store.read(key)
    assert stored.open_time_ms.tolist() == times
    assert np.array_equal(stored.close, np.asarray(closes))


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_download_then_rerun_leaves_no_gap_and_no_duplicate(
    sim_factory: Any, tmp_path: Path, stop: signal.Signals
) -> None:
    sim = sim_factory(faults=FaultConfig(latency_ms=30), ip_limit_requests=0)
    env = {**os.environ, **cli_env(sim, tmp_path), "BYBIT_LOG_LEVEL": "INFO", "BYBIT_LOG_JSON": "true"}
    env.pop("BYBIT_REDIS_URL", None)
    # -v: the test follows the structured log on stderr to kill the process right after a save.
    args = [sys.executable, "-m", "bst.cli.main", "-v", "download", "BTCUSDT", "-i", "1",
            "--since", "2023-03-01", "--until", "2023-05-01", "--concurrency", "2"]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    saved = False
    for line in proc.stderr:
        if '"download.saved"' in line:
            proc.send_signal(stop)
            saved = True
            break
    tail = proc.stderr.read()
    proc.wait(timeout=30)
    assert saved, "the download ended before saving anything"
    store = KlineStore(tmp_path / "data")
    key = SeriesKey(Category.LINEAR, "BTCUSDT", Interval.M1)
    (covered,) = store.manifest(key).covered.spans
    if stop is signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert covered == (ms(2023, 3, 1), ms(2023, 4, 1))  # March was saved; April died in memory
    else:  # SIGTERM stops like Ctrl-C: the April pages fetched so far are saved too
        assert proc.returncode == 130
        assert (
            tail.strip()
            .splitlines()[-1]
            .startswith("error: interrupted: everything downloaded so far is saved")
        )
        assert ms(2023, 4, 1) <= covered[1] < ms(2023, 5, 1)
        assert covered[0] == ms(2023, 3, 1)
    assert verify_series(store, key).ok
    served = sim.state.requests_served
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    missing_windows = -(-(ms(2023, 5, 1) - covered[1]) // (1000 * MIN))
    assert sim.state.requests_served - served == 2 + missing_windows  # time, instruments, the rest only
    times, closes = truth_close(sim, "BTCUSDT", Interval.M1, ms(2023, 3, 1), ms(2023, 5, 1))
    stored = store.read(key)
    assert stored.open_time_ms.tolist() == times  # no gap, no duplicate
    assert np.array_equal(stored.close, np.asarray(closes))
    assert verify_series(store, key).ok
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "bst.sqlite") as conn:
        count, distinct = conn.execute("SELECT count(*), count(DISTINCT open_time) FROM klines").fetchone()
    assert count == distinct == len(times)
