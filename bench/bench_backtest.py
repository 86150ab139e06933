"""Backtest cost: a whole candle run and a whole recording replay, in CPU time per event.

Run: `python -m bench backtest`. Single process; every figure is CPU time of this process
(`time.process_time`), best of 3, so other jobs on a shared machine do not count. What is measured
is `bst.backtest.run` end to end: the engine (four prints a bar, fills, risk checks), the strategy
runtime, the queue, the books, the frames and the metrics.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig
from bst.data.recording import encode_header, encode_record, file_name
from bst.domain.market import Category
from bst.trading.market_view import DataNeeds
from bst.trading.params import Params
from bst.trading.strategy import Strategy

BARS = 50_000
MESSAGES = 50_000


def _candles(count: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    close = 30_000 + np.cumsum(rng.normal(0, 20, count)).round(1)
    open_ = np.concatenate([[30_000.0], close[:-1]])
    high = np.maximum(open_, close) + rng.uniform(0, 15, count).round(1)
    low = np.minimum(open_, close) - rng.uniform(0, 15, count).round(1)
    index = pd.date_range("2024-01-01", periods=count, freq="1min", tz="UTC")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 10.0}, index=index
    )


def _recording(directory: Path, count: int) -> Path:
    start = 1_733_011_200_000
    path = directory / file_name(Category.LINEAR, start)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(encode_header(Category.LINEAR, ["publicTrade.BTCUSDT"], start))
        for n in range(count):
            ts = start + 10 * n
            trade = {"T": ts, "s": "BTCUSDT", "S": "Buy", "v": "0.01", "p": f"{50_000 + n % 200}.0",
                     "L": "PlusTick", "i": f"t{n}", "BT": False}  # fmt: skip
            message = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": ts, "data": [trade]}
            out.write(encode_record(ts + 3, json.dumps(message, separators=(",", ":"))))
    return path


class _Trades(Strategy[Params]):
    """Reads every trade and does nothing: the replay's own cost."""

    name = "trades"

    def needs(self) -> DataNeeds:
        return DataNeeds(trades=True)


def _best(job: object, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        job()  # type: ignore[operator]
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    """Print the figures."""
    frame = _candles(BARS)
    params = {"qty": Decimal("0.01"), "fast": 10, "slow": 50}
    seconds = _best(lambda: run("sma_cross", "BTCUSDT", data=frame, params=params))
    print(
        f"SMA cross, {BARS:,} 1-minute bars, next-open fills: {seconds:.2f} s CPU, "
        f"{seconds / BARS * 1e6:.0f} us/bar"
    )
    with tempfile.TemporaryDirectory() as directory:
        path = _recording(Path(directory), MESSAGES)
        config = BacktestConfig(close_at_end=False)
        seconds = _best(lambda: run(_Trades(), "BTCUSDT", recordings=[path], config=config))
        per = seconds / MESSAGES * 1e6
        print(
            f"recording replay, {MESSAGES:,} trade messages from disk: {seconds:.2f} s CPU, "
            f"{per:.0f} us/message"
        )


if __name__ == "__main__":
    main()
