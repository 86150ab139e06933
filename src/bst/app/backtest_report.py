"""A run's metrics and report as callers show them: labelled rows, the per-symbol table, a fresh report.

The CLI (and the service) render these; the definitions, labels and formats live in
`bst.backtest.metrics`, the report in `bst.backtest.report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bst.app.stores import data_dir as store_dir
from bst.backtest.metrics import METRICS, SYMBOL_METRICS, format_metric
from bst.backtest.report import REPORT_NAME, write_report
from bst.backtest.result import RunInfo
from bst.backtest.runs import load_run, run_directory
from bst.settings import Settings

__all__ = ["REPORT_NAME", "MetricRow", "SymbolTable", "metric_rows", "symbol_table", "write_run_report"]


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric of a run: its key, label, value as shown, and what it means."""

    name: str
    label: str
    text: str
    meaning: str


@dataclass(frozen=True, slots=True)
class SymbolTable:
    """The per-symbol metrics: column labels and one row of shown values per symbol (symbol first)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def metric_rows(info: RunInfo) -> list[MetricRow]:
    """Return every metric the run recorded, labelled and formatted, in the summary's order."""
    return [
        MetricRow(m.name, m.label, format_metric(m, info.metrics[m.name], info.settle_coin), m.meaning)
        for m in METRICS
        if m.name in info.metrics
    ]


def symbol_table(info: RunInfo) -> SymbolTable:
    """Return the run's per-symbol metrics as a table (no rows for a record without them)."""
    columns = ("symbol", *(m.label for m in SYMBOL_METRICS))
    rows = tuple(
        (symbol, *(format_metric(m, values.get(m.name), info.settle_coin) for m in SYMBOL_METRICS))
        for symbol, values in info.symbol_metrics.items()
    )
    return SymbolTable(columns, rows)


def write_run_report(
    settings: Settings, run_id: str, path: Path | None = None, data_dir: Path | None = None
) -> Path:
    """Write a saved run's HTML report (to `path`, default its own directory); return where it is.

    RunNotFoundError when no run has that id; ConfigError when the file cannot be written.
    """
    root = store_dir(settings, data_dir)
    result = load_run(root, run_id)
    return write_report(result, path if path is not None else run_directory(root, run_id) / REPORT_NAME)
