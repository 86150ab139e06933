"""market_data_snapshots: raw recorded stream messages (`bst record --db`), keyed by receive time.

Mirrors `bst.data.market_snapshots` (which still creates the table on first use where no migration
ran). On PostgreSQL: a TimescaleDB hypertable on `recv_ms` with daily chunks where the extension is
available (the recorder adds its retention policy at run time), else a BRIN index on `recv_ms`.

Revision ID: 0002_market_data_snapshots
Revises: 0001_klines
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_market_data_snapshots"
down_revision: str | None = "0001_klines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAY_MS = 86_400_000


def upgrade() -> None:
    bind = op.get_bind()
    if sa.inspect(bind).has_table("market_data_snapshots"):
        return  # created on first use by an older `bst record --db`: same schema
    op.create_table(
        "market_data_snapshots",
        sa.Column("recv_ms", sa.BigInteger(), nullable=False, comment="local receive time, epoch ms UTC"),
        sa.Column("session", sa.String(32), nullable=False, comment="recording session id"),
        sa.Column("n", sa.BigInteger(), nullable=False, comment="message number within the session"),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(80), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, comment="snapshot, delta, trade, kline or ticker"),
        sa.Column("ts_ms", sa.BigInteger(), nullable=True, comment="exchange push time, epoch ms"),
        sa.Column("update_id", sa.BigInteger(), nullable=True, comment="order-book u"),
        sa.Column("seq", sa.BigInteger(), nullable=True, comment="cross sequence"),
        sa.Column("cts_ms", sa.BigInteger(), nullable=True, comment="matching-engine time, epoch ms"),
        sa.Column("payload", sa.Text(), nullable=False, comment="the message exactly as received"),
        sa.PrimaryKeyConstraint("recv_ms", "session", "n", name="pk_market_data_snapshots"),
    )
    op.create_index(
        "ix_market_data_snapshots_symbol", "market_data_snapshots", ["category", "symbol", "recv_ms"]
    )
    if bind.dialect.name != "postgresql":
        return
    if _timescaledb_ready(bind):
        op.execute(
            "SELECT create_hypertable('market_data_snapshots', 'recv_ms', "
            f"chunk_time_interval => {DAY_MS}::bigint, migrate_data => true, if_not_exists => true)"
        )
        op.execute(
            "CREATE OR REPLACE FUNCTION bst_unix_now_ms() RETURNS BIGINT LANGUAGE SQL STABLE AS "
            "$$ SELECT (extract(epoch FROM now()) * 1000)::bigint $$"
        )
        op.execute(
            "SELECT set_integer_now_func('market_data_snapshots', 'bst_unix_now_ms', "
            "replace_if_exists => true)"
        )
    else:
        op.create_index(
            "ix_market_data_snapshots_recv_brin",
            "market_data_snapshots",
            ["recv_ms"],
            postgresql_using="brin",
        )


def downgrade() -> None:
    op.drop_table("market_data_snapshots")


def _timescaledb_ready(bind: sa.Connection) -> bool:
    """Return True when TimescaleDB is (or can be) enabled in this database."""
    if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first():
        return True
    if not bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")).first():
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    except sa.exc.DBAPIError:
        return False
    return True
