"""Walk-forward folds: optimise on one window, judge the best on the window after it.

The bars (the union of every symbol's open times) are cut into K + 1 consecutive segments of
(nearly) equal bar counts, each boundary a bar's open time. Fold k (1..K) optimises on segment
k - 1 (rolling) or on segments 0..k-1 (`anchored`) and evaluates its best parameters on segment
k. So the out-of-sample windows are disjoint, in order, and together cover the data from the end
of the first segment to the end; no fold's out-of-sample bars were seen by its optimisation.

Each window is half-open [start, end) in ms. A strategy warms up inside each window, as it would
when started at the window's start: windows must be long against the strategy's warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bst.domain.errors import ConfigError

__all__ = ["MIN_BARS", "Fold", "walk_forward_folds"]

MIN_BARS = 2
"""Bars each segment needs at least."""


@dataclass(frozen=True, slots=True)
class Fold:
    """One walk-forward fold: its number (1-based), in-sample and out-of-sample windows (ms)."""

    index: int
    in_start_ms: int
    in_end_ms: int
    out_start_ms: int
    out_end_ms: int

    @property
    def in_sample(self) -> tuple[int, int]:
        """Return the optimisation window [start, end)."""
        return self.in_start_ms, self.in_end_ms

    @property
    def out_of_sample(self) -> tuple[int, int]:
        """Return the evaluation window [start, end)."""
        return self.out_start_ms, self.out_end_ms


def walk_forward_folds(
    open_times_ms: np.ndarray, end_ms: int, folds: int, *, anchored: bool = False
) -> list[Fold]:
    """Return `folds` folds over bars opening at `open_times_ms` (sorted, unique) up to `end_ms`.

    Raises ConfigError when `folds` < 1 or the data has fewer than MIN_BARS bars per segment.
    """
    if folds < 1:
        raise ConfigError(f"--walk-forward needs at least 1 fold, got {folds}")
    times = np.asarray(open_times_ms, dtype=np.int64)
    segments = folds + 1
    if len(times) < segments * MIN_BARS:
        raise ConfigError(
            f"--walk-forward {folds} cuts the data into {segments} windows of at least {MIN_BARS} bars, "
            f"but there are only {len(times)} bars: use fewer folds or more data"
        )
    if end_ms <= int(times[-1]):
        raise ConfigError("the data's end must be after its last bar's open time")
    cuts = [int(times[(len(times) * i) // segments]) for i in range(segments)] + [end_ms]
    return [
        Fold(k, cuts[0] if anchored else cuts[k - 1], cuts[k], cuts[k], cuts[k + 1])
        for k in range(1, segments)
    ]
