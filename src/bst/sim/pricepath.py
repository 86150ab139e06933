"""Seeded, seekable price paths in integer ticks: daily anchors per coin, a bridge per day, trades per minute.

Layout of the randomness (everything keyed by the generator seed, so any day can be computed alone):

- per coin: daily log-price anchors = trend curve + an AR(1) deviation whose shocks come in blocks of
  days seeded by (seed, coin, block). The whole daily series is a few thousand numbers, computed once.
- per coin and day: a Brownian bridge from one day's anchor to the next, seeded by (seed, coin, day),
  shared by every instrument of the coin (spot, linear and inverse move together).
- per instrument and day: wicks, volume and the minute's trades, seeded by (seed, instrument, day).

A minute holds exactly `trades_per_minute` trades; the first prints at the minute's open time at the
open price, two of them print the high and the low, the last prints the close. The bar is the exact
aggregate of its trades (volume = sum of sizes, turnover = sum of per-trade integer turnover), so a
partial bar at any instant is the aggregate of the trades printed so far.

Only IEEE-exact operations (add, multiply, divide, rint) touch per-minute values after the draws, so
the same seed gives the same integers on every run with the locked numpy.
"""

from __future__ import annotations

import functools
import math
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bst.domain.market import DAY_MS, MINUTE_MS, WEEK_MS, Category
from bst.sim.catalog import CoinSpec, InstrumentSpec, utc_ms

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

MINUTES_PER_DAY = 1440
_COIN_EPOCH_DAY = utc_ms("2018-01-01") // DAY_MS
_DAY_BLOCK = 1024
# 1970-01-01 was a Thursday: weekday (Monday = 0) of day index d is (d + 3) % 7.
_WEEKDAY_OFFSET = 3
_MONDAY_OFFSET_MS = 4 * DAY_MS

# Independent random streams, so adding draws to one never shifts another.
_STREAM_COIN_DAYS = 1
_STREAM_BRIDGE = 2
_STREAM_MINUTES = 3
_STREAM_TIMES = 4
_STREAM_MAINTENANCE = 5

# Per-minute turnover is capped so a calendar month of turnover units always fits int64.
_MAX_MINUTE_TURNOVER_UNITS = 9_000_000_000_000_000_000 // (31 * MINUTES_PER_DAY) // 2

_MINUTE_OF_DAY = np.arange(MINUTES_PER_DAY, dtype=np.float64)
_FRACTION_OF_DAY = (_MINUTE_OF_DAY + 1.0) / MINUTES_PER_DAY
# Activity peaks around the US open (14:30 UTC) and is lowest in the late Asian night.
_SEASON = 1.0 + 0.35 * np.cos(2.0 * np.pi * (_MINUTE_OF_DAY - 870.0) / MINUTES_PER_DAY)
_SEASON_VOL: F64 = _SEASON / math.sqrt(float(np.mean(_SEASON**2)))
_SEASON_VOLUME: F64 = _SEASON**2 / float(np.mean(_SEASON**2))


def stable_id(text: str) -> int:
    """Return a process-independent 32-bit id of `text` (Python's hash() is salted per run)."""
    return zlib.crc32(text.encode())


def rng_for(*keys: int) -> np.random.Generator:
    """Return a numpy generator seeded by a tuple of non-negative ints."""
    return np.random.default_rng([k & 0xFFFFFFFFFFFFFFFF for k in keys])


def splitmix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Return the splitmix64 finaliser of each value (a fast, well-mixed integer hash)."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_uniform(base: int, values: I64) -> F64:
    """Return deterministic uniforms in [0, 1), one per value, for the stream `base`."""
    mixed = splitmix64(values.astype(np.uint64) ^ np.uint64(base & 0xFFFFFFFFFFFFFFFF))
    return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


class CoinPath:
    """Daily log-price anchors of one coin (00:00 UTC of each day) and its volatility regime."""

    def __init__(self, seed: int, coin: CoinSpec) -> None:
        self._seed = seed
        self._coin = coin
        self._coin_id = stable_id(f"coin:{coin.name}")
        days = np.array([utc_ms(d) // DAY_MS for d, _ in coin.trend], dtype=np.float64)
        self._trend_days = days
        self._trend_logs = np.log(np.array([p for _, p in coin.trend], dtype=np.float64))
        self._deviation: list[float] = []
        self._log_vol: list[float] = []
        self._lock = threading.Lock()

    @property
    def coin(self) -> CoinSpec:
        """Return the coin's spec."""
        return self._coin

    def _extend(self, index: int) -> None:
        # The AR recursion runs forward from the epoch once; later calls reuse the prefix.
        with self._lock:
            phi = self._coin.deviation_phi
            vol_phi = 0.9
            vol_shock = 0.3 * math.sqrt(1.0 - vol_phi * vol_phi)
            while len(self._deviation) <= index:
                block = len(self._deviation) // _DAY_BLOCK
                shocks = rng_for(self._seed, self._coin_id, block, _STREAM_COIN_DAYS).standard_normal(
                    (_DAY_BLOCK, 2)
                )
                dev = self._deviation[-1] if self._deviation else 0.0
                lv = self._log_vol[-1] if self._log_vol else 0.0
                for e_price, e_vol in shocks.tolist():
                    lv = vol_phi * lv + vol_shock * e_vol
                    dev = phi * dev + 0.8 * self._coin.daily_vol * math.exp(lv) * e_price
                    self._deviation.append(dev)
                    self._log_vol.append(lv)

    def _index(self, day: int) -> int:
        return max(0, day - _COIN_EPOCH_DAY)

    def log_anchor(self, day: int) -> float:
        """Return the log USD price at 00:00 UTC of `day` (days since 1970-01-01)."""
        index = self._index(day)
        self._extend(index)
        trend = float(np.interp(float(day), self._trend_days, self._trend_logs))
        return trend + self._deviation[index]

    def vol_multiplier(self, day: int) -> float:
        """Return the day's volatility regime multiplier (log-normal around 1)."""
        index = self._index(day)
        self._extend(index)
        return math.exp(self._log_vol[index])

    def bridge(self, day: int) -> tuple[F64, F64]:
        """Return the day's relative Brownian bridge (ends at 0) and its standard normal shocks."""
        sigma_min = self._coin.daily_vol * self.vol_multiplier(day) / math.sqrt(MINUTES_PER_DAY)
        weekend = 0.75 if (day + _WEEKDAY_OFFSET) % 7 >= 5 else 1.0
        shocks = rng_for(self._seed, self._coin_id, day, _STREAM_BRIDGE).standard_normal(MINUTES_PER_DAY)
        walk = np.cumsum(shocks * (_SEASON_VOL * (sigma_min * weekend)))
        bridge: F64 = walk - _FRACTION_OF_DAY * walk[-1]
        return bridge, shocks


@dataclass(frozen=True, slots=True)
class DayBlock:
    """Consecutive instrument-days of minute bars and trades in integer ticks / lots / turnover units.

    Row r is the minute starting at `first_day * DAY_MS + r * MINUTE_MS`; trade arrays are (rows, K).
    Nothing here knows about listing or maintenance: callers mask those minutes out.
    """

    first_day: int
    open: I64
    high: I64
    low: I64
    close: I64
    volume: I64
    turnover: I64
    trade_price: I64
    trade_size: I64
    trade_turnover: I64

    @property
    def days(self) -> int:
        """Return how many days the block holds."""
        return int(self.open.size) // MINUTES_PER_DAY


@dataclass(frozen=True, slots=True)
class DayTrades:
    """Trade times (ms offsets within the minute) and taker sides (True = Buy) of one instrument-day."""

    offset_ms: I64
    is_buy: BOOL


@dataclass(frozen=True, slots=True)
class _DayDraws:
    a0: int
    a1: int
    bridge: F64
    shocks: F64
    own_noise: F64
    wicks: F64
    volume_noise: F64
    vertex_slots: npt.NDArray[Any]
    order_draw: F64
    weights: F64
    wick_sigma: float
    quote_per_minute: float


class InstrumentPath:
    """The minute bars and trades of one instrument, computed on demand from per-day random draws.

    Draws are made day by day (so any day is computable alone); the arithmetic after them runs on
    whole blocks of days and uses only IEEE-exact operations, so a day computed alone and the same
    day inside a block are bit-identical.
    """

    _CACHE_DAYS = 8
    BLOCK_DAYS = 8

    def __init__(self, seed: int, spec: InstrumentSpec, coin: CoinPath) -> None:
        if spec.trades_per_minute < 4:
            raise ValueError(f"{spec.key}: trades_per_minute must be >= 4")
        self.spec = spec
        self.coin = coin
        self._seed = seed
        self._inst_id = stable_id(f"instrument:{spec.key}")
        self._tick = float(spec.tick_size)
        self._step = float(spec.qty_step)
        self._inverse_factor = spec.inverse_turnover_factor if spec.is_inverse else 0
        self._days: OrderedDict[int, DayBlock] = OrderedDict()
        self._times: OrderedDict[int, DayTrades] = OrderedDict()
        self._computing: dict[int, Future[DayBlock]] = {}
        self._lock = threading.Lock()
        self.launch_minute_ms = spec.launch_ms - spec.launch_ms % MINUTE_MS

    def anchor_ticks(self, day: int) -> int:
        """Return the price in ticks at 00:00 UTC of `day` (the open of the day's first minute)."""
        return max(1, round(math.exp(self.coin.log_anchor(day)) / self._tick))

    def day(self, day: int) -> DayBlock:
        """Return one day (cached: the server asks for the same recent days again and again).

        A day asked for by several threads at once is computed once: a downloader's concurrent
        pages often share a day, and each computation is about a millisecond of CPU.
        """
        with self._lock:
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
            pending = self._computing.get(day)
            owner = pending is None
            if pending is None:
                pending = self._computing[day] = Future()
        if not owner:
            return pending.result()
        try:
            computed = self.block(day, 1)
        except BaseException as e:
            with self._lock:
                del self._computing[day]
            pending.set_exception(e)
            raise
        with self._lock:
            self._days[day] = computed
            while len(self._days) > self._CACHE_DAYS:
                self._days.popitem(last=False)
            del self._computing[day]
        pending.set_result(computed)
        return computed

    def _draw(self, day: int) -> _DayDraws:
        spec = self.spec
        k = spec.trades_per_minute
        bridge, shocks = self.coin.bridge(day)
        rng = rng_for(self._seed, self._inst_id, day, _STREAM_MINUTES)
        vol_mult = self.coin.vol_multiplier(day)
        weekend = 0.7 if (day + _WEEKDAY_OFFSET) % 7 >= 5 else 1.0
        return _DayDraws(
            a0=self.anchor_ticks(day),
            a1=self.anchor_ticks(day + 1),
            bridge=bridge,
            shocks=shocks,
            own_noise=rng.standard_normal(MINUTES_PER_DAY),
            wicks=rng.standard_exponential((MINUTES_PER_DAY, 2)),
            # numpy draws log-normals in scalar C code, so they do not depend on array layout.
            volume_noise=rng.lognormal(-0.10125, 0.45, MINUTES_PER_DAY),
            vertex_slots=rng.integers(1, k - 1, size=(MINUTES_PER_DAY, 2)),
            order_draw=rng.random(MINUTES_PER_DAY),
            weights=rng.standard_exponential((MINUTES_PER_DAY, k)),
            wick_sigma=0.6 * self.coin.coin.daily_vol * vol_mult / math.sqrt(MINUTES_PER_DAY),
            quote_per_minute=spec.daily_turnover / MINUTES_PER_DAY * weekend * math.sqrt(vol_mult),
        )

    def block(self, first_day: int, count: int) -> DayBlock:
        """Return `count` consecutive days starting at `first_day`."""
        spec = self.spec
        k = spec.trades_per_minute
        draws = [self._draw(d) for d in range(first_day, first_day + count)]
        rows = count * MINUTES_PER_DAY

        def per_day(values: list[float]) -> F64:
            return np.repeat(np.array(values, dtype=np.float64), MINUTES_PER_DAY)

        a0 = per_day([d.a0 for d in draws])
        a1 = per_day([d.a1 for d in draws])
        fraction = np.tile(_FRACTION_OF_DAY, count)
        bridge = np.concatenate([d.bridge for d in draws])
        own_noise = np.concatenate([d.own_noise for d in draws])
        close = np.rint(a0 + (a1 - a0) * fraction + 0.5 * (a0 + a1) * (bridge + 0.00008 * own_noise))
        close = np.maximum(close.astype(np.int64), 1)
        day_ends = np.arange(MINUTES_PER_DAY - 1, rows, MINUTES_PER_DAY)
        close[day_ends] = [d.a1 for d in draws]
        open_ = np.empty_like(close)
        open_[0] = draws[0].a0
        open_[1:] = close[:-1]

        wicks = np.concatenate([d.wicks for d in draws])
        wick_scale = per_day([d.wick_sigma for d in draws]) * np.tile(_SEASON_VOL, count) * close
        high = np.maximum(open_, close) + np.floor(wicks[:, 0] * wick_scale).astype(np.int64)
        low = np.maximum(1, np.minimum(open_, close) - np.floor(wicks[:, 1] * wick_scale).astype(np.int64))

        quote = (
            per_day([d.quote_per_minute for d in draws])
            * np.tile(_SEASON_VOLUME, count)
            * (0.55 + 0.45 * np.abs(np.concatenate([d.shocks for d in draws])))
            * np.concatenate([d.volume_noise for d in draws])
        )
        if spec.is_inverse:
            lots = quote / self._step
            cap = low * (_MAX_MINUTE_TURNOVER_UNITS // self._inverse_factor)
        else:
            lots = quote / (close * (self._tick * self._step))
            cap = _MAX_MINUTE_TURNOVER_UNITS // high
        volume = np.minimum(np.maximum(np.rint(lots).astype(np.int64), k), np.maximum(cap, k))

        price, size = self._trades(
            open_,
            high,
            low,
            close,
            volume,
            np.concatenate([d.vertex_slots for d in draws]),
            np.concatenate([d.order_draw for d in draws]),
            np.concatenate([d.weights.T for d in draws], axis=1),
        )
        if spec.is_inverse:
            trade_turnover = (2 * size * self._inverse_factor + price) // (2 * price)
        else:
            trade_turnover = size * price
        return DayBlock(
            first_day=first_day,
            open=open_,
            high=high,
            low=low,
            close=close,
            volume=volume,
            turnover=trade_turnover.sum(axis=0),
            trade_price=price.T,
            trade_size=size.T,
            trade_turnover=trade_turnover.T,
        )

    def _trades(
        self,
        open_: I64,
        high: I64,
        low: I64,
        close: I64,
        volume: I64,
        vertex_slots: npt.NDArray[Any],
        order_draw: F64,
        weights: F64,
    ) -> tuple[I64, I64]:
        """Return each minute's K trade prices (through open, high, low, close) and sizes (sum = volume).

        Arrays are slot-major, shape (K, minutes): every operation then runs along contiguous rows,
        several times faster than (minutes, K) with K around 10.
        """
        k = self.spec.trades_per_minute
        first = np.minimum(vertex_slots[:, 0], vertex_slots[:, 1])
        second = np.maximum(vertex_slots[:, 0], vertex_slots[:, 1])
        same = first == second
        # Two distinct interior slots: move the second up, or the first down at the top edge.
        second = np.where(same & (second < k - 2), second + 1, second)
        first = np.where(same & (first == second), first - 1, first)
        # A rising minute more often dips first, a falling one spikes first.
        low_first = order_draw < 0.5 + 0.2 * np.sign(close - open_)
        vertex_a = np.where(low_first, low, high).astype(np.float64)
        vertex_b = np.where(low_first, high, low).astype(np.float64)
        o = open_.astype(np.float64)
        c = close.astype(np.float64)
        ia = first.astype(np.float64)
        ib = second.astype(np.float64)
        # Piecewise-linear path open -> vertex a -> vertex b -> close; each vertex lands exactly on
        # its slot because (p1 - p0) * (s - s0) / (s1 - s0) is exactly p1 - p0 when s == s1. So the
        # first slot is exactly the open and the last exactly the close: only the slots between are
        # computed (a sixth to a third less work, bit for bit the same prices).
        slot = np.arange(1, k - 1, dtype=np.float64)[:, None]
        seg0 = o + (vertex_a - o) * slot / ia
        seg1 = vertex_a + (vertex_b - vertex_a) * (slot - ia) / (ib - ia)
        seg2 = vertex_b + (c - vertex_b) * (slot - ib) / ((k - 1) - ib)
        path = np.where(slot <= ia, seg0, np.where(slot <= ib, seg1, seg2))
        price = np.empty((k, open_.size), dtype=np.int64)
        price[0] = open_
        price[1:-1] = np.rint(path)
        price[-1] = close

        # Row by row, as np.cumsum adds (so bit for bit the same), but several times faster than
        # np.cumsum along the short first axis.
        cumulative = np.empty_like(weights)
        cumulative[0] = weights[0]
        for row in range(1, k):
            np.add(cumulative[row - 1], weights[row], out=cumulative[row])
        spare = (volume - k).astype(np.float64)
        alloc = np.floor(spare * cumulative / cumulative[-1]).astype(np.int64)
        alloc[-1] = volume - k
        size = alloc.copy()
        size[1:] -= alloc[:-1]
        size += 1
        return price, size

    def day_trades(self, day: int) -> DayTrades:
        """Return trade time offsets and taker sides of the day (drawn only when trades are asked for)."""
        with self._lock:
            cached = self._times.get(day)
            if cached is not None:
                return cached
        arrays = self.day(day)
        k = self.spec.trades_per_minute
        rng = rng_for(self._seed, self._inst_id, day, _STREAM_TIMES)
        jitter = rng.random((MINUTES_PER_DAY, k))
        tie_draw = rng.random((MINUTES_PER_DAY, k))
        slot = np.arange(k, dtype=np.float64)[None, :]
        offset = np.floor((slot + jitter) * (MINUTE_MS / k)).astype(np.int64)
        offset[:, 0] = 0
        flat = arrays.trade_price.reshape(-1)
        previous = np.empty_like(flat)
        previous[0] = arrays.open[0]
        previous[1:] = flat[:-1]
        is_buy = np.where(flat == previous, tie_draw.reshape(-1) < 0.5, flat > previous).reshape(-1, k)
        computed = DayTrades(offset_ms=offset, is_buy=is_buy)
        with self._lock:
            self._times[day] = computed
            while len(self._times) > 4:
                self._times.popitem(last=False)
        return computed


def maintenance_windows(seed: int, category: Category, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """Return the exchange's maintenance windows [start, end) overlapping [start_ms, end_ms].

    Derivatives (linear, inverse) share one schedule, spot has its own. About one week in five has a
    window of 3-20 minutes starting between 02:00 and 06:00 UTC on some day of that week.
    """
    spot = category is Category.SPOT
    first_week = (start_ms - _MONDAY_OFFSET_MS) // WEEK_MS
    last_week = (end_ms - _MONDAY_OFFSET_MS) // WEEK_MS
    windows: list[tuple[int, int]] = []
    for week in range(first_week, last_week + 1):
        window = _week_maintenance(seed, spot, week)
        if window is not None and window[1] > start_ms and window[0] <= end_ms:
            windows.append(window)
    return windows


@functools.lru_cache(maxsize=8192)
def _week_maintenance(seed: int, spot: bool, week: int) -> tuple[int, int] | None:
    """Return the maintenance window of one week, if it has one (cached: every kline page asks)."""
    venue = stable_id("maintenance:spot" if spot else "maintenance:derivatives")
    draws = rng_for(seed, venue, week + 10_000, _STREAM_MAINTENANCE).random(4)
    if draws[0] >= 0.2:
        return None
    day_of_week = int(draws[1] * 7)
    minute_of_day = 120 + int(draws[2] * 240)
    duration_min = 3 + int(draws[3] * 18)
    begin = _MONDAY_OFFSET_MS + week * WEEK_MS + day_of_week * DAY_MS + minute_of_day * MINUTE_MS
    return begin, begin + duration_min * MINUTE_MS


def maintenance_mask(seed: int, category: Category, minute_ms: I64) -> BOOL:
    """Return True for each minute open time (ascending array) that falls in a maintenance window."""
    mask = np.zeros(minute_ms.shape, dtype=np.bool_)
    if minute_ms.size == 0:
        return mask
    for begin, end in maintenance_windows(seed, category, int(minute_ms[0]), int(minute_ms[-1])):
        lo, hi = np.searchsorted(minute_ms, [begin, end])
        mask[lo:hi] = True
    return mask
