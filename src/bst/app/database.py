"""The SQL database as users see it: schema migrations and what candles it holds."""

from __future__ import annotations

from dataclasses import dataclass

from bst.app.stores import kline_database
from bst.data.sql import SeriesCount, head_revision
from bst.settings import Settings

__all__ = ["SchemaState", "SeriesCount", "SeriesCounts", "schema_state", "series_counts", "upgrade_schema"]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the schema of `safe_url` (password masked) stands against the revision bst needs."""

    safe_url: str
    before: str | None
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        """Return True when the database is at the revision this bst needs."""
        return self.current == self.head


@dataclass(frozen=True, slots=True)
class SeriesCounts:
    """The candle series stored in SQL at `safe_url`."""

    safe_url: str
    series: list[SeriesCount]


async def upgrade_schema(settings: Settings, revision: str = "head") -> SchemaState:
    """Apply the shipped migrations to BYBIT_DATABASE_URL up to `revision`."""
    db = kline_database(settings)
    try:
        before, after = await db.upgrade(revision)
    finally:
        await db.close()
    return SchemaState(db.safe_url, before, after, head_revision())


async def schema_state(settings: Settings) -> SchemaState:
    """Return the schema revision of BYBIT_DATABASE_URL and the one this bst needs."""
    db = kline_database(settings)
    try:
        current = await db.current_revision()
    finally:
        await db.close()
    return SchemaState(db.safe_url, current, current, head_revision())


async def series_counts(settings: Settings) -> SeriesCounts:
    """Return the candle series stored in SQL: rows and time bounds."""
    db = kline_database(settings)
    try:
        counts = await db.series_counts()
    finally:
        await db.close()
    return SeriesCounts(db.safe_url, list(counts))
