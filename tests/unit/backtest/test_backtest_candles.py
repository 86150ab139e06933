"""OHLCV files a user has: CSV, Parquet, Feather, read exactly; bad files refused in one line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from bst.backtest.candles import BarAggregator, read_ohlcv
from bst.backtest.instruments import candle_instrument
from bst.domain.errors import ConfigError
from bst.domain.events import KlineUpdate
from bst.domain.market import Bar, Category, Interval

D = Decimal


def test_backtestingpys_csv_with_an_unnamed_date_index_is_read_exactly(shared_dir: Path) -> None:
    series = read_ohlcv(shared_dir / "data" / "backtestingpy_GOOG.csv", "GOOG")
    assert (series.interval, len(series)) == (Interval.D1, 2148)
    first = series.bar(0)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        D(100),
        D("104.06"),
        D("95.96"),
        D("100.34"),
        D(22351900),
    )
    assert first.open_time_ms == 1092873600000  # 2004-08-19 00:00 UTC
    assert candle_instrument(series).tick_size == D("0.01")


def test_a_feather_file_of_floats_is_read_by_the_shortest_repr(shared_dir: Path) -> None:
    series = read_ohlcv(shared_dir / "data" / "freqtrade_XRP_USDT_USDT-5m-futures.feather", "XRPUSDT")
    assert (series.interval, len(series)) == (Interval.M5, 1999)
    assert series.bar(0).close == D("1.1941")
    assert candle_instrument(series).tick_size == D("0.0001")


def test_a_csv_with_a_timestamp_column_is_read(shared_dir: Path) -> None:
    series = read_ohlcv(shared_dir / "data" / "nautilus_ftx_btc-perp_1m_20211231-20220201.csv", "BTCUSDT")
    assert (series.interval, len(series)) == (Interval.M1, 45_031)
    assert series.bar(0).close == D("46377.0")


def test_epoch_times_in_seconds_or_ms_and_a_parquet_file_are_read(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "ts": [1_700_000_040, 1_700_000_100],
            "Open": [1.5, 2.5],
            "HIGH": [2, 3],
            "low": [1, 2],
            "close": [2, 3],
        }
    )
    frame.to_parquet(tmp_path / "bars.parquet")
    series = read_ohlcv(tmp_path / "bars.parquet", "ABCUSDT")
    assert series.interval is Interval.M1
    assert series.open_time_ms.tolist() == [1_700_000_040_000, 1_700_000_100_000]
    assert series.bar(1).volume == 0  # no volume column: zero
    frame.assign(ts=frame["ts"] * 1000).to_csv(tmp_path / "ms.csv", index=False)
    assert read_ohlcv(tmp_path / "ms.csv", "ABCUSDT").open_time_ms.tolist() == [
        1_700_000_040_000,
        1_700_000_100_000,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "time,open,high,low,close\n2024-01-01,1,2,0.5,abc\n2024-01-02,1,2,0.5,1\n",
            "row 2: close 'abc' is not a number",
        ),
        ("time,open,high,low\n2024-01-01,1,2,0.5\n", "no close column"),
        ("when,open,high,low,close\n2024-01-01,1,2,0.5,1\n", "no time column"),
        ("time,open,high,low,close\n2024-01-01,1,2,0.5,1\n", "need at least two bars"),
        (
            "time,open,high,low,close\n2024-01-01 00:00,1,2,0.5,1\n2024-01-01 00:07,1,2,0.5,1\n",
            "7 minutes apart",
        ),
        ("time,open,high,low,close\n2024-01-02,1,2,0.5,1\n2024-01-02,1,2,0.5,1\n", "must increase"),
        ("time,open,high,low,close\n2024-01-01,1,2,0.5,-1\n2024-01-02,1,2,0.5,1\n", "non-negative"),
    ],
)
def test_a_bad_file_is_refused_saying_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_ohlcv(path, "ABCUSDT")


def test_an_unknown_format_or_a_missing_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bars.xlsx").write_text("x")
    with pytest.raises(ConfigError, match=r"give a \.csv, \.parquet or \.feather file"):
        read_ohlcv(tmp_path / "bars.xlsx", "ABCUSDT")
    with pytest.raises(ConfigError, match="no data file"):
        read_ohlcv(tmp_path / "none.csv", "ABCUSDT")


def test_coarser_bars_close_on_time_and_after_a_gap_with_the_next_bar() -> None:
    start = 1_704_067_200_000  # 2024-01-01 00:00 UTC

    def minute(i: int, close: int) -> KlineUpdate:
        bar = Bar(start + i * 60_000, D(close), D(close + 1), D(close - 1), D(close), D(1), D(close))
        return KlineUpdate.closed(Category.LINEAR, "BTCUSDT", Interval.M1, bar)

    fives = BarAggregator(Category.LINEAR, "BTCUSDT", Interval.M5)
    done = [k for i in range(5) for k in fives.add_closed(minute(i, 100 + i))]  # 00:00-00:04: on time
    assert [(k.ts_ms, k.bars[0].bar.open, k.bars[0].bar.close, k.bars[0].bar.volume) for k in done] == [
        (start + 5 * 60_000 - 1, D(100), D(104), D(5))
    ]
    assert fives.add_closed(minute(5, 200)) == []
    assert fives.add_closed(minute(6, 201)) == []
    late = fives.add_closed(minute(12, 300))  # 00:07-00:09 missing: 00:05's bar is complete now
    assert [(k.ts_ms, k.bars[0].bar.open, k.bars[0].bar.close, k.bars[0].bar.volume) for k in late] == [
        (start + 10 * 60_000 - 1, D(200), D(201), D(2))
    ]
