"""Raw stream messages in SQL: the `market_data_snapshots` table (`bst record --db`) and its replay.

One row per message, exactly as received (`payload`), with the fields worth querying pulled out:
receive time, category, topic, symbol, kind (snapshot, delta, trade, kline, ticker), exchange time,
`u`, `seq`, `cts`. Rows are keyed by (recv_ms, session, n): a recording session's id and message
number keep two sessions (or two messages in one millisecond) apart.

The table is created on first use when missing (on PostgreSQL a TimescaleDB hypertable on `recv_ms`
with a retention policy where the extension is available, otherwise a BRIN index on `recv_ms`).
It is not yet an Alembic migration of `bst.data.sql`: adding one moves the schema head that the
storage module's tests pin, so that step is left to the storage module's owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import structlog
from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, Text, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bst.data.recording import RecordedMessage
from bst.data.sql import DatabaseError, normalize_url
from bst.domain.market import Category

log = structlog.get_logger(__name__)

DAY_MS = 86_400_000
DEFAULT_RETENTION_DAYS = 30
FLUSH_ROWS = 2_000
FLUSH_INTERVAL_S = 1.0

metadata = MetaData()
market_data_snapshots = Table(
    "market_data_snapshots",
    metadata,
    Column("recv_ms", BigInteger, primary_key=True, comment="local receive time, epoch ms UTC"),
    Column("session", String(32), primary_key=True, comment="recording session id"),
    Column("n", BigInteger, primary_key=True, comment="message number within the session"),
    Column("category", String(16), nullable=False),
    Column("topic", String(80), nullable=False),
    Column("symbol", String(40), nullable=False),
    Column("kind", String(16), nullable=False, comment="snapshot, delta, trade, kline or ticker"),
    Column("ts_ms", BigInteger, nullable=True, comment="exchange push time, epoch ms"),
    Column("update_id", BigInteger, nullable=True, comment="order-book u"),
    Column("seq", BigInteger, nullable=True, comment="cross sequence"),
    Column("cts_ms", BigInteger, nullable=True, comment="matching-engine time, epoch ms"),
    Column("payload", Text, nullable=False, comment="the message exactly as received"),
    Index("ix_market_data_snapshots_symbol", "category", "symbol", "recv_ms"),
)

_KINDS = {"orderbook": None, "publicTrade": "trade", "kline": "kline", "tickers": "ticker"}


def row_of(category: Category, raw: str, recv_ms: int, session: str, n: int) -> dict[str, Any] | None:
    """Return the table row of one raw message, or None for a message without a topic (replies)."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("topic"), str):
        return None
    topic: str = msg["topic"]
    head, _, rest = topic.partition(".")
    data = msg.get("data")
    kind = _KINDS.get(head) or str(msg.get("type") or "other")
    update_id = seq = None
    if head == "orderbook" and isinstance(data, dict):
        update_id = data.get("u") if isinstance(data.get("u"), int) else None
        seq = data.get("seq") if isinstance(data.get("seq"), int) else None
        if update_id == 1:
            kind = "snapshot"
    ts = msg.get("ts")
    cts = msg.get("cts")
    return {
        "recv_ms": recv_ms,
        "session": session,
        "n": n,
        "category": category.value,
        "topic": topic,
        "symbol": rest.rsplit(".", 1)[-1] if rest else "",
        "kind": kind[:16],
        "ts_ms": ts if isinstance(ts, int) else None,
        "update_id": update_id,
        "seq": seq,
        "cts_ms": cts if isinstance(cts, int) else None,
        "payload": raw,
    }


class MarketSnapshotStore:
    """Write raw messages to `market_data_snapshots` in batches; read them back in receive order."""

    def __init__(self, url: str, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.dialect = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.engine: AsyncEngine = create_async_engine(self.url, pool_pre_ping=True)
        self.session = uuid.uuid4().hex
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._n = 0
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._ready = False

    @property
    def safe_url(self) -> str:
        """Return the URL with any password masked."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def open(self) -> None:
        """Create the table when missing and start the background flusher."""
        if not self._ready:
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(metadata.create_all, checkfirst=True)
                    if self.dialect == "postgresql":
                        await self._timescale(conn)
            except (OperationalError, DBAPIError, OSError) as e:
                raise DatabaseError(
                    f"cannot open database {self.safe_url}: {e.__class__.__name__}: {e}"
                ) from e
            self._ready = True
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_periodically())

    async def _timescale(self, conn: AsyncConnection) -> None:
        available = (
            await conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"))
        ).first()
        if not available:
            await conn.execute(
                text(
                    "CREATE INDEX IF NOT EXISTS ix_market_data_snapshots_recv_brin "
                    "ON market_data_snapshots USING brin (recv_ms)"
                )
            )
            return
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
        await conn.execute(
            text(
                "SELECT create_hypertable('market_data_snapshots', 'recv_ms', "
                f"chunk_time_interval => {DAY_MS}::bigint, migrate_data => true, if_not_exists => true)"
            )
        )
        await conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION bst_unix_now_ms() RETURNS BIGINT LANGUAGE SQL STABLE AS "
                "$$ SELECT (extract(epoch FROM now()) * 1000)::bigint $$"
            )
        )
        await conn.execute(
            text(
                "SELECT set_integer_now_func('market_data_snapshots', 'bst_unix_now_ms', "
                "replace_if_exists => true)"
            )
        )
        await conn.execute(
            text(
                "SELECT add_retention_policy('market_data_snapshots', "
                f"drop_after => {self.retention_days * DAY_MS}::bigint, if_not_exists => true)"
            )
        )

    def write(self, category: Category, raw: str, recv_ms: int) -> None:
        """Queue one message (replies without a topic are skipped); flushed within a second."""
        self._n += 1
        row = row_of(category, raw, recv_ms, self.session, self._n)
        if row is not None:
            self._buffer.append(row)

    async def flush(self) -> None:
        """Write the queued rows now."""
        rows, self._buffer = self._buffer, []
        if not rows:
            return
        try:
            async with self.engine.begin() as conn:
                for start in range(0, len(rows), FLUSH_ROWS):
                    await conn.execute(market_data_snapshots.insert(), rows[start : start + FLUSH_ROWS])
        except (OperationalError, DBAPIError, OSError) as e:
            self._buffer = rows + self._buffer  # keep them for the next attempt
            raise DatabaseError(f"cannot write to {self.safe_url}: {e.__class__.__name__}: {e}") from e
        self.rows_written += len(rows)

    async def _flush_periodically(self) -> None:
        stopping = self._stopping
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), FLUSH_INTERVAL_S)
            try:
                await self.flush()
            except DatabaseError as e:
                log.warning("market data not written yet; retrying", error=str(e), queued=len(self._buffer))

    async def close(self) -> None:
        """Flush everything and release the connection pool.

        The flusher is asked to stop and awaited, never cancelled: a cancelled insert could be lost
        or, worse, committed and then written again.
        """
        if self._flusher is not None:
            self._stopping.set()
            await self._flusher
            self._flusher = None
        try:
            await self.flush()
        finally:
            await self.engine.dispose()

    async def read(
        self,
        *,
        category: Category | None = None,
        symbols: Sequence[str] = (),
        start_ms: int | None = None,
        end_ms: int | None = None,
        session: str | None = None,
    ) -> AsyncIterator[RecordedMessage]:
        """Yield stored messages in receive order (then session and message number)."""
        t = market_data_snapshots
        query = select(t.c.category, t.c.recv_ms, t.c.payload).order_by(t.c.recv_ms, t.c.session, t.c.n)
        if category is not None:
            query = query.where(t.c.category == category.value)
        if symbols:
            query = query.where(t.c.symbol.in_(list(symbols)))
        if start_ms is not None:
            query = query.where(t.c.recv_ms >= start_ms)
        if end_ms is not None:
            query = query.where(t.c.recv_ms <= end_ms)
        if session is not None:
            query = query.where(t.c.session == session)
        async with self.engine.connect() as conn:
            result = await conn.stream(query)
            async for cat, recv_ms, payload in result:
                yield RecordedMessage(Category(cat), int(recv_ms), str(payload))
