"""Record the sim's public streams, replay them: the same raw messages, the same books, every metric.

Also `bst record` and `bst watch` as a user runs them (subprocesses against the sim).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from test_cli_market import assert_one_line_failure, run_bst

from bst.data.recorder import StreamRecorder
from bst.data.replay import ReplayStats, read_messages, replay
from bst.domain.clock import ManualClock
from bst.domain.events import BookUpdate, TradesUpdate
from bst.domain.market import Category
from bst.exchange.ws_public import PublicStream, PublicStreamConfig
from bst.sim.tape import prints
from bst.sim.ws_public import streams_of
from bst.trading.analytics import MarketAnalyzer

SYMBOL = "BTCUSDT"
TOPICS = [f"orderbook.50.{SYMBOL}", f"publicTrade.{SYMBOL}", f"tickers.{SYMBOL}", "orderbook.200.ETHUSDT"]
HOUR_MS = 3_600_000


async def test_recorded_streams_replay_to_identical_books_and_metrics(sim: Any, tmp_path: Path) -> None:
    streams_of(sim.state).reset()
    start = sim.clock.now_ms()
    # The client's clock sits 2 s before an hour turns, so the recording rotates mid-run.
    client_clock = ManualClock(start - start % HOUR_MS + HOUR_MS - 2_000)
    recorder = StreamRecorder(tmp_path, Category.LINEAR, TOPICS, started_ms=client_clock.now_ms())
    received: list[tuple[int, str]] = []

    def on_raw(text: str, recv_ms: int) -> None:
        received.append((recv_ms, text))
        recorder.write(text, recv_ms)

    live = MarketAnalyzer()
    stream = PublicStream(PublicStreamConfig(sim.ws_url, Category.LINEAR), clock=client_clock, on_raw=on_raw)
    async with stream:
        async with asyncio.timeout(20):
            await stream.wait_connected()
            await stream.subscribe(TOPICS)
            book = stream.book(SYMBOL, 50)
            for _ in range(4):  # 4 x (1 s of exchange time; 1 s of client time)
                sim.clock.advance(1.0)
                target = sim.clock.now_ms()
                truth = sim.generator.book_snapshot(SYMBOL, target, 50)
                async for event in stream:
                    live.on_event(event)
                    book = stream.book(SYMBOL, 50)
                    if (
                        book is not None
                        and book.bids() == list(truth.bids)
                        and book.asks() == list(truth.asks)
                    ):
                        break
                client_clock.advance(1.0)
        assert stream.stats.gaps == 0
    # Closed: nothing more arrives, so the live books are final (everything received was recorded);
    # the events still queued go to the live analyzer, then iteration ends.
    async for event in stream:
        live.on_event(event)
    book = stream.book(SYMBOL, 50)
    assert book is not None
    live_bids, live_asks = book.bids(), book.asks()
    live_other = stream.book("ETHUSDT", 200)
    assert live_other is not None
    live_other_levels = (live_other.bids(), live_other.asks(), live_other.update_id)
    report = recorder.close(client_clock.now_ms())
    assert len(report.files) == 2  # the hour turned during the recording
    assert report.gaps == 0

    stats = ReplayStats()
    assert [(m.recv_ms, m.raw) for m in read_messages(tmp_path, stats=stats)] == received
    assert stats.truncated == 0
    replayed = MarketAnalyzer()
    replayed.on_events(replay(tmp_path))
    replayed_book = replayed.book(SYMBOL)
    assert replayed_book is not None
    assert (replayed_book.bids(), replayed_book.asks()) == (live_bids, live_asks)
    other = replayed.books.get(Category.LINEAR, "ETHUSDT", 200)
    assert other is not None
    assert (other.bids(), other.asks(), other.update_id) == live_other_levels
    # The analyzer is a pure fold: the events the live client handed over give the same numbers.
    assert replayed.metrics(SYMBOL) == live.metrics(SYMBOL)
    trades = [t for e in replay(tmp_path) if isinstance(e, TradesUpdate) for t in e.trades]
    assert trades == prints(sim.generator, SYMBOL, start + 1, sim.clock.now_ms())
    assert all(isinstance(e, BookUpdate) or e.symbol == SYMBOL for e in replay(tmp_path))


def _sim_env(sim: Any) -> dict[str, str]:
    return {"BYBIT_WS_BASE_URL": sim.ws_url}


def test_bst_record_writes_files_and_a_report(sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    args = [
        "record",
        "btcusdt",
        "ETHUSDT",
        "--depth",
        "50",
        "--tickers",
        "--out",
        str(out),
        "--duration",
        "1s",
    ]
    result = run_bst(args, sim, **_sim_env(sim))
    assert result.returncode == 0, result.stderr
    assert "recorded" in result.stdout
    assert "continuity: 0 gap(s)" in result.stdout
    reports = list(out.glob("report-linear-*.json"))
    assert len(reports) == 1
    events = list(replay(out))
    books = {e.symbol for e in events if isinstance(e, BookUpdate) and e.snapshot}
    assert books == {"BTCUSDT", "ETHUSDT"}


def test_bst_record_stops_cleanly_on_sigterm(sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    environ.update({"BYBIT_ENV": "sim", "BYBIT_WS_BASE_URL": sim.ws_url, "BYBIT_LOG_LEVEL": "ERROR"})
    process = subprocess.Popen(
        [sys.executable, "-m", "bst.cli.main", "record", SYMBOL, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    try:
        assert process.stderr is not None
        assert "recording 2 topics" in process.stderr.readline()  # subscribed; now stop it
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "continuity: 0 gap(s)" in stdout
    assert list(out.glob("report-linear-*.json"))
    snapshots = [e for e in replay(out) if isinstance(e, BookUpdate) and e.snapshot]
    assert [e.symbol for e in snapshots] == [SYMBOL]


def test_bst_record_reports_bad_input_in_one_line(sim: Any, tmp_path: Path) -> None:
    env = _sim_env(sim)
    refused = run_bst(["record", "NOPEUSDT", "--out", str(tmp_path), "--duration", "1s"], sim, **env)
    assert_one_line_failure(refused, "orderbook.50.NOPEUSDT: Invalid topic: orderbook.50.NOPEUSDT")
    bad_duration = run_bst(["record", SYMBOL, "--duration", "ten minutes"], sim, **env)
    assert_one_line_failure(bad_duration, "invalid duration 'ten minutes'")
    bad_depth = run_bst(["record", SYMBOL, "--depth", "7", "--out", str(tmp_path)], sim, **env)
    assert_one_line_failure(bad_depth, "order-book depth 7 is not offered on linear")
    unreachable = run_bst(
        ["record", SYMBOL, "--out", str(tmp_path), "--connect-timeout", "0.5"],
        sim,
        BYBIT_WS_BASE_URL="ws://127.0.0.1:9",
    )
    assert_one_line_failure(unreachable, "cannot reach ws://127.0.0.1:9/v5/public/linear within 0.5 s")


def test_bst_watch_shows_the_book(sim: Any) -> None:
    result = run_bst(
        ["watch", SYMBOL, "--duration", "1s", "--levels", "3"], sim, COLUMNS="160", **_sim_env(sim)
    )
    assert result.returncode == 0, result.stderr
    truth = sim.generator.book_snapshot(SYMBOL, sim.clock.now_ms(), 3)
    assert "BTCUSDT linear orderbook.50  connected  book valid" in result.stdout
    best_bid = f"{truth.bids[0][0]:f}"
    assert best_bid.rstrip("0").rstrip(".") in result.stdout
    assert "imbalance 5" in result.stdout
