"""Time-range algebra, the bar grid of an interval, window planning and gap detection.

Every range here is half-open, `[start_ms, end_ms)` in epoch milliseconds: a range "holds" the bars
whose open time lies inside it. Half-open ranges need no knowledge of the interval to merge
(`[a, b)` and `[b, c)` join into `[a, c)`), which keeps the manifest interval-agnostic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bst.domain.market import Interval

I64 = npt.NDArray[np.int64]

Span = tuple[int, int]
"""One half-open range `[start_ms, end_ms)`."""


@dataclass(frozen=True, slots=True)
class RangeSet:
    """A set of instants as sorted, disjoint, non-touching half-open spans."""

    spans: tuple[Span, ...] = ()

    @classmethod
    def of(cls, spans: Iterable[Sequence[int]]) -> RangeSet:
        """Return the union of arbitrary spans (empty or reversed spans are ignored)."""
        cleaned = sorted((int(s[0]), int(s[1])) for s in spans if int(s[1]) > int(s[0]))
        merged: list[Span] = []
        for start, end in cleaned:
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        return cls(tuple(merged))

    def __bool__(self) -> bool:
        return bool(self.spans)

    def __iter__(self) -> Iterator[Span]:
        return iter(self.spans)

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def total_ms(self) -> int:
        """Return the summed length of every span."""
        return sum(end - start for start, end in self.spans)

    @property
    def first_ms(self) -> int | None:
        """Return the earliest instant, or None when empty."""
        return self.spans[0][0] if self.spans else None

    @property
    def last_ms(self) -> int | None:
        """Return the end (exclusive) of the latest span, or None when empty."""
        return self.spans[-1][1] if self.spans else None

    def union(self, other: RangeSet) -> RangeSet:
        """Return every instant in either set."""
        return RangeSet.of(self.spans + other.spans)

    def intersect(self, other: RangeSet) -> RangeSet:
        """Return every instant in both sets."""
        out: list[Span] = []
        i = j = 0
        a, b = self.spans, other.spans
        while i < len(a) and j < len(b):
            start = max(a[i][0], b[j][0])
            end = min(a[i][1], b[j][1])
            if start < end:
                out.append((start, end))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return RangeSet(tuple(out))

    def subtract(self, other: RangeSet) -> RangeSet:
        """Return every instant in this set and not in `other`."""
        out: list[Span] = []
        holes = other.spans
        j = 0
        for start, end in self.spans:
            cursor = start
            while j < len(holes) and holes[j][1] <= cursor:
                j += 1
            k = j
            while k < len(holes) and holes[k][0] < end:
                if holes[k][0] > cursor:
                    out.append((cursor, holes[k][0]))
                cursor = max(cursor, holes[k][1])
                if cursor >= end:
                    break
                k += 1
            if cursor < end:
                out.append((cursor, end))
        return RangeSet(tuple(out))

    def clip(self, start_ms: int, end_ms: int) -> RangeSet:
        """Return the part of this set inside `[start_ms, end_ms)`."""
        return self.intersect(RangeSet.of([(start_ms, end_ms)]))

    def contains(self, ts_ms: int) -> bool:
        """Return True when the instant lies in the set."""
        return any(start <= ts_ms < end for start, end in self.spans)

    def covers(self, start_ms: int, end_ms: int) -> bool:
        """Return True when all of `[start_ms, end_ms)` lies in the set."""
        return not RangeSet.of([(start_ms, end_ms)]).subtract(self)

    def to_json(self) -> list[list[int]]:
        """Return `[[start_ms, end_ms], ...]`."""
        return [[start, end] for start, end in self.spans]


# --- the bar grid ------------------------------------------------------------------------------


def first_open_at_or_after(interval: Interval, ts_ms: int) -> int:
    """Return the open time of the first bar opening at or after `ts_ms`."""
    opened = interval.open_time_ms(ts_ms)
    return opened if opened == ts_ms else interval.next_open_ms(opened)


def grid(interval: Interval, start_ms: int, end_ms: int) -> I64:
    """Return the open times of every bar opening in `[start_ms, end_ms)`, ascending."""
    first = first_open_at_or_after(interval, start_ms)
    length = interval.fixed_ms
    if length is not None:
        return np.arange(first, max(first, end_ms), length, dtype=np.int64)
    opens: list[int] = []
    t = first
    while t < end_ms:
        opens.append(t)
        t = interval.next_open_ms(t)
    return np.asarray(opens, dtype=np.int64)


def count_bars(interval: Interval, start_ms: int, end_ms: int) -> int:
    """Return how many bars open in `[start_ms, end_ms)`."""
    length = interval.fixed_ms
    if length is None:
        return int(grid(interval, start_ms, end_ms).shape[0])
    first = first_open_at_or_after(interval, start_ms)
    return max(0, -(-(end_ms - first) // length))


def count_bars_in(interval: Interval, ranges: RangeSet) -> int:
    """Return how many bars open inside the set."""
    return sum(count_bars(interval, start, end) for start, end in ranges)


def spans_of_points(interval: Interval, opens: I64) -> RangeSet:
    """Return the ranges held by bars opening at `opens` (ascending), consecutive bars joined."""
    if opens.shape[0] == 0:
        return RangeSet()
    length = interval.fixed_ms
    if length is not None:
        breaks = np.flatnonzero(np.diff(opens) != length)
        starts = np.concatenate(([0], breaks + 1))
        ends = np.concatenate((breaks, [opens.shape[0] - 1]))
        return RangeSet(
            tuple((int(opens[s]), int(opens[e]) + length) for s, e in zip(starts, ends, strict=True))
        )
    return RangeSet.of((int(t), interval.next_open_ms(int(t))) for t in opens)


# --- windows and gaps --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """One request's worth of bars: `[start_ms, end_ms)` holding at most `limit` grid bars."""

    start_ms: int
    end_ms: int
    bars: int

    @property
    def last_open_ms(self) -> int:
        """Return the inclusive end bound to send (the exchange's `end` is inclusive)."""
        return self.end_ms - 1


def plan_windows(interval: Interval, ranges: RangeSet, limit: int = 1000) -> list[Window]:
    """Split the bars opening inside `ranges` into ascending windows of at most `limit` bars.

    Windows never overlap, every grid bar of `ranges` lies in exactly one window, and each
    window starts on a bar's open time.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    windows: list[Window] = []
    length = interval.fixed_ms
    for start, end in ranges:
        first = first_open_at_or_after(interval, start)
        if length is not None:
            t = first
            while t < end:
                stop = min(end, t + limit * length)
                windows.append(Window(t, stop, -(-(stop - t) // length)))
                t += limit * length
            continue
        opens = grid(interval, start, end)
        for i in range(0, opens.shape[0], limit):
            chunk = opens[i : i + limit]
            stop = int(opens[i + limit]) if i + limit < opens.shape[0] else end
            windows.append(Window(int(chunk[0]), stop, int(chunk.shape[0])))
    return windows


def missing_opens(interval: Interval, start_ms: int, end_ms: int, received: I64) -> I64:
    """Return the grid open times in `[start_ms, end_ms)` that `received` (ascending) lacks."""
    length = interval.fixed_ms
    n = received.shape[0]
    if length is not None and n:
        # Fast path: a complete window (strictly ascending, on the grid, first to last bar).
        first = first_open_at_or_after(interval, start_ms)
        count = count_bars(interval, start_ms, end_ms)
        if n == count and received[0] == first and bool(np.all(np.diff(received) == length)):
            return np.empty(0, dtype=np.int64)
    expected = grid(interval, start_ms, end_ms)
    if n == 0:
        return expected
    present = np.isin(expected, received, assume_unique=True)
    return expected[~present]


def find_gaps(interval: Interval, start_ms: int, end_ms: int, received: I64) -> RangeSet:
    """Return the ranges of `[start_ms, end_ms)` whose grid bars are missing from `received`."""
    return spans_of_points(interval, missing_opens(interval, start_ms, end_ms, received))
