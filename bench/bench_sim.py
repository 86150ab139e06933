"""Benchmarks of `bst sim`: the market generator (cold computation) and the REST server over loopback.

Run: python -m bench sim
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx

from bst.domain.clock import ManualClock
from bst.domain.market import Category, Interval
from bst.sim.catalog import utc_ms
from bst.sim.generator import MarketGenerator
from bst.sim.server import SimServer
from bst.sim.state import SimConfig

NOW = utc_ms("2025-06-01T12:00") + 30_500


def _best_of(runs: int, work: Callable[[], object]) -> float:
    """Return the fastest of `runs` timings in seconds (each on a fresh generator when `work` makes one)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_generator() -> None:
    year = (utc_ms("2024-01-01"), utc_ms("2025-01-01") - 1)
    for category, symbol in [
        (Category.LINEAR, "BTCUSDT"),
        (Category.SPOT, "ETHUSDT"),
        (Category.INVERSE, "BTCUSD"),
    ]:
        seconds = _best_of(
            3,
            lambda c=category, s=symbol: MarketGenerator(seed=1).bar_columns(
                s, Interval.M1, *year, category=c
            ),
        )
        bars = len(MarketGenerator(seed=1).bar_columns(symbol, Interval.M1, *year, category=category))
        rate = bars / seconds
        label = f"{category.value:7} {symbol:8}"
        print(f"generator  1 year of 1m bars  {label}  {seconds:6.3f} s  ({rate:,.0f} bars/s)")

    gen = MarketGenerator(seed=1)
    cold = _best_of(1, lambda: gen.bar_columns("BTCUSDT", Interval.D1, utc_ms("2020-03-26"), NOW, now_ms=NOW))
    warm = _best_of(5, lambda: gen.bar_columns("BTCUSDT", Interval.D1, utc_ms("2020-03-26"), NOW, now_ms=NOW))
    print(
        f"generator  D bars since listing (5.2 y)  cold {cold:6.3f} s  warm (day cache) {warm * 1000:6.2f} ms"
    )
    window = _best_of(
        5,
        lambda: (
            MarketGenerator(seed=1)
            .kline_window("BTCUSDT", Interval.M1, category=Category.LINEAR, limit=1000, now_ms=NOW)
            .to_bars()
        ),
    )
    print(f"generator  kline_window 1000 x 1m + Decimal bars, cold   {window * 1000:6.1f} ms")
    trades = _best_of(5, lambda: MarketGenerator(seed=1).recent_trades("BTCUSDT", NOW, 1000))
    book = _best_of(5, lambda: gen.book_snapshot("BTCUSDT", NOW, 200))
    print(
        f"generator  recent_trades(1000) cold {trades * 1e3:6.1f} ms  book_snapshot(200) {book * 1e3:6.2f} ms"
    )


def bench_server() -> None:
    server = SimServer(
        SimConfig(port=0, seed=1, ip_limit_requests=0), clock=ManualClock(NOW)
    ).start_in_thread()
    try:
        with httpx.Client(base_url=server.base_url) as client:
            cases = [
                ("GET /v5/market/time", "/v5/market/time", {}),
                (
                    "GET kline 1000 x 1m",
                    "/v5/market/kline",
                    {"category": "linear", "symbol": "BTCUSDT", "interval": "1", "limit": 1000},
                ),
                ("GET tickers linear (5)", "/v5/market/tickers", {"category": "linear"}),
                (
                    "GET orderbook 200",
                    "/v5/market/orderbook",
                    {"category": "linear", "symbol": "BTCUSDT", "limit": 200},
                ),
            ]
            for label, path, params in cases:
                client.get(path, params=params)  # warm the day cache and the connection
                latencies = []
                started = time.perf_counter()
                for _ in range(200):
                    t0 = time.perf_counter()
                    reply = client.get(path, params=params)
                    latencies.append(time.perf_counter() - t0)
                    reply.raise_for_status()
                total = time.perf_counter() - started
                p50 = statistics.median(latencies) * 1000
                p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000
                print(
                    f"server     {label:26} {200 / total:7.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
                )
            # What a downloader does: one year of 1m bars in 1000-bar windows, every window a cold range.
            end = NOW - NOW % 60_000 - 60_000
            started = time.perf_counter()
            requests = 0
            while end > NOW - 365 * 86_400_000:
                params = {
                    "category": "linear",
                    "symbol": "ETHUSDT",
                    "interval": "1",
                    "limit": 1000,
                    "end": end,
                }
                rows = client.get("/v5/market/kline", params=params).json()["result"]["list"]
                end = int(rows[-1][0]) - 60_000
                requests += 1
            total = time.perf_counter() - started
            print(
                f"server     1 year of 1m klines, {requests} sequential cold requests  {total:6.2f} s"
                f"  ({requests / total:5.0f} req/s; Bybit's IP limit allows 120 req/s)"
            )
    finally:
        server.stop_thread()


def main() -> None:
    """Print generator and server figures."""
    bench_generator()
    bench_server()


if __name__ == "__main__":
    main()
