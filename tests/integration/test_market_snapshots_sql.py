"""`market_data_snapshots` in SQL (SQLite and PostgreSQL): raw messages in, the same messages out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from test_cli_market import run_bst

from bst.data.market_snapshots import MarketSnapshotStore, market_data_snapshots, row_of
from bst.data.recording import RecordedMessage
from bst.data.replay import replay_events
from bst.domain.bookset import BookSet
from bst.domain.events import BookUpdate
from bst.domain.market import Category

T0 = 1_733_011_200_000


def _lines(fixtures_dir: Path) -> list[str]:
    return (
        (fixtures_dir / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl").read_text().splitlines()
    )


async def _round_trip(url: str, fixtures_dir: Path) -> None:
    lines = _lines(fixtures_dir)
    store = MarketSnapshotStore(url)
    await store.open()
    try:
        for i, line in enumerate(lines):
            store.write(Category.LINEAR, line, T0 + i // 2)  # two messages share each millisecond
        store.write(Category.LINEAR, '{"success":true,"ret_msg":"pong","op":"ping"}', T0 + 100)
        await store.flush()
        assert store.rows_written == 50
        back = [m async for m in store.read(category=Category.LINEAR, symbols=["XRPUSDT"])]
        assert back == [RecordedMessage(Category.LINEAR, T0 + i // 2, line) for i, line in enumerate(lines)]
        later = [m async for m in store.read(start_ms=T0 + 20)]
        assert len(later) == 10
        books = BookSet()
        for event in replay_events(back):
            assert isinstance(event, BookUpdate)
            books.apply(event)
        book = books.get(Category.LINEAR, "XRPUSDT", 500)
        assert book is not None
        assert book.is_valid
        assert book.update_id == 20254918
        async with store.engine.connect() as conn:
            t = market_data_snapshots
            rows = (
                await conn.execute(
                    select(t.c.kind, t.c.update_id, t.c.seq, t.c.ts_ms, t.c.cts_ms).order_by(t.c.n)
                )
            ).all()
        assert rows[0] == ("snapshot", 20254869, 130020238981, 1733011200691, 1733011200589)
        assert {r[0] for r in rows[1:]} == {"delta"}
    finally:
        await store.close()


async def test_sqlite_round_trip(fixtures_dir: Path, tmp_path: Path) -> None:
    await _round_trip(f"sqlite+aiosqlite:///{tmp_path}/sub/bst.sqlite", fixtures_dir)


@pytest.mark.postgres
async def test_postgres_round_trip(fixtures_dir: Path, postgres_url: str) -> None:
    await _round_trip(postgres_url, fixtures_dir)


def test_rows_of_each_kind() -> None:
    trade = '{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":5,"data":[]}'
    row = row_of(Category.SPOT, trade, 7, "s", 1)
    assert row is not None
    assert (row["kind"], row["symbol"], row["ts_ms"], row["update_id"]) == ("trade", "BTCUSDT", 5, None)
    kline = row_of(Category.LINEAR, '{"topic":"kline.5.ETHUSDT","ts":1,"data":[]}', 1, "s", 2)
    assert kline is not None
    assert (kline["kind"], kline["symbol"]) == ("kline", "ETHUSDT")
    assert row_of(Category.LINEAR, "not json", 1, "s", 3) is None
    assert row_of(Category.LINEAR, '{"op":"pong"}', 1, "s", 4) is None


def test_bst_record_db(sim: Any, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/rec.sqlite"
    result = run_bst(
        ["record", "BTCUSDT", "--db", "--out", str(tmp_path / "files"), "--duration", "1s"],
        sim,
        BYBIT_WS_BASE_URL=sim.ws_url,
        BYBIT_DATABASE_URL=url,
    )
    assert result.returncode == 0, result.stderr
    assert "rows in market_data_snapshots" in result.stdout, result.stdout

    async def count() -> list[RecordedMessage]:
        store = MarketSnapshotStore(url)
        try:
            return [m async for m in store.read()]
        finally:
            await store.engine.dispose()

    stored = asyncio.run(count())
    assert stored, result.stdout
    assert stored[0].raw.startswith('{"topic":"orderbook.50.BTCUSDT","type":"snapshot"')
