"""An optimisation's files: the ranked trials, the importances, the heat map, walk-forward folds.

    write_outputs(result, directory)   # -> {"trials": .../trials.csv, "page": .../study.html, ...}

`trials.csv` ranks every complete trial of a study (objective values, parameters, key metrics,
worker, retried trial); `importance.csv` the parameters' importance; `study.html` is one
self-contained page (plotly's JavaScript embedded, works offline) with the importance bars, the
heat map and the ranked table; with walk-forward, `walk_forward.csv` has one row per fold (windows,
best in-sample parameters and values, out-of-sample metrics). `summary.json` says it all as JSON.
The best parameters' backtest report is the backtest's own (`bst.backtest.report`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pandas as pd

from bst.backtest.optimize.analysis import HeatMap, StudySummary
from bst.backtest.optimize.optimizer import FoldResult, OptimizeResult
from bst.backtest.optimize.trials import KEY_METRICS
from bst.backtest.report import plotly_js
from bst.data.atomic import write_bytes_atomic
from bst.domain.errors import ConfigError

__all__ = ["PAGE_ROWS", "fold_rows", "ranked_frame", "summary_json", "write_outputs"]

PAGE_ROWS = 200
"""Ranked trials shown on the page at most (trials.csv has them all)."""

_OOS_METRICS = ("return_pct", "sharpe", "calmar", "max_drawdown_pct", "trades")


def ranked_frame(summary: StudySummary) -> pd.DataFrame:
    """Return one row per complete trial, best first: rank, objectives, parameters, metrics."""
    names = sorted({n for t in summary.ranked for n in t.params}, key=str)
    rows = []
    for t in summary.ranked:
        row: dict[str, object] = {"rank": t.rank, "trial": t.number, "front": t.front}
        row.update({o.name: v for o, v in zip(summary.objectives, t.values, strict=True)})
        row.update({n: t.params.get(n) for n in names})
        row.update({k: t.metrics.get(k) for k in KEY_METRICS})
        row["worker"] = t.worker
        row["retry_of"] = t.retry_of
        rows.append(row)
    columns = ["rank", "trial", "front", *(o.name for o in summary.objectives), *names, *KEY_METRICS]
    return pd.DataFrame(rows, columns=[*columns, "worker", "retry_of"])


def fold_rows(folds: Sequence[FoldResult]) -> list[dict[str, object]]:
    """Return one row per walk-forward fold: windows, best in-sample trial, out-of-sample metrics."""
    rows = []
    for f in folds:
        best = f.best
        row: dict[str, object] = {
            "fold": f.fold.index,
            "in_start": _iso(f.fold.in_start_ms),
            "in_end": _iso(f.fold.in_end_ms),
            "out_start": _iso(f.fold.out_start_ms),
            "out_end": _iso(f.fold.out_end_ms),
            "best_trial": best.number if best is not None else None,
            "params": " ".join(best.texts) if best is not None else None,
        }
        for o, i in zip(f.summary.objectives, range(len(f.summary.objectives)), strict=True):
            row[f"in_{o.name}"] = best.values[i] if best is not None else None
        metrics = f.out_of_sample.info.metrics if f.out_of_sample is not None else {}
        for key in _OOS_METRICS:
            row[f"out_{key}"] = metrics.get(key)
        rows.append(row)
    return rows


def summary_json(result: OptimizeResult, files: dict[str, str] | None = None) -> dict[str, object]:
    """Return the optimisation as JSON: definition, each study's counts, best and importances, folds."""
    studies = []
    for s in result.summaries:
        best = s.best
        studies.append(
            {
                "study": s.name,
                "counts": s.counts,
                "best": (
                    {
                        "trial": best.number,
                        "values": dict(zip((o.name for o in s.objectives), best.values, strict=True)),
                        "params": list(best.texts),
                        "metrics": best.metrics,
                    }
                    if best is not None
                    else None
                ),
                "importances": s.importances,
                "retries": [{"trial": a, "retried": b} for a, b in s.retries],
            }
        )
    return {
        "definition": result.definition,
        "studies": studies,
        "walk_forward": fold_rows(result.folds),
        "dead_workers": [{"worker": w, "exit_code": c} for w, c in result.dead_workers],
        "files": files or {},
    }


def write_outputs(result: OptimizeResult, directory: Path, title: str) -> dict[str, Path]:
    """Write the files of `result` under `directory` (created); return them by kind."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create {directory}: {e.strerror or e}") from e
    files: dict[str, Path] = {}
    many = len(result.summaries) > 1
    for s in result.summaries:
        suffix = f"-{s.name.rsplit('.', 1)[-1]}" if many else ""
        files[f"trials{suffix}"] = _write(
            directory / f"trials{suffix}.csv", ranked_frame(s).to_csv(index=False)
        )
        importance = pd.DataFrame(
            {"parameter": list(s.importances), "importance": list(s.importances.values())}
        )
        files[f"importance{suffix}"] = _write(
            directory / f"importance{suffix}.csv", importance.to_csv(index=False)
        )
    if result.folds:
        files["walk_forward"] = _write(
            directory / "walk_forward.csv", pd.DataFrame(fold_rows(result.folds)).to_csv(index=False)
        )
    files["page"] = _write(directory / "study.html", render_page(result, title))
    shown = {k: str(v) for k, v in files.items()}
    shown["summary"] = str(directory / "summary.json")
    files["summary"] = _write(
        directory / "summary.json",
        orjson.dumps(summary_json(result, shown), option=orjson.OPT_INDENT_2).decode(),
    )
    return files


def _write(path: Path, text: str) -> Path:
    try:
        write_bytes_atomic(path, text.encode("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from e
    return path


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(_cell(None if pd.isna(v) else v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _importance_figure(summary: StudySummary) -> dict[str, object]:
    names = list(summary.importances)[::-1]
    return {
        "data": [
            {"type": "bar", "orientation": "h", "x": [summary.importances[n] for n in names], "y": names}
        ],
        "layout": {"height": 120 + 28 * len(names), "margin": {"l": 120, "r": 20, "t": 10, "b": 30}},
    }


def _heat_figure(drawn: HeatMap) -> dict[str, object]:
    return {
        "data": [
            {
                "type": "heatmap",
                "x": list(drawn.x_labels),
                "y": list(drawn.y_labels),
                "z": [list(row) for row in drawn.cells],
                "colorscale": "RdYlGn" if drawn.objective.direction.value == "maximize" else "RdYlGn_r",
                "colorbar": {"title": {"text": drawn.objective.name}},
                "hoverongaps": False,
            }
        ],
        "layout": {
            "height": 480,
            "xaxis": {"title": {"text": drawn.x}, "type": "category"},
            "yaxis": {"title": {"text": drawn.y}, "type": "category"},
            "margin": {"l": 80, "r": 20, "t": 10, "b": 60},
        },
    }


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}"
    "header{background:#1f2d3d;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}"
    "main{padding:8px 24px 40px;max-width:1400px}section{background:#fff;border:1px solid #e3e3e3;"
    "border-radius:6px;padding:12px 16px;margin:16px 0}h2{font-size:16px;margin:4px 0 10px}"
    "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #eee;"
    "text-align:right;white-space:nowrap}th{background:#f3f5f7;position:sticky;top:0}"
    ".scroll{max-height:520px;overflow:auto}.note{font-size:12px;color:#666}"
)
_BOOT = (
    "(function(){var s=JSON.parse(document.getElementById('bst-figures').textContent);"
    "s.forEach(function(f){Plotly.newPlot(document.getElementById(f.id),f.figure.data,f.figure.layout,"
    "{responsive:true,displaylogo:false});});"
    "document.body.setAttribute('data-plots-drawn',String(s.length));})();"
)


def _sections(summary: StudySummary, n: int, figures: list[dict[str, object]]) -> Iterable[str]:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.counts.items()))
    yield f"<section><h2>Study {_e(summary.name)}</h2><p>{_e(counts or 'no trials')}</p></section>"
    if summary.importances:
        figures.append({"id": f"importance-{n}", "figure": _importance_figure(summary)})
        yield f'<section><h2>Parameter importance</h2><div id="importance-{n}"></div></section>'
    if summary.heat_map is not None:
        figures.append({"id": f"heat-{n}", "figure": _heat_figure(summary.heat_map)})
        drawn = summary.heat_map
        yield (
            f"<section><h2>Heat map: {_e(drawn.y)} by {_e(drawn.x)}</h2>"
            f'<p class="note">best {_e(drawn.objective.label)} in each cell</p>'
            f'<div id="heat-{n}"></div></section>'
        )
    ranked = ranked_frame(summary).head(PAGE_ROWS)
    yield f"<section><h2>Trials, best first</h2>{_table(ranked)}</section>"


def render_page(result: OptimizeResult, title: str) -> str:
    """Return the optimisation's page as one self-contained HTML document."""
    figures: list[dict[str, object]] = []
    parts = []
    if result.folds:
        parts.append(
            f"<section><h2>Walk-forward</h2>{_table(pd.DataFrame(fold_rows(result.folds)))}</section>"
        )
    for n, summary in enumerate(result.summaries):
        parts.extend(_sections(summary, n, figures))
    defined = "".join(
        f"<tr><td style='text-align:left'>{_e(k)}</td><td style='text-align:left'>{_e(v)}</td></tr>"
        for k, v in result.definition.items()
    )
    parts.append(f"<section><h2>Definition</h2><table>{defined}</table></section>")
    data = orjson.dumps(figures).decode().replace("</", "<\\/")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_STYLE}</style><script>{plotly_js()}</script></head>\n<body><header><h1>{_e(title)}</h1>"
        f"</header><main>{''.join(parts)}</main>\n"
        f'<script type="application/json" id="bst-figures">{data}</script>'
        f"<script>{_BOOT}</script></body></html>\n"
    )
