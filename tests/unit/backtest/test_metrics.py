"""Metrics by hand: drawdowns, exposure, trade statistics, exact money, ratios, settings and formats."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.backtest.frames import equity_frame
from bst.backtest.metrics import (
    METRIC_NAMES,
    SYMBOL_METRICS,
    MetricSettings,
    compute_metrics,
    compute_symbol_metrics,
    drawdown_periods,
    format_metric,
)
from bst.backtest.result import EquityPoint, Ledger, PositionPoint, RoundTrip
from bst.domain.errors import ConfigError
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, Execution, OrderType

D = Decimal
DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _trip(
    symbol: str, side: Side, qty: str, entry: str, exit_: str, fees: str, t0: int, t1: int
) -> RoundTrip:
    q, e, x = D(qty), D(entry), D(exit_)
    gross = (x - e) * q if side is Side.BUY else (e - x) * q
    return RoundTrip(symbol, Category.LINEAR, side, q, t0, t1, e, x, gross, D(fees), D(0), "in", "out")


def _execution(symbol: str, exec_type: ExecType, fee: str, value: str = "0", t: int = T0) -> Execution:
    return Execution(
        exec_id=f"x{symbol}{fee}{value}{t}",
        order_id="o",
        order_link_id="",
        category=Category.LINEAR,
        symbol=symbol,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        order_price=D(0),
        order_qty=D(1),
        leaves_qty=D(0),
        exec_type=exec_type,
        exec_price=D(1),
        exec_qty=D(1),
        exec_value=D(value),
        exec_fee=D(fee),
        fee_rate=D(0),
        fee_currency="USDT",
        is_maker=False,
        closed_size=D(0),
        exec_pnl=D(0),
        exec_time_ms=t,
        seq=0,
    )


def _equity(values: list[float], step_ms: int = DAY) -> tuple[EquityPoint, ...]:
    return tuple(EquityPoint(T0 + i * step_ms, D(repr(v)), D(0), D(0)) for i, v in enumerate(values))


def _ledger(
    equity: tuple[EquityPoint, ...] = (),
    trades: tuple[RoundTrip, ...] = (),
    executions: tuple[Execution, ...] = (),
    positions: tuple[PositionPoint, ...] = (),
) -> Ledger:
    return Ledger((), executions, trades, equity, positions)


def _metrics(ledger: Ledger, cash: str = "100", end_ms: int | None = None, **kw: object) -> dict[str, object]:
    end = end_ms if end_ms is not None else (ledger.equity[-1].ts_ms if ledger.equity else T0 + DAY)
    return compute_metrics(
        ledger,
        D(cash),
        T0,
        end,
        kw.pop("closes", {}),
        kw.pop("symbols", ()),
        equity_frame(ledger.equity),
        **kw,
    )  # type: ignore[arg-type]


def test_drawdowns_run_from_a_peak_to_the_first_sample_back_at_it() -> None:
    # peak 100 at day 1, down to 80 (-20 %), back to 100 at day 4; peak 110 at day 5, 99 at the end
    ledger = _ledger(_equity([90, 100, 90, 80, 100, 110, 99]))
    m = _metrics(ledger)
    assert m["max_drawdown_pct"] == pytest.approx(-20.0)
    assert m["avg_drawdown_pct"] == pytest.approx(-(20.0 + 10.0) / 2)
    assert m["max_drawdown_days"] == 3.0  # day 1 -> day 4
    assert m["avg_drawdown_days"] == 2.0  # (3 + 1) / 2: the last one runs to the end
    assert drawdown_periods(np.array([90.0, 100, 90, 80, 100, 110, 99]), np.arange(7)) == [
        (1, 4, pytest.approx(0.2)),
        (5, 6, pytest.approx(0.1)),
    ]


def test_a_rising_curve_has_no_drawdown_and_no_calmar_ratio() -> None:
    m = _metrics(_ledger(_equity([100, 101, 103, 106, 110])))
    assert (m["max_drawdown_pct"], m["max_drawdown_days"], m["calmar"]) == (0.0, 0.0, None)
    assert m["sortino"] is None  # no period lost anything


def test_money_is_exact_and_trade_statistics_follow_their_definitions() -> None:
    trades = (
        _trip("BTCUSDT", Side.BUY, "0.001", "40000.1", "40100.1", "0.04401", T0, T0 + DAY),  # +0.1 - fees
        _trip("BTCUSDT", Side.SELL, "0.002", "40100.1", "40300.1", "0.08822", T0 + DAY, T0 + 3 * DAY),  # -0.4
        _trip("ETHUSDT", Side.BUY, "0.1", "2000", "2030", "0.2233", T0, T0 + 2 * DAY),  # +3
    )
    executions = (
        _execution("BTCUSDT", ExecType.TRADE, "0.1", "10"),
        _execution("BTCUSDT", ExecType.FUNDING, "0.0123"),
        _execution("ETHUSDT", ExecType.TRADE, "0.2", "20"),
        _execution("ETHUSDT", ExecType.FUNDING, "-0.01"),
    )
    ledger = _ledger(_equity([100, 100.1, 103]), trades, executions)
    m = _metrics(ledger)
    pnls = [t.pnl for t in trades]
    assert pnls == [D("0.05599"), D("-0.48822"), D("2.7767")]
    assert m["gross_profit"] == "2.83269"
    assert m["gross_loss"] == "-0.48822"
    assert m["profit_factor"] == pytest.approx(2.83269 / 0.48822)
    assert m["expectancy"] == str(sum(pnls, D(0)) / 3)
    assert m["fees"] == "0.3"
    assert m["funding"] == "0.0023"
    assert m["net_pnl"] == "3"
    assert m["trades"] == 3
    assert m["win_rate_pct"] == pytest.approx(200 / 3)
    returns = [float(t.pnl / t.entry_value) for t in trades]
    assert m["best_trade_pct"] == pytest.approx(max(returns) * 100)
    assert m["worst_trade_pct"] == pytest.approx(min(returns) * 100)
    assert m["expectancy_pct"] == pytest.approx(np.mean(returns) * 100)
    geometric = math.prod(1 + r for r in returns) ** (1 / 3) - 1
    assert m["avg_trade_pct"] == pytest.approx(geometric * 100)
    assert m["avg_holding_days"] == pytest.approx(5 / 3)  # 1, 2 and 2 days
    assert m["max_holding_days"] == 2.0
    per = compute_symbol_metrics(
        ledger, T0, T0 + 3 * DAY, {"BTCUSDT": (D(40000), D(44000))}, ("BTCUSDT", "ETHUSDT")
    )
    assert per["BTCUSDT"]["net_pnl"] == "-0.43223"
    assert per["BTCUSDT"]["fees"] == "0.1"
    assert per["BTCUSDT"]["funding"] == "0.0123"
    assert per["BTCUSDT"]["traded_value"] == "10"
    assert (per["BTCUSDT"]["long_trades"], per["BTCUSDT"]["short_trades"]) == (1, 1)
    assert per["BTCUSDT"]["buy_hold_return_pct"] == pytest.approx(10.0)
    assert per["ETHUSDT"]["funding"] == "-0.01"
    assert per["ETHUSDT"]["buy_hold_return_pct"] is None
    assert list(per["ETHUSDT"]) == [m.name for m in SYMBOL_METRICS]


def test_exposure_is_the_time_with_any_position_open() -> None:
    positions = (
        PositionPoint(T0 + 1 * DAY, "A", D(1), D(1), D(1), D(0), D(0)),
        PositionPoint(T0 + 2 * DAY, "B", D(-2), D(1), D(1), D(0), D(0)),
        PositionPoint(T0 + 3 * DAY, "A", D(0), D(1), D(1), D(0), D(0)),
        PositionPoint(T0 + 4 * DAY, "B", D(0), D(1), D(1), D(0), D(0)),
        PositionPoint(T0 + 8 * DAY, "A", D(3), D(1), D(1), D(0), D(0)),
    )
    ledger = _ledger(_equity([100] * 11), positions=positions)
    m = _metrics(ledger, end_ms=T0 + 10 * DAY)
    assert m["exposure_pct"] == pytest.approx((3 + 2) / 10 * 100)  # days 1-4 and 8-10
    per = compute_symbol_metrics(ledger, T0, T0 + 10 * DAY, {}, ("A", "B"))
    assert per["A"]["exposure_pct"] == pytest.approx((2 + 2) / 10 * 100)
    assert per["B"]["exposure_pct"] == pytest.approx(2 / 10 * 100)


def test_ratios_follow_the_compounded_definitions_on_daily_returns() -> None:
    values = [100.0, 102.0, 101.0, 104.0, 103.0, 107.0]
    m = _metrics(_ledger(_equity(values)), settings=MetricSettings(risk_free_rate=0.01))
    r = np.diff(values) / np.array(values[:-1])
    g = np.prod(1 + r) ** (1 / len(r)) - 1
    annual = (1 + g) ** 365 - 1
    vol = math.sqrt((r.var(ddof=1) + (1 + g) ** 2) ** 365 - (1 + g) ** 730)
    downside = math.sqrt(np.mean(np.minimum(r, 0) ** 2)) * math.sqrt(365)
    assert m["annual_return_pct"] == pytest.approx(annual * 100)
    assert m["volatility_pct"] == pytest.approx(vol * 100)
    assert m["sharpe"] == pytest.approx((annual - 0.01) / vol)
    assert m["sortino"] == pytest.approx((annual - 0.01) / downside)
    assert m["calmar"] == pytest.approx(annual / (1 / 102))
    assert m["cagr_pct"] == pytest.approx(((107 / 100) ** (365 / 5) - 1) * 100)
    assert m["risk_free_rate_pct"] == 1.0


def test_returns_per_period_take_the_last_equity_of_each_period() -> None:
    hourly = _equity([100.0 + (i % 7) for i in range(24 * 4)], step_ms=3_600_000)
    daily = _metrics(_ledger(hourly))
    by_day = pd.Series([float(p.equity) for p in hourly]).groupby(np.arange(len(hourly)) // 24).last()
    r = by_day.pct_change().dropna().to_numpy()
    g = np.prod(1 + r) ** (1 / len(r)) - 1
    assert daily["annual_return_pct"] == pytest.approx(((1 + g) ** 365 - 1) * 100)
    four_hours = _metrics(_ledger(hourly), settings=MetricSettings(period="4h"))
    assert four_hours["returns_period"] == "4h"
    assert four_hours["annual_return_pct"] != pytest.approx(daily["annual_return_pct"])


def test_sparse_samples_are_annualised_by_their_own_spacing() -> None:
    weekly = _equity([100.0, 101.0, 99.0, 103.0, 104.0, 102.0], step_ms=7 * DAY)
    m = _metrics(_ledger(weekly))
    assert m["returns_period"] == "7D"
    r = np.diff([100.0, 101.0, 99.0, 103.0, 104.0, 102.0]) / np.array([100.0, 101.0, 99.0, 103.0, 104.0])
    g = np.prod(1 + r) ** (1 / len(r)) - 1
    assert m["annual_return_pct"] == pytest.approx(((1 + g) ** (365 / 7) - 1) * 100)


def test_a_run_without_trades_or_enough_returns_has_none_where_a_metric_does_not_exist() -> None:
    m = _metrics(_ledger(_equity([100.0])))
    assert list(m) == list(METRIC_NAMES)
    for name in ("win_rate_pct", "profit_factor", "expectancy", "avg_holding_days", "sharpe", "sortino"):
        assert m[name] is None, name
    assert (m["trades"], m["fees"], m["net_pnl"], m["exposure_pct"]) == (0, "0", "0", 0.0)


def test_buy_and_hold_averages_the_symbols_equally() -> None:
    closes = {"A": (D(100), D(150)), "B": (D(10), D(9))}
    m = _metrics(_ledger(_equity([100.0, 100.0])), closes=closes, symbols=("A", "B"))
    assert m["buy_hold_return_pct"] == pytest.approx((50.0 - 10.0) / 2)


@pytest.mark.parametrize(("period", "rate"), [("1M", 0.0), ("fortnight", 0.0), ("0s", 0.0), ("1D", 1.5)])
def test_bad_metric_settings_are_refused_in_one_line(period: str, rate: float) -> None:
    with pytest.raises(ConfigError) as raised:
        MetricSettings(period=period, risk_free_rate=rate)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("net_pnl", "1234.5", "1,234.50 USDT"),
        ("fees", "0.00123", "0.00123000 USDT"),
        ("return_pct", 12.345, "12.35 %"),
        ("sharpe", 1.23456, "1.235"),
        ("max_drawdown_days", 3.5, "3d 12h"),
        ("avg_holding_days", 0.5 / 24, "30m"),
        ("trades", 1234, "1,234"),
        ("start", "2024-01-01T00:00:00+00:00", "2024-01-01 00:00:00 UTC"),
        ("first_price", "0.5123", "0.5123"),
        ("sharpe", None, "-"),
    ],
)
def test_metrics_are_formatted_as_people_read_them(name: str, value: object, text: str) -> None:
    assert format_metric(name, value, "USDT") == text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=1e6, allow_nan=False), min_size=1, max_size=80))
def test_drawdown_properties_hold_for_any_curve(values: list[float]) -> None:
    ledger = _ledger(_equity(values, step_ms=3_600_000))
    m = _metrics(ledger, cash=repr(values[0]))
    assert -100.0 < m["max_drawdown_pct"] <= m["avg_drawdown_pct"] <= 0.0
    assert 0.0 <= m["avg_drawdown_days"] <= m["max_drawdown_days"] <= m["duration_days"]
    periods = drawdown_periods(np.array(values), np.arange(len(values)))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(periods))  # never overlapping
    deepest = max((d for _, _, d in periods), default=0.0)
    peak = np.maximum.accumulate(values)
    assert deepest == pytest.approx(float(np.max(1 - np.array(values) / peak)))
