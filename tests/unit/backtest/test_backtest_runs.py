"""Whole runs: fees and funding to the cent, several symbols, coarser bars, saved runs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from backtestkit import MINUTE_MS, START_MS, Script, candles

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig
from bst.backtest.result import EQUITY_COLUMNS, FILL_COLUMNS, ORDER_COLUMNS, POSITION_COLUMNS, TRADE_COLUMNS
from bst.backtest.runs import list_runs, load_run
from bst.domain.errors import ConfigError
from bst.domain.market import Interval
from bst.domain.orders import ExecType
from bst.trading.context import Context
from bst.trading.runtime import StrategyError

D = Decimal


def _exact(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def test_fees_and_funding_are_charged_to_the_cent_from_the_funding_history(shared_dir: Path) -> None:
    data = shared_dir / "data"
    bars = pd.read_feather(data / "freqtrade_XRP_USDT_USDT-5m-futures.feather").set_index("date")
    raw = pd.read_feather(data / "freqtrade_XRP_USDT_USDT-8h-funding_rate.feather")
    # freqtrade's file stamps settlements a few ms late (00:00:00.017): Bybit's are on the minute
    times = (raw["date"].astype("datetime64[ms, UTC]").astype("int64") // MINUTE_MS * MINUTE_MS).tolist()
    rates = [(t, _exact(r)) for t, r in zip(times, raw["open"], strict=True)]
    script = Script({0: lambda ctx: ctx.buy(D(1000))}, interval=Interval.M5)
    result = run(
        script,
        "XRPUSDT",
        data=data / "freqtrade_XRP_USDT_USDT-5m-futures.feather",
        funding={"XRPUSDT": rates},
        config=BacktestConfig(cash=D(10_000)),
    )
    ledger = result.ledger
    assert ledger is not None
    first_ms = int(bars.index[0].value // 1_000_000)
    last_ms = int(bars.index[-1].value // 1_000_000) + 5 * MINUTE_MS
    closes = {int(t.value // 1_000_000) + 5 * MINUTE_MS: _exact(c) for t, c in bars["close"].items()}
    expected = []
    for at_ms, rate in rates:
        if first_ms + 5 * MINUTE_MS < at_ms < last_ms:  # while the position is open
            mark = closes[at_ms]  # the last print before the settlement: the close of the bar before
            expected.append((at_ms, D(1000) * mark * rate))
    paid = [(e.exec_time_ms, e.exec_fee) for e in ledger.executions if e.exec_type is ExecType.FUNDING]
    assert paid == expected
    assert len(paid) == 12
    entry, exit_ = _exact(bars["open"].iloc[1]), _exact(bars["close"].iloc[-1])
    (trade,) = ledger.trades
    assert (trade.entry_price, trade.exit_price) == (entry, exit_)
    assert trade.fees == D(1000) * entry * D("0.00055") + D(1000) * exit_ * D("0.00055")
    assert trade.funding == sum(fee for _, fee in expected)
    assert trade.pnl == D(1000) * (exit_ - entry) - trade.fees - trade.funding
    assert ledger.equity[-1].equity == D(10_000) + trade.pnl  # the wallet, exact to the last digit
    assert result.info.metrics["funding"] == format(trade.funding.normalize(), "f")


def test_several_symbols_trade_in_one_account_and_one_equity_curve() -> None:
    btc = candles([(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104), (103, 104, 102, 103)])
    eth = candles([(10, 11, 9, 10), (9, 10, 8, 9), (8, 9, 7, 8), (8.5, 9, 8, 8.5)])
    script = Script(
        {
            ("BTCUSDT", 0): lambda ctx: ctx.buy(D(1)),
            ("ETHUSDT", 0): lambda ctx: ctx.sell(D(5), symbol="ETHUSDT"),
        }
    )
    result = run(
        script,
        ["BTCUSDT", "ETHUSDT"],
        data={"BTCUSDT": btc, "ETHUSDT": eth},
        config=BacktestConfig(commission=D("0.001")),
    )
    assert result.ledger is not None
    trades = {t.symbol: t for t in result.ledger.trades}
    assert (trades["BTCUSDT"].entry_price, trades["BTCUSDT"].exit_price, trades["BTCUSDT"].gross_pnl) == (
        D(102),
        D(103),
        D(1),
    )
    assert (trades["ETHUSDT"].entry_price, trades["ETHUSDT"].exit_price, trades["ETHUSDT"].gross_pnl) == (
        D(9),
        D("8.5"),
        D("2.5"),
    )
    fees = D("0.001") * (D(102) + D(103) + 5 * D(9) + 5 * D("8.5"))
    assert sum((t.fees for t in trades.values()), D(0)) == fees
    assert result.ledger.equity[-1].equity == D(10_000) + D("3.5") - fees
    # each symbol's bars reached the strategy in time order, the first symbol first at each time
    assert [(at, s) for at, s, _ in script.seen.bars][:4] == [
        (START_MS + MINUTE_MS - 1, "BTCUSDT"),
        (START_MS + MINUTE_MS - 1, "ETHUSDT"),
        (START_MS + 2 * MINUTE_MS - 1, "BTCUSDT"),
        (START_MS + 2 * MINUTE_MS - 1, "ETHUSDT"),
    ]
    assert set(result.positions["symbol"]) == {"BTCUSDT", "ETHUSDT"}


def test_a_strategy_gets_the_coarser_bars_it_asks_for_built_from_the_data() -> None:
    minutes = candles([(100 + i, 101 + i, 99 + i, 100.5 + i) for i in range(12)])
    script = Script(interval=Interval.M5)
    run(script, "BTCUSDT", data=minutes)
    five = [(at, b.bar) for at, _, b in script.seen.bars]
    assert [at for at, _ in five] == [START_MS + 5 * MINUTE_MS - 1, START_MS + 10 * MINUTE_MS - 1]
    first = five[0][1]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        D(100),
        D(105),
        D(99),
        D("104.5"),
        D(50),
    )


def test_a_strategy_asking_for_finer_bars_than_the_data_is_refused() -> None:
    hours = candles([(100, 101, 99, 100)] * 3, freq="1h")
    with pytest.raises(ConfigError, match="asks for 1 bars but the data of BTCUSDT has 60 bars"):
        run(Script(), "BTCUSDT", data=hours)


def test_a_saved_run_reads_back_with_the_same_frames_and_facts(tmp_path: Path) -> None:
    bars = candles([(100, 101, 99, 100.5), (101, 103, 100, 102), (102, 104, 95, 96), (97, 98, 90, 91)])

    def step(ctx: Context) -> None:
        ctx.buy(D("0.5"))

    result = run(Script({0: step}), "BTCUSDT", data=bars, data_dir=tmp_path, save=True, created_ms=START_MS)
    (info,) = list_runs(tmp_path)
    assert info == result.info
    assert info.run_id == "20240101-000000-script-BTCUSDT"
    loaded = load_run(tmp_path, info.run_id)
    assert loaded.ledger is None
    for name, columns in (
        ("trades", TRADE_COLUMNS),
        ("equity", EQUITY_COLUMNS),
        ("orders", ORDER_COLUMNS),
        ("fills", FILL_COLUMNS),
        ("positions", POSITION_COLUMNS),
    ):
        frame = getattr(loaded, name)
        assert tuple(frame.columns) == columns
        pd.testing.assert_frame_equal(frame, getattr(result, name), check_exact=True)
    assert loaded.stats.equals(result.stats)
    again = run(Script({0: step}), "BTCUSDT", data=bars, data_dir=tmp_path, save=True, created_ms=START_MS)
    assert again.info.run_id == "20240101-000000-script-BTCUSDT-2"


def test_a_strategy_that_raises_stops_the_run_with_one_line() -> None:
    def broken(ctx: Context) -> None:
        raise ValueError("no such indicator")

    with pytest.raises(StrategyError) as raised:
        run(Script({1: broken}), "BTCUSDT", data=candles([(100, 101, 99, 100)] * 3))
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("strategy script failed in on_bar at 2024-01-01T00:01:59.999+00:00")
    assert message.endswith("ValueError: no such indicator")
