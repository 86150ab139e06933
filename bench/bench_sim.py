"""Benchmarks of `bst sim`: the market generator (cold computation) and the REST server over loopback.

Run: python -m bench sim            (everything)
     python -m bench.bench_sim pages  (only the symbol-year of kline pages, the serving-speed figure)
     python -m bench.bench_sim pages --baseline DIR
                                      (the same, alternating runs with a sim imported from DIR, the
                                      `src` of another checkout, e.g. `git archive 0ac7739 src | tar -x
                                      -C /tmp/base`, so the ratio is measured under the same load)

The symbol-year figure runs `bst sim` as its own process, as a user runs it, and reads that process's
CPU time from /proc (every thread included: the event loop and the threadpool workers), so the server's
cost is measured apart from the client's, and stays meaningful on a machine shared with other jobs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from bst.domain.clock import ManualClock
from bst.domain.market import Category, Interval
from bst.sim.catalog import utc_ms
from bst.sim.generator import MarketGenerator
from bst.sim.server import SimServer
from bst.sim.state import SimConfig

NOW = utc_ms("2025-06-01T12:00") + 30_500
YEAR_START_MS = utc_ms("2023-01-01")
YEAR_END_MS = utc_ms("2024-01-01")
PAGE_BARS = 1000
MINUTE_MS = 60_000
PAGE_RUNS = 5


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
    finally:
        server.stop_thread()


@dataclass(frozen=True, slots=True)
class PagesRun:
    """One symbol-year of 1-minute pages served by a fresh `bst sim` process to one sequential client."""

    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    pages: int
    bars: int


def process_cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds a process has used so far, all its threads included."""
    # /proc/PID/stat: the fields after the ")" closing the command name start at field 3 (state);
    # utime and stime are fields 14 and 15, in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def sim_process(*args: str, source: str | None = None) -> Iterator[tuple[str, int]]:
    """Run `bst sim` (seed 1) in its own process; yield its base URL and pid once it answers.

    `source`: a directory holding another `bst` package to run instead of the installed one.
    """
    port = _free_port()
    cmd = [sys.executable, "-m", "bst.cli.main", "sim", "--port", str(port), "--seed", "1", *args]
    env = {**os.environ, "PYTHONPATH": source} if source else None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v5/market/time", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("bst sim did not start")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def year_page_params(symbol: str = "BTCUSDT") -> Iterator[dict[str, str | int]]:
    """Yield the 526 requests of a symbol-year (2023) walked backwards, newest page first.

    Each asks for 1000 bars with both bounds, as pybit loops and `bst download` do:
    [end - 999 min, end], then the page before it.
    """
    end = YEAR_END_MS - MINUTE_MS
    while end >= YEAR_START_MS:
        first = max(YEAR_START_MS, end - (PAGE_BARS - 1) * MINUTE_MS)
        yield {
            "category": "linear",
            "symbol": symbol,
            "interval": "1",
            "start": first,
            "end": end,
            "limit": PAGE_BARS,
        }
        end = first - MINUTE_MS


def serve_year_of_pages(source: str | None = None) -> PagesRun:
    """Return the figures of one symbol-year of pages from a fresh sim process (IP limit off)."""
    with (
        sim_process("--ip-limit", "off", source=source) as (base, pid),
        httpx.Client(base_url=base) as client,
    ):
        # Warm-up on another year, so imports and first-call costs are not counted.
        client.get(
            "/v5/market/kline", params={**next(year_page_params()), "start": 0, "end": YEAR_START_MS - 1}
        )
        server_before = process_cpu_s(pid)
        client_before = time.process_time()
        started = time.perf_counter()
        pages = bars = 0
        for params in year_page_params():
            reply = client.get("/v5/market/kline", params=params)
            reply.raise_for_status()
            rows = orjson.loads(reply.content)["result"]["list"]
            pages += 1
            bars += len(rows)
        wall = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        server_cpu = process_cpu_s(pid) - server_before
    return PagesRun(wall, server_cpu, client_cpu, pages, bars)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def _summary(label: str, results: list[PagesRun]) -> str:
    walls = sorted(r.wall_s for r in results)
    cpus = sorted(r.server_cpu_s for r in results)
    return (
        f"{label} ({results[0].pages} sequential requests)"
        f"  sim CPU best {cpus[0]:5.2f} s, median {statistics.median(cpus):5.2f} s"
        f" (range {cpus[0]:.2f}-{cpus[-1]:.2f})"
        f"  wall best {walls[0]:5.2f} s, median {statistics.median(walls):5.2f} s"
        f" (range {walls[0]:.2f}-{walls[-1]:.2f})"
    )


def bench_year_of_pages(runs: int = PAGE_RUNS, baseline: str | None = None) -> None:
    """Print the symbol-year of 1-minute pages served to one sequential client: best, median, spread.

    With `baseline`, runs alternate between that source tree and this one, and the ratios compare
    the two under the same load.
    """
    print(f"server     1 year of 1m kline pages, fresh `bst sim` process per run, {_load()} before")
    sources = {"this": None} if baseline is None else {"baseline": baseline, "this": None}
    results: dict[str, list[PagesRun]] = {name: [] for name in sources}
    for i in range(runs):
        for name, source in sources.items():
            run = serve_year_of_pages(source)
            results[name].append(run)
            print(
                f"  run {i + 1} {name:8}: {run.pages} pages, {run.bars:,} bars  wall {run.wall_s:5.2f} s"
                f"  sim CPU {run.server_cpu_s:5.2f} s ({run.server_cpu_s / run.pages * 1000:5.2f} ms/page)"
                f"  client CPU {run.client_cpu_s:5.2f} s  {_load()}"
            )
    for name, found in results.items():
        print(_summary(f"server     1 year of 1m kline pages, {name}", found))
    if baseline is not None:
        base, this = results["baseline"], results["this"]
        cpu = [b.server_cpu_s / t.server_cpu_s for b, t in zip(base, this, strict=True)]
        wall = [b.wall_s / t.wall_s for b, t in zip(base, this, strict=True)]
        print(
            f"server     baseline / this, run by run: sim CPU {min(cpu):.2f}-{max(cpu):.2f}x"
            f" (median {statistics.median(cpu):.2f}x), wall {min(wall):.2f}-{max(wall):.2f}x"
            f" (median {statistics.median(wall):.2f}x)"
        )
    print(f"server     {_load()} after")


def main() -> None:
    """Print generator and server figures."""
    bench_generator()
    bench_server()
    bench_year_of_pages()


if __name__ == "__main__":
    if sys.argv[1:2] == ["pages"]:
        rest = sys.argv[2:]
        bench_year_of_pages(baseline=rest[1] if rest[:1] == ["--baseline"] and len(rest) == 2 else None)
    else:
        main()
