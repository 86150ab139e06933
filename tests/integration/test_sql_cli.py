"""`bst db upgrade|current|stats` against real PostgreSQL and a SQLite file."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bst.cli import common, main
from bst.data.sql import head_revision


@pytest.fixture
def run_db(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Return `run(args, database_url) -> (exit code, stdout, stderr)` running `bst db ...`."""

    def run(args: list[str], url: str) -> tuple[int, str, str]:
        monkeypatch.setenv("BYBIT_DATABASE_URL", url)
        monkeypatch.setenv("BYBIT_LOG_LEVEL", "WARNING")
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setattr(sys, "argv", ["bst", "db", *args])
        code = common.run_app(main.app)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def fresh_pg(postgres_url: str) -> Iterator[str]:
    """A database of this test's own, so migrations can start from nothing."""
    admin = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bst_dbcli_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.postgres
def test_db_upgrade_on_postgres(fresh_pg: str, run_db: Any) -> None:
    head = head_revision()
    code, out, _ = run_db(["current"], fresh_pg)
    assert code == 0
    assert f"at nothing, bst needs {head} (run `bst db upgrade`)" in out
    code, out, _ = run_db(["upgrade"], fresh_pg)
    assert code == 0
    assert f"upgraded empty -> {head}" in out
    code, out, _ = run_db(["upgrade"], fresh_pg)
    assert f"already at {head}" in out
    code, out, _ = run_db(["current"], fresh_pg)
    assert "(up to date)" in out
    code, out, _ = run_db(["stats"], fresh_pg)
    assert code == 0
    assert "no candles stored" in out


def test_db_commands_on_sqlite_and_unreachable_server(tmp_path: Path, run_db: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/bst.sqlite"
    code, out, _ = run_db(["upgrade"], url)
    assert code == 0
    assert f"upgraded empty -> {head_revision()}" in out
    code, _, err = run_db(["upgrade"], "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("error: cannot migrate database postgresql+asyncpg://")
    code, _, err = run_db(["current"], "mysql://x/y")
    assert code == 1
    assert "unsupported database 'mysql'" in err
