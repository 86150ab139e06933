"""The `bst` command: the composition root that reads settings and wires every layer.

Each command group lives in its own module exposing `register(app)`. Modules are imported only when
one of their commands runs: `bst market time` should not pay for pandas, pyarrow, SQLAlchemy and the
simulator (about 1.5 s of imports). Every expected failure becomes one clear line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

from bst.cli import common

# Command name -> the module whose `register(app)` defines it (keep sorted by command).
COMMAND_MODULES: dict[str, str] = {
    "balance": "bst.cli.trade_cmd",
    "config": "bst.cli.config_cmd",
    "data": "bst.cli.data_cmd",
    "db": "bst.cli.db_cmd",
    "download": "bst.cli.download_cmd",
    "market": "bst.cli.market_cmd",
    "order": "bst.cli.trade_cmd",
    "orders": "bst.cli.trade_cmd",
    "positions": "bst.cli.trade_cmd",
    "record": "bst.cli.stream_cmd",
    "sim": "bst.cli.sim_cmd",
    "watch": "bst.cli.stream_cmd",
}


class LazyCommands(TyperGroup):
    """A root group that imports a command's module the first time the command is looked up."""

    _loaded: ClassVar[dict[str, TyperGroup]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return super().get_command(ctx, cmd_name)
        group = self._loaded.get(module_name)
        if group is None:
            scratch = typer.Typer(add_completion=False)
            scratch.callback()(_no_options)  # a callback keeps even a one-command module a group
            importlib.import_module(module_name).register(scratch)
            group = typer.main.get_group(scratch)
            self._loaded[module_name] = group
        return group.get_command(ctx, cmd_name)


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
def root() -> None:
    """bst, the Bybit Strategy Tester."""


def run(args: Any = None) -> None:
    """Entry point of the `bst` console script."""
    sys.exit(common.run_app(app))


if __name__ == "__main__":
    run()
