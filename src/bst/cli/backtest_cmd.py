"""`bst backtest`: run a strategy over stored candles, a data file or a recording; list and show runs.

    bst backtest sma_cross BTCUSDT -i 60 --since 2024-01-01 [--param fast=12] [--size 0.01] ...
    bst backtest list
    bst backtest show RUN-ID [--report FILE.html]

`list` and `show` are words no strategy may be named. Parsing and rendering only: the use cases
are `bst.app.backtests`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bst.app.backtest_report import metric_rows, symbol_table, write_run_report
from bst.app.backtests import (
    BacktestOutcome,
    list_backtests,
    parse_backtest,
    run_backtest,
    show_backtest,
)
from bst.cli import common

ACTIONS = ("list", "show")

SYMBOLS_ARGUMENT = typer.Argument(None, help="symbols, e.g. BTCUSDT ETHUSDT (show: the run id)")
PARAM_OPTION = typer.Option([], "--param", "-p", help="strategy parameter name=value; repeat")
DATA_OPTION = typer.Option(None, "--data", help="an OHLCV CSV/Parquet/Feather file instead of the store")
BOOK_OPTION = typer.Option([], "--book", help="an order-book recording or Bybit ob500 file; repeat")
REPORT_OPTION = typer.Option(
    None, "--report", help="also write the HTML report to this file (show: write the saved run's report)"
)
DATA_DIR_OPTION = typer.Option(None, "--data-dir", help="store directory (default: BYBIT_DATA_DIR)")


_HEADLINES = (
    ("period", None),
    ("trades", "trades"),
    ("return", "return_pct"),
    ("buy & hold", "buy_hold_return_pct"),
    ("max drawdown", "max_drawdown_pct"),
    ("win rate", "win_rate_pct"),
    ("profit factor", "profit_factor"),
    ("sharpe (daily, 365)", "sharpe"),
    ("fees paid", "fees"),
    ("funding paid", "funding"),
    ("final equity", "equity_final"),
)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.endswith("_pct"):
        return f"{value:,.2f} %"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _day(text: str) -> str:
    return text.replace("T", " ").replace("+00:00", "")


def _summary(outcome: BacktestOutcome) -> Table:
    info = outcome.result.info
    metrics = info.metrics
    table = Table(title=f"backtest {info.run_id}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("strategy", f"{info.strategy} " + " ".join(f"{k}={v}" for k, v in info.params.items()))
    table.add_row("symbols", ", ".join(info.symbols) + (f" ({info.interval})" if info.interval else ""))
    for label, name in _HEADLINES:
        if name is None:
            table.add_row(label, f"{_day(str(metrics.get('start')))} -> {_day(str(metrics.get('end')))}")
        else:
            value = metrics.get(name)
            suffix = f" {info.settle_coin}" if name in ("fees", "funding", "equity_final") else ""
            table.add_row(label, _shown(name, value) + (suffix if value is not None else ""))
    return table


def _print_run(outcome: BacktestOutcome) -> None:
    common.print_table(_summary(outcome))
    info = outcome.result.info
    common.console.print("[bold]assumptions[/]")
    for line in info.assumptions:
        common.console.print(f"  - {line}", markup=False, highlight=False)
    common.console.print(f"run saved in {outcome.directory}", markup=False, highlight=False, soft_wrap=True)
    shown = outcome.extra_report or outcome.report
    common.console.print(f"report: {shown}", markup=False, highlight=False, soft_wrap=True)


def _print_shown(outcome: BacktestOutcome) -> None:
    """Print a saved run in full: every metric, the per-symbol table, assumptions, files."""
    info = outcome.result.info
    table = Table(title=f"backtest {info.run_id}: {info.strategy} on {', '.join(info.symbols)}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("parameters", " ".join(f"{k}={v}" for k, v in info.params.items()) or "-")
    for row in metric_rows(info):
        table.add_row(row.label, row.text)
    common.print_table(table)
    symbols = symbol_table(info)
    if symbols.rows:
        per_symbol = Table(title="per symbol")
        for n, column in enumerate(symbols.columns):
            per_symbol.add_column(column, justify="left" if n == 0 else "right")
        for values in symbols.rows:
            per_symbol.add_row(*values)
        common.print_table(per_symbol)
    common.console.print("[bold]assumptions[/]")
    for line in info.assumptions:
        common.console.print(f"  - {line}", markup=False, highlight=False)
    common.console.print(f"run saved in {outcome.directory}", markup=False, highlight=False, soft_wrap=True)
    shown = outcome.extra_report or outcome.report
    if shown.is_file():
        common.console.print(f"report: {shown}", markup=False, highlight=False, soft_wrap=True)
    else:
        common.console.print(
            f"no report in {outcome.directory}: "
            f"`bst backtest show {info.run_id} --report FILE.html` writes one",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _run_json(outcome: BacktestOutcome) -> dict[str, object]:
    data: dict[str, object] = outcome.result.info.to_json()
    data["directory"] = str(outcome.directory)
    data["report"] = str(outcome.extra_report or outcome.report)
    return data


def _list_runs(as_json: bool, data_dir: Path | None) -> None:
    runs = list_backtests(common.settings(), data_dir)
    if as_json:
        common.print_json([r.to_json() for r in runs])
        return
    if not runs:
        common.console.print("no saved backtests (run `bst backtest STRATEGY SYMBOL -i 60 --since ...`)")
        return
    table = Table(title="saved backtests, newest first")
    for name, justify in (("run", "left"), ("strategy", "left"), ("symbols", "left"), ("interval", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("trades", "return", "max drawdown", "created"):
        table.add_column(name, justify="right")
    for info in runs:
        created = datetime.fromtimestamp(info.created_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        m = info.metrics
        table.add_row(
            info.run_id,
            info.strategy,
            ", ".join(info.symbols),
            info.interval or "-",
            _shown("trades", m.get("trades")),
            _shown("return_pct", m.get("return_pct")),
            _shown("max_drawdown_pct", m.get("max_drawdown_pct")),
            created,
        )
    common.print_table(table)


def backtest(
    strategy: str = typer.Argument(..., help="a strategy (sma_cross, or module:Class), or list / show"),
    symbols: list[str] = SYMBOLS_ARGUMENT,
    interval: str | None = typer.Option(None, "--interval", "-i", help="bar interval of the stored candles"),
    since: str | None = typer.Option(None, "--since", help="first bar: YYYY-MM-DD[THH:MM] or epoch ms"),
    until: str | None = typer.Option(None, "--until", help="stop before this time"),
    param: list[str] = PARAM_OPTION,
    cash: str | None = typer.Option(None, "--cash", help="starting balance in USDT (default 10000)"),
    commission: str | None = typer.Option(
        None, "--commission", help="fee rate per side for makers and takers, e.g. 0.00055 (default: Bybit's)"
    ),
    size: str | None = typer.Option(None, "--size", help="the strategy's order size (its qty parameter)"),
    fill: str = typer.Option("next-open", "--fill", help="candle market orders: next-open | close"),
    slippage: str | None = typer.Option(None, "--slippage", help="candle taker slippage, e.g. 0.0005"),
    leverage: str | None = typer.Option(None, "--leverage", help="leverage (default 1)"),
    latency: str | None = typer.Option(
        None, "--latency", help="request latency: ms, ms~jitter or a send_ms,ack_ms CSV/Parquet file"
    ),
    response_latency: str | None = typer.Option(
        None, "--response-latency", help="reply latency (same forms)"
    ),
    feed_latency: str | None = typer.Option(None, "--feed-latency", help="market-data latency (same forms)"),
    no_close: bool = typer.Option(False, "--no-close", help="leave positions open at the end"),
    seed: int = typer.Option(0, "--seed", help="seed of the latency jitter and the engine's ids"),
    category: str = typer.Option("linear", "--category", "-c", help="linear (spot is not supported yet)"),
    data: Path | None = DATA_OPTION,
    book: list[Path] = BOOK_OPTION,
    report: Path | None = REPORT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="print the run (or the list) as JSON"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Backtest a strategy on stored candles (or --data / --book), save the run and its report."""
    names = list(symbols or [])
    if strategy == "list":
        _list_runs(as_json, data_dir)
        return
    if strategy == "show":
        if len(names) != 1:
            raise common.CliError(
                "give one run id: bst backtest show RUN-ID (bst backtest list shows them)", 2
            )
        loaded = common.settings()
        outcome = show_backtest(loaded, names[0], data_dir)
        if report is not None:
            outcome = dataclasses.replace(
                outcome, extra_report=write_run_report(loaded, names[0], report, data_dir)
            )
        if as_json:
            common.print_json(_run_json(outcome))
        else:
            _print_shown(outcome)
        return
    if not names:
        raise common.CliError(
            "name at least one symbol: bst backtest STRATEGY SYMBOL... -i 60 --since ...", 2
        )
    loaded = common.settings()
    job = parse_backtest(
        strategy,
        names,
        interval=interval,
        since=since,
        until=until,
        params=param,
        cash=cash,
        commission=commission,
        size=size,
        fill=fill,
        slippage=slippage,
        leverage=leverage,
        feed_latency=feed_latency,
        latency=latency,
        response_latency=response_latency,
        close_at_end=not no_close,
        seed=seed,
        category=category,
        data=data,
        recordings=book,
        report=report,
        data_dir=data_dir,
    )
    progress = Progress(
        TextColumn("[bold]backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
        console=common.console,
        disable=not common.console.is_terminal or as_json,
        transient=True,
    )
    task = progress.add_task("backtest", total=None)

    def progressed(done: int, total: int | None) -> None:
        progress.update(task, completed=done, total=total)

    class Observer:
        def progressed(self, done: int, total: int | None) -> None:
            progressed(done, total)

    async def run() -> BacktestOutcome:
        with common.stop_on_signals(cancel=True), progress:
            return await run_backtest(loaded, job, Observer())

    try:
        outcome = common.run_async(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise common.CliError("interrupted: the backtest was not saved", code=130) from None
    if as_json:
        common.print_json(_run_json(outcome))
    else:
        _print_run(outcome)


def register(app: typer.Typer) -> None:
    """Add the `backtest` command to the root app."""
    app.command("backtest")(backtest)
