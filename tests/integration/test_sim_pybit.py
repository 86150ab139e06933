"""The official SDK, pybit, works against `bst sim` and reads exactly the generator's market."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from bst.domain.market import Category, Interval
from bst.sim.faults import FaultConfig
from bst.sim.tape import recent_prints

NOW = 1_717_243_230_500
HOUR = 3_600_000


def pybit_session(sim: Any) -> HTTP:
    """Return pybit's HTTP pointed at the sim (pybit builds every URL from `endpoint`)."""
    session = HTTP(testnet=False, max_retries=1, retry_delay=0)
    session.endpoint = sim.base_url
    return session


def test_pybit_reads_time_klines_and_instruments(sim: Any) -> None:
    session = pybit_session(sim)
    gen = sim.generator

    server_time = session.get_server_time()
    kline = session.get_kline(category="linear", symbol="BTCUSDT", interval=60, limit=5)
    spot_daily = session.get_kline(category="spot", symbol="ETHUSDT", interval="D", limit=3)
    instruments = session.get_instruments_info(category="linear", symbol="SOLUSDT")

    assert server_time["result"] == {"timeSecond": str(NOW // 1000), "timeNano": str(NOW * 1_000_000)}
    truth = gen.bars("BTCUSDT", Interval.H1, NOW - 4 * HOUR - NOW % HOUR, NOW, now_ms=NOW)
    assert [[Decimal(v) for v in row] for row in kline["result"]["list"]] == [
        [Decimal(b.open_time_ms), b.open, b.high, b.low, b.close, b.volume, b.turnover]
        for b in reversed(truth)
    ]
    daily = gen.bars(
        "ETHUSDT",
        Interval.D1,
        NOW - NOW % 86_400_000 - 2 * 86_400_000,
        NOW,
        category=Category.SPOT,
        now_ms=NOW,
    )
    assert [row[4] for row in spot_daily["result"]["list"]] == [str(b.close) for b in reversed(daily)]
    (sol,) = instruments["result"]["list"]
    assert sol["priceFilter"]["tickSize"] == "0.010"
    assert sol["lotSizeFilter"]["qtyStep"] == "0.1"
    assert instruments["result"]["nextPageCursor"] == ""


def test_pybit_reads_tickers_orderbook_and_trades(sim: Any) -> None:
    session = pybit_session(sim)
    gen = sim.generator

    tickers = session.get_tickers(category="linear", symbol="BTCUSDT")
    book = session.get_orderbook(category="linear", symbol="BTCUSDT", limit=5)
    trades = session.get_public_trade_history(category="linear", symbol="BTCUSDT", limit=3)

    (ticker,) = tickers["result"]["list"]
    assert ticker["lastPrice"] == str(gen.last_price("BTCUSDT", NOW))
    snapshot = gen.book_snapshot("BTCUSDT", NOW, 5)
    assert book["result"]["b"] == [[str(p), str(q)] for p, q in snapshot.bids]
    assert book["result"]["a"] == [[str(p), str(q)] for p, q in snapshot.asks]
    assert ticker["bid1Price"] == f"{snapshot.bids[0][0]:.2f}"
    expected = recent_prints(gen, "BTCUSDT", NOW, 3, category=Category.LINEAR)
    assert [t["execId"] for t in trades["result"]["list"]] == [t.trade_id for t in reversed(expected)]
    assert [t["price"] for t in trades["result"]["list"]] == [str(t.price) for t in reversed(expected)]


def test_pybit_sees_bybits_errors(sim: Any) -> None:
    session = pybit_session(sim)

    with pytest.raises(InvalidRequestError) as bad_symbol:
        session.get_kline(category="linear", symbol="NOPEUSDT", interval=1)
    sim.set_faults(FaultConfig(http_5xx_rate=1.0, http_5xx_codes=(503,)))
    with pytest.raises(FailedRequestError) as unavailable:
        session.get_server_time()

    assert bad_symbol.value.status_code == 10001
    assert bad_symbol.value.message == "params error: symbol invalid"
    assert unavailable.value.status_code == 503
