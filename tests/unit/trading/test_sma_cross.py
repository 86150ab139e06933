"""The SMA cross decides exactly where pandas' averages cross, and trades as backtesting.py's example."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from runtime_kit import Driver, klines

from bst.domain.errors import ConfigError
from bst.domain.market import Interval, Side
from bst.strategies import create_strategy
from bst.strategies.sma_cross import SmaCross, SmaCrossParams
from bst.trading.intents import SubmitIntent
from bst.trading.market_view import DataNeeds

QTY = Decimal("0.01")


def expected_orders(
    close: pd.Series, fast: int, slow: int, long_only: bool
) -> tuple[list[tuple[int, Side, bool]], Decimal]:
    """Return (bar index, side, reduce_only) of every order and the final position, from pandas'
    rolling means and backtesting.py's rule: a cross is `fast[-2] < slow[-2] and fast[-1] > slow[-1]`."""
    f, s = close.rolling(fast).mean().tolist(), close.rolling(slow).mean().tolist()
    position, orders = Decimal(0), []
    for i in range(1, len(close)):
        if f[i - 1] < s[i - 1] and f[i] > s[i]:
            if position < 0:
                orders.append((i, Side.BUY, True))
            orders.append((i, Side.BUY, False))
            position = QTY
        elif f[i - 1] > s[i - 1] and f[i] < s[i]:
            if position > 0:
                orders.append((i, Side.SELL, True))
            position = Decimal(0)
            if not long_only:
                orders.append((i, Side.SELL, False))
                position = -QTY
    return orders, position


@pytest.mark.parametrize(("fast", "slow", "long_only"), [(10, 20, False), (5, 30, True)])
async def test_orders_follow_the_crosses_of_pandas_rolling_means(
    shared_dir: Path, fast: int, slow: int, long_only: bool
) -> None:
    close = pd.read_csv(shared_dir / "data" / "backtestingpy_GOOG.csv", index_col=0)["Close"]
    events = klines([f"{c:.2f}" for c in close], Interval.D1)
    strategy = create_strategy(
        "sma_cross",
        {"fast": fast, "slow": slow, "qty": QTY, "interval": Interval.D1, "long_only": long_only},
    )
    driver = Driver(strategy)
    await driver.start()
    await driver.feed(events)

    got = []
    for result in driver.results:
        intent = result.intent
        assert isinstance(intent, SubmitIntent)
        index = next(i for i, e in enumerate(events) if e.ts_ms == intent.at_ms)
        got.append((index, intent.request.side, intent.request.reduce_only))
        assert intent.request.qty == QTY
    expected, final = expected_orders(close, fast, slow, long_only)
    assert len(expected) > 40
    assert got == expected
    assert all(r.ok for r in driver.results)
    assert driver.runtime.context.position_size() == final


def test_it_asks_for_one_interval_and_enough_history() -> None:
    strategy = SmaCross(SmaCrossParams(fast=4, slow=9, interval=Interval.H1))

    assert strategy.needs() == DataNeeds(bars=(Interval.H1,), history=10)
    assert strategy.name == "sma_cross"
    assert strategy.params_type is SmaCrossParams


def test_fast_must_be_faster_than_slow() -> None:
    with pytest.raises(ConfigError, match=r"^fast \(20\) must be below slow \(20\)$"):
        SmaCrossParams(fast=20, slow=20)


async def test_no_order_before_both_averages_have_two_values() -> None:
    # The slow average's first value is at bar 3, so bar 4 is the first that can show a cross.
    driver = Driver(create_strategy("sma_cross", ["fast=2", "slow=4", "qty=0.01"]))
    await driver.start()
    await driver.feed(klines(["100", "100", "100", "90", "120"]))

    assert [d.at_ms for d in driver.decisions] == [driver.runtime.now_ms]
