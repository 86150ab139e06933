"""Builders for optimiser tests: a wavy daily market as an OHLCV file, and an SMA cross that can wait.

`GatedCross` is the SMA cross with three extra fixed parameters a test sets through `--param`:
`gate` (while that file exists, every trial waits in `on_start`, after writing `<gate>.started`:
a test kills the worker there), and `barrier`/`parties` (each trial writes `<barrier>/<pid>` and
waits until `parties` different processes have, so every worker has run a trial).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bst.strategies.sma_cross import SmaCross, SmaCrossParams
from bst.trading.context import Context
from bst.trading.params import param

WAIT_LIMIT_S = 120.0
"""A gate or barrier never opened within this long fails the trial instead of hanging the test."""


def wave_frame(bars: int = 600, seed: int = 1, start: str = "2023-01-01") -> pd.DataFrame:
    """Return daily bars of a noisy wave around a slow trend (crosses for every pair of averages)."""
    rng = np.random.default_rng(seed)
    i = np.arange(bars)
    close = 100 + 12 * np.sin(i / 9) + 6 * np.sin(i / 31) + 0.03 * i + rng.normal(0, 0.8, bars).cumsum() * 0.3
    close = np.round(close, 2)
    open_ = np.round(np.concatenate([[close[0]], close[:-1]]), 2)
    high = np.round(np.maximum(open_, close) + rng.uniform(0, 1, bars), 2)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, 1, bars), 2)
    index = pd.date_range(start, periods=bars, freq="D", tz="UTC")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1000.0}, index=index
    )


def write_wave(path: Path, bars: int = 600, seed: int = 1) -> Path:
    """Write `wave_frame` as a CSV (time index first, prices as printed); return the path."""
    frame = wave_frame(bars, seed)
    frame.index.name = "time"
    frame.to_csv(path)
    return path


@dataclass(frozen=True)
class GatedParams(SmaCrossParams):
    """The SMA cross's parameters and the test's gate and barrier."""

    gate: str = param("", help="while this file exists, trials wait in on_start")
    barrier: str = param("", help="a directory where each trial signs in by process id")
    parties: int = param(1, low=1, high=8, help="processes that must have signed in before trials go on")


class GatedCross(SmaCross):
    """The SMA cross, waiting at the start of each trial while the test holds it."""

    name = "gated_cross"
    params_type = GatedParams

    def on_start(self, ctx: Context) -> None:
        """Sign in at the barrier, wait for the gate and the barrier, then start as the SMA cross."""
        params = self.params
        assert isinstance(params, GatedParams)
        deadline = time.monotonic() + WAIT_LIMIT_S
        if params.barrier:
            Path(params.barrier, str(os.getpid())).touch()
            while len(list(Path(params.barrier).iterdir())) < params.parties:
                _wait(deadline, "barrier")
        if params.gate:
            gate = Path(params.gate)
            if gate.exists():
                Path(f"{gate}.started").write_text(str(os.getpid()))
            while gate.exists():
                _wait(deadline, "gate")
        super().on_start(ctx)


def _wait(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise RuntimeError(f"the test's {what} stayed closed for {WAIT_LIMIT_S} s")
    time.sleep(0.02)
