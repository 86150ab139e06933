"""Parity with backtesting.py 0.6.6: the SMA cross gives its trades and final equity, exactly.

Configured alike: fills at the next bar's open, a commission per side, a fixed size in units,
reversing on each cross (`position.close(); buy(size)` / `sell(size)`). bst computes in Decimal and
backtesting.py in floats, so prices, sizes, bars and counts are compared for equality and money to
1e-6 (backtesting.py's own float rounding is about 1e-11 here).

One documented difference: at the end of the data backtesting.py's `finalize_trades=True` closes
open trades at the last bar's *open* (it re-runs its broker on the last bar's prices), where bst
closes them at the last price, the last *close*. Without closing (`close_at_end=False` /
`finalize_trades=False`) both give the same trades and the same final (marked-to-market) equity; with
closing, every trade but the last is the same and the last one differs by exactly that price.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig
from bst.backtest.result import BacktestResult

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA


MONEY = 1e-6


def _bt_strategy(size: int) -> type[Strategy]:
    class SmaCross(Strategy):  # backtesting.py's README example, with a fixed size in units
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy(size=size)
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell(size=size)

    return SmaCross


def _frame(path: Path) -> pd.DataFrame:
    if path.suffix == ".feather":
        raw = pd.read_feather(path).set_index("date")
        frame = raw.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    else:
        frame = pd.read_csv(path, index_col=0, parse_dates=True)
    return frame


def _backtesting(frame: pd.DataFrame, size: int, cash: float, commission: float, finalize: bool) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(frame, _bt_strategy(size), cash=cash, commission=commission, finalize_trades=finalize)
        return bt.run()


def _bst(path: Path, symbol: str, size: int, cash: int, commission: str, close: bool) -> BacktestResult:
    config = BacktestConfig(cash=Decimal(cash), commission=Decimal(commission), close_at_end=close)
    return run("sma_cross", symbol, data=path, params={"qty": Decimal(size)}, config=config)


def _compare_trades(ours: BacktestResult, theirs: pd.DataFrame, frame: pd.DataFrame, count: int) -> None:
    opens = pd.DatetimeIndex(frame.index)
    opens = opens.tz_localize("UTC") if opens.tz is None else opens
    ledger = ours.ledger
    assert ledger is not None
    for mine, (_, row) in zip(ledger.trades[:count], theirs.iloc[:count].iterrows(), strict=True):
        entry_bar = int(opens.searchsorted(pd.Timestamp(mine.entry_time_ms, unit="ms", tz="UTC")))
        exit_bar = int(opens.searchsorted(pd.Timestamp(mine.exit_time_ms, unit="ms", tz="UTC")))
        signed = mine.qty if mine.is_long else -mine.qty
        assert (entry_bar, exit_bar) == (row["EntryBar"], row["ExitBar"])
        assert float(signed) == row["Size"]
        assert float(mine.entry_price) == row["EntryPrice"]
        assert float(mine.exit_price) == row["ExitPrice"]
        assert float(mine.pnl) == pytest.approx(row["PnL"], abs=MONEY)
        assert float(mine.fees) == pytest.approx(row["Commission"], abs=MONEY)


CASES: list[Any] = [
    pytest.param("backtestingpy_GOOG.csv", "GOOG", 10, 10_000, "0.002", id="GOOG-daily"),
    pytest.param(
        "freqtrade_XRP_USDT_USDT-5m-futures.feather", "XRPUSDT", 1000, 10_000, "0.00055", id="XRP-5m"
    ),
    pytest.param("backtestingpy_BTCUSD.csv", "BTCUSD", 1, 1_000_000, "0.001", id="BTCUSD-monthly"),
]


@pytest.mark.parametrize(("name", "symbol", "size", "cash", "commission"), CASES)
def test_without_a_final_close_the_sma_cross_gives_backtestingpys_trades_and_equity(
    shared_dir: Path, name: str, symbol: str, size: int, cash: int, commission: str
) -> None:
    path = shared_dir / "data" / name
    frame = _frame(path)
    theirs = _backtesting(frame, size, cash, float(commission), finalize=False)
    ours = _bst(path, symbol, size, cash, commission, close=False)
    trades = theirs["_trades"]
    assert ours.ledger is not None
    assert len(ours.ledger.trades) == len(trades) > 3
    _compare_trades(ours, trades, frame, len(trades))
    final = ours.ledger.equity[-1].equity
    assert float(final) == pytest.approx(theirs["Equity Final [$]"], abs=MONEY)
    assert ours.info.metrics["trades"] == theirs["# Trades"]


@pytest.mark.parametrize(("name", "symbol", "size", "cash", "commission"), CASES)
def test_closing_at_the_end_differs_from_backtestingpy_only_by_its_last_open_quirk(
    shared_dir: Path, name: str, symbol: str, size: int, cash: int, commission: str
) -> None:
    path = shared_dir / "data" / name
    frame = _frame(path)
    theirs = _backtesting(frame, size, cash, float(commission), finalize=True)
    ours = _bst(path, symbol, size, cash, commission, close=True)
    trades = theirs["_trades"]
    assert ours.ledger is not None
    mine = ours.ledger.trades
    assert len(mine) == len(trades)
    _compare_trades(ours, trades, frame, len(trades) - 1)
    last, their_last = mine[-1], trades.iloc[-1]
    last_open = Decimal(repr(float(frame["Open"].iloc[-1])))
    last_close = Decimal(repr(float(frame["Close"].iloc[-1])))
    assert float(last.entry_price) == their_last["EntryPrice"]
    assert float(last.exit_price) == float(last_close)  # bst: the last close
    assert their_last["ExitPrice"] == float(last_open)  # backtesting.py: the last open
    signed = last.qty if last.is_long else -last.qty
    rate = Decimal(commission)
    # the final equities differ by the price difference on the position, less the exit fee difference
    expected = signed * (last_close - last_open) - abs(signed) * (last_close - last_open) * rate
    delta = ours.ledger.equity[-1].equity - Decimal(repr(float(theirs["Equity Final [$]"])))
    assert float(delta) == pytest.approx(float(expected), abs=MONEY)
