"""KlineArrays: parsing exchange rows and bars, normalizing, and conversion to pandas/Arrow."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.data.arrays import KlineArrays, concat, merge
from bst.domain.market import Bar

ROWS = [
    ["1670608800000", "17071", "17073", "17027", "17055.5", "268611", "15.74462667"],
    ["1670605200000", "17071.5", "17071.5", "17061", "17071", "4177", "0.24469757"],
]


def test_rows_parse_to_exact_times_and_float_columns() -> None:
    bars = KlineArrays.from_rows(ROWS)
    assert bars.open_time_ms.tolist() == [1670608800000, 1670605200000]
    assert bars.open_time_ms.dtype == np.int64
    assert bars.close.tolist() == [17055.5, 17071.0]
    assert bars.turnover.tolist() == [15.74462667, 0.24469757]
    assert bars.normalized().open_time_ms.tolist() == [1670605200000, 1670608800000]


def test_rows_with_a_missing_field_are_rejected() -> None:
    with pytest.raises(ValueError, match="7 fields"):
        KlineArrays.from_rows([ROWS[0][:6]])


def test_bars_and_rows_agree() -> None:
    bars = [Bar(int(r[0]), *(Decimal(x) for x in r[1:])) for r in ROWS]
    assert KlineArrays.from_bars(bars).equals(KlineArrays.from_rows(ROWS))


def test_frame_has_utc_index_and_float_columns() -> None:
    frame = KlineArrays.from_rows(ROWS).normalized().to_frame()
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "turnover"]
    assert str(frame.index.tz) == "UTC"
    assert frame.index[0] == pd.Timestamp("2022-12-09 17:00", tz="UTC")
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert KlineArrays.from_frame(frame).equals(KlineArrays.from_rows(ROWS).normalized())


def test_arrow_round_trip() -> None:
    bars = KlineArrays.from_rows(ROWS)
    assert KlineArrays.from_arrow(bars.to_arrow()).equals(bars)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 1000)), max_size=200))
def test_normalized_sorts_and_keeps_the_last_duplicate(items: list[tuple[int, int]]) -> None:
    ts = np.asarray([t for t, _ in items], dtype=np.int64)
    vals = np.asarray([float(v) for _, v in items])
    bars = KlineArrays(ts, vals, vals, vals, vals, vals, vals).normalized()
    last: dict[int, float] = {}
    for t, v in items:
        last[t] = float(v)
    assert bars.open_time_ms.tolist() == sorted(last)
    assert bars.close.tolist() == [last[t] for t in sorted(last)]
    assert bars.is_normalized()


def test_merge_prefers_newer_and_concat_keeps_order() -> None:
    a = KlineArrays.from_rows(ROWS)
    changed = [[ROWS[0][0], "1", "1", "1", "1", "1", "1"]]
    b = KlineArrays.from_rows(changed)
    merged = merge(a, b)
    assert merged.close.tolist() == [17071.0, 1.0]
    assert len(concat([a, KlineArrays.empty(), b])) == 3
    assert len(concat([])) == 0
