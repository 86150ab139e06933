"""Latency models: how long market data, requests and replies travel in a backtest, in ms.

A backtest has three legs (`bst.backtest.runner`): the feed (exchange -> strategy, for sources that
carry no receive time), the request (strategy -> engine) and the response (engine -> strategy:
replies and account events). Each takes a `Latency`, asked once per message with the time it
leaves; every model is deterministic (the jitter is seeded), so the same run gives the same delays.

- `ConstantLatency(ms)`: always the same delay.
- `JitterLatency(base_ms, jitter_ms, seed)`: base plus a uniform integer in [0, jitter_ms] drawn by
  hashing the seed and the send time (a pure function of both: two messages sent in the same
  millisecond travel alike, so jitter never reorders them).
- `RecordedLatency(samples)`: interpolated from recorded (send, ack) times: the delay at a time is
  the linear interpolation of the recorded delays (ack - send) of the sends around it; the series
  repeats with its own period outside the recorded span (a recording from one day serves a
  backtest of another). `RecordedLatency.from_file` reads a CSV or Parquet file of them.

`parse_latency("30")`, `("30~10")` (30 ms plus up to 10 ms of jitter) and `("file.csv")` build
them from the text a user types.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from bst.domain.errors import ConfigError

__all__ = [
    "ZERO_LATENCY",
    "ConstantLatency",
    "JitterLatency",
    "Latency",
    "RecordedLatency",
    "parse_latency",
]


class Latency(Protocol):
    """A delay model: the travel time of a message leaving at `at_ms`, in whole ms (>= 0)."""

    def delay_ms(self, at_ms: int) -> int:
        """Return the delay of a message sent at `at_ms` (epoch ms)."""
        ...

    def describe(self) -> str:
        """Return the model in one line (it goes into the run's assumptions)."""
        ...


@dataclass(frozen=True, slots=True)
class ConstantLatency:
    """The same delay for every message."""

    ms: int = 0

    def __post_init__(self) -> None:
        if self.ms < 0:
            raise ConfigError(f"a latency cannot be negative, got {self.ms} ms")

    def delay_ms(self, at_ms: int) -> int:
        """Return the constant delay."""
        return self.ms

    def describe(self) -> str:
        """Return e.g. "30 ms"."""
        return f"{self.ms} ms"


ZERO_LATENCY = ConstantLatency(0)
"""No delay: what candle backtests use by default."""


@dataclass(frozen=True, slots=True)
class JitterLatency:
    """`base_ms` plus a uniform integer in [0, `jitter_ms`], a pure function of `seed` and the send time.

    The same seed and send time always give the same delay, so a run is reproducible and the model
    can be shared; messages sent in one millisecond get one delay and keep their order.
    """

    base_ms: int
    jitter_ms: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.base_ms < 0 or self.jitter_ms < 0:
            raise ConfigError(
                f"latency and jitter cannot be negative, got {self.base_ms} and {self.jitter_ms}"
            )

    def delay_ms(self, at_ms: int) -> int:
        """Return the base plus the jitter drawn for (seed, `at_ms`)."""
        if self.jitter_ms == 0:
            return self.base_ms
        digest = hashlib.blake2b(f"{self.seed}:{at_ms}".encode(), digest_size=8).digest()
        return self.base_ms + int.from_bytes(digest, "big") % (self.jitter_ms + 1)

    def describe(self) -> str:
        """Return e.g. "30 ms + uniform 0-10 ms jitter (seed 7)"."""
        return f"{self.base_ms} ms + uniform 0-{self.jitter_ms} ms jitter (seed {self.seed})"


class RecordedLatency:
    """Delays interpolated from a recorded series of (send ms, ack ms) pairs (see the module docstring)."""

    def __init__(self, samples: Sequence[tuple[int, int]], *, source: str = "recorded series") -> None:
        pairs = sorted((int(send), int(ack)) for send, ack in samples)
        if not pairs:
            raise ConfigError(f"{source}: no (send, ack) times to interpolate latencies from")
        bad = next(((s, a) for s, a in pairs if a < s), None)
        if bad is not None:
            raise ConfigError(f"{source}: an ack ({bad[1]}) before its send ({bad[0]}); give epoch ms")
        self.source = source
        self._times = [s for s, _ in pairs]
        self._delays = [a - s for s, a in pairs]
        self._period = self._times[-1] - self._times[0] + 1

    @classmethod
    def from_file(cls, path: Path) -> RecordedLatency:
        """Read `send_ms,ack_ms` columns (epoch ms) from a CSV or Parquet file."""
        try:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read latencies from {path}: {e}") from e
        missing = {"send_ms", "ack_ms"} - set(frame.columns)
        if missing:
            raise ConfigError(
                f"{path}: needs columns send_ms and ack_ms (missing {', '.join(sorted(missing))})"
            )
        samples = list(zip(frame["send_ms"].astype("int64"), frame["ack_ms"].astype("int64"), strict=True))
        return cls(samples, source=str(path))

    def delay_ms(self, at_ms: int) -> int:
        """Return the recorded delay interpolated at `at_ms` (the series repeats outside its span)."""
        times, delays = self._times, self._delays
        at = times[0] + (at_ms - times[0]) % self._period
        index = bisect.bisect_right(times, at)
        if index == 0:
            return delays[0]
        if index == len(times):
            return delays[-1]
        t0, t1 = times[index - 1], times[index]
        d0, d1 = delays[index - 1], delays[index]
        if t1 == t0:
            return d1
        return round(d0 + (d1 - d0) * (at - t0) / (t1 - t0))

    def describe(self) -> str:
        """Return the series' size, span and delay range."""
        return (
            f"interpolated from {len(self._times)} recorded send/ack pairs of {self.source} "
            f"({min(self._delays)}-{max(self._delays)} ms)"
        )


def parse_latency(text: str, *, seed: int = 0) -> Latency:
    """Return the model a user typed: "30" (ms), "30~10" (30 ms + up to 10 ms jitter), or a file path.

    Raises ConfigError with one line on anything else.
    """
    value = text.strip()
    base, sep, jitter = value.partition("~")
    try:
        if sep:
            return JitterLatency(int(base), int(jitter), seed)
        return ConstantLatency(int(value))
    except ValueError:
        pass
    path = Path(value)
    if path.suffix in (".csv", ".parquet"):
        if not path.is_file():
            raise ConfigError(f"no latency file {path}")
        return RecordedLatency.from_file(path)
    raise ConfigError(
        f"invalid latency {text!r}: give ms (30), ms~jitter (30~10) or a CSV/Parquet file of send_ms,ack_ms"
    )
