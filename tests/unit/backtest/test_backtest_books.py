"""Order-book runs: a real Bybit ob500 file replayed into the engine, and recordings streamed from disk."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

from backtestkit import Script

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig
from bst.backtest.latency import ConstantLatency
from bst.data.recording import encode_header, encode_record, file_name
from bst.domain.market import Category
from bst.domain.orders import ExecType, OrderStatus
from bst.trading.context import Context

D = Decimal
OB500 = "nautilus_bybit_xrpusdt-ob500_2024-12-01.data.zip"


def test_a_market_order_walks_the_recorded_book_and_is_closed_against_it_at_the_end(shared_dir: Path) -> None:
    path = shared_dir / "data" / OB500
    lines = shared_dir / "fixtures" / "bybit" / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl"
    first = json.loads(lines.read_text().splitlines()[0])
    asks = [(D(p), D(q)) for p, q in first["data"]["a"]]
    qty = asks[0][1] + D(100)  # more than the best ask holds: the rest comes from the next level

    def buy(ctx: Context) -> None:
        ctx.buy(qty)

    script = Script(book_steps={0: buy}, book_depth=500, interval=None)
    result = run(script, "XRPUSDT", recordings=[path], config=BacktestConfig(cash=D(100_000)))
    ledger = result.ledger
    assert ledger is not None
    assert result.info.counts["market_events"] == 50  # the snapshot and 49 deltas, all of them
    assert script.books == 50
    buys = [e for e in ledger.executions if e.exec_type is ExecType.TRADE and e.side.value == "Buy"]
    assert [(e.exec_price, e.exec_qty, e.is_maker) for e in buys] == [
        (asks[0][0], asks[0][1], False),
        (asks[1][0], D(100), False),
    ]
    assert buys[0].exec_time_ms == first["ts"]  # at the snapshot's exchange time, no latency
    (trade,) = ledger.trades
    assert trade.qty == qty
    assert trade.entry_price == (asks[0][0] * asks[0][1] + asks[1][0] * 100) / qty
    assert result.info.metrics["trades"] == 1


def test_with_a_feed_latency_the_order_meets_a_later_book(shared_dir: Path) -> None:
    path = shared_dir / "data" / OB500
    script = Script(book_steps={0: lambda ctx: ctx.buy(D(10))}, book_depth=500, interval=None)
    config = BacktestConfig(feed_latency=ConstantLatency(150), request_latency=ConstantLatency(20))
    result = run(script, "XRPUSDT", recordings=[path], config=config)
    assert result.ledger is not None
    (order, *_) = result.ledger.orders
    assert order.status is OrderStatus.FILLED
    assert order.created_time_ms == 1733011200691 + 150 + 20  # seen 150 ms late, sent, arrived 20 ms later


def _recording(directory: Path, messages: int) -> Path:
    """Write a bst recording of `messages` public-trade messages (one trade each, 10 ms apart)."""
    start = 1_733_011_200_000
    path = directory / file_name(Category.LINEAR, start)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(encode_header(Category.LINEAR, ["publicTrade.BTCUSDT"], start))
        for n in range(messages):
            ts = start + 10 * n
            price = f"{50_000 + (n % 200) - 100}.0"
            trade = {"T": ts, "s": "BTCUSDT", "S": "Buy" if n % 2 else "Sell", "v": "0.01", "p": price,
                     "L": "PlusTick", "i": f"t{n}", "BT": False}  # fmt: skip
            message = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": ts, "data": [trade]}
            out.write(encode_record(ts + 3, json.dumps(message, separators=(",", ":"))))
    return path


def test_a_recording_streams_from_disk_holding_a_bounded_number_of_events(tmp_path: Path) -> None:
    held = []
    for messages in (2_000, 20_000):
        path = _recording(tmp_path, messages)
        script = Script(interval=None, trades=True)
        result = run(script, "BTCUSDT", recordings=[path], config=BacktestConfig(close_at_end=False))
        assert result.info.counts["market_events"] == messages
        assert script.trades_seen == messages  # every trade reached the strategy, at its receive time
        held.append(result.info.counts["max_held"])
        path.unlink()
    # ten times the events, the same handful held at once: the run's memory does not grow with them
    assert held[0] == held[1] <= 4
