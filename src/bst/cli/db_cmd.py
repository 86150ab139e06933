"""`bst db upgrade|current|stats`: the SQL schema (Alembic migrations shipped with bst) and contents."""

from __future__ import annotations

import typer
from rich.table import Table

from bst.app import database
from bst.app.candles import iso_ms
from bst.cli import common

db_app = typer.Typer(help="SQL database: migrations and contents.", no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="machine-readable JSON output")


@db_app.command("upgrade")
def upgrade(revision: str = typer.Option("head", "--revision", help="target revision")) -> None:
    """Apply the schema migrations to BYBIT_DATABASE_URL."""
    state = common.run_async(database.upgrade_schema(common.settings(), revision))
    if state.before == state.current:
        common.console.print(f"{state.safe_url}: already at {state.current}", soft_wrap=True)
    else:
        common.console.print(
            f"{state.safe_url}: upgraded {state.before or 'empty'} -> {state.current}", soft_wrap=True
        )


@db_app.command("current")
def current(as_json: bool = JSON_OPTION) -> None:
    """Print the schema revision of BYBIT_DATABASE_URL and the one this bst needs."""
    state = common.run_async(database.schema_state(common.settings()))
    if as_json:
        common.print_json(
            {
                "url": state.safe_url,
                "current": state.current,
                "head": state.head,
                "up_to_date": state.up_to_date,
            }
        )
        return
    note = "up to date" if state.up_to_date else "run `bst db upgrade`"
    common.console.print(
        f"{state.safe_url}: at {state.current or 'nothing'}, bst needs {state.head} ({note})", soft_wrap=True
    )


@db_app.command("stats")
def stats(as_json: bool = JSON_OPTION) -> None:
    """Print the candle series stored in SQL: rows and time bounds."""
    counts = common.run_async(database.series_counts(common.settings()))
    if as_json:
        common.print_json(
            [
                {
                    "category": c.category,
                    "symbol": c.symbol,
                    "interval": c.interval,
                    "rows": c.rows,
                    "first_open_ms": c.first_open_ms,
                    "last_open_ms": c.last_open_ms,
                }
                for c in counts.series
            ]
        )
        return
    if not counts.series:
        common.console.print(f"{counts.safe_url}: no candles stored", soft_wrap=True)
        return
    table = Table(title=f"candles in {counts.safe_url}")
    for name in ("category", "symbol", "interval", "rows", "first bar", "last bar"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for c in counts.series:
        table.add_row(
            c.category, c.symbol, c.interval, f"{c.rows:,}", iso_ms(c.first_open_ms), iso_ms(c.last_open_ms)
        )
    common.print_table(table)


def register(app: typer.Typer) -> None:
    """Add the `db` group to the root app."""
    app.add_typer(db_app, name="db")
