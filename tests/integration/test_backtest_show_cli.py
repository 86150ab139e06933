"""`bst backtest list` and `show` on saved runs: newest first, every metric, per symbol, the report."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig
from bst.backtest.metrics import METRICS, format_metric
from bst.backtest.report import REPORT_NAME
from bst.backtest.result import BacktestResult
from bst.cli import common, main

CREATED_MS = 1_767_225_600_000  # 2026-01-01


def _save(shared_dir: Path, data_dir: Path, created_ms: int, fast: int) -> BacktestResult:
    return run(
        "sma_cross",
        "XRPUSDT",
        data=shared_dir / "data" / "freqtrade_XRP_USDT_USDT-5m-futures.feather",
        params={"qty": Decimal(1000), "fast": fast},
        config=BacktestConfig(commission=Decimal("0.00055")),
        data_dir=data_dir,
        save=True,
        created_ms=created_ms,
    )


@pytest.fixture(scope="module")
def saved(
    shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, BacktestResult, BacktestResult]:
    data_dir = tmp_path_factory.mktemp("data")
    older = _save(shared_dir, data_dir, CREATED_MS, 10)
    newer = _save(shared_dir, data_dir, CREATED_MS + 60_000, 5)
    return data_dir, older, newer


def _bst(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = common.run_app_with_args(main.app, ["backtest", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_the_saved_runs_newest_first(
    saved: tuple[Path, BacktestResult, BacktestResult], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, older, newer = saved
    code, out, _ = _bst(capsys, "list", "--json", "--data-dir", str(data_dir))
    assert code == 0
    listed = json.loads(out)
    assert [r["run_id"] for r in listed] == [newer.run_id, older.run_id]
    assert listed[0]["metrics"]["trades"] == newer.info.metrics["trades"]
    code, out, _ = _bst(capsys, "list", "--data-dir", str(data_dir))
    assert code == 0
    assert out.index(newer.run_id) < out.index(older.run_id)


def test_show_prints_every_metric_the_symbols_and_where_the_report_is(
    saved: tuple[Path, BacktestResult, BacktestResult], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, older, _ = saved
    code, out, err = _bst(capsys, "show", older.run_id, "--data-dir", str(data_dir))
    assert code == 0, err
    metrics = older.info.metrics
    for metric in METRICS:
        assert metric.label in out, metric.name
    assert format_metric("net_pnl", metrics["net_pnl"], "USDT") in out
    assert format_metric("sharpe", metrics["sharpe"]) in out
    per_symbol = out.split("per symbol")[1]
    assert "XRPUSDT" in per_symbol
    assert format_metric("fees", older.info.symbol_metrics["XRPUSDT"]["fees"], "USDT") in per_symbol
    report = data_dir / "backtests" / older.run_id / REPORT_NAME
    assert report.is_file()
    assert f"report: {report}" in out


def test_show_json_carries_the_exact_metrics_and_show_report_writes_a_fresh_report(
    saved: tuple[Path, BacktestResult, BacktestResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, older, _ = saved
    target = tmp_path / "again.html"
    code, out, err = _bst(
        capsys, "show", older.run_id, "--json", "--report", str(target), "--data-dir", str(data_dir)
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["metrics"] == json.loads(json.dumps(older.info.metrics))
    assert shown["symbol_metrics"]["XRPUSDT"]["net_pnl"] == older.info.symbol_metrics["XRPUSDT"]["net_pnl"]
    assert shown["report"] == str(target)
    saved_report = data_dir / "backtests" / older.run_id / REPORT_NAME
    assert target.read_text(encoding="utf-8") == saved_report.read_text(encoding="utf-8")


def test_a_run_without_its_report_says_how_to_write_one(
    saved: tuple[Path, BacktestResult, BacktestResult], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, _, newer = saved
    (data_dir / "backtests" / newer.run_id / REPORT_NAME).unlink()
    code, out, _ = _bst(capsys, "show", newer.run_id, "--data-dir", str(data_dir))
    assert code == 0
    assert f"bst backtest show {newer.run_id} --report FILE.html" in out
    code, _, err = _bst(
        capsys,
        "show",
        newer.run_id,
        "--report",
        str(data_dir / "nowhere" / "r.html"),
        "--data-dir",
        str(data_dir),
    )
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "does not exist" in err
