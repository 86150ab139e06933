"""The run's HTML report: one self-contained file (no network) next to the run's data.

This is the plain first version (metrics, parameters, assumptions, inputs, trades as tables); the
`backtest-report` work replaces it with the interactive report (charts) behind the same call,
`write_report(result, path)`.
"""

from __future__ import annotations

import html
from pathlib import Path

from bst.backtest.result import BacktestResult
from bst.data.atomic import write_bytes_atomic

__all__ = ["REPORT_NAME", "write_report"]

REPORT_NAME = "report.html"
"""The report's file name inside a saved run's directory."""

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}"
    "th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}"
)
_MAX_TRADES = 5000
"""Trades listed in the page (all of them are in trades.parquet)."""


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)


def render_report(result: BacktestResult) -> str:
    """Return the report of `result` as one HTML document."""
    info = result.info
    title = f"{info.strategy} on {', '.join(info.symbols)} ({info.run_id})"
    metrics = [(k, "" if v is None else str(v)) for k, v in info.metrics.items()]
    params = [(k, v) for k, v in info.params.items()]
    config = [(k, v) for k, v in info.config.items()]
    trades = result.trades.head(_MAX_TRADES)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in trades.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in trades.itertuples(index=False)
    )
    listed = "".join(f"<li>{html.escape(line)}</li>" for line in info.assumptions)
    inputs = "".join(f"<li>{html.escape(line)}</li>" for line in info.inputs)
    more = (
        f"<p>The first {_MAX_TRADES:,} of {len(result.trades):,} trades.</p>"
        if len(result.trades) > _MAX_TRADES
        else ""
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<h2>Metrics</h2><table>{_rows(metrics)}</table>"
        f"<h2>Parameters</h2><table>{_rows(params)}</table>"
        f"<h2>Configuration</h2><table>{_rows(config)}</table>"
        f"<h2>Assumptions</h2><ul>{listed}</ul><h2>Data</h2><ul>{inputs}</ul>"
        f"<h2>Trades</h2>{more}<table><tr>{head}</tr>{body}</table></body></html>\n"
    )


def write_report(result: BacktestResult, path: Path) -> Path:
    """Write the report of `result` to `path` (atomically); return the path."""
    write_bytes_atomic(path, render_report(result).encode("utf-8"))
    return path
