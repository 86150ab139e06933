"""`bst optimize`: search a strategy's parameters on backtests with Optuna; join a study from elsewhere.

    bst optimize sma_cross BTCUSDT -i 60 --since 2024-01-01 -p fast=5:50 -p slow=20:200 \\
        --trials 200 --objective sharpe --study sma-h1 [--storage postgresql://...] [--workers 2]
    bst optimize --study sma-h1 --storage postgresql://...      # join it (e.g. on another machine)

Parsing and rendering only: the use case is `bst.app.optimize`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from bst.app.optimize import (
    HeatMap,
    OptimizeOutcome,
    StudySummary,
    fold_rows,
    parse_optimize,
    run_optimize,
    safe_url,
    summary_json,
)
from bst.cli import common

ARGS = typer.Argument(None, help="strategy and symbols, e.g. sma_cross BTCUSDT (none: join --study)")
PARAM_OPTION = typer.Option(
    [],
    "--param",
    "-p",
    help="name=LOW:HIGH[:STEP] to search, name=A,B,C to choose, name=VALUE to fix; repeat",
)
DATA_OPTION = typer.Option(None, "--data", help="an OHLCV CSV/Parquet/Feather file instead of the store")
OUT_OPTION = typer.Option(None, "--out", help="results directory (default: <data dir>/optuna/<study>/)")
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="store directory (default: BYBIT_DATA_DIR)")

_METRIC_COLUMNS = (
    ("return", "return_pct"),
    ("sharpe", "sharpe"),
    ("calmar", "calmar"),
    ("max dd", "max_drawdown_pct"),
)


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _ranked_table(summary: StudySummary, top: int) -> Table:
    shown = summary.ranked[:top]
    table = Table(title=f"study {summary.name}: best {len(shown)} of {len(summary.ranked)} complete trials")
    table.add_column("rank", justify="right")
    table.add_column("trial", justify="right")
    for o in summary.objectives:
        table.add_column(o.name, justify="right", style="bold")
    table.add_column("parameters")
    metrics = [
        (label, key) for label, key in _METRIC_COLUMNS if key not in {o.metric for o in summary.objectives}
    ]
    for label, _key in metrics:
        table.add_column(label, justify="right")
    table.add_column("trades", justify="right")
    for t in shown:
        params = " ".join(f"{k}={v}" for k, v in (x.split("=", 1) for x in t.texts) if k in t.params)
        table.add_row(
            str(t.rank),
            str(t.number) + (f" (retry of {t.retry_of})" if t.retry_of is not None else ""),
            *(_num(v) for v in t.values),
            params,
            *(_num(t.metrics.get(key)) for _label, key in metrics),
            _num(t.metrics.get("trades")),
        )
    return table


def _importance(summary: StudySummary) -> None:
    if not summary.importances:
        common.console.print("parameter importance: not enough varied complete trials to tell")
        return
    common.console.print(f"[bold]parameter importance[/] (for {summary.objectives[0].name})")
    width = max(len(n) for n in summary.importances)
    for name, value in summary.importances.items():
        bar = "█" * max(1, round(value * 40))
        common.console.print(f"  {name:<{width}} {bar} {value:.2f}", markup=False, highlight=False)


def _heat_table(drawn: HeatMap) -> Table:
    values = [v for row in drawn.cells for v in row if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    table = Table(title=f"best {drawn.objective.name} by {drawn.y} (rows) and {drawn.x} (columns)")
    table.add_column(f"{drawn.y} \\ {drawn.x}", style="bold")
    for label in drawn.x_labels:
        table.add_column(label, justify="right")
    for label, row in zip(drawn.y_labels, drawn.cells, strict=True):
        table.add_row(label, *(_heat_cell(v, low, high, drawn) for v in row))
    return table


def _heat_cell(value: float | None, low: float, high: float, drawn: HeatMap) -> Text:
    if value is None:
        return Text("·", style="dim")
    share = (value - low) / (high - low) if high > low else 1.0
    if drawn.objective.direction.value == "minimize":
        share = 1 - share
    red, green = int(200 * (1 - share)), int(170 * share)
    return Text(f"{value:.3g}", style=f"black on rgb({55 + red},{55 + green},60)")


def _print_summary(summary: StudySummary, top: int, heat: bool = True) -> None:
    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.counts.items())) or "no trials"
    common.console.print(f"[bold]{summary.name}[/]: {counts}")
    if summary.retries:
        listed = ", ".join(f"{a} (of {b})" for a, b in summary.retries)
        common.console.print(f"retried trials of dead workers: {listed}", highlight=False)
    if summary.ranked:
        common.print_table(_ranked_table(summary, top))
    _importance(summary)
    if heat and summary.heat_map is not None:
        common.print_table(_heat_table(summary.heat_map))


def _walk_forward_table(outcome: OptimizeOutcome) -> Table:
    rows = fold_rows(outcome.result.folds)
    table = Table(title="walk-forward: best in-sample parameters on the next window")
    for name in (
        "fold",
        "in-sample",
        "out-of-sample",
        "parameters",
        "in",
        "out return",
        "out sharpe",
        "out trades",
    ):
        table.add_column(
            name, justify="left" if name in ("in-sample", "out-of-sample", "parameters") else "right"
        )
    objective = outcome.job.objectives[0].name
    for row in rows:
        table.add_row(
            str(row["fold"]),
            f"{row['in_start']} -> {row['in_end']}",
            f"{row['out_start']} -> {row['out_end']}",
            str(row["params"] or "-"),
            _num(row.get(f"in_{objective}")),
            _num(row.get("out_return_pct")),
            _num(row.get("out_sharpe")),
            _num(row.get("out_trades")),
        )
    return table


def _print(outcome: OptimizeOutcome, top: int) -> None:
    result = outcome.result
    if result.folds:
        common.print_table(_walk_forward_table(outcome))
        for fold in result.folds:
            _print_summary(fold.summary, min(top, 3), heat=False)
    else:
        _print_summary(result.summaries[0], top)
    for worker, code in result.dead_workers:
        common.console.print(f"worker {worker} died (exit code {code}); its trial is retried by the study")
    best = result.summaries[0].best if not result.folds else None
    if best is not None:
        common.console.print(f"best: trial {best.number}: {' '.join(best.texts)}", highlight=False)
    if outcome.best_directory is not None:
        common.console.print(
            f"best run saved in {outcome.best_directory}", markup=False, highlight=False, soft_wrap=True
        )
    if outcome.best_report is not None:
        common.console.print(
            f"best report: {outcome.best_report}", markup=False, highlight=False, soft_wrap=True
        )
    for report in outcome.fold_reports:
        common.console.print(f"fold report: {report}", markup=False, highlight=False, soft_wrap=True)
    common.console.print(
        f"study page: {outcome.files['page']}", markup=False, highlight=False, soft_wrap=True
    )
    common.console.print(f"results in {outcome.job.out_dir}", markup=False, highlight=False, soft_wrap=True)


def optimize(
    args: list[str] = ARGS,
    param: list[str] = PARAM_OPTION,
    trials: int | None = typer.Option(
        None, "--trials", "-n", help="finished trials the study ends with (default 100)"
    ),
    objective: str = typer.Option(
        "sharpe", "--objective", help="sharpe | return | calmar | ... or several: return,drawdown"
    ),
    sampler: str | None = typer.Option(
        None, "--sampler", help="tpe | grid | nsga2 | random (default tpe; nsga2 for several objectives)"
    ),
    study: str | None = typer.Option(None, "--study", help="study name (default: strategy-symbols-interval)"),
    storage: str | None = typer.Option(
        None, "--storage", help="postgresql://user@host/db to share the study (default: a local SQLite file)"
    ),
    workers: int = typer.Option(1, "--workers", "-w", help="worker processes on this machine"),
    walk_forward: int = typer.Option(
        0, "--walk-forward", help="K folds: optimise on each window, evaluate on the next"
    ),
    anchored: bool = typer.Option(
        False, "--anchored", help="walk-forward in-sample windows all start at the beginning"
    ),
    heat_map: str | None = typer.Option(
        None,
        "--heat-map",
        help="two parameters for the heat map, e.g. fast,slow (default: the two most important)",
    ),
    top: int = typer.Option(10, "--top", help="trials shown in the ranked table"),
    seed: int = typer.Option(
        0, "--seed", help="sampler seed (one worker: the same trials again) and backtest seed"
    ),
    heartbeat_s: int = typer.Option(10, "--heartbeat-s", help="seconds between a running trial's heartbeats"),
    grace_s: int = typer.Option(
        60, "--grace-s", help="seconds without a heartbeat before a trial is retried"
    ),
    interval: str | None = typer.Option(None, "--interval", "-i", help="bar interval of the stored candles"),
    since: str | None = typer.Option(None, "--since", help="first bar: YYYY-MM-DD[THH:MM] or epoch ms"),
    until: str | None = typer.Option(None, "--until", help="stop before this time"),
    cash: str | None = typer.Option(None, "--cash", help="starting balance in USDT (default 10000)"),
    commission: str | None = typer.Option(None, "--commission", help="fee rate per side, e.g. 0.00055"),
    size: str | None = typer.Option(None, "--size", help="the strategy's order size (its qty parameter)"),
    fill: str = typer.Option("next-open", "--fill", help="candle market orders: next-open | close"),
    slippage: str | None = typer.Option(None, "--slippage", help="candle taker slippage, e.g. 0.0005"),
    leverage: str | None = typer.Option(None, "--leverage", help="leverage (default 1)"),
    latency: str | None = typer.Option(None, "--latency", help="request latency: ms or ms~jitter"),
    response_latency: str | None = typer.Option(
        None, "--response-latency", help="reply latency (same forms)"
    ),
    feed_latency: str | None = typer.Option(None, "--feed-latency", help="market-data latency (same forms)"),
    no_close: bool = typer.Option(False, "--no-close", help="leave positions open at the end"),
    category: str = typer.Option("linear", "--category", "-c", help="linear (spot is not supported yet)"),
    data: Path | None = DATA_OPTION,
    out: Path | None = OUT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Optimise a strategy's parameters on backtests (Optuna), or join a study with --study alone."""
    names = list(args or [])
    loaded = common.settings()
    job = parse_optimize(
        loaded,
        names[0] if names else None,
        names[1:],
        study=study,
        storage=storage,
        trials=trials,
        workers=workers,
        objective=objective,
        sampler=sampler,
        walk_forward=walk_forward,
        anchored=anchored,
        heat_map=heat_map,
        seed=seed,
        heartbeat_s=heartbeat_s,
        grace_s=grace_s,
        out=out,
        data_dir=data_dir,
        data=data,
        interval=interval,
        since=since,
        until=until,
        params=param,
        cash=cash,
        commission=commission,
        size=size,
        fill=fill if fill != "next-open" else None,
        slippage=slippage,
        leverage=leverage,
        latency=latency,
        response_latency=response_latency,
        feed_latency=feed_latency,
        close_at_end=False if no_close else None,
        category=category if category != "linear" else None,
    )
    if not as_json:
        what = "joining" if job.join else "study"
        common.console.print(
            f"{what} {job.access.name} in {safe_url(job.access.storage)}: "
            + "; ".join(d.describe() for d in job.space.dimensions),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials"),
        TimeElapsedColumn(),
        console=common.console,
        disable=not common.console.is_terminal or as_json,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    class Observer:
        def progressed(self, study: str, done: int, budget: int) -> None:
            if study not in tasks:
                tasks[study] = progress.add_task(study, total=budget)
            progress.update(tasks[study], completed=done, total=budget)

    try:
        with progress:
            outcome = run_optimize(loaded, job, Observer())
    except KeyboardInterrupt:
        raise common.CliError(
            "interrupted: the study keeps its finished trials; "
            f"resume with bst optimize --study {job.access.name}"
            + (f" --storage {safe_url(job.access.storage)}" if "sqlite" not in job.access.storage else ""),
            code=130,
        ) from None
    if as_json:
        data_out: dict[str, object] = summary_json(
            outcome.result, {k: str(v) for k, v in outcome.files.items()}
        )
        data_out["best_report"] = str(outcome.best_report) if outcome.best_report else None
        data_out["best_directory"] = str(outcome.best_directory) if outcome.best_directory else None
        common.print_json(data_out)
    else:
        _print(outcome, top)


def register(app: typer.Typer) -> None:
    """Add the `optimize` command to the root app."""
    app.command("optimize")(optimize)
