"""The metrics that share backtesting.py 0.6.6's definitions give its `stats`, on the parity runs.

Both sides run the SMA cross configured alike (next-open fills, a commission per side, a fixed size,
no final close: `finalize_trades=False` / `close_at_end=False`), so their equity curves are the
same bar for bar (the runner's parity tests pin that). The metrics computed from them must then
agree: returns, the annualised ratios (on the 24/7 XRP file, where backtesting.py also counts 365
days a year), drawdowns and their durations, and the trade statistics. Documented differences
(exposure in time, buy and hold from the first bar, profit factor on money, annualisation on
stock data) are checked against our own definitions instead.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from pathlib import Path

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

REL = 1e-9


def _their_strategy(size: int) -> type[Strategy]:
    class SmaCross(Strategy):
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
        return raw.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    return pd.read_csv(path, index_col=0, parse_dates=True)


def _theirs(path: Path, size: int, cash: int, commission: str, *, finalize: bool = False) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtest = Backtest(
            _frame(path),
            _their_strategy(size),
            cash=cash,
            commission=float(commission),
            finalize_trades=finalize,
        )
        return backtest.run()


def _both(path: Path, symbol: str, size: int, cash: int, commission: str) -> tuple[BacktestResult, pd.Series]:
    theirs = _theirs(path, size, cash, commission)
    config = BacktestConfig(cash=Decimal(cash), commission=Decimal(commission), close_at_end=False)
    ours = run("sma_cross", symbol, data=path, params={"qty": Decimal(size)}, config=config)
    return ours, theirs


def _days(value: pd.Timedelta) -> float:
    return value / pd.Timedelta(days=1)


def _ceil_days(days: float, resolution: str) -> float:
    """Return a duration rounded up as backtesting.py shows it (to its data's resolution)."""
    return _days(pd.Timedelta(days=days).ceil(resolution))


XRP = "freqtrade_XRP_USDT_USDT-5m-futures.feather"
CASES = [
    pytest.param(XRP, "XRPUSDT", 1000, 10_000, "0.00055", "min", id="XRP-5m"),
    pytest.param("backtestingpy_GOOG.csv", "GOOG", 10, 10_000, "0.002", "D", id="GOOG-daily"),
]


@pytest.mark.parametrize(("name", "symbol", "size", "cash", "commission", "resolution"), CASES)
def test_shared_metrics_equal_backtestingpys_stats(
    shared_dir: Path, name: str, symbol: str, size: int, cash: int, commission: str, resolution: str
) -> None:
    ours, theirs = _both(shared_dir / "data" / name, symbol, size, cash, commission)
    m = ours.info.metrics
    assert m["trades"] == theirs["# Trades"] > 3
    assert float(m["equity_final"]) == pytest.approx(theirs["Equity Final [$]"], rel=REL)
    assert float(m["equity_peak"]) == pytest.approx(theirs["Equity Peak [$]"], rel=REL)
    assert m["return_pct"] == pytest.approx(theirs["Return [%]"], rel=REL)
    assert m["max_drawdown_pct"] == pytest.approx(theirs["Max. Drawdown [%]"], rel=REL)
    assert m["avg_drawdown_pct"] == pytest.approx(theirs["Avg. Drawdown [%]"], rel=REL)
    assert _ceil_days(m["max_drawdown_days"], resolution) == _days(theirs["Max. Drawdown Duration"])
    assert _ceil_days(m["avg_drawdown_days"], resolution) == _days(theirs["Avg. Drawdown Duration"])
    assert m["win_rate_pct"] == pytest.approx(theirs["Win Rate [%]"], rel=REL)
    assert m["best_trade_pct"] == pytest.approx(theirs["Best Trade [%]"], rel=REL)
    assert m["worst_trade_pct"] == pytest.approx(theirs["Worst Trade [%]"], rel=REL)
    assert m["avg_trade_pct"] == pytest.approx(theirs["Avg. Trade [%]"], rel=REL)
    assert m["expectancy_pct"] == pytest.approx(theirs["Expectancy [%]"], rel=REL)
    assert _ceil_days(m["avg_holding_days"], resolution) == _days(theirs["Avg. Trade Duration"])
    assert _ceil_days(m["max_holding_days"], resolution) == _days(theirs["Max. Trade Duration"])
    # exact money: the fees of the closed trades are backtesting.py's commissions of them
    assert ours.ledger is not None
    closed_fees = sum((t.fees for t in ours.ledger.trades), Decimal(0))
    assert float(closed_fees) == pytest.approx(float(theirs["_trades"]["Commission"].sum()), rel=REL)


def test_annualised_ratios_equal_backtestingpys_on_a_24_7_market(shared_dir: Path) -> None:
    ours, theirs = _both(shared_dir / "data" / XRP, "XRPUSDT", 1000, 10_000, "0.00055")
    m = ours.info.metrics
    assert m["returns_period"] == "1D"
    assert m["annual_return_pct"] == pytest.approx(theirs["Return (Ann.) [%]"], rel=1e-6)
    assert m["volatility_pct"] == pytest.approx(theirs["Volatility (Ann.) [%]"], rel=1e-6)
    assert m["sharpe"] == pytest.approx(theirs["Sharpe Ratio"], rel=1e-6)
    assert m["sortino"] == pytest.approx(theirs["Sortino Ratio"], rel=1e-6)
    assert m["calmar"] == pytest.approx(theirs["Calmar Ratio"], rel=1e-6)


def test_the_documented_differences_follow_our_definitions(shared_dir: Path) -> None:
    path = shared_dir / "data" / "backtestingpy_GOOG.csv"
    ours, theirs = _both(path, "GOOG", 10, 10_000, "0.002")
    frame = _frame(path)
    m = ours.info.metrics
    ledger = ours.ledger
    assert ledger is not None
    # buy and hold: from the first bar's close (backtesting.py: the first bar after the warm-up)
    closes = [Decimal(repr(float(c))) for c in frame["Close"]]
    assert m["buy_hold_return_pct"] == pytest.approx(float((closes[-1] / closes[0] - 1) * 100), rel=REL)
    assert m["buy_hold_return_pct"] != pytest.approx(theirs["Buy & Hold Return [%]"], rel=1e-3)
    # profit factor on money (backtesting.py: on the trades' returns)
    wins = sum((t.pnl for t in ledger.trades if t.pnl > 0), Decimal(0))
    losses = sum((t.pnl for t in ledger.trades if t.pnl < 0), Decimal(0))
    assert m["profit_factor"] == pytest.approx(float(wins / -losses), rel=REL)
    assert m["gross_profit"] == format(wins.normalize(), "f")
    # exposure in time, the open position included: backtesting.py counts bars (entry and exit bar
    # both) of its trades, so it matches only to about a bar per trade, and only once the last trade
    # is closed (finalize_trades)
    finalized = _theirs(path, 10, 10_000, "0.002", finalize=True)
    bars = len(frame) - 1
    open_ms = sum(t.exit_time_ms - t.entry_time_ms for t in ledger.trades)
    last_open = ledger.positions[-1]
    open_ms += ours.info.end_ms - last_open.ts_ms if last_open.size != 0 else 0
    assert m["exposure_pct"] == pytest.approx(open_ms / (ours.info.end_ms - ours.info.start_ms) * 100)
    assert m["exposure_pct"] == pytest.approx(
        finalized["Exposure Time [%]"], abs=len(ledger.trades) / bars * 100
    )
    # stock data has no weekends: backtesting.py annualises with 252 days, bst always with 365
    assert m["annual_return_pct"] > theirs["Return (Ann.) [%]"]
    assert not math.isclose(m["sharpe"], theirs["Sharpe Ratio"], rel_tol=1e-3)
