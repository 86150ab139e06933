"""The HTML report of a run: one self-contained file that opens in any browser, offline.

    write_report(result, path)     # or render_report(result) -> str

The file holds plotly's JavaScript once (from the `plotly` package, no CDN), the charts' data as
JSON, and static HTML tables: the metrics, a table per symbol, the trades, the parameters, the
configuration and every assumption the numbers rest on, the inputs and the data range. Nothing
is fetched at view time. Charts: the equity curve over its drawdown, and per symbol its prices
(candles, or a price line for order-book runs) with entries, exits and the position size; what is
drawn is thinned for size (`bst.backtest.charts`, `bst.backtest.prices`) and the report says
what was cut. Works for a run in memory and for one loaded from disk (`bst.backtest.runs`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from bst.backtest.charts import Drawing, equity_figure, symbol_figure
from bst.backtest.metrics import METRICS, SYMBOL_METRICS, format_metric
from bst.backtest.result import BacktestResult
from bst.data.atomic import write_bytes_atomic
from bst.domain.errors import ConfigError

__all__ = ["REPORT_NAME", "TABLE_TRADES", "plotly_js", "render_report", "write_report"]

REPORT_NAME = "report.html"
"""The report's name in a saved run's directory."""
TABLE_TRADES = 1000
"""Trades listed in the report's table at most (the first and last half; trades.parquet has all)."""

_TRADE_TABLE_COLUMNS = (
    ("symbol", "symbol"),
    ("side", "side"),
    ("qty", "qty"),
    ("entry_time", "entry"),
    ("exit_time", "exit"),
    ("entry_price", "entry price"),
    ("exit_price", "exit price"),
    ("pnl", "net PnL"),
    ("return_pct", "return %"),
    ("fees", "fees"),
    ("funding", "funding"),
    ("duration", "held"),
)

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2d3d;color:#fff;padding:16px 24px}
header h1{margin:0 0 4px;font-size:20px}header p{margin:0;opacity:.85;font-size:13px}
main{padding:8px 24px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:12px 16px;margin:16px 0}
h2{font-size:16px;margin:4px 0 10px}
table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f3f5f7;position:sticky;top:0}
td.l,th.l{text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:0 24px}
.scroll{max-height:520px;overflow:auto}
ul{margin:4px 0;padding-left:20px;font-size:13px}
.neg{color:#c0392b}.pos{color:#1e8449}
.note{font-size:12px;color:#666}
"""

_BOOT = """
(function () {
  var specs = JSON.parse(document.getElementById('bst-figures').textContent);
  var drawn = 0;
  specs.forEach(function (spec) {
    var div = document.getElementById(spec.id);
    Plotly.newPlot(div, spec.figure.data, spec.figure.layout,
                   {responsive: true, displaylogo: false});
    drawn += 1;
  });
  document.body.setAttribute('data-plots-drawn', String(drawn));
})();
"""


def plotly_js() -> str:
    """Return plotly.min.js from the installed `plotly` package (ConfigError when it is missing)."""
    try:
        return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise ConfigError("the HTML report needs the plotly package: pip install plotly") from e


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _signed_class(kind_money: bool, value: Any) -> str:
    if not kind_money or value is None:
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return " neg" if number < 0 else (" pos" if number > 0 else "")


def _metrics_table(metrics: Mapping[str, Any], coin: str) -> str:
    rows = []
    for metric in METRICS:
        if metric.name not in metrics:
            continue
        value = metrics[metric.name]
        signed = _signed_class(metric.name in ("net_pnl", "return_pct"), value)
        rows.append(
            f'<tr><td class="l" title="{_e(metric.meaning)}">{_e(metric.label)}</td>'
            f'<td class="{signed.strip()}">{_e(format_metric(metric, value, coin))}</td></tr>'
        )
    half = (len(rows) + 1) // 2
    tables = (rows[:half], rows[half:])
    return '<div class="grid">' + "".join(f"<table>{''.join(part)}</table>" for part in tables) + "</div>"


def _symbol_table(symbol_metrics: Mapping[str, Mapping[str, Any]], coin: str) -> str:
    if not symbol_metrics:
        return '<p class="note">no per-symbol figures in this run record</p>'
    head = '<th class="l">symbol</th>' + "".join(
        f'<th title="{_e(m.meaning)}">{_e(m.label)}</th>' for m in SYMBOL_METRICS
    )
    body = []
    for symbol, values in symbol_metrics.items():
        cells = "".join(
            f'<td class="{_signed_class(m.name == "net_pnl", values.get(m.name)).strip()}">'
            f"{_e(format_metric(m, values.get(m.name), coin))}</td>"
            for m in SYMBOL_METRICS
        )
        body.append(f'<tr><td class="l">{_e(symbol)}</td>{cells}</tr>')
    return f'<div class="scroll"><table><tr>{head}</tr>{"".join(body)}</table></div>'


def _cell(column: str, value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, pd.Timedelta):
        return format_metric("avg_holding_days", value / pd.Timedelta(days=1))
    if isinstance(value, float):
        if column == "return_pct":
            return f"{value:.2f}"
        return f"{value:,.8g}" if column in ("qty", "entry_price", "exit_price") else f"{value:,.4f}"
    return str(value)


def _trades_table(trades: pd.DataFrame) -> str:
    if trades.empty:
        return '<p class="note">no round-trip trades</p>'
    shown = trades
    note = ""
    if len(trades) > TABLE_TRADES:
        half = TABLE_TRADES // 2
        shown = pd.concat([trades.iloc[:half], trades.iloc[-half:]])
        note = (
            f'<p class="note">the first {half:,} and last {half:,} of {len(trades):,} trades; '
            "trades.parquet (or result.trades) has them all</p>"
        )
    head = "".join(
        f'<th class="{"l" if c in ("symbol", "side") else ""}">{_e(t)}</th>' for c, t in _TRADE_TABLE_COLUMNS
    )
    rows = []
    for record in shown.to_dict("records"):
        cells = []
        for column, _ in _TRADE_TABLE_COLUMNS:
            value = record[column]
            css = "l" if column in ("symbol", "side") else _signed_class(column == "pnl", value).strip()
            cells.append(f'<td class="{css}">{_e(_cell(column, value))}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'{note}<div class="scroll"><table><tr>{head}</tr>{"".join(rows)}</table></div>'


def _pairs_table(pairs: Iterable[tuple[str, object]]) -> str:
    rows = "".join(f'<tr><td class="l">{_e(k)}</td><td class="l">{_e(v)}</td></tr>' for k, v in pairs)
    return f"<table>{rows}</table>" if rows else '<p class="note">none</p>'


def _list(lines: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>" if lines else ""


def _json_script(element_id: str, data: Any) -> str:
    """Return data as an inert JSON script element (`</` escaped so it cannot close the element)."""
    text = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode().replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def render_report(result: BacktestResult) -> str:
    """Return the run's report as one self-contained HTML document."""
    info = result.info
    coin = info.settle_coin
    drawing = Drawing()
    candles = info.interval is not None
    figures = [{"id": "chart-equity", "figure": equity_figure(result.equity, coin, drawing)}]
    for n, symbol in enumerate(info.symbols):
        figure = symbol_figure(
            symbol,
            result.prices,
            result.trades,
            result.positions,
            candles=candles,
            end_ms=info.end_ms,
            drawing=drawing,
        )
        figures.append({"id": f"chart-symbol-{n}", "figure": figure})
    interval = f", {info.interval} bars" if info.interval else ", order-book data"
    title = f"{info.strategy} on {', '.join(info.symbols)}"
    symbol_sections = "".join(
        f'<section><h2>{_e(symbol)}</h2><div id="chart-symbol-{n}"></div></section>'
        for n, symbol in enumerate(info.symbols)
    )
    if result.prices.empty:
        drawing.notes.append("no price data was kept with this run: the symbol charts show trades only")
    notes = drawing.notes or ["nothing: every sample, bar and trade is drawn"]
    body = f"""
<header><h1>{_e(title)}</h1>
<p>run {_e(info.run_id)} &middot; {_e(info.category.value)}{_e(interval)} &middot; {_e(_iso(info.start_ms))}
 &rarr; {_e(_iso(info.end_ms))} &middot; created {_e(_iso(info.created_ms))}</p></header>
<main>
<section><h2>Metrics</h2>{_metrics_table(info.metrics, coin)}</section>
<section><h2>Equity and drawdown</h2><div id="chart-equity"></div></section>
{symbol_sections}
<section><h2>Per symbol</h2>{_symbol_table(info.symbol_metrics, coin)}</section>
<section><h2>Trades</h2>{_trades_table(result.trades)}</section>
<section><h2>Parameters</h2>{_pairs_table(sorted(info.params.items()))}</section>
<section><h2>Assumptions</h2>{_list(info.assumptions)}</section>
<section><h2>Configuration</h2>{_pairs_table(info.config.items())}</section>
<section><h2>Data</h2>{_list(info.inputs)}
<p class="note">run from {_e(_iso(info.start_ms))} to {_e(_iso(info.end_ms))}</p>
{_pairs_table((k, f"{v:,}") for k, v in info.counts.items())}</section>
<section><h2>What the charts leave out</h2>{_list(notes)}
<p class="note">Only drawing is thinned: every metric and table is computed from the full run.</p></section>
</main>"""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} - bst backtest</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style>'
        f"<script>{plotly_js()}</script></head>\n<body>{body}\n"
        f"{_json_script('bst-figures', figures)}\n<script>{_BOOT}</script>\n</body></html>\n"
    )


def write_report(result: BacktestResult, path: str | Path) -> Path:
    """Write the run's report to `path` (replaced atomically); return the path."""
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{target} is a directory: give the report a file name such as report.html")
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write the report: the directory {target.parent} does not exist")
    try:
        write_bytes_atomic(target, render_report(result).encode("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot write the report to {target}: {e.strerror or e}") from e
    return target
