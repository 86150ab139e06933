"""Walk-forward folds: out-of-sample windows in order, disjoint, covering the data after the first window."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.backtest.optimize import walk_forward_folds
from bst.backtest.optimize.walk_forward import MIN_BARS, Fold
from bst.domain.errors import ConfigError

DAY_MS = 86_400_000


def test_four_folds_over_ten_days_of_bars_by_hand() -> None:
    times = np.arange(10) * DAY_MS
    folds = walk_forward_folds(times, 10 * DAY_MS, 4)
    # segments of 10 bars in 5: [0,2) [2,4) [4,6) [6,8) [8,10) days
    assert folds == [
        Fold(1, 0, 2 * DAY_MS, 2 * DAY_MS, 4 * DAY_MS),
        Fold(2, 2 * DAY_MS, 4 * DAY_MS, 4 * DAY_MS, 6 * DAY_MS),
        Fold(3, 4 * DAY_MS, 6 * DAY_MS, 6 * DAY_MS, 8 * DAY_MS),
        Fold(4, 6 * DAY_MS, 8 * DAY_MS, 8 * DAY_MS, 10 * DAY_MS),
    ]
    anchored = walk_forward_folds(times, 10 * DAY_MS, 4, anchored=True)
    assert [f.in_sample for f in anchored] == [
        (0, 2 * DAY_MS),
        (0, 4 * DAY_MS),
        (0, 6 * DAY_MS),
        (0, 8 * DAY_MS),
    ]
    assert [f.out_of_sample for f in anchored] == [f.out_of_sample for f in folds]


@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=2, max_size=400, unique=True),
    st.integers(min_value=1, max_value=8),
    st.booleans(),
)
def test_folds_cover_the_range_without_overlap(raw: list[int], folds: int, anchored: bool) -> None:
    times = np.array(sorted(raw), dtype=np.int64)
    end = int(times[-1]) + 60_000
    if len(times) < (folds + 1) * MIN_BARS:
        with pytest.raises(ConfigError, match="use fewer folds or more data"):
            walk_forward_folds(times, end, folds, anchored=anchored)
        return
    found = walk_forward_folds(times, end, folds, anchored=anchored)
    assert [f.index for f in found] == list(range(1, folds + 1))
    # out-of-sample windows: contiguous, in order, up to the end, after the first in-sample window
    assert found[0].out_start_ms == found[0].in_end_ms
    assert found[-1].out_end_ms == end
    for before, after in itertools.pairwise(found):
        assert before.out_end_ms == after.out_start_ms
    for f in found:
        assert f.in_end_ms == f.out_start_ms  # optimised only on bars before the window it is judged on
        assert f.in_start_ms == (
            int(times[0]) if anchored else (found[f.index - 2].out_start_ms if f.index > 1 else int(times[0]))
        )
        for start, stop in (f.in_sample, f.out_of_sample):
            inside = times[(times >= start) & (times < stop)]
            assert len(inside) >= MIN_BARS
    # every bar after the first window is in exactly one out-of-sample window
    later = times[times >= found[0].out_start_ms]
    counts = [sum(1 for f in found if f.out_start_ms <= t < f.out_end_ms) for t in later]
    assert counts == [1] * len(later)
    # the first in-sample window holds the first segment: nothing of it is judged out of sample
    assert int(times[0]) < found[0].out_start_ms


def test_bad_fold_counts_are_refused() -> None:
    times = np.arange(5) * DAY_MS
    with pytest.raises(ConfigError, match=r"^--walk-forward needs at least 1 fold, got 0$"):
        walk_forward_folds(times, 5 * DAY_MS, 0)
    with pytest.raises(
        ConfigError, match=r"cuts the data into 3 windows of at least 2 bars, but there are only 5 bars"
    ):
        walk_forward_folds(times, 5 * DAY_MS, 2)
