"""`bst config show`: the effective settings, secrets masked."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from bst.cli import common

config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)


@config_app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """Print the effective settings (defaults < .env < environment), secrets masked."""
    values = common.settings().masked()
    if as_json:
        common.console.print_json(json.dumps(values))
        return
    table = Table(title="bst settings", show_lines=False)
    table.add_column("variable")
    table.add_column("value")
    for key, value in values.items():
        table.add_row(key, value)
    common.console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `config` group to the root app."""
    app.add_typer(config_app, name="config")
