"""`bst backtest` as a user runs it: download candles from `bst sim`, then backtest them, as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bst.backtest.api import run
from bst.backtest.runs import load_run
from bst.cli import common, main

SINCE, UNTIL = "2024-04-01", "2024-05-01"


def _env(sim: Any, tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "BYBIT_ENV": "sim",
        "BYBIT_API_BASE_URL": sim.base_url,
        "BYBIT_WS_BASE_URL": sim.ws_url,
        "BYBIT_DATA_DIR": str(tmp_path / "data"),
        "BYBIT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bst.sqlite",
        "BYBIT_RETRY_MAX_ATTEMPTS": "2",
        "BYBIT_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    env.pop("BYBIT_REDIS_URL", None)
    return env


def _bst(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bst.cli.main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def test_download_then_backtest_saves_the_run_its_report_and_the_same_numbers_as_the_api(
    sim: Any, tmp_path: Path
) -> None:
    env = _env(sim, tmp_path)
    downloaded = _bst(env, "download", "BTCUSDT", "-i", "60", "--since", SINCE, "--until", UNTIL)
    assert downloaded.returncode == 0, downloaded.stderr[-2000:]
    ran = _bst(
        env, "backtest", "sma_cross", "BTCUSDT", "-i", "60", "--since", SINCE, "--until", UNTIL,
        "--size", "0.01", "--json", "--report", str(tmp_path / "out.html"),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    shown = json.loads(ran.stdout)
    directory = Path(shown["directory"])
    assert directory.parent == tmp_path / "data" / "backtests"
    for name in (
        "run.json",
        "trades.parquet",
        "equity.parquet",
        "orders.parquet",
        "fills.parquet",
        "report.html",
    ):
        assert (directory / name).is_file(), name
    assert shown["report"] == str(tmp_path / "out.html")
    assert (tmp_path / "out.html").read_text().startswith("<!doctype html>")
    assert shown["params"]["qty"] == "0.01"
    assert shown["params"]["interval"] == "60"
    saved = load_run(tmp_path / "data", shown["run_id"])
    assert len(saved.trades) == shown["metrics"]["trades"] > 0
    # the CLI's run is the library's run on the same stored data: the same trades, to the last digit
    again = run(
        "sma_cross", "BTCUSDT", interval="60", since=SINCE, until=UNTIL, params={"qty": Decimal("0.01")},
        data_dir=tmp_path / "data",
        instruments=None,
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        again.trades.drop(columns=["entry_order_id", "exit_order_id"]),
        saved.trades.drop(columns=["entry_order_id", "exit_order_id"]),
        check_exact=True,
    )
    listed = _bst(env, "backtest", "list", "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [shown["run_id"]]
    again_shown = _bst(env, "backtest", "show", shown["run_id"], "--json")
    assert json.loads(again_shown.stdout)["metrics"] == shown["metrics"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope_strategy", "BTCUSDT", "-i", "60"], "error: unknown strategy 'nope_strategy'"),
        (
            ["sma_cross", "BTCUSDT", "-i", "60", "-p", "fast=abc"],
            "error: invalid value 'abc' for parameter fast",
        ),
        (["sma_cross", "BTCUSDT", "-i", "60", "--fill", "later"], "error: invalid --fill 'later'"),
        (
            ["sma_cross", "BTCUSDT", "-i", "60", "--since", "2024-02-01", "--until", "2024-01-01"],
            "error: --since",
        ),
        (["sma_cross", "BTCUSDT", "-i", "60", "--since", "2024-01-01"], "error: no stored klines for"),
        (["show", "no-such-run"], "error: no saved backtest 'no-such-run'"),
        (
            ["sma_cross", "BTCUSDT", "-i", "60", "-c", "spot"],
            "error: --category spot: backtests trade linear",
        ),
        (
            ["sma_cross", "BTCUSDT", "-i", "60", "--latency", "soon"],
            "error: --latency: invalid latency 'soon'",
        ),
        (["sma_cross", "BTCUSDT", "-i", "60", "--size", "x"], "error: invalid value 'x' for parameter qty"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    sim: Any,
    tmp_path: Path,
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in _env(sim, tmp_path).items():
        monkeypatch.setenv(name, value)
    code = common.run_app_with_args(main.app, ["backtest", *args])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(message), lines[0]
