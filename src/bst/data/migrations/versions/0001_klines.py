"""klines table: one row per candle, exact prices; a hypertable where TimescaleDB exists.

Revision ID: 0001_klines
Revises:
Create Date: 2026-07-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_klines"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEEK_MS = 7 * 86_400_000
MONTH_MS = 30 * 86_400_000


def _price(name: str) -> sa.Column[object]:
    # Exact: NUMERIC on PostgreSQL; SQLite has no exact decimal, so the exchange's text is kept.
    kind = sa.Numeric().with_variant(sa.String(64), "sqlite")
    return sa.Column(name, kind, nullable=False)


def upgrade() -> None:
    op.create_table(
        "klines",
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("interval", sa.String(4), nullable=False),
        sa.Column("open_time", sa.BigInteger(), nullable=False, comment="bar open time, epoch ms UTC"),
        *(_price(name) for name in ("open", "high", "low", "close", "volume", "turnover")),
        sa.PrimaryKeyConstraint("category", "symbol", "interval", "open_time", name="pk_klines"),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if _timescaledb_ready(bind):
        _make_hypertable()
    else:
        # Rows arrive in time order, so a BRIN index on time is tiny and enough for range scans.
        op.create_index("ix_klines_open_time_brin", "klines", ["open_time"], postgresql_using="brin")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS bst_unix_now_ms() CASCADE")
    op.drop_table("klines")


def _timescaledb_ready(bind: sa.Connection) -> bool:
    """Return True when TimescaleDB is (or can be) enabled in this database."""
    installed = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first()
    if installed:
        return True
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    if not available:
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    except sa.exc.DBAPIError:
        return False  # available but not loadable (shared_preload_libraries) or not permitted
    return True


def _make_hypertable() -> None:
    # Weekly chunks of integer (epoch ms) time; compression of chunks older than 30 days,
    # segmented per series so one series' history decompresses alone.
    op.execute(
        f"SELECT create_hypertable('klines', 'open_time', chunk_time_interval => {WEEK_MS}::bigint, "
        "migrate_data => true, if_not_exists => true)"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION bst_unix_now_ms() RETURNS BIGINT LANGUAGE SQL STABLE AS "
        "$$ SELECT (extract(epoch FROM now()) * 1000)::bigint $$"
    )
    op.execute("SELECT set_integer_now_func('klines', 'bst_unix_now_ms', replace_if_exists => true)")
    op.execute(
        "ALTER TABLE klines SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'category, symbol, interval', "
        "timescaledb.compress_orderby = 'open_time')"
    )
    op.execute(
        f"SELECT add_compression_policy('klines', compress_after => {MONTH_MS}::bigint, "
        "if_not_exists => true)"
    )
