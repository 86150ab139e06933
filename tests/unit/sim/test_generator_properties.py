"""Property tests: decimal text from integer units, and the kline window's selection rules."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bst.domain.market import MINUTE_MS, Bar, Category, Interval
from bst.sim.catalog import utc_ms
from bst.sim.generator import MarketGenerator
from bst.sim.scale import DecimalScale

GEN = MarketGenerator(seed=99)
NOW = utc_ms("2024-06-01T12:00") + 30_500
UNITS = ["0.10", "0.01", "0.5", "0.00001", "1", "0.000001", "0.0001", "25", "0.050"]


@given(st.sampled_from(UNITS), st.integers(min_value=-(10**15), max_value=10**15))
def test_decimal_scale_text_is_the_exact_product(unit_text: str, count: int) -> None:
    unit = Decimal(unit_text)
    scale = DecimalScale(unit)
    exact = Decimal(count) * unit

    plain, fixed = scale.plain(count), scale.fixed(count)

    assert Decimal(plain) == exact
    assert Decimal(fixed) == exact
    assert "E" not in plain
    assert "E" not in fixed
    assert not ("." in plain and plain.endswith("0"))
    assert len(fixed.partition(".")[2]) == max(0, -unit.as_tuple().exponent)  # type: ignore[operator]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    interval=st.sampled_from([Interval.M1, Interval.M5, Interval.M15, Interval.H1, Interval.H4]),
    limit=st.integers(min_value=1, max_value=300),
    start_back_min=st.integers(min_value=0, max_value=3 * 1440),
    end_back_min=st.integers(min_value=0, max_value=2 * 1440),
    category=st.sampled_from([Category.LINEAR, Category.SPOT]),
)
def test_kline_window_returns_the_newest_bars_within_bounds(
    interval: Interval, limit: int, start_back_min: int, end_back_min: int, category: Category
) -> None:
    end = NOW - end_back_min * MINUTE_MS
    start = end - start_back_min * MINUTE_MS

    window = GEN.kline_window(
        "SOLUSDT", interval, category=category, limit=limit, now_ms=NOW, start_ms=start, end_ms=end
    )
    everything = GEN.bar_columns("SOLUSDT", interval, start, end, category=category, now_ms=NOW)

    assert len(window) == min(limit, len(everything))
    assert window.open_time_ms.tolist() == everything.open_time_ms.tolist()[len(everything) - len(window) :]
    assert all(start <= t <= end for t in window.open_time_ms.tolist())
    assert window.to_bars() == everything.to_bars()[len(everything) - len(window) :]


@settings(max_examples=25, deadline=None)
@given(limit=st.integers(min_value=1, max_value=1000), back_min=st.integers(min_value=0, max_value=1000))
def test_kline_window_without_start_fills_the_limit_across_gaps(limit: int, back_min: int) -> None:
    gap_begin, _ = GEN.maintenance_windows(utc_ms("2024-05-01"), NOW)[-1]
    end = gap_begin + back_min * MINUTE_MS

    window = GEN.kline_window(
        "BTCUSDT", Interval.M1, category=Category.LINEAR, limit=limit, now_ms=NOW, end_ms=end
    )

    assert len(window) == limit
    assert int(window.open_time_ms[-1]) <= end
    assert (window.open_time_ms[1:] > window.open_time_ms[:-1]).all()


@settings(max_examples=20, deadline=None)
@given(
    interval=st.sampled_from(
        [Interval.M3, Interval.M5, Interval.M15, Interval.M30, Interval.H1, Interval.H2]
    ),
    start_min=st.integers(min_value=0, max_value=60 * 24 * 200),
    span_min=st.integers(min_value=1, max_value=600),
    live=st.booleans(),
)
def test_any_interval_over_any_range_aggregates_its_minutes_exactly(
    interval: Interval, start_min: int, span_min: int, live: bool
) -> None:
    start = utc_ms("2024-01-01") + start_min * MINUTE_MS
    end = start + span_min * MINUTE_MS
    now = end - 17_345 if live else None
    bar_start = interval.open_time_ms(start)
    minutes = GEN.bars(
        "XRPUSDT", Interval.M1, bar_start, interval.next_open_ms(interval.open_time_ms(end)) - 1, now_ms=now
    )

    bars = GEN.bars("XRPUSDT", interval, start, end, now_ms=now)

    groups: dict[int, list[Bar]] = {}
    for bar in minutes:
        groups.setdefault(interval.open_time_ms(bar.open_time_ms), []).append(bar)
    expected = [
        Bar(
            t,
            g[0].open,
            max(b.high for b in g),
            min(b.low for b in g),
            g[-1].close,
            sum((b.volume for b in g), Decimal(0)),
            sum((b.turnover for b in g), Decimal(0)),
        )
        for t, g in sorted(groups.items())
        if start <= t <= (end if now is None else min(end, now))
    ]
    assert bars == expected
