"""Saved runs: one directory per run under `<data dir>/backtests/<run-id>/`.

    run.json          RunInfo: config, assumptions, inputs, metrics, counts (written last)
    trades.parquet    TRADE_COLUMNS        equity.parquet     EQUITY_COLUMNS (+ time)
    orders.parquet    ORDER_COLUMNS        fills.parquet      FILL_COLUMNS
    positions.parquet POSITION_COLUMNS     prices.parquet     PRICE_COLUMNS (what the report draws)
    report.html       the self-contained HTML report (`bst.backtest.report`)

Every file is replaced atomically and `run.json` comes last, so a directory without it is an
interrupted save and is not listed. A run id is `<UTC time>-<strategy>-<first symbol>`, made unique
with a counter when two runs start in the same second.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bst.backtest.report import REPORT_NAME, write_report
from bst.backtest.result import PRICE_COLUMNS, BacktestResult, RunInfo
from bst.data.atomic import write_atomic, write_bytes_atomic
from bst.domain.errors import BstError, ConfigError

__all__ = [
    "RUNS_DIR",
    "RunNotFoundError",
    "list_runs",
    "load_run",
    "new_run_id",
    "run_directory",
    "save_run",
]

RUNS_DIR = "backtests"
RUN_FILE = "run.json"
FRAMES = ("trades", "equity", "orders", "fills", "positions")
OPTIONAL_FRAMES = ("prices",)
"""Frames a run saved by an older bst may lack (loaded empty)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class RunNotFoundError(BstError):
    """No saved run has that id."""


def run_directory(data_dir: Path, run_id: str) -> Path:
    """Return where run `run_id` is saved."""
    return data_dir / RUNS_DIR / run_id


def new_run_id(data_dir: Path, created_ms: int, strategy: str, symbol: str) -> str:
    """Return a fresh id: `<UTC yyyymmdd-HHMMSS>-<strategy>-<symbol>`, with `-2`, `-3`... if taken."""
    stamp = datetime.fromtimestamp(created_ms / 1000, tz=UTC).strftime("%Y%m%d-%H%M%S")
    base = _UNSAFE.sub("_", f"{stamp}-{strategy}-{symbol}")[:96]
    candidate, n = base, 1
    while run_directory(data_dir, candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def save_run(result: BacktestResult, data_dir: Path) -> Path:
    """Write a run's frames, its report and its facts (last) under `data_dir`; return its directory."""
    directory = run_directory(data_dir, result.info.run_id)
    directory.mkdir(parents=True, exist_ok=True)
    for name in (*FRAMES, *OPTIONAL_FRAMES):
        _write_frame(directory / f"{name}.parquet", getattr(result, name), index=name == "equity")
    write_report(result, directory / REPORT_NAME)
    text = json.dumps(result.info.to_json(), indent=2, sort_keys=False, allow_nan=False)
    write_bytes_atomic(directory / RUN_FILE, (text + "\n").encode())
    return directory


def _write_frame(path: Path, frame: pd.DataFrame, *, index: bool) -> None:
    def produce(temp: Path) -> None:
        frame.to_parquet(temp, index=index)

    write_atomic(path, produce)


def load_run(data_dir: Path, run_id: str) -> BacktestResult:
    """Return a saved run (frames and facts; no ledger). RunNotFoundError when there is none."""
    directory = run_directory(data_dir, run_id)
    info_path = directory / RUN_FILE
    if not info_path.is_file():
        raise RunNotFoundError(
            f"no saved backtest {run_id!r} under {data_dir / RUNS_DIR} (`bst backtest list` shows them)"
        )
    info = _read_info(info_path)
    frames: dict[str, pd.DataFrame] = {}
    for name in FRAMES:
        path = directory / f"{name}.parquet"
        try:
            frames[name] = pd.read_parquet(path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"backtest {run_id}: cannot read {path.name}: {e}") from e
    prices_path = directory / "prices.parquet"
    prices = pd.DataFrame(columns=list(PRICE_COLUMNS))
    if prices_path.is_file():
        try:
            prices = pd.read_parquet(prices_path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"backtest {run_id}: cannot read {prices_path.name}: {e}") from e
    return BacktestResult(
        info,
        trades=frames["trades"],
        equity=frames["equity"],
        orders=frames["orders"],
        fills=frames["fills"],
        positions=frames["positions"],
        prices=prices,
    )


def list_runs(data_dir: Path) -> list[RunInfo]:
    """Return every saved run's facts, newest first (interrupted saves are skipped)."""
    root = data_dir / RUNS_DIR
    if not root.is_dir():
        return []
    found = []
    for directory in root.iterdir():
        path = directory / RUN_FILE
        if path.is_file():
            found.append(_read_info(path))
    return sorted(found, key=lambda info: (info.created_ms, info.run_id), reverse=True)


def _read_info(path: Path) -> RunInfo:
    try:
        return RunInfo.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as e:
        raise ConfigError(f"{path} is not a readable bst run record: {e}") from e
