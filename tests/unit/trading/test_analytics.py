"""Market analytics as a fold over events: exact book, flow and cluster metrics; windows; volatility."""

from __future__ import annotations

import math
import statistics
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from bst.domain.bookset import BookSet
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate, TradesUpdate
from bst.domain.market import Category, Side, Trade
from bst.trading.analytics import AnalyzerConfig, MarketAnalyzer, VolumeCluster, VolumeUnit

D = Decimal
L = Category.LINEAR


def book(
    ts: int, bids: list[list[str]], asks: list[list[str]], u: int, *, snapshot: bool = True
) -> BookUpdate:
    return BookUpdate(L, "BTCUSDT", 50, snapshot, bids, asks, u, None, ts, ts - 1, ts + 5)


def trades(ts: int, *rows: tuple[Side, str, str]) -> TradesUpdate:
    items = tuple(Trade(ts, "BTCUSDT", side, D(p), D(q), f"t{ts}-{i}") for i, (side, p, q) in enumerate(rows))
    return TradesUpdate(L, "BTCUSDT", items, ts, ts + 7)


def test_book_metrics_exact() -> None:
    analyzer = MarketAnalyzer(AnalyzerConfig(imbalance_depths=(1, 2)))
    analyzer.on_event(book(1000, [["100", "3"], ["99", "1"]], [["101", "1"], ["102", "5"]], 1))
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert (m.book_valid, m.book_invalid_reason) == (True, None)
    assert (m.best_bid, m.best_ask, m.mid, m.spread) == (D(100), D(101), D("100.5"), D(1))
    assert m.spread_bps == D("99.50248756218905472636815920")
    assert m.microprice == D("100.75")
    assert dict(m.imbalance) == {1: D("0.75"), 2: D("0.4")}
    assert dict(m.imbalance_mean) == {1: D("0.75"), 2: D("0.4")}
    assert (m.book_latency_ms, m.trade_latency_ms, m.ts_ms) == (5, None, 1000)
    assert analyzer.metrics("ETHUSDT") is None


def test_stale_book_is_reported() -> None:
    analyzer = MarketAnalyzer()
    analyzer.on_event(book(1000, [["100", "3"]], [["101", "1"]], 10))
    analyzer.on_event(book(1020, [["100", "4"]], [], 12, snapshot=False))  # u 11 missing
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert m.book_valid is False
    assert m.book_invalid_reason == "update id gap: expected 11, got 12"


def test_trade_flow_window_and_vwap() -> None:
    analyzer = MarketAnalyzer(AnalyzerConfig(trade_window_ms=60_000))
    analyzer.on_event(trades(0, (Side.BUY, "100", "1")))
    analyzer.on_event(trades(30_000, (Side.SELL, "101", "2"), (Side.BUY, "102", "0.5")))
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert (m.trade_count, m.buy_volume, m.sell_volume) == (3, D("1.5"), D(2))
    assert m.trade_flow_imbalance == D("0.4285714285714285714285714286")  # 1.5 / 3.5
    assert m.vwap == D("100.8571428571428571428571429")  # (100 + 202 + 51) / 3.5
    assert (m.last_price, m.trade_latency_ms) == (D(102), 7)
    analyzer.on_event(trades(60_000, (Side.SELL, "103", "1")))  # the trade at 0 leaves the window
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert (m.trade_count, m.buy_volume, m.sell_volume) == (3, D("0.5"), D(3))
    assert m.vwap == D("101.7142857142857142857142857")  # (202 + 51 + 103) / 3.5


def test_volume_clusters_with_threshold_step_and_window() -> None:
    config = AnalyzerConfig(
        cluster_price_step=D(10),
        min_cluster_volume=D(1000),
        cluster_window_ms=10_000,
        max_clusters=2,
    )
    analyzer = MarketAnalyzer(config)
    analyzer.on_event(
        trades(
            0,
            (Side.BUY, "101", "5"),  # bucket 100: 505
            (Side.SELL, "109.5", "6"),  # bucket 100: 657 -> 1162
            (Side.BUY, "115", "100"),  # bucket 110: 11500
            (Side.BUY, "120", "1"),  # bucket 120: 120 (below the threshold)
        )
    )
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert m.clusters == (
        VolumeCluster(D(110), D(11500), D(11500), D(0), 1),
        VolumeCluster(D(100), D(1162), D(505), D("657.0"), 2),
    )
    assert m.clusters[1].delta == D(-152)
    assert m.point_of_control == D(110)
    analyzer.on_event(trades(5_000, (Side.SELL, "121", "100")))  # bucket 120: 12220
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert [c.price for c in m.clusters] == [D(120), D(110)]  # top 2 only
    analyzer.on_event(trades(10_000, (Side.BUY, "100", "1")))  # the trades at 0 expire
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert m.clusters == (VolumeCluster(D(120), D(12100), D(0), D(12100), 1),)
    assert m.point_of_control == D(120)


def test_clusters_in_base_units_at_exact_prices() -> None:
    config = AnalyzerConfig(min_cluster_volume=D(2), cluster_volume_unit=VolumeUnit.BASE)
    analyzer = MarketAnalyzer(config)
    analyzer.on_event(
        trades(0, (Side.BUY, "100.1", "1.5"), (Side.BUY, "100.1", "1"), (Side.SELL, "100.2", "1"))
    )
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    assert m.clusters == (VolumeCluster(D("100.1"), D("2.5"), D("2.5"), D(0), 2),)


def test_volatility_of_sampled_mids() -> None:
    analyzer = MarketAnalyzer(AnalyzerConfig(sample_ms=1000, sample_window=10))
    mids = [100, 101, 99, 102, 102, 98]
    for i, mid in enumerate(mids):
        analyzer.on_event(book(i * 1000, [[str(mid - 1), "1"]], [[str(mid + 1), "1"]], i + 1))
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    returns = [math.log(b) - math.log(a) for a, b in pairwise(mids)]
    assert m.volatility == pytest.approx(statistics.stdev(returns), rel=1e-12)
    assert m.volatility_annualized == pytest.approx(
        statistics.stdev(returns) * math.sqrt(365 * 24 * 3600), rel=1e-12
    )


def test_quiet_intervals_count_as_zero_returns() -> None:
    analyzer = MarketAnalyzer(AnalyzerConfig(sample_ms=1000))
    analyzer.on_event(book(0, [["99", "1"]], [["101", "1"]], 1))
    analyzer.on_event(book(3500, [["109", "1"]], [["111", "1"]], 2))  # boundaries 1000, 2000: no change
    analyzer.on_event(book(3600, [["99", "1"]], [["101", "1"]], 3))  # same interval: not sampled
    m = analyzer.metrics("BTCUSDT")
    assert m is not None
    returns = [0.0, 0.0, math.log(110) - math.log(100)]
    assert m.volatility == pytest.approx(statistics.stdev(returns), rel=1e-12)


def test_shared_books_are_not_applied_twice(fixtures_dir: Path) -> None:
    lines = (
        (fixtures_dir / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl")
        .read_bytes()
        .splitlines()
    )
    shared = BookSet()
    analyzer = MarketAnalyzer(AnalyzerConfig(imbalance_depths=(5,)), books=shared)
    own = MarketAnalyzer(AnalyzerConfig(imbalance_depths=(5,)))
    for line in lines:
        msg = orjson.loads(line)
        data = msg["data"]
        snapshot = msg["type"] == "snapshot"
        event = BookUpdate(
            L, "XRPUSDT", 500, snapshot, data["b"], data["a"], data["u"], data["seq"], 0, None, 0
        )
        shared.apply(event)
        analyzer.on_event(event)
        own.on_event(event)
    book = shared.get(L, "XRPUSDT", 500)
    assert book is not None
    assert book.stats.duplicates == 0
    assert book.stats.deltas == 49
    shared_m, own_m = analyzer.metrics("XRPUSDT"), own.metrics("XRPUSDT")
    assert shared_m == own_m
    assert shared_m is not None
    assert shared_m.imbalance[5] == D("0.2736316956471000116699731591")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"imbalance_depths": ()},
        {"imbalance_depths": (0, 5)},
        {"trade_window_ms": 0},
        {"sample_window": 1},
        {"cluster_price_step": D(0)},
        {"max_clusters": 0},
    ],
)
def test_config_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        AnalyzerConfig(**kwargs)  # type: ignore[arg-type]
