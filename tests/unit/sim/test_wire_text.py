"""The vectorised kline text equals orjson.dumps of the per-value `DecimalScale.plain` strings."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.domain.market import Category, Interval
from bst.sim.catalog import DEFAULT_INSTRUMENTS, InstrumentSpec, utc_ms
from bst.sim.columns import PriceKind
from bst.sim.generator import MarketGenerator
from bst.sim.scale import DecimalScale
from bst.sim.wire_text import INTEGER, rows_json

UNITS = sorted(
    {str(u) for s in DEFAULT_INSTRUMENTS for u in (s.tick_size, s.qty_step, s.turnover_unit)}
    | {"1", "10", "5", "0.5", "0.25", "1E-12", "0.000000001", "100"}
)


def expected(fields: list[tuple[np.ndarray, DecimalScale]], *, newest_first: bool) -> bytes:
    """Return the reference: one Python string per value, rows reversed as asked, orjson-encoded."""
    columns = [[scale.plain(int(c)) for c in counts] for counts, scale in fields]
    rows = [list(row) for row in zip(*columns, strict=True)]
    if newest_first:
        rows.reverse()
    return orjson.dumps(rows)


@st.composite
def pages(draw: st.DrawFn) -> list[tuple[np.ndarray, DecimalScale]]:
    rows = draw(st.integers(min_value=0, max_value=40))
    n_fields = draw(st.integers(min_value=1, max_value=8))
    fields = []
    for _ in range(n_fields):
        scale = DecimalScale(Decimal(draw(st.sampled_from(UNITS))))
        top = (2**63 - 1) // scale.multiplier
        magnitude = draw(st.sampled_from([1, 10, 10**4, 10**8, 10**13, 10**17, top]))
        values = draw(
            st.lists(
                st.one_of(
                    st.integers(min_value=0, max_value=min(magnitude, top)),
                    st.sampled_from(
                        [0, 1, 9, 10, 99, 100, 1000, 10**8, min(10**18 // scale.multiplier, top)]
                    ),
                ),
                min_size=rows,
                max_size=rows,
            )
        )
        fields.append((np.array(values, dtype=np.int64), scale))
    return fields


@settings(max_examples=120, deadline=None)
@given(fields=pages(), newest_first=st.booleans())
def test_rows_json_equals_orjson_of_plain_strings(
    fields: list[tuple[np.ndarray, DecimalScale]], newest_first: bool
) -> None:
    assert rows_json(fields, newest_first=newest_first) == expected(fields, newest_first=newest_first)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=1, max_size=20),
    unit=st.sampled_from(UNITS),
)
def test_negative_values_take_the_exact_path(values: list[int], unit: str) -> None:
    scale = DecimalScale(Decimal(unit))
    fields = [(np.array(values, dtype=np.int64), scale), (np.arange(len(values), dtype=np.int64), INTEGER)]

    assert rows_json(fields) == expected(fields, newest_first=True)


def test_known_page_text() -> None:
    tick = DecimalScale(Decimal("0.10"))
    lot = DecimalScale(Decimal("0.001"))
    fields = [
        (np.array([1_700_000_000_000, 1_700_000_060_000], dtype=np.int64), INTEGER),
        (np.array([434_880, 433_761], dtype=np.int64), tick),
        (np.array([0, 15_690], dtype=np.int64), lot),
    ]

    assert rows_json(fields) == b'[["1700000060000","43376.1","15.69"],["1700000000000","43488","0"]]'
    assert rows_json(fields, newest_first=False) == (
        b'[["1700000000000","43488","0"],["1700000060000","43376.1","15.69"]]'
    )


def test_no_rows_is_an_empty_list() -> None:
    assert rows_json([(np.empty(0, dtype=np.int64), INTEGER)]) == b"[]"
    assert rows_json([]) == b"[]"


@pytest.mark.parametrize("spec", DEFAULT_INSTRUMENTS, ids=lambda s: s.key)
def test_generated_pages_match_the_per_row_strings(spec: InstrumentSpec) -> None:
    gen = MarketGenerator(seed=3)
    now_ms = utc_ms("2024-06-01T12:00") + 30_500  # mid-minute: the newest bar is partial
    for interval, limit in ((Interval.M1, 300), (Interval.M15, 100), (Interval.D1, 3)):
        for kind in PriceKind:
            if kind is not PriceKind.LAST and spec.category is Category.SPOT:
                continue
            cols = gen.kline_window(
                spec.symbol, interval, category=spec.category, limit=limit, now_ms=now_ms, kind=kind
            )
            price_only = kind is not PriceKind.LAST

            assert len(cols) == limit
            assert cols.wire_rows_json(price_only=price_only) == orjson.dumps(
                cols.to_wire_rows(price_only=price_only)
            )
