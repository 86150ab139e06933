"""The `bst` command: the composition root that reads settings and wires every layer.

Each command group lives in its own module exposing `register(app)`; this module adds them and
turns every expected failure into one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from bst.cli import common

app = typer.Typer(
    name="bst",
    help="bst, the Bybit Strategy Tester: market data, backtests, trading and a local Bybit simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command groups, one module each (keep this list sorted).
from bst.cli import config_cmd, data_cmd, db_cmd, download_cmd, market_cmd, sim_cmd, stream_cmd, trade_cmd  # noqa: E402

config_cmd.register(app)
data_cmd.register(app)
db_cmd.register(app)
download_cmd.register(app)
market_cmd.register(app)
sim_cmd.register(app)
stream_cmd.register(app)
trade_cmd.register(app)


def run() -> None:
    """Entry point of the `bst` console script."""
    sys.exit(common.run_app(app))


if __name__ == "__main__":
    run()
