"""The `bst` command: the root group, lazily loaded command modules, and clean exits.

Each command group lives in its own module exposing `register(app)`. Modules are imported only when
one of their commands runs: `bst market time` should not pay for pandas, pyarrow, SQLAlchemy and the
simulator, and `bst --help` lists every command from `COMMANDS` without importing any of them.
Every expected failure becomes one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, ClassVar, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from bst.cli import common


class CommandEntry(NamedTuple):
    """Where a top-level command is defined and the one line `bst --help` shows for it."""

    module: str
    help: str


# Command name -> its module and help line (keep sorted; a test checks each line against the
# command's own help, so they cannot drift apart).
COMMANDS: dict[str, CommandEntry] = {
    "backtest": CommandEntry(
        "bst.cli.backtest_cmd",
        "Backtest a strategy on stored candles (or --data / --book), save the run and its report.",
    ),
    "balance": CommandEntry("bst.cli.trade_cmd", "Show the unified account's balances."),
    "config": CommandEntry("bst.cli.config_cmd", "Inspect configuration."),
    "data": CommandEntry("bst.cli.data_cmd", "Inspect and export the local candle store."),
    "db": CommandEntry("bst.cli.db_cmd", "SQL database: migrations and contents."),
    "download": CommandEntry(
        "bst.cli.download_cmd",
        "Download candles into the local store (and SQL): incremental, resumable, gap-checked.",
    ),
    "market": CommandEntry("bst.cli.market_cmd", "Query market data (REST)."),
    "optimize": CommandEntry(
        "bst.cli.optimize_cmd",
        "Optimise a strategy's parameters on backtests (Optuna), or join a study with --study alone.",
    ),
    "order": CommandEntry("bst.cli.trade_cmd", "Place, amend and cancel orders."),
    "orders": CommandEntry("bst.cli.trade_cmd", "List open orders (or, with --history, closed ones)."),
    "positions": CommandEntry("bst.cli.trade_cmd", "List positions."),
    "record": CommandEntry(
        "bst.cli.stream_cmd",
        "Record raw public streams losslessly to hourly gzip files (and SQL), with a continuity report.",
    ),
    "sim": CommandEntry(
        "bst.cli.sim_cmd",
        "Run `bst sim`, a local Bybit v5 exchange (REST and WebSocket on one port), until stopped.",
    ),
    "watch": CommandEntry(
        "bst.cli.stream_cmd",
        "Show a live view: top of book, spread, imbalance, last trades and stream latency.",
    ),
}


def load_command(name: str) -> Any:
    """Import the module defining `name` (once) and return the command."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    group = LazyCommands.loaded.get(entry.module)
    if group is None:
        scratch = typer.Typer(add_completion=False)
        scratch.callback()(_no_options)  # a callback keeps even a one-command module a group
        importlib.import_module(entry.module).register(scratch)
        group = typer.main.get_group(scratch)
        LazyCommands.loaded[entry.module] = group
    return group.commands.get(name)


class LazyCommands(TyperGroup):
    """A root group that imports a command's module only when the command runs.

    While the help is being written, commands are stand-ins carrying their `COMMANDS` line.
    """

    loaded: ClassVar[dict[str, TyperGroup]] = {}
    _writing_help: ClassVar[bool] = False

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        if LazyCommands._writing_help:
            return TyperCommand(cmd_name, help=entry.help)
        return load_command(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        LazyCommands._writing_help = True
        try:
            super().format_help(ctx, formatter)
        finally:
            LazyCommands._writing_help = False


def _no_options() -> None:
    """Group placeholder."""


app = typer.Typer(
    name="bst",
    cls=LazyCommands,
    help="bst, the Bybit Strategy Tester: market data, backtests, trading and a local Bybit simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="also write log lines to stderr (BYBIT_LOG_LEVEL); by default they go only to BYBIT_LOG_DIR",
    ),
) -> None:
    """bst, the Bybit Strategy Tester."""
    common.options.verbose = verbose


def run(args: Any = None) -> None:
    """Entry point of the `bst` console script."""
    sys.exit(common.run_app(app))


if __name__ == "__main__":
    run()
