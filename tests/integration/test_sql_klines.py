"""SQL persistence on a SQLite file and on real PostgreSQL: migrations, exact bulk upserts, queries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from bst.data.sql import (
    DatabaseError,
    DatabaseNotReadyError,
    KlineDatabase,
    head_revision,
    normalize_url,
    rows_from_bars,
)
from bst.domain.errors import ConfigError
from bst.domain.market import Bar, Category, Interval

T0 = 1_704_067_200_000  # 2024-01-01
MIN = 60_000


def records(count: int, start: int = T0, close: str = "42000.1") -> list[list[str]]:
    return [
        [str(start + i * MIN), "42000.5", "42010", "41990.25", close, "12.3456", "518374.12345678901234567"]
        for i in range(count)
    ]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[KlineDatabase]:
    db = KlineDatabase(f"sqlite+aiosqlite:///{tmp_path}/nested/bst.sqlite")
    yield db
    await db.close()


@pytest.fixture(scope="module")
def pg_url(postgres_url: str) -> Iterator[str]:
    """A database of this module's own (migrations up and down must not disturb other tests)."""
    import asyncio

    admin = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bst_sqltest_{uuid.uuid4().hex[:8]}"

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


async def test_sqlite_file_is_migrated_on_first_use(sqlite_db: KlineDatabase, tmp_path: Path) -> None:
    assert await sqlite_db.current_revision() is None
    written = await sqlite_db.upsert_klines(Category.LINEAR, "BTCUSDT", Interval.M1, records(3))
    assert written == 3
    assert (tmp_path / "nested" / "bst.sqlite").exists()
    assert await sqlite_db.current_revision() == head_revision() == "0002_market_data_snapshots"
    async with sqlite_db.engine.connect() as conn:
        tables = (
            (await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))).scalars().all()
        )
    assert {"klines", "market_data_snapshots", "bst_alembic_version"} <= set(tables)


async def test_a_recorder_table_made_before_the_migration_is_adopted(tmp_path: Path) -> None:
    from bst.data.market_snapshots import MarketSnapshotStore

    url = f"sqlite+aiosqlite:///{tmp_path}/rec.sqlite"
    recorder = MarketSnapshotStore(url)
    await recorder.open()  # creates market_data_snapshots itself, as bst record --db did before 0002
    await recorder.close()
    db = KlineDatabase(url)
    try:
        await db.open()
        assert await db.current_revision() == head_revision()
    finally:
        await db.close()


async def test_sqlite_round_trip_is_exact_and_upserts_replace(sqlite_db: KlineDatabase) -> None:
    await sqlite_db.upsert_klines(Category.LINEAR, "BTCUSDT", Interval.M1, records(1000))
    await sqlite_db.upsert_klines(Category.LINEAR, "BTCUSDT", Interval.M1, records(10, T0 + 995 * MIN, "1.5"))
    bars = await sqlite_db.fetch_bars(Category.LINEAR, "BTCUSDT", Interval.M1, T0, T0 + 2000 * MIN)
    assert len(bars) == 1005
    assert bars[0] == Bar(
        T0,
        Decimal("42000.5"),
        Decimal("42010"),
        Decimal("41990.25"),
        Decimal("42000.1"),
        Decimal("12.3456"),
        Decimal("518374.12345678901234567"),
    )
    assert [b.close for b in bars[994:997]] == [Decimal("42000.1"), Decimal("1.5"), Decimal("1.5")]
    counts = await sqlite_db.series_counts()
    assert [(c.symbol, c.rows, c.first_open_ms, c.last_open_ms) for c in counts] == [
        ("BTCUSDT", 1005, T0, T0 + 1004 * MIN)
    ]
    assert rows_from_bars(bars[:1]) == [records(1)[0]]


async def test_a_repeated_open_time_in_one_batch_keeps_the_last(sqlite_db: KlineDatabase) -> None:
    batch = records(2) + records(1, close="99") + records(1, T0 + MIN, close="98")
    await sqlite_db.upsert_klines(Category.LINEAR, "BTCUSDT", Interval.M1, batch)
    bars = await sqlite_db.fetch_bars(Category.LINEAR, "BTCUSDT", Interval.M1, T0, T0 + 10 * MIN)
    assert [b.close for b in bars] == [Decimal("99"), Decimal("98")]
    with pytest.raises(ConfigError, match="invalid symbol"):
        await sqlite_db.upsert_klines(Category.LINEAR, "btc'; drop", Interval.M1, batch)


async def test_series_are_kept_apart(sqlite_db: KlineDatabase) -> None:
    await sqlite_db.upsert_klines(Category.LINEAR, "BTCUSDT", Interval.M1, records(5))
    await sqlite_db.upsert_klines(Category.SPOT, "BTCUSDT", Interval.M1, records(2))
    await sqlite_db.upsert_klines(Category.LINEAR, "BTCUSDT", Interval.H1, records(1))
    counts = {(c.category, c.interval): c.rows for c in await sqlite_db.series_counts()}
    assert counts == {("linear", "1"): 5, ("spot", "1"): 2, ("linear", "60"): 1}


async def test_unreachable_database_is_one_clear_error() -> None:
    db = KlineDatabase("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    with pytest.raises(DatabaseError, match="cannot open database"):
        await db.open()
    await db.close()


def test_urls_get_async_drivers() -> None:
    assert normalize_url("sqlite:///data/x.sqlite") == "sqlite+aiosqlite:///data/x.sqlite"
    assert normalize_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    with pytest.raises(ConfigError, match="unsupported database"):
        normalize_url("mysql://h/db")


@pytest.mark.postgres
async def test_postgres_needs_an_explicit_upgrade_then_upserts_exactly(pg_url: str) -> None:
    db = KlineDatabase(pg_url)
    try:
        await db.downgrade("base")  # independent of test order within the module's database
        with pytest.raises(DatabaseNotReadyError, match="bst db upgrade"):
            await db.open()
        assert await db.upgrade() == (None, head_revision())
        await db.upsert_klines(Category.LINEAR, "ETHUSDT", Interval.M1, records(5000))
        await db.upsert_klines(Category.LINEAR, "ETHUSDT", Interval.M1, records(3, T0 + 4999 * MIN, "7"))
        batch = records(1, T0, close="5") + records(1, T0, close="6")
        await db.upsert_klines(Category.LINEAR, "ETHUSDT", Interval.M1, batch)
        bars = await db.fetch_bars(Category.LINEAR, "ETHUSDT", Interval.M1, T0, T0 + 10_000 * MIN)
        assert len(bars) == 5002
        assert bars[0].close == Decimal("6")  # a repeated key within one batch: the last wins
        assert bars[1].turnover == Decimal("518374.12345678901234567")
        assert [b.close for b in bars[4998:]] == [
            Decimal("42000.1"),
            Decimal("7"),
            Decimal("7"),
            Decimal("7"),
        ]
        async with db.engine.connect() as conn:
            kinds = (
                await conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'klines'"))
            ).all()
            types = (
                await conn.execute(
                    text(
                        "SELECT data_type FROM information_schema.columns "
                        "WHERE table_name = 'klines' AND column_name IN ('open', 'turnover')"
                    )
                )
            ).all()
        assert any("USING brin (open_time)" in row[0] for row in kinds)  # no TimescaleDB here
        async with db.engine.connect() as conn:
            recorded = (
                await conn.execute(
                    text("SELECT indexdef FROM pg_indexes WHERE tablename = 'market_data_snapshots'")
                )
            ).all()
        assert any("USING brin (recv_ms)" in row[0] for row in recorded)
        assert {row[0] for row in types} == {"numeric"}
    finally:
        await db.close()


@pytest.mark.postgres
async def test_postgres_migrations_go_down_and_up(pg_url: str) -> None:
    db = KlineDatabase(pg_url)
    try:
        await db.upgrade()
        await db.downgrade("base")
        assert await db.current_revision() is None
        async with db.engine.connect() as conn:
            exists = (await conn.execute(text("SELECT to_regclass('klines')"))).scalar()
        assert exists is None
        await db.upgrade()
        assert await db.current_revision() == head_revision()
    finally:
        await db.close()
