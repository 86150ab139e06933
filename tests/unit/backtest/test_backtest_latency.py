"""Latency: the models, and what they do to a run's order of events (a late cancel loses).

Bars are one minute from 2024-01-01 00:00 UTC; bar k's prints come at k:00.000 (open), k:19.999
and k:39.999 (the extremes, nearer one first) and k:59.999 (the close).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from backtestkit import MINUTE_MS, START_MS, Script, candles
from hypothesis import given
from hypothesis import strategies as st

from bst.backtest.api import run
from bst.backtest.config import BacktestConfig
from bst.backtest.latency import ConstantLatency, JitterLatency, RecordedLatency, parse_latency
from bst.backtest.result import Ledger
from bst.domain.errors import BybitOrderNotFoundError, ConfigError
from bst.domain.orders import ExecType, OrderStatus
from bst.trading.context import Context
from bst.trading.execution import Resolution

D = Decimal
BARS = candles(
    [
        (100, 101, 99, 100.5),  # 0
        (101, 103, 100, 102),  # 1: 101, then 100 (nearer), 103, 102
        (102, 104, 95, 96),  # 2: 102, then 104 (nearer), 95 (reaches 99.5 at 2:39.999), 96
        (97, 98, 90, 91),  # 3
    ]
)
LOW_OF_BAR_2 = START_MS + 2 * MINUTE_MS + 2 * (MINUTE_MS - 1) // 3


# --- the models ---------------------------------------------------------------------------------


def test_a_constant_latency_is_always_the_same() -> None:
    model = ConstantLatency(25)
    assert [model.delay_ms(t) for t in (0, 1, 10**12)] == [25, 25, 25]
    with pytest.raises(ConfigError):
        ConstantLatency(-1)


@given(st.integers(0, 200), st.integers(0, 50), st.integers(0, 2**31), st.integers(0, 2**42))
def test_jitter_stays_in_its_range_and_is_a_function_of_seed_and_time(
    base: int, jitter: int, seed: int, at_ms: int
) -> None:
    one, other = JitterLatency(base, jitter, seed), JitterLatency(base, jitter, seed)
    delay = one.delay_ms(at_ms)
    assert base <= delay <= base + jitter
    assert other.delay_ms(at_ms) == delay == one.delay_ms(at_ms)


def test_jitter_varies_with_time_and_seed() -> None:
    model = JitterLatency(10, 20, seed=7)
    delays = {model.delay_ms(t) for t in range(1000)}
    assert len(delays) == 21  # every value of [10, 30] turns up in a thousand sends
    assert [model.delay_ms(t) for t in range(50)] != [
        JitterLatency(10, 20, seed=8).delay_ms(t) for t in range(50)
    ]


def test_a_recorded_latency_interpolates_between_sends_and_repeats_outside_its_span() -> None:
    model = RecordedLatency([(1_000, 1_010), (1_100, 1_130), (1_200, 1_205)])  # delays 10, 30, 5
    assert model.delay_ms(1_000) == 10
    assert model.delay_ms(1_050) == 20  # halfway between 10 and 30
    assert model.delay_ms(1_175) == 11  # 30 + (5 - 30) x 0.75 = 11.25
    assert model.delay_ms(1_200) == 5
    assert model.delay_ms(1_050 + 201) == 20  # one period (201 ms) later: the same
    assert model.delay_ms(1_050 - 201 * 1000) == 20


def test_a_recorded_latency_is_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "acks.csv"
    path.write_text("send_ms,ack_ms\n100,130\n200,210\n")
    model = parse_latency(str(path))
    assert isinstance(model, RecordedLatency)
    assert model.delay_ms(150) == 20
    bad = tmp_path / "bad.csv"
    bad.write_text("send,ack\n1,2\n")
    with pytest.raises(ConfigError, match="needs columns send_ms and ack_ms"):
        parse_latency(str(bad))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30", ConstantLatency(30)), (" 30~10 ", JitterLatency(30, 10, 3)), ("0", ConstantLatency(0))],
)
def test_latencies_are_parsed_from_what_a_user_types(text: str, expected: object) -> None:
    assert parse_latency(text, seed=3) == expected


@pytest.mark.parametrize("text", ["fast", "-5", "30~", "~5", "missing.csv", "1.5"])
def test_a_latency_that_cannot_be_read_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_latency(text)


# --- in a run -----------------------------------------------------------------------------------


def _limit_then_cancel(request_ms: int) -> tuple[Script, Ledger]:
    """A buy limit at 99.5 sent after bar 0, cancelled after bar 1; bar 2 trades through it at 2:39.999."""
    links: list[str] = []

    def place(ctx: Context) -> None:
        links.append(ctx.buy(D(1), D("99.5")))

    def cancel(ctx: Context) -> None:
        ctx.cancel(links[0])

    script = Script({0: place, 1: cancel})
    config = BacktestConfig(request_latency=ConstantLatency(request_ms), close_at_end=False)
    ledger = run(script, "BTCUSDT", data=BARS, config=config).ledger
    assert ledger is not None
    return script, ledger


def test_a_cancel_that_arrives_before_the_fill_wins() -> None:
    script, ledger = _limit_then_cancel(30_000)  # the cancel reaches the engine at 2:29.999
    (order,) = ledger.orders
    assert order.status is OrderStatus.CANCELLED
    assert order.updated_time_ms == START_MS + 2 * MINUTE_MS - 1 + 30_000
    assert [e for e in ledger.executions if e.exec_type is ExecType.TRADE] == []
    assert script.seen.failures == []


def test_a_cancel_that_arrives_after_the_fill_loses() -> None:
    script, ledger = _limit_then_cancel(50_000)  # the cancel reaches the engine at 2:49.999
    (order,) = ledger.orders
    assert order.status is OrderStatus.FILLED
    (fill,) = [e for e in ledger.executions if e.exec_type is ExecType.TRADE]
    assert (fill.exec_price, fill.exec_time_ms) == (D("99.5"), LOW_OF_BAR_2)
    ((_, failure),) = script.seen.failures
    assert failure.resolution is Resolution.REFUSED
    assert isinstance(failure.error, BybitOrderNotFoundError)
    assert failure.error.ret_code == 110001
    assert [f.exec_price for _, _, f in script.seen.fills] == [D("99.5")]


def test_a_request_latency_makes_a_market_order_miss_the_open_and_take_the_next_print() -> None:
    script = Script({0: lambda ctx: ctx.buy(D(1))})
    config = BacktestConfig(request_latency=ConstantLatency(10_000), close_at_end=False)
    result = run(script, "BTCUSDT", data=BARS, config=config)
    assert result.ledger is not None
    (order,) = result.ledger.orders
    assert order.created_time_ms == START_MS + MINUTE_MS - 1 + 10_000  # it reached the engine at 1:09.999
    (fill,) = [e for e in result.ledger.executions if e.exec_type is ExecType.TRADE]
    assert (fill.exec_price, fill.exec_time_ms) == (D(100), START_MS + MINUTE_MS + (MINUTE_MS - 1) // 3)


@pytest.mark.parametrize(("response_ms", "bars_seen_first"), [(0, 1), (30_000, 1), (90_000, 2)])
def test_the_response_latency_delays_what_the_strategy_hears(response_ms: int, bars_seen_first: int) -> None:
    script = Script({0: lambda ctx: ctx.buy(D(1))})  # fills at bar 1's open, 1:00.000
    config = BacktestConfig(response_latency=ConstantLatency(response_ms), close_at_end=False)
    run(script, "BTCUSDT", data=BARS, config=config)
    ((_, bars_seen, fill),) = script.seen.fills
    assert fill.exec_time_ms == START_MS + MINUTE_MS
    assert bars_seen == bars_seen_first  # 90 s later is after bar 1 closed (1:59.999)
