"""`bst optimize` as a user runs it (subprocesses): results, refusals, a killed worker, shared studies.

The gated strategy (`tests/unit/backtest/optimizekit.py`) lets a test hold a trial at its start
(to kill its worker there) or hold every trial until two workers have each started one (so both
provably share the study), without timing assumptions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from bst.cli import common, main

KIT = Path(__file__).parents[1] / "unit" / "backtest"
sys.path.insert(0, str(KIT))
from optimizekit import write_wave  # noqa: E402

GATED = "optimizekit:GatedCross"
WAIT_S = 120.0


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "BYBIT_DATA_DIR": str(tmp_path / "data"),
        "BYBIT_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
        "PYTHONPATH": os.pathsep.join([str(KIT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("BYBIT_REDIS_URL", None)
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bst.cli.main", "optimize", *args]


def _bst(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(*args), env=env, capture_output=True, text=True, timeout=600)


def _wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT_S} s"
        time.sleep(0.05)


def _study(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


@pytest.fixture
def wave(tmp_path: Path) -> Path:
    return write_wave(tmp_path / "wave.csv", bars=300)


def test_a_small_study_end_to_end_prints_its_table_and_writes_its_files(wave: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    args = ("sma_cross", "WAVE", "--data", str(wave), "-p", "fast=3:10", "-p", "slow=12:30", "--size", "1")
    ran = _bst(env, *args, "--trials", "5", "--study", "wave-demo", "--seed", "3")
    assert ran.returncode == 0, ran.stderr[-3000:]
    out_dir = tmp_path / "data" / "optuna" / "wave-demo"
    for name in ("trials.csv", "importance.csv", "study.html", "summary.json", "best-report.html"):
        assert (out_dir / name).is_file(), name
    summary = json.loads((out_dir / "summary.json").read_text())
    best = summary["studies"][0]["best"]
    assert summary["studies"][0]["counts"] == {"complete": 5}
    assert f"best: trial {best['trial']}: {' '.join(best['params'])}" in ran.stdout
    assert "parameter importance" in ran.stdout
    assert "best sharpe by" in ran.stdout  # the heat map
    saved = [p for p in (tmp_path / "data" / "backtests").iterdir() if (p / "run.json").is_file()]
    assert len(saved) == 1
    assert (saved[0] / "report.html").is_file()
    run_json = json.loads((saved[0] / "run.json").read_text())
    assert run_json["metrics"]["sharpe"] == best["values"]["sharpe"]
    # the same command again resumes the study: nothing more to run, the same best
    again = _bst(env, *args, "--study", "wave-demo", "--seed", "3", "--json")
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["studies"][0]["best"] == best


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sma_cross", "WAVE", "-p", "fast=1:50"], "--param fast=1:50 is outside the declared range"),
        (["sma_cross", "WAVE", "--objective", "profit"], "unknown objective 'profit'"),
        (["sma_cross", "WAVE", "--sampler", "bayes"], "unknown sampler 'bayes'"),
        (["sma_cross", "WAVE", "--study", "a/b"], "invalid --study 'a/b'"),
        (["sma_cross", "WAVE", "--workers", "0"], "--workers must be at least 1, got 0"),
        (["sma_cross", "WAVE", "--storage", "mysql://x@h/db"], "unsupported --storage mysql://x@h/db"),
        (["sma_cross", "WAVE", "--heat-map", "fast"], "invalid --heat-map 'fast'"),
        (["--study", "nothing-here"], "no study 'nothing-here' in sqlite:///"),
        (["sma_cross", "WAVE", "--walk-forward", "200"], "--walk-forward 200 cuts the data into 201 windows"),
        (
            ["sma_cross", "WAVE", "--storage", "postgresql://bst:secret@127.0.0.1:1/none"],
            "cannot open the study storage postgresql+psycopg://bst:***@127.0.0.1:1/none",
        ),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    wave: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    extra = ["--data", str(wave), "--size", "1"] if args[0] == "sma_cross" else []
    monkeypatch.setattr(sys, "argv", ["bst", "optimize", *args, *extra, "--trials", "2"])
    code = common.run_app(main.app)
    out, err = capsys.readouterr()
    assert code != 0
    assert message in err, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert "secret" not in err + out


def test_a_grid_over_int_ranges_runs_each_point_once(wave: Path, tmp_path: Path) -> None:
    ran = _bst(
        _env(tmp_path), "sma_cross", "WAVE", "--data", str(wave), "--size", "1", "--sampler", "grid",
        "-p", "fast=3:4", "-p", "slow=12:24:12", "--study", "g", "--json",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads(ran.stdout)["studies"][0]["counts"] == {"complete": 4}


def test_a_study_resumed_after_kill_9_retries_the_dead_workers_trial(wave: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    gate = tmp_path / "gate"
    gate.touch()
    args = (
        GATED, "WAVE", "--data", str(wave), "--size", "1", "-p", "fast=3:10", "-p", "slow=12:30",
        "-p", f"gate={gate}", "--trials", "4", "--study", "killed", "--heartbeat-s", "1", "--grace-s", "3",
    )  # fmt: skip
    worker = subprocess.Popen(
        _command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(
            lambda: Path(f"{gate}.started").exists() or worker.poll() is not None, "the first trial's start"
        )
        assert worker.poll() is None, worker.communicate()[1][-3000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -signal.SIGKILL
    storage = f"sqlite:///{(tmp_path / 'data' / 'optuna' / 'killed.db').resolve()}"
    dead = _study(storage, "killed").get_trials()
    assert [t.state for t in dead] == [optuna.trial.TrialState.RUNNING]
    gate.unlink()
    resumed = _bst(
        env, *args[:-10], "-p", f"gate={gate}", "--study", "killed", "--heartbeat-s", "1", "--grace-s", "3"
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = _study(storage, "killed").get_trials()
    assert trials[0].state is optuna.trial.TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retries) == 1
    assert retries[0].state is optuna.trial.TrialState.COMPLETE
    assert retries[0].params == dead[0].params
    finished = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 4
    assert "retried trials of dead workers" in resumed.stdout


def test_two_worker_processes_share_one_local_study(wave: Path, tmp_path: Path) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    ran = _bst(
        _env(tmp_path), GATED, "WAVE", "--data", str(wave), "--size", "1", "-p", "fast=3:10",
        "-p", "slow=12:30", "-p", f"barrier={barrier}", "-p", "parties=2", "--trials", "6",
        "--workers", "2", "--study", "pair", "--json",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    storage = f"sqlite:///{(tmp_path / 'data' / 'optuna' / 'pair.db').resolve()}"
    trials = _study(storage, "pair").get_trials()
    finished = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    assert 6 <= len(finished) <= 7  # both may start the last trial at once
    assert len({t.user_attrs["worker"] for t in finished}) == 2


@pytest.fixture
def optuna_pg(postgres_url: str) -> Iterator[str]:
    """Yield the plain postgresql:// URL of a database of this test's own, dropped afterwards."""
    import asyncpg

    admin = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bst_optuna_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgres
def test_a_second_process_joins_a_postgresql_study_by_name_and_both_run_its_trials(
    wave: Path, tmp_path: Path, optuna_pg: str
) -> None:
    env = _env(tmp_path)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    first = subprocess.Popen(
        _command(
            GATED, "WAVE", "--data", str(wave), "--size", "1", "-p", "fast=3:10", "-p", "slow=12:30",
            "-p", f"barrier={barrier}", "-p", "parties=2", "--trials", "6", "--study", "shared",
            "--storage", optuna_pg, "--json",
        ),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(
            lambda: any(barrier.iterdir()) or first.poll() is not None, "the first process's first trial"
        )
        assert first.poll() is None, first.communicate()[1][-3000:]
        joined = _bst(env, "--study", "shared", "--storage", optuna_pg, "--json")
        out, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err[-3000:]
    assert joined.returncode == 0, joined.stderr[-3000:]
    study = _study(optuna_pg.replace("postgresql://", "postgresql+psycopg://"), "shared")
    finished = [t for t in study.get_trials() if t.state is optuna.trial.TrialState.COMPLETE]
    assert 6 <= len(finished) <= 7
    assert len({t.user_attrs["worker"] for t in finished}) == 2
    best_first = json.loads(out)["studies"][0]["best"]
    best_joined = json.loads(joined.stdout)["studies"][0]["best"]
    assert {best_first["trial"], best_joined["trial"]} <= {t.number for t in finished}
    assert json.loads(joined.stdout)["definition"]["request"]["strategy"] == GATED
