"""Candle fills through the whole runner, computed by hand.

Bars are one minute from 2024-01-01 00:00 UTC; the default fees are Bybit's base tier (taker
0.055 %, maker 0.02 %). A bar's path: open, the nearer extreme, the other one, the close.
"""

from __future__ import annotations

from decimal import Decimal

from backtestkit import MINUTE_MS, START_MS, Script, candles

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig, CandleFill
from bst.domain.orders import ExecType
from bst.trading.context import Context

D = Decimal
BARS = candles(
    [
        (100, 101, 99, 100.5),  # 0
        (101, 103, 100, 102),  # 1: low first (nearer), never reaches 99.5
        (102, 104, 95, 96),  # 2: high first, then down through 99.5 and 99
        (97, 98, 90, 91),  # 3
        (91, 92, 90, 91.5),  # 4
    ]
)
GAP_BARS = candles(
    [
        (100, 101, 99, 100.5),
        (101, 103, 100, 102),
        (97, 98, 95, 96),  # 2: opens below 99: a gap through a stop at 99
        (96, 97, 95, 96.5),
    ]
)


def _buy(qty: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return lambda ctx: ctx.buy(D(qty), **kwargs)


def _close(ctx: Context) -> None:
    ctx.close_position()


def test_a_market_order_fills_at_the_next_bars_open() -> None:
    script = Script({0: _buy("1"), 2: _close})
    result = run(script, "BTCUSDT", data=BARS)
    assert result.ledger is not None
    (trade,) = result.ledger.trades
    assert (trade.entry_price, trade.exit_price) == (D(101), D(97))
    assert (trade.entry_time_ms, trade.exit_time_ms) == (START_MS + MINUTE_MS, START_MS + 3 * MINUTE_MS)
    assert trade.gross_pnl == D(-4)
    assert trade.fees == D("0.05555") + D("0.05335")  # 101 x 0.00055 + 97 x 0.00055
    assert trade.pnl == D("-4.1089")
    assert result.ledger.equity[-1].equity == D(10_000) + trade.pnl


def test_with_fill_close_a_market_order_fills_at_the_close_of_the_bar_seen() -> None:
    script = Script({0: _buy("1"), 2: _close})
    result = run(script, "BTCUSDT", data=BARS, config=BacktestConfig(fill=CandleFill.CLOSE))
    assert result.ledger is not None
    (trade,) = result.ledger.trades
    assert (trade.entry_price, trade.exit_price) == (D("100.5"), D(96))
    assert (trade.entry_time_ms, trade.exit_time_ms) == (
        START_MS + MINUTE_MS - 1,
        START_MS + 3 * MINUTE_MS - 1,
    )
    assert trade.pnl == D("-4.5") - D("0.055275") - D("0.0528")


def test_a_limit_fills_at_its_price_when_the_bar_path_reaches_it() -> None:
    script = Script({0: lambda ctx: ctx.buy(D(1), D("99.5"))})
    result = run(script, "BTCUSDT", data=BARS, config=BacktestConfig(close_at_end=False))
    assert result.ledger is not None
    (fill,) = [e for e in result.ledger.executions if e.exec_type is ExecType.TRADE]
    assert (fill.exec_price, fill.is_maker, fill.exec_fee) == (D("99.5"), True, D("0.0199"))
    assert fill.exec_time_ms == START_MS + 2 * MINUTE_MS + 2 * (MINUTE_MS - 1) // 3  # bar 2's low
    # the strategy heard of it (stamped with its exchange time) after bar 1 and before bar 2
    assert [(at, bars) for at, bars, _ in script.seen.fills] == [(fill.exec_time_ms, 2)]


def test_a_stop_loss_touched_inside_a_bar_fills_at_the_stop() -> None:
    script = Script({0: _buy("1", stop_loss=99)})
    result = run(script, "BTCUSDT", data=BARS)
    assert result.ledger is not None
    (trade,) = result.ledger.trades
    assert (trade.entry_price, trade.exit_price, trade.gross_pnl) == (D(101), D(99), D(-2))
    assert trade.exit_time_ms == START_MS + 2 * MINUTE_MS + 2 * (MINUTE_MS - 1) // 3


def test_a_stop_loss_the_market_gaps_through_fills_at_the_open() -> None:
    script = Script({0: _buy("1", stop_loss=99)})
    result = run(script, "BTCUSDT", data=GAP_BARS)
    assert result.ledger is not None
    (trade,) = result.ledger.trades
    assert (trade.entry_price, trade.exit_price, trade.gross_pnl) == (D(101), D(97), D(-4))
    assert trade.exit_time_ms == START_MS + 2 * MINUTE_MS
    assert trade.fees == D("0.05555") + D("0.05335")


def test_slippage_moves_candle_fills_against_the_order_on_the_tick_grid() -> None:
    script = Script({0: _buy("1"), 2: _close})
    result = run(script, "BTCUSDT", data=BARS, config=BacktestConfig(slippage=D("0.001")))
    assert result.ledger is not None
    (trade,) = result.ledger.trades
    # tick 0.1 (the data prints one decimal): 101 x 1.001 = 101.101 -> 101.2; 97 x 0.999 = 96.903 -> 96.9
    assert (trade.entry_price, trade.exit_price) == (D("101.2"), D("96.9"))


def test_orders_still_waiting_for_an_open_when_the_data_ends_fill_at_the_last_close() -> None:
    script = Script({4: _buy("2")})
    result = run(script, "BTCUSDT", data=BARS)
    assert result.ledger is not None
    fills = [e for e in result.ledger.executions if e.exec_type is ExecType.TRADE]
    assert [(f.side.value, f.exec_price, f.exec_qty) for f in fills] == [
        ("Buy", D("91.5"), D(2)),  # the last print: bar 4's close
        ("Sell", D("91.5"), D(2)),  # and closed there at the end
    ]
    assert result.info.metrics["trades"] == 1
