"""`bst db upgrade|current|stats`: the SQL schema (Alembic migrations shipped with bst) and contents."""

from __future__ import annotations

import typer
from rich.table import Table

from bst.cli import common
from bst.data.sql import KlineDatabase, head_revision
from bst.data.verify import iso_ms

db_app = typer.Typer(help="SQL database: migrations and contents.", no_args_is_help=True)


def _database() -> KlineDatabase:
    return KlineDatabase(common.settings().database.url)


@db_app.command("upgrade")
def upgrade(revision: str = typer.Option("head", "--revision", help="target revision")) -> None:
    """Apply the schema migrations to BYBIT_DATABASE_URL."""
    db = _database()

    async def run() -> tuple[str | None, str | None]:
        try:
            return await db.upgrade(revision)
        finally:
            await db.close()

    before, after = common.run_async(run())
    if before == after:
        common.console.print(f"{db.safe_url}: already at {after}")
    else:
        common.console.print(f"{db.safe_url}: upgraded {before or 'empty'} -> {after}")


@db_app.command("current")
def current() -> None:
    """Print the schema revision of BYBIT_DATABASE_URL and the one this bst needs."""
    db = _database()

    async def run() -> str | None:
        try:
            return await db.current_revision()
        finally:
            await db.close()

    revision = common.run_async(run())
    head = head_revision()
    state = "up to date" if revision == head else "run `bst db upgrade`"
    common.console.print(f"{db.safe_url}: at {revision or 'nothing'}, bst needs {head} ({state})")


@db_app.command("stats")
def stats() -> None:
    """Print the candle series stored in SQL: rows and time bounds."""
    db = _database()

    async def run() -> list[tuple[str, str, str, int, int | None, int | None]]:
        try:
            counts = await db.series_counts()
        finally:
            await db.close()
        return [(c.category, c.symbol, c.interval, c.rows, c.first_open_ms, c.last_open_ms) for c in counts]

    rows = common.run_async(run())
    if not rows:
        common.console.print(f"{db.safe_url}: no candles stored")
        return
    table = Table(title=f"candles in {db.safe_url}")
    for name in ("category", "symbol", "interval", "rows", "first bar", "last bar"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for cat, sym, iv, count, first, last in rows:
        table.add_row(cat, sym, iv, f"{count:,}", iso_ms(first), iso_ms(last))
    common.console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `db` group to the root app."""
    app.add_typer(db_app, name="db")
