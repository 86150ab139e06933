"""Indicators: incremental values equal their vectorised twins and pandas' forms, on real data."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.domain.errors import ConfigError
from bst.trading import indicators as ind

Floats = npt.NDArray[np.float64]
TOLERANCE = {"rtol": 1e-9, "atol": 1e-9}
DATA_FILES = ("backtestingpy_GOOG.csv", "backtestingpy_EURUSD.csv", "backtestingpy_BTCUSD.csv")


@pytest.fixture(scope="module", params=DATA_FILES)
def ohlcv(request: pytest.FixtureRequest, shared_dir: Path) -> pd.DataFrame:
    """Return one of backtesting.py's real OHLCV files (daily stock, hourly FX, monthly BTC)."""
    frame = pd.read_csv(shared_dir / "data" / request.param, index_col=0)
    assert len(frame) > 100
    return frame


def run(update: Callable[..., object], *columns: Sequence[float]) -> Floats:
    """Return an incremental indicator's value after each update, NaN where it returned None."""
    out = []
    for values in zip(*columns, strict=True):
        value = update(*values)
        out.append(math.nan if value is None else value)
    return np.array(out, dtype=np.float64)


def same(a: Floats, b: Floats) -> None:
    """Assert equal arrays to floating tolerance, NaN in the same places."""
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, **TOLERANCE, equal_nan=True)


def wilder_reference(values: Sequence[float], n: int) -> list[float]:
    """Wilder's smoothing as he wrote it: the mean of the first n, then (prev (n-1) + x) / n."""
    out = [math.nan] * len(values)
    if len(values) < n:
        return out
    avg = sum(values[:n]) / n
    out[n - 1] = avg
    for i in range(n, len(values)):
        avg = (avg * (n - 1) + values[i]) / n
        out[i] = avg
    return out


@pytest.mark.parametrize("n", [1, 5, 20, 50])
def test_sma_equals_pandas_rolling_mean(ohlcv: pd.DataFrame, n: int) -> None:
    close = ohlcv["Close"]
    expected = close.rolling(n).mean().to_numpy()

    same(run(ind.SMA(n).update, close), expected)
    same(ind.sma(close.to_numpy(), n), expected)


@pytest.mark.parametrize("n", [1, 9, 26])
def test_ema_equals_pandas_ewm_without_adjustment(ohlcv: pd.DataFrame, n: int) -> None:
    close = ohlcv["Close"]
    expected = close.ewm(span=n, adjust=False, min_periods=n).mean().to_numpy()

    same(run(ind.EMA(n).update, close), expected)
    same(ind.ema(close.to_numpy(), n), expected)


@pytest.mark.parametrize("n", [2, 14])
def test_rsi_equals_wilders_formula(ohlcv: pd.DataFrame, n: int) -> None:
    close = ohlcv["Close"].tolist()
    changes = [b - a for a, b in pairwise(close)]
    gain = wilder_reference([max(c, 0.0) for c in changes], n)
    loss = wilder_reference([max(-c, 0.0) for c in changes], n)
    expected = [math.nan] + [
        math.nan if math.isnan(g) else (100.0 if lo == 0 else 100 - 100 / (1 + g / lo))
        for g, lo in zip(gain, loss, strict=True)
    ]

    same(run(ind.RSI(n).update, close), np.array(expected))
    same(ind.rsi(np.array(close), n), np.array(expected))


@pytest.mark.parametrize("n", [3, 14])
def test_atr_equals_wilders_average_of_the_pandas_true_range(ohlcv: pd.DataFrame, n: int) -> None:
    h, lo, c = ohlcv["High"], ohlcv["Low"], ohlcv["Close"]
    prev = c.shift()
    true_range = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
    expected = np.array(wilder_reference(true_range.tolist(), n))

    same(run(ind.ATR(n).update, h, lo, c), expected)
    same(ind.atr(h.to_numpy(), lo.to_numpy(), c.to_numpy(), n), expected)


@pytest.mark.parametrize(("n", "k", "ddof"), [(20, 2.0, 0), (10, 1.5, 1)])
def test_bollinger_equals_rolling_mean_and_std(ohlcv: pd.DataFrame, n: int, k: float, ddof: int) -> None:
    close = ohlcv["Close"]
    mean, std = close.rolling(n).mean(), close.rolling(n).std(ddof=ddof)
    bands = ind.Bollinger(n, k, ddof=ddof)
    got = [bands.update(x) for x in close]
    lower, middle, upper = ind.bollinger(close.to_numpy(), n, k, ddof=ddof)

    for column, expected in ((0, mean - k * std), (1, mean), (2, mean + k * std)):
        same(np.array([math.nan if b is None else b[column] for b in got]), expected.to_numpy())
    same(lower, (mean - k * std).to_numpy())
    same(middle, mean.to_numpy())
    same(upper, (mean + k * std).to_numpy())


@pytest.mark.parametrize("n", [None, 1, 24])
def test_vwap_equals_volume_weighted_sums(ohlcv: pd.DataFrame, n: int | None) -> None:
    typical = (ohlcv["High"] + ohlcv["Low"] + ohlcv["Close"]) / 3
    volume = ohlcv["Volume"].astype(float)
    notional = typical * volume
    if n is None:
        expected = notional.cumsum() / volume.cumsum()
    else:
        expected = notional.rolling(n).sum() / volume.rolling(n).sum()
    expected = expected.where(np.isfinite(expected))

    same(run(ind.VWAP(n).update, typical, volume), expected.to_numpy())
    same(ind.vwap(typical.to_numpy(), volume.to_numpy(), n), expected.to_numpy())


def test_vwap_restarts_at_reset_and_waits_for_volume() -> None:
    vwap = ind.VWAP()

    assert vwap.update(10.0, 0.0) is None
    assert vwap.update(10.0, 1.0) == 10.0
    assert vwap.update(20.0, 3.0) == 17.5
    vwap.reset()
    assert vwap.value is None
    assert vwap.update(30.0, 2.0) == 30.0


def test_a_huge_value_leaving_the_window_uncovers_no_rounding_error() -> None:
    # Found by hypothesis: the sum of the window [741456^2, 0.984...] rounded to one float, and
    # once the huge value left, the rest was off by 3e-5.
    values = [741456.0, 0.9921875, 1.0]
    vwap = ind.VWAP(2)

    assert [vwap.update(v, v) for v in values][-1] == pytest.approx((0.9921875**2 + 1) / 1.9921875, rel=1e-15)


def test_a_million_updates_do_not_drift(shared_dir: Path) -> None:
    # Prices near 40,000 with cent-sized moves: the regime where a plain running sum loses digits.
    minute = pd.read_csv(shared_dir / "data" / "nautilus_ftx_btc-perp_1m_20211231-20220201.csv")
    close = np.tile(minute["close"].to_numpy(dtype=np.float64), 23)[:1_000_000]
    sma = ind.SMA(50)
    values = run(sma.update, close)

    window = close[-50:]
    assert values[-1] == pytest.approx(math.fsum(window) / 50, rel=1e-13)
    same(values[-1000:], ind.sma(close, 50)[-1000:])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_a_period_must_be_a_whole_number_of_at_least_one(bad: object) -> None:
    with pytest.raises(ConfigError, match="an indicator period must be a whole number >= 1"):
        ind.SMA(bad)  # type: ignore[arg-type]


def test_the_warm_up_lengths_are_the_documented_ones() -> None:
    closes = [float(i % 7 + 100) for i in range(40)]
    first = {
        "sma": np.argmax(~np.isnan(run(ind.SMA(10).update, closes))),
        "ema": np.argmax(~np.isnan(run(ind.EMA(10).update, closes))),
        "rsi": np.argmax(~np.isnan(run(ind.RSI(10).update, closes))),
        "atr": np.argmax(~np.isnan(run(ind.ATR(10).update, closes, closes, closes))),
    }

    assert first == {"sma": 9, "ema": 9, "rsi": 10, "atr": 9}


prices = st.lists(st.floats(min_value=0.01, max_value=1e6, allow_nan=False), min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(prices, st.integers(min_value=1, max_value=30))
def test_incremental_and_vectorised_agree_on_any_series(values: list[float], n: int) -> None:
    array = np.array(values)

    same(run(ind.SMA(n).update, values), ind.sma(array, n))
    same(run(ind.EMA(n).update, values), ind.ema(array, n))
    same(run(ind.RSI(n).update, values), ind.rsi(array, n))
    same(run(ind.ATR(n).update, values, values, values), ind.atr(array, array, array, n))
    same(run(ind.VWAP(n).update, values, values), ind.vwap(array, array, n))


@settings(max_examples=150, deadline=None)
@given(prices, st.integers(min_value=1, max_value=30))
def test_averages_stay_within_the_window_and_rsi_within_0_100(values: list[float], n: int) -> None:
    sma, ema, rsi, bands = ind.SMA(n), ind.EMA(n), ind.RSI(n), ind.Bollinger(n)
    slack = 1e-9 * max(values)
    for i, x in enumerate(values):
        window = values[max(0, i - n + 1) : i + 1]
        mean, smoothed, strength, band = sma.update(x), ema.update(x), rsi.update(x), bands.update(x)
        if mean is not None:
            assert min(window) - slack <= mean <= max(window) + slack
        if smoothed is not None:
            assert min(values[: i + 1]) - slack <= smoothed <= max(values[: i + 1]) + slack
        if strength is not None:
            assert 0.0 <= strength <= 100.0
        if band is not None:
            assert band.lower <= band.middle <= band.upper


@given(st.floats(min_value=0.01, max_value=1e6), st.integers(min_value=1, max_value=20))
def test_a_constant_series_has_its_value_as_average_and_a_neutral_rsi(value: float, n: int) -> None:
    sma, ema, rsi, bands = ind.SMA(n), ind.EMA(n), ind.RSI(n), ind.Bollinger(n)
    for _ in range(n + 2):
        mean, smoothed, strength, band = (
            sma.update(value),
            ema.update(value),
            rsi.update(value),
            bands.update(value),
        )

    assert mean == pytest.approx(value, rel=1e-12)
    assert smoothed == value
    assert strength == 50.0
    assert band is not None
    assert band.upper - band.lower == pytest.approx(0.0, abs=1e-9 * value)
