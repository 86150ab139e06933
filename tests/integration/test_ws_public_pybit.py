"""pybit's own WebSocket class, pointed at `bst sim`, subscribes and follows the book and the trades."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from pybit.unified_trading import WebSocket

from bst.sim.tape import prints

SYMBOL = "BTCUSDT"


class SimWebSocket(WebSocket):  # type: ignore[misc]
    """pybit builds wss://stream.bybit.com/... itself; connect to the sim's URL instead."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._sim_url = url
        super().__init__(**kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(self._sim_url)


def _levels(rows: list[list[str]], reverse: bool) -> list[tuple[Decimal, Decimal]]:
    return sorted(((Decimal(p), Decimal(q)) for p, q in rows), reverse=reverse)


def test_pybit_websocket_follows_the_sim(sim: Any) -> None:
    start = sim.clock.now_ms()
    target = start + 20_000
    truth = sim.generator.book_snapshot(SYMBOL, target, 50)
    trades = prints(sim.generator, SYMBOL, start + 1, target)
    assert trades
    lock = threading.Lock()
    book_messages: list[dict[str, Any]] = []
    trade_messages: list[dict[str, Any]] = []
    first_book = threading.Event()
    book_caught_up = threading.Event()
    all_trades = threading.Event()

    def on_book(message: dict[str, Any]) -> None:
        with lock:
            book_messages.append(message)
            first_book.set()
            data = message["data"]
            if _levels(data["b"], True) == list(truth.bids) and _levels(data["a"], False) == list(truth.asks):
                book_caught_up.set()

    def on_trade(message: dict[str, Any]) -> None:
        with lock:
            trade_messages.append(message)
            if message["data"][-1]["i"] == trades[-1].trade_id:
                all_trades.set()

    ws = SimWebSocket(f"{sim.ws_url}/v5/public/linear", channel_type="linear", testnet=False, retries=3)
    try:
        # Trades first: the sim handles a connection's requests in order, so once the book's
        # snapshot is here the trade subscription is live too, and the clock may move.
        ws.trade_stream(SYMBOL, on_trade)
        ws.orderbook_stream(50, SYMBOL, on_book)
        assert first_book.wait(10)
        sim.clock.advance(20.0)
        assert book_caught_up.wait(20)
        assert all_trades.wait(20)
    finally:
        ws.exit()
    with lock:
        assert book_messages[0]["type"] == "snapshot"
        assert book_messages[0]["topic"] == f"orderbook.50.{SYMBOL}"
        received = [
            (t["i"], Decimal(t["p"]), Decimal(t["v"]), t["S"]) for m in trade_messages for t in m["data"]
        ]
    assert received == [(t.trade_id, t.price, t.size, t.side.value) for t in trades]
