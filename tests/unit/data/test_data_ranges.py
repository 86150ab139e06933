"""Range algebra, window planning and gap detection, checked against brute-force models."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.data.ranges import (
    RangeSet,
    count_bars,
    find_gaps,
    grid,
    missing_opens,
    plan_windows,
    spans_of_points,
)
from bst.domain.market import Interval

MIN = 60_000


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


spans = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=6)


def points(rs: RangeSet) -> set[int]:
    return {t for start, end in rs for t in range(start, end)}


def model(raw: list[tuple[int, int]]) -> set[int]:
    return {t for a, b in raw for t in range(a, b)}


@given(spans)
def test_of_normalizes_to_disjoint_sorted_non_touching_spans(raw: list[tuple[int, int]]) -> None:
    rs = RangeSet.of(raw)
    assert points(rs) == model(raw)
    for (_, e1), (s2, _) in zip(rs.spans, rs.spans[1:], strict=False):
        assert e1 < s2
    assert all(s < e for s, e in rs.spans)


@given(spans, spans)
def test_set_operations_match_the_point_model(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    ra, rb = RangeSet.of(a), RangeSet.of(b)
    assert points(ra.union(rb)) == model(a) | model(b)
    assert points(ra.intersect(rb)) == model(a) & model(b)
    assert points(ra.subtract(rb)) == model(a) - model(b)
    assert ra.subtract(rb) == RangeSet.of(ra.subtract(rb).spans)  # already canonical
    assert ra.total_ms == len(model(a))


def test_covers_and_contains() -> None:
    rs = RangeSet.of([(0, 10), (20, 30)])
    assert rs.covers(0, 10)
    assert not rs.covers(5, 25)
    assert rs.contains(29)
    assert not rs.contains(30)
    assert RangeSet.of([(0, 10), (10, 20)]).spans == ((0, 20),)


intervals = st.sampled_from([Interval.M1, Interval.M5, Interval.H1, Interval.H4, Interval.D1, Interval.W1])


@settings(max_examples=150, deadline=None)
@given(
    intervals,
    st.lists(st.tuples(st.integers(0, 5_000), st.integers(1, 3_000)), min_size=1, max_size=4),
    st.integers(1, 1000),
)
def test_windows_hold_every_grid_bar_exactly_once(
    interval: Interval, raw: list[tuple[int, int]], limit: int
) -> None:
    length = interval.fixed_ms
    assert length is not None
    base = ms(2023, 1, 1)
    ranges = RangeSet.of((base + a * length + 7, base + (a + n) * length + 7) for a, n in raw)
    windows = plan_windows(interval, ranges, limit)
    expected = np.concatenate([grid(interval, s, e) for s, e in ranges])
    planned = np.concatenate([grid(interval, w.start_ms, w.end_ms) for w in windows])
    assert planned.tolist() == expected.tolist()
    for w in windows:
        assert 1 <= w.bars <= limit
        assert w.bars == count_bars(interval, w.start_ms, w.end_ms)
        assert interval.open_time_ms(w.start_ms) == w.start_ms
    for w1, w2 in itertools.pairwise(windows):
        assert w1.end_ms <= w2.start_ms
    per_range = sum(-(-count_bars(interval, s, e) // limit) for s, e in ranges)
    assert len(windows) == per_range


def test_one_year_of_minutes_is_526_windows() -> None:
    year = RangeSet.of([(ms(2023, 1, 1), ms(2024, 1, 1))])
    windows = plan_windows(Interval.M1, year, 1000)
    assert len(windows) == 526
    assert windows[0].start_ms == ms(2023, 1, 1)
    assert windows[0].last_open_ms == ms(2023, 1, 1) + 1000 * MIN - 1
    assert windows[-1].bars == 600
    assert sum(w.bars for w in windows) == 525_600


def test_monthly_windows_follow_the_calendar() -> None:
    windows = plan_windows(Interval.MN1, RangeSet.of([(ms(2023, 1, 15), ms(2024, 3, 1))]), 5)
    opens = [grid(Interval.MN1, w.start_ms, w.end_ms).tolist() for w in windows]
    assert opens == [
        [ms(2023, 2, 1), ms(2023, 3, 1), ms(2023, 4, 1), ms(2023, 5, 1), ms(2023, 6, 1)],
        [ms(2023, 7, 1), ms(2023, 8, 1), ms(2023, 9, 1), ms(2023, 10, 1), ms(2023, 11, 1)],
        [ms(2023, 12, 1), ms(2024, 1, 1), ms(2024, 2, 1)],
    ]


def test_weekly_grid_opens_on_mondays() -> None:
    opens = grid(Interval.W1, ms(2024, 1, 1), ms(2024, 1, 29))
    assert [datetime.fromtimestamp(t / 1000, tz=UTC).weekday() for t in opens] == [0, 0, 0, 0]
    assert opens[0] == ms(2024, 1, 1)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 299), max_size=300))
def test_gaps_are_exactly_the_missing_minutes(present: set[int]) -> None:
    base = ms(2024, 5, 1)
    received = np.asarray(sorted(base + i * MIN for i in present), dtype=np.int64)
    gaps = find_gaps(Interval.M1, base, base + 300 * MIN, received)
    missing = {base + i * MIN for i in range(300)} - set(received.tolist())
    assert {t for s, e in gaps for t in range(s, e, MIN)} == missing
    assert gaps.total_ms == len(missing) * MIN
    # consecutive missing minutes form one span
    assert len(gaps) == len(spans_of_points(Interval.M1, np.asarray(sorted(missing), dtype=np.int64)))


def test_missing_opens_ignores_points_outside_the_window() -> None:
    base = ms(2024, 1, 1)
    received = np.asarray([base - MIN, base, base + 2 * MIN, base + 9 * MIN], dtype=np.int64)
    assert missing_opens(Interval.M1, base, base + 3 * MIN, received).tolist() == [base + MIN]


@pytest.mark.parametrize("interval", [Interval.M1, Interval.H1, Interval.MN1])
def test_no_gap_when_everything_arrived(interval: Interval) -> None:
    start, end = ms(2023, 1, 1), ms(2023, 7, 1)
    assert not find_gaps(interval, start, end, grid(interval, start, end))
