"""Alembic environment for bst's own tables (version table `bst_alembic_version`).

bst runs migrations in-process (`bst db upgrade`, or automatically for SQLite) and hands over an
open connection in `config.attributes["connection"]`. Run by the `alembic` command instead, it
connects to `sqlalchemy.url` with the async driver itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

VERSION_TABLE = "bst_alembic_version"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("bst migrations need a live database connection (no --sql mode)")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url, or run `bst db upgrade`")
    asyncio.run(_run_with_own_engine(url))


main()
