"""The HTML report: self-contained, complete, the same from disk as from memory, small for a year."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtestkit import Script
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.backtest.api import run
from bst.backtest.candles import CandleSeries
from bst.backtest.charts import LINE_POINTS, thin_line
from bst.backtest.config import BacktestConfig
from bst.backtest.metrics import METRICS
from bst.backtest.prices import PriceRecorder, candle_prices, describe_coverage
from bst.backtest.report import REPORT_NAME, plotly_js, render_report, write_report
from bst.backtest.result import BacktestResult, RunInfo
from bst.backtest.runs import load_run, save_run
from bst.domain.errors import ConfigError
from bst.domain.market import Category, Interval

MINUTE_MS = 60_000
T0 = 1_704_067_200_000


@pytest.fixture(scope="module")
def goog(shared_dir: Path) -> BacktestResult:
    config = BacktestConfig(cash=Decimal(10_000), commission=Decimal("0.002"))
    return run(
        "sma_cross",
        "GOOG",
        data=shared_dir / "data" / "backtestingpy_GOOG.csv",
        params={"qty": Decimal(10)},
        config=config,
    )


def _figures(page: str) -> list[dict[str, object]]:
    match = re.search(r'<script type="application/json" id="bst-figures">(.*?)</script>', page, re.S)
    assert match is not None
    return list(json.loads(match.group(1).replace("<\\/", "</")))


def _outside_plotly(page: str) -> str:
    return page.replace(plotly_js(), "")


def test_the_report_is_one_offline_file_with_every_section(goog: BacktestResult) -> None:
    page = render_report(goog)
    assert page.count(plotly_js()) == 1  # plotly's JavaScript embedded once
    rest = _outside_plotly(page)
    assert "<script src" not in rest
    assert "<link" not in rest
    assert "http://" not in rest
    assert "https://" not in rest
    for metric in METRICS:
        assert f">{html.escape(metric.label)}</td>" in rest, metric.name
    for line in goog.info.assumptions:
        assert html.escape(line) in rest
    for line in goog.info.inputs:
        assert html.escape(line) in rest
    for name, value in goog.info.params.items():
        assert f'>{html.escape(name)}</td><td class="l">{html.escape(value)}</td>' in rest
    trade_rows = rest.split("<h2>Trades</h2>")[1].split("</table>")[0].count("<tr>") - 1
    assert trade_rows == len(goog.trades) == goog.info.metrics["trades"]


def test_the_charts_draw_the_run_equity_candles_trades_and_position(goog: BacktestResult) -> None:
    equity, symbol = _figures(render_report(goog))
    assert equity["id"] == "chart-equity"
    lines = equity["figure"]["data"]  # type: ignore[index]
    assert len(lines[0]["x"]) == len(goog.equity)  # a few thousand samples: all drawn
    assert lines[0]["y"] == pytest.approx(goog.equity["equity"].tolist())
    assert min(lines[1]["y"]) == pytest.approx(goog.info.metrics["max_drawdown_pct"])
    traces = {t["name"]: t for t in symbol["figure"]["data"]}  # type: ignore[index]
    candles = traces["GOOG"]
    assert candles["type"] == "candlestick"
    assert len(candles["x"]) == len(goog.prices) == 2148
    entries = len(traces["long entry"]["x"]) + len(traces["short entry"]["x"])
    exits = len(traces["exit (win)"]["x"]) + len(traces["exit (loss)"]["x"])
    assert entries == exits == len(goog.trades)
    assert len(traces["exit (win)"]["x"]) == int((goog.trades["pnl"] > 0).sum())
    assert traces["position"]["y"][:-1] == goog.positions["size"].tolist()


def test_a_saved_run_gives_the_same_report_as_the_run_in_memory(goog: BacktestResult, tmp_path: Path) -> None:
    save_run(goog, tmp_path)
    loaded = load_run(tmp_path, goog.run_id)
    assert loaded.info.symbol_metrics == goog.info.symbol_metrics
    assert render_report(loaded) == render_report(goog)


def test_write_report_replaces_the_file_and_refuses_a_bad_path_in_one_line(
    goog: BacktestResult, tmp_path: Path
) -> None:
    target = tmp_path / REPORT_NAME
    target.write_text("old")
    assert write_report(goog, target) == target
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")
    for bad in (tmp_path, tmp_path / "missing" / "r.html"):
        with pytest.raises(ConfigError) as raised:
            write_report(goog, bad)
        assert "\n" not in str(raised.value)


def _year_of_minutes() -> BacktestResult:
    """A synthetic result the size of a year of minute bars (525,600 of them, 20,000 trades)."""
    n = 525_600
    rng = np.random.default_rng(7)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
    times = T0 + np.arange(n, dtype="int64") * MINUTE_MS
    series = CandleSeries(
        Category.LINEAR,
        "BTCUSDT",
        Interval.M1,
        times,
        close.tolist(),
        (close * 1.0005).tolist(),
        (close * 0.9995).tolist(),
        close.tolist(),
        [1.0] * n,
        "synthetic",
    )
    index = pd.DatetimeIndex(pd.to_datetime(times, unit="ms", utc=True), name="time")
    equity = pd.DataFrame(
        {
            "equity": 10_000 + close - close[0],
            "wallet": 10_000.0,
            "unrealised_pnl": 0.0,
            "position_value": 1.0,
        },
        index=index,
    )
    equity["drawdown_pct"] = (equity["equity"] / equity["equity"].cummax() - 1) * 100
    k = 20_000
    entry = np.arange(k) * (n // k)
    trades = pd.DataFrame(
        {
            "symbol": "BTCUSDT",
            "side": np.where(np.arange(k) % 2 == 0, "long", "short"),
            "qty": 0.01,
            "entry_time": index[entry],
            "exit_time": index[entry + 10],
            "entry_price": close[entry],
            "exit_price": close[entry + 10],
            "gross_pnl": 1.0,
            "fees": 0.1,
            "funding": 0.0,
            "pnl": 0.9,
            "return_pct": 0.2,
            "duration": index[entry + 10] - index[entry],
            "entry_order_id": "a",
            "exit_order_id": "b",
        }
    )
    positions = pd.DataFrame({"time": index[entry], "symbol": "BTCUSDT", "size": 0.01})
    info = RunInfo(
        run_id="big",
        strategy="sma_cross",
        params={},
        symbols=("BTCUSDT",),
        category=Category.LINEAR,
        interval="1",
        start_ms=int(times[0]),
        end_ms=int(times[-1]),
        cash=Decimal(10_000),
        settle_coin="USDT",
        config={},
        assumptions=(),
        inputs=(),
        metrics={"trades": k},
        created_ms=int(times[-1]),
    )
    empty = pd.DataFrame()
    return BacktestResult(info, trades, equity, empty, empty, positions, prices=candle_prices(series))


def test_a_year_of_minute_bars_makes_a_report_of_a_few_megabytes_and_says_what_was_thinned() -> None:
    result = _year_of_minutes()
    page = render_report(result)
    data_bytes = len(page.encode()) - len(plotly_js().encode())
    assert data_bytes < 3_000_000  # plotly.js (about 4.8 MB) plus under 3 MB of data and tables
    equity, symbol = _figures(page)
    assert len(equity["figure"]["data"][0]["x"]) <= LINE_POINTS  # type: ignore[index]
    traces = {t["name"]: t for t in symbol["figure"]["data"]}  # type: ignore[index]
    assert len(traces["BTCUSDT"]["x"]) <= 4000
    assert len(traces["long entry"]["x"]) + len(traces["short entry"]["x"]) <= 3000
    notes = page.split("What the charts leave out")[1]
    assert "525,600 samples drawn as" in notes
    assert "525,600 data bars drawn as 3,982 bars of up to 132 each" in notes
    assert "2,858 of 20,000 trades marked (every 7th)" in notes
    assert "the first 500 and last 500 of 20,000 trades" in page


def test_candles_are_grouped_into_at_most_the_limit_exactly() -> None:
    n = 10_001
    rng = np.random.default_rng(1)
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    high, low = close + rng.random(n), close - rng.random(n)
    times = T0 + np.arange(n, dtype="int64") * MINUTE_MS
    prices = (close.tolist(), high.tolist(), low.tolist(), close.tolist(), [1.0] * n)
    series = CandleSeries(Category.LINEAR, "X", Interval.M1, times, *prices, "t")
    drawn = candle_prices(series, limit=4000)
    assert len(drawn) == 3334  # groups of 3
    assert int(drawn["bars"].sum()) == n
    assert drawn["high"].max() == high.max()
    assert drawn["low"].min() == low.min()
    assert drawn["open"].iloc[1] == close[3]
    assert drawn["close"].iloc[1] == close[5]
    assert drawn["high"].iloc[1] == high[3:6].max()
    assert drawn["low"].iloc[1] == low[3:6].min()
    assert drawn["close"].iloc[-1] == close[-1]
    assert len(candle_prices(series, limit=20_000)) == n  # under the limit: every bar as it is


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=1, max_size=3000))
def test_recorded_prices_stay_bounded_and_keep_their_extremes(prices: list[float]) -> None:
    recorder = PriceRecorder(limit=50)
    for i, price in enumerate(prices):
        recorder.add("X", T0 + i * 1000, price)
    frame = recorder.frame("X")
    assert len(frame) <= 100
    assert int(frame["bars"].sum()) == len(prices)
    assert frame["high"].max() == max(prices)
    assert frame["low"].min() == min(prices)
    assert frame["open"].iloc[0] == prices[0]
    assert frame["close"].iloc[-1] == prices[-1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=5000))
def test_thinned_lines_keep_their_ends_and_extremes(values: list[float]) -> None:
    array = np.array(values)
    times = np.arange(len(values), dtype="int64")
    thin_t, thin_v = thin_line(times, array, limit=200)
    assert len(thin_v) <= max(200, len(values))
    assert len(thin_v) <= len(values)
    assert thin_v.max() == array.max()
    assert thin_v.min() == array.min()
    assert (thin_t[0], thin_t[-1]) == (0, len(values) - 1)
    assert np.all(np.diff(thin_t) > 0)


def test_an_order_book_run_draws_its_price_line_from_the_engine_at_each_equity_sample(
    shared_dir: Path,
) -> None:
    script = Script(book_steps={0: lambda ctx: ctx.buy(Decimal(10))}, book_depth=500, interval=None)
    path = shared_dir / "data" / "nautilus_bybit_xrpusdt-ob500_2024-12-01.data.zip"
    result = run(script, "XRPUSDT", recordings=[path], config=BacktestConfig(cash=Decimal(100_000)))
    assert result.info.interval is None
    prices = result.prices
    assert list(prices["symbol"].unique()) == ["XRPUSDT"]
    assert len(prices) == len(result.equity)  # one price per equity sample
    assert (prices["time"].to_numpy() == result.equity.index.to_numpy()).all()
    _, symbol = _figures(render_report(result))
    traces = {t["name"]: t for t in symbol["figure"]["data"]}  # type: ignore[index]
    line = traces["XRPUSDT price"]
    assert line["type"] == "scatter"
    assert line["y"] == pytest.approx(prices["close"].tolist())
    assert len(traces["long entry"]["x"]) == len(result.trades) == 1


def test_the_data_coverage_names_the_range_and_the_gaps() -> None:
    opens = [0, 1, 2, 5, 6, 7, 8, 20]  # 2 bars missing after bar 2, 11 after bar 8
    times = T0 + np.asarray(opens, dtype="int64") * MINUTE_MS
    ones = [1.0] * len(opens)
    series = CandleSeries(Category.LINEAR, "X", Interval.M1, times, ones, ones, ones, ones, ones, "t")
    assert describe_coverage(series) == (
        "X: bars of interval 1 from 2024-01-01 00:00 UTC to 2024-01-01 00:20 UTC (bar opens), 8 bars, "
        "13 bars missing in 2 gaps (the widest: 11 bars after 2024-01-01 00:08 UTC)"
    )
    whole = CandleSeries(Category.LINEAR, "X", Interval.M1, times[:3], *([ones[:3]] * 5), "t")
    assert describe_coverage(whole).endswith("3 bars, no gaps")


def test_the_report_prints_the_data_range_and_gaps(goog: BacktestResult) -> None:
    (line,) = [i for i in goog.info.inputs if "missing" in i]
    assert line.startswith("GOOG: bars of interval D from 2004-08-19 00:00 UTC to 2013-03-01 00:00 UTC")
    assert html.escape(line) in render_report(goog)
