"""SQL persistence of candles (SQLAlchemy 2.0 async): SQLite by default, PostgreSQL by URL.

The schema comes from the Alembic migrations shipped in `bst/data/migrations`; a SQLite file is
upgraded automatically on first use, a PostgreSQL database by `bst db upgrade` (shared servers
get schema changes on purpose, not as a side effect). Prices and sizes are exact: NUMERIC on
PostgreSQL, the exchange's decimal text on SQLite (which has no exact decimal type).
Writes are bulk upserts: one `INSERT … SELECT FROM json_each(?)` per batch on SQLite, COPY into a
staging table on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Dialect,
    MetaData,
    Numeric,
    String,
    Table,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator, TypeEngine

from bst.domain.errors import BstError, ConfigError
from bst.domain.market import Bar, Category, Interval

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "bst_alembic_version"
PRICE_FIELDS = ("open", "high", "low", "close", "volume", "turnover")

KlineRow = Sequence[str]
"""One bar as the exchange prints it: `[open_time_ms, open, high, low, close, volume, turnover]`."""

_SAFE_NAME = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,39}$")


class DatabaseError(BstError):
    """The database is unreachable or refused an operation; the message says which."""


class DatabaseNotReadyError(DatabaseError):
    """The schema is not at the version this bst needs (run `bst db upgrade`)."""


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC where the database has one, decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else Decimal(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


metadata = MetaData()
klines = Table(
    "klines",
    metadata,
    Column("category", String(16), primary_key=True),
    Column("symbol", String(40), primary_key=True),
    Column("interval", String(4), primary_key=True),
    Column("open_time", BigInteger, primary_key=True, comment="bar open time, epoch ms UTC"),
    *(Column(name, ExactDecimal(), nullable=False) for name in PRICE_FIELDS),
)


def normalize_url(url: str) -> str:
    """Return an async SQLAlchemy URL: plain sqlite/postgresql URLs get the async driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise ConfigError(f"invalid BYBIT_DATABASE_URL {url!r}: {e}") from None
    driver = parsed.drivername
    if driver in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif driver in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif driver not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError(
            f"unsupported database {driver!r}: use sqlite+aiosqlite:///path or postgresql+asyncpg://..."
        )
    return parsed.render_as_string(hide_password=False)


def _alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """Return the newest migration shipped with this bst."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise DatabaseError("no migrations found in the bst package")
    return head


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    # Alembic narrates every step at INFO; bst logs the one line that matters (db.upgrade).
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _current_revision(connection: Connection) -> str | None:
    with _quiet_alembic():
        ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def _upgrade(connection: Connection, revision: str) -> None:
    with _quiet_alembic():
        command.upgrade(_alembic_config(connection), revision)


def _downgrade(connection: Connection, revision: str) -> None:
    with _quiet_alembic():
        command.downgrade(_alembic_config(connection), revision)


@dataclass(frozen=True, slots=True)
class SeriesCount:
    """Row count and time bounds of one series in SQL."""

    category: str
    symbol: str
    interval: str
    rows: int
    first_open_ms: int | None
    last_open_ms: int | None


class KlineDatabase:
    """Candles in SQL: open (migrate), bulk upsert, query."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(self.url, echo=echo, pool_pre_ping=True)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._ready = False

    @property
    def safe_url(self) -> str:
        """Return the URL with any password masked, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def open(self) -> None:
        """Make the schema usable: upgrade a SQLite file, or check that PostgreSQL is at head."""
        if self._ready:
            return
        head = head_revision()
        try:
            async with self.engine.begin() as conn:
                current = await conn.run_sync(_current_revision)
                if current != head:
                    if self.dialect != "sqlite":
                        raise DatabaseNotReadyError(
                            f"database {self.safe_url} schema is at {current or 'nothing'}, "
                            f"bst needs {head}: run `bst db upgrade`"
                        )
                    log.info("db.upgrade", url=self.safe_url, from_revision=current, to_revision=head)
                    await conn.run_sync(_upgrade, "head")
        except (OperationalError, DBAPIError, OSError) as e:
            raise DatabaseError(f"cannot open database {self.safe_url}: {_reason(e)}") from e
        self._ready = True

    async def upgrade(self, revision: str = "head") -> tuple[str | None, str | None]:
        """Apply migrations up to `revision`; return (revision before, revision after)."""
        try:
            async with self.engine.begin() as conn:
                before = await conn.run_sync(_current_revision)
                await conn.run_sync(_upgrade, revision)
                after = await conn.run_sync(_current_revision)
        except (OperationalError, DBAPIError, OSError) as e:
            raise DatabaseError(f"cannot migrate database {self.safe_url}: {_reason(e)}") from e
        self._ready = after == head_revision()
        return before, after

    async def downgrade(self, revision: str) -> None:
        """Revert migrations down to `revision` ("base" removes everything)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_downgrade, revision)
        self._ready = False

    async def current_revision(self) -> str | None:
        """Return the schema revision of the database (None when never migrated)."""
        try:
            async with self.engine.connect() as conn:
                return await conn.run_sync(_current_revision)
        except (OperationalError, DBAPIError, OSError) as e:
            raise DatabaseError(f"cannot open database {self.safe_url}: {_reason(e)}") from e

    async def upsert_klines(
        self, category: Category, symbol: str, interval: Interval, rows: Sequence[KlineRow]
    ) -> int:
        """Insert or replace bars by (category, symbol, interval, open_time); return rows given.

        `rows` are wire rows (7 decimal strings, any order; a repeated open time: the last wins).
        """
        if not rows:
            return 0
        if not _SAFE_NAME.match(symbol):
            raise ConfigError(f"invalid symbol {symbol!r}: use the exchange's upper-case name")
        await self.open()
        try:
            async with self.engine.begin() as conn:
                if self.dialect == "sqlite":
                    await _upsert_sqlite(conn, category.value, symbol, interval.value, rows)
                else:
                    await _upsert_postgres(conn, category.value, symbol, interval.value, rows)
        except (OperationalError, DBAPIError, OSError) as e:
            raise DatabaseError(f"writing klines to {self.safe_url} failed: {_reason(e)}") from e
        return len(rows)

    async def fetch_bars(
        self, category: Category, symbol: str, interval: Interval, start_ms: int, end_ms: int
    ) -> list[Bar]:
        """Return the bars opening in `[start_ms, end_ms)`, oldest first, exact."""
        await self.open()
        stmt = (
            select(klines.c.open_time, *(klines.c[name] for name in PRICE_FIELDS))
            .where(
                klines.c.category == category.value,
                klines.c.symbol == symbol,
                klines.c.interval == interval.value,
                klines.c.open_time >= start_ms,
                klines.c.open_time < end_ms,
            )
            .order_by(klines.c.open_time)
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(stmt)
            return [Bar(int(row[0]), *row[1:]) for row in result]

    async def series_counts(self) -> list[SeriesCount]:
        """Return rows and bounds of every series in the table."""
        await self.open()
        stmt = (
            select(
                klines.c.category,
                klines.c.symbol,
                klines.c.interval,
                func.count(),
                func.min(klines.c.open_time),
                func.max(klines.c.open_time),
            )
            .group_by(klines.c.category, klines.c.symbol, klines.c.interval)
            .order_by(klines.c.category, klines.c.symbol, klines.c.interval)
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(stmt)
            return [SeriesCount(r[0], r[1], r[2], int(r[3]), r[4], r[5]) for r in result]

    async def close(self) -> None:
        """Release every pooled connection."""
        await self.engine.dispose()


def rows_from_bars(bars: Iterable[Bar]) -> list[list[str]]:
    """Return wire rows (exact decimal strings) of domain bars."""
    return [
        [
            str(b.open_time_ms),
            str(b.open),
            str(b.high),
            str(b.low),
            str(b.close),
            str(b.volume),
            str(b.turnover),
        ]
        for b in bars
    ]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (bst data, the service) work while a download writes. synchronous=NORMAL
    # skips the fsync per commit (WAL syncs at checkpoints): a power cut may lose the newest
    # commits but never corrupts the file, and the manifest is only advanced after a commit,
    # so a lost commit is simply downloaded again by the next run. An application crash or
    # kill -9 loses nothing that was committed.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_COLUMNS = 'category, symbol, "interval", open_time, open, high, low, close, volume, turnover'
_UPDATE = ", ".join(f"{name} = excluded.{name}" for name in PRICE_FIELDS)
_CONFLICT = 'ON CONFLICT (category, symbol, "interval", open_time) DO UPDATE SET ' + _UPDATE


def _literal(value: str) -> str:
    # Only enum values and names matching _SAFE_NAME get here: quoting cannot be escaped.
    return "'" + value.replace("'", "''") + "'"


_SQLITE_HAS_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)  # JSON functions built in since 3.38
_ROW_FIELDS = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(1 + len(PRICE_FIELDS)))


async def _upsert_sqlite(
    conn: AsyncConnection, category: str, symbol: str, interval: str, rows: Sequence[KlineRow]
) -> None:
    # The series key is inlined (validated) so each wire row goes in as it is; SQLite's INTEGER
    # affinity stores the open-time text as an integer.
    key = f"{_literal(category)}, {_literal(symbol)}, {_literal(interval)}"
    if not _SQLITE_HAS_JSON:
        sql = f"INSERT INTO klines ({_COLUMNS}) VALUES ({key}, ?, ?, ?, ?, ?, ?, ?) {_CONFLICT}"
        await conn.exec_driver_sql(sql, [tuple(r) for r in rows])
        return
    # The whole batch is one JSON text and one statement: SQLite walks it in C with the GIL
    # released. executemany binds and steps row by row, re-taking the GIL for every row, which
    # convoys with the event loop thread (3-5x slower while a download is fetching).
    # json_extract returns each string as it is (exact); json_each yields the array in order,
    # so of a repeated open time the last row wins, as with executemany. ("WHERE true" keeps
    # SQLite from reading ON CONFLICT as a join constraint.)
    sql = (
        f"INSERT INTO klines ({_COLUMNS}) SELECT {key}, {_ROW_FIELDS} "
        f"FROM json_each(?) WHERE true {_CONFLICT}"
    )
    payload = orjson.dumps(rows, default=list).decode()  # default: rows that are other sequences
    await conn.exec_driver_sql(sql, (payload,))


async def _upsert_postgres(
    conn: AsyncConnection, category: str, symbol: str, interval: str, rows: Sequence[KlineRow]
) -> None:
    # COPY the rows as CSV text into a staging table (PostgreSQL parses NUMERIC text exactly),
    # then one set-based upsert; DISTINCT ON because a key may repeat within one batch.
    await conn.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS klines_stage "
            "(seq BIGSERIAL, open_time BIGINT, open NUMERIC, high NUMERIC, low NUMERIC, close NUMERIC, "
            "volume NUMERIC, turnover NUMERIC) ON COMMIT DELETE ROWS"
        )
    )
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None  # an open pooled connection always has its driver connection
    payload = ("\n".join(",".join(r) for r in rows) + "\n").encode()
    await driver.copy_to_table(
        "klines_stage",
        source=io.BytesIO(payload),
        columns=["open_time", "open", "high", "low", "close", "volume", "turnover"],
        format="csv",
    )
    await conn.execute(
        text(
            f"INSERT INTO klines ({_COLUMNS}) "
            "SELECT DISTINCT ON (open_time) :category, :symbol, :interval, "
            "open_time, open, high, low, close, volume, turnover "
            f"FROM klines_stage ORDER BY open_time, seq DESC {_CONFLICT}"
        ),
        {"category": category, "symbol": symbol, "interval": interval},
    )


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip().splitlines()[0]
