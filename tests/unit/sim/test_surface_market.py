"""The sim's public tape, liquidations and open interest: consistent with the generator, seeded, seekable.

The tape splits each generator trade into prints at its price whose sizes sum to it, so every
minute's volume, high, low, open and close are unchanged; `publicTrade` then pushes many messages a
second for a busy symbol (it sent 0-3 per 5 s before). Liquidations and open interest are pure
functions of the seed and the time: any window gives the same events as the union of its parts.
"""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.domain.market import MINUTE_MS, Category, Interval
from bst.sim.generator import MarketGenerator
from bst.sim.liquidations import liquidations
from bst.sim.open_interest import one_side, open_interest
from bst.sim.tape import print_columns, prints, prints_per_trade
from bst.sim.ws_streams import LiquidationStream, TradeStream

SEED = 20240601
NOW = 1_717_243_230_500
GEN = MarketGenerator(SEED)
LINEAR = Category.LINEAR


@pytest.mark.parametrize(
    ("category", "symbol"),
    [(LINEAR, "BTCUSDT"), (LINEAR, "DOGEUSDT"), (Category.SPOT, "ETHUSDT"), (Category.INVERSE, "BTCUSD")],
)
def test_prints_rebuild_every_minute_bar_exactly(category: Category, symbol: str) -> None:
    start = NOW - NOW % MINUTE_MS - 30 * MINUTE_MS
    end = start + 30 * MINUTE_MS - 1
    tape = print_columns(GEN, symbol, start, end, category=category)
    bars = GEN.bar_columns(symbol, Interval.M1, start, end - MINUTE_MS + 1, category=category)
    minute = tape.ts_ms - tape.ts_ms % MINUTE_MS
    for row, open_ms in enumerate(bars.open_time_ms.tolist()):
        inside = minute == open_ms
        assert tape.size[inside].sum() == bars.volume[row]
        assert (tape.price[inside].max(), tape.price[inside].min()) == (bars.high[row], bars.low[row])
        assert (tape.price[inside][0], tape.price[inside][-1]) == (bars.open[row], bars.close[row])
    assert np.all(np.diff(tape.ts_ms) >= 0)
    assert np.all(np.diff(tape.seq) > 0)
    assert tape.size.min() >= 1


def test_print_rate_follows_turnover() -> None:
    hour = [
        len(print_columns(GEN, s, NOW - 3_600_000, NOW)) / 3600 for s in ("BTCUSDT", "ETHUSDT", "DOGEUSDT")
    ]
    assert [prints_per_trade(GEN.path(LINEAR, s).spec) for s in ("BTCUSDT", "ETHUSDT", "DOGEUSDT")] == [
        69,
        42,
        9,
    ]
    assert hour[0] > 10 > hour[1] > 5 > hour[2] > 0.5  # prints a second: BTCUSDT, ETHUSDT, DOGEUSDT
    spec = GEN.path(Category.SPOT, "XRPUSDT").spec
    assert prints_per_trade(spec) == 1
    assert prints(GEN, "XRPUSDT", NOW - 600_000, NOW, category=Category.SPOT) == GEN.trades(
        "XRPUSDT", NOW - 600_000, NOW, category=Category.SPOT
    )


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 2 * 3_600_000), st.integers(1, 20 * MINUTE_MS), st.integers(1, 5 * MINUTE_MS))
def test_any_window_of_the_tape_is_the_same_prints(offset: int, length: int, cut: int) -> None:
    start = NOW - offset
    end = start + length
    middle = min(end - 1, start + cut)
    whole = prints(GEN, "ETHUSDT", start, end)
    assert prints(GEN, "ETHUSDT", start, middle) + prints(GEN, "ETHUSDT", middle + 1, end) == whole


def test_public_trade_pushes_many_messages_a_second() -> None:
    stream = TradeStream(GEN, LINEAR, "BTCUSDT")
    stream.start(NOW)
    messages = [m for step in range(1, 501) for m in stream.advance(NOW + 10 * step)]  # 5 s, 10 ms ticks
    trades = [t for m in messages for t in json.loads(m)["data"]]
    assert [t["i"] for t in trades] == [t.trade_id for t in prints(GEN, "BTCUSDT", NOW + 1, NOW + 5_000)]
    assert len(messages) > 30  # it was 0-3 per 5 s when the stream pushed the generator's trades


def test_liquidations_are_seeded_and_windows_agree() -> None:
    hour = liquidations(GEN, "BTCUSDT", NOW - 3_600_000, NOW)
    halves = liquidations(GEN, "BTCUSDT", NOW - 3_600_000, NOW - 1_800_001) + liquidations(
        GEN, "BTCUSDT", NOW - 1_800_000, NOW
    )
    assert halves == hour
    assert 20 < len(hour) < 400
    assert all(NOW - 3_600_000 <= x.ts_ms <= NOW for x in hour)
    tick = Decimal("0.10")
    for x in hour:
        last = GEN.last_price("BTCUSDT", x.ts_ms)
        assert (x.price < last) if x.side.value == "Buy" else (x.price > last)  # bankruptcy beyond the market
        assert abs(x.price - last) <= last * Decimal("0.005") + tick
        assert x.size > 0
    assert liquidations(GEN, "BTCUSDT", NOW - 3_600_000, NOW, category=Category.SPOT) == []


def test_liquidation_streams_push_on_their_cadence() -> None:
    every = LiquidationStream(GEN, LINEAR, "BTCUSDT", every_one=True)
    one_a_second = LiquidationStream(GEN, LINEAR, "BTCUSDT", every_one=False)
    for stream in (every, one_a_second):
        stream.start(NOW)
    bursts = [every.advance(NOW + 10 * step) for step in range(1, 6001)]
    singles = [one_a_second.advance(NOW + 10 * step) for step in range(1, 6001)]
    expected = liquidations(GEN, "BTCUSDT", NOW + 1, NOW + 60_000)
    pushed = [json.loads(m) for b in bursts for m in b]
    assert [r["T"] for p in pushed for r in p["data"]] == [x.ts_ms for x in expected]
    assert all(p["ts"] % 500 == NOW % 500 for p in pushed)  # every 500 ms
    assert [json.loads(m)["data"]["updatedTime"] for s in singles for m in s] == [x.ts_ms for x in expected]


def test_open_interest_is_one_curve() -> None:
    points = [open_interest(GEN, LINEAR, "BTCUSDT", NOW - k * 300_000) for k in range(288)]
    assert points == [open_interest(GEN, LINEAR, "BTCUSDT", NOW - k * 300_000) for k in range(288)]
    assert all(p == p.quantize(Decimal("0.001")) for p in points)
    assert 0.6 < float(min(points)) / float(max(points)) < 1
    inverse = open_interest(GEN, Category.INVERSE, "BTCUSD", NOW)
    assert inverse == inverse.to_integral_value()
    assert one_side(GEN, LINEAR, "BTCUSDT", Decimal("10.003")) == Decimal("5.001")
