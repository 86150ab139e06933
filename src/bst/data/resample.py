"""Derive higher-interval bars from 1-minute bars, aligned the way Bybit opens its own bars.

Bybit's bars open on multiples of their length since the epoch (minutes, hours, days, all UTC),
weekly bars on Monday 00:00 UTC and monthly bars on the 1st 00:00 UTC; `Interval.open_time_ms` holds
those rules. A derived bar takes the first open, the highest high, the lowest low, the last close
and the summed volume and turnover of its minutes, exactly as the exchange aggregates its trades.
"""

from __future__ import annotations

import numpy as np

from bst.data.arrays import I64, KlineArrays
from bst.data.ranges import RangeSet
from bst.domain.market import Interval

_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-01 was a Thursday


def bucket_opens(interval: Interval, open_time_ms: I64) -> I64:
    """Return, for each open time, the open time of the `interval` bar that contains it."""
    if interval is Interval.MN1:
        months = open_time_ms.astype("datetime64[ms]").astype("datetime64[M]")
        return months.astype("datetime64[ms]").astype(np.int64)
    length = interval.fixed_ms
    assert length is not None  # only MN1 lacks a fixed length
    offset = _MONDAY_OFFSET_MS if interval is Interval.W1 else 0
    return open_time_ms - (open_time_ms - offset) % length


def resample(bars: KlineArrays, interval: Interval) -> KlineArrays:
    """Aggregate normalized finer bars into `interval` bars (every bucket with at least one bar)."""
    if len(bars) == 0:
        return KlineArrays.empty()
    keys = bucket_opens(interval, bars.open_time_ms)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(bars)] - 1
    return KlineArrays(
        keys[starts],
        bars.open[starts],
        np.maximum.reduceat(bars.high, starts),
        np.minimum.reduceat(bars.low, starts),
        bars.close[ends],
        np.add.reduceat(bars.volume, starts),
        np.add.reduceat(bars.turnover, starts),
    )


def complete_mask(interval: Interval, opens: I64, covered: RangeSet) -> np.ndarray:
    """Return which bars opening at `opens` lie wholly inside `covered` (all their minutes known)."""
    if interval is Interval.MN1:
        closes = np.asarray([interval.next_open_ms(int(o)) for o in opens], dtype=np.int64)
    else:
        length = interval.fixed_ms
        assert length is not None
        closes = opens + length
    mask = np.zeros(opens.shape[0], dtype=bool)
    for start, end in covered:
        mask |= (opens >= start) & (closes <= end)
    return mask
