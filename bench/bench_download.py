"""End-to-end candle download: one symbol-year of 1-minute bars (526 requests) from `bst sim`.

Target (issue 3): within 1.2x of the rate-limit floor with the sim at Bybit's public limit
(600 requests per 5 s). The floor is quoted two ways: the sustained rate (526 / 120 req/s =
4.38 s) and the sliding window (526 < 600, so the window alone would allow it all at once).

Runs:
  A  bst (engine + REST client) against `bst sim --ip-limit 600/5s`, store only (no SQL);
  A' the same with SQLite persistence on;
  B  pybit `HTTP.get_kline` in a plain backward pagination loop against the same sim;
  C  bst against the sim with the IP limit off (what the sim itself can serve);
  D  the engine alone over an in-memory source (no HTTP): its own overhead;
  E  the engine over an in-memory source paced by the client's rate limiter at 600/5 s,
     three symbol-years at once (1578 requests), where the rate limit is what binds.
The sim runs as its own process (`bst sim`), so it has a core of its own. Runs A, A' and B share
that sim, whose IP window remembers the previous run's requests: each waits one window first, so
each starts with the full budget (without the wait A' measured A's leftover window, not itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from bst.bybit.endpoints import RateGroup
from bst.data.download import DownloadRequest, download_klines, download_many
from bst.data.sql import KlineDatabase
from bst.data.store import KlineStore
from bst.domain.clock import SystemClock
from bst.domain.market import Bar, Category, Interval
from bst.exchange.config import ClientConfig
from bst.exchange.rest import BybitRestClient
from bst.exchange.throttle import RateLimiter
from bst.logs import configure_logging

MIN = 60_000
START = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
END = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
REQUESTS = 526
SUSTAINED_FLOOR_S = REQUESTS / (600 / 5.0)
SIM_WINDOW_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def sim_process(*args: str) -> Iterator[str]:
    """Run `bst sim` in its own process; yield its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "bst.cli.main", "sim", "--port", str(port), "--seed", "1", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/v5/market/time", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("bst sim did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def bst_download(base_url: str, data_dir: Path, *, sql: bool = False, concurrency: int = 8) -> float:
    """Return the wall time of one symbol-year with the engine and the REST client."""
    store = KlineStore(data_dir)
    db = KlineDatabase(f"sqlite+aiosqlite:///{data_dir}/bst.sqlite") if sql else None
    config = ClientConfig(base_url=base_url)
    limiter = RateLimiter(SystemClock(), config.rate.requests_per_window, config.rate.window_s)
    try:
        async with BybitRestClient(config, limiter=limiter) as client:
            if db is not None:
                await db.open()
            started = time.perf_counter()
            report = await download_klines(
                client,
                store,
                Category.LINEAR,
                "BTCUSDT",
                Interval.M1,
                START,
                END,
                database=db,
                concurrency=concurrency,
            )
            elapsed = time.perf_counter() - started
    finally:
        if db is not None:
            await db.close()
    assert report.complete, report
    assert report.progress.requests_done == REQUESTS, report
    return elapsed


def pybit_download(base_url: str, data_dir: Path) -> tuple[float, int]:
    """Return the wall time and request count of the same year with pybit in a pagination loop."""
    from pybit.unified_trading import HTTP

    session = HTTP(testnet=False, timeout=10, max_retries=3)
    session.endpoint = base_url
    started = time.perf_counter()
    rows: list[list[str]] = []
    end = END - 1
    requests = 0
    while end >= START:
        first = max(START, end - 999 * MIN)
        reply = session.get_kline(
            category="linear", symbol="BTCUSDT", interval="1", start=first, end=end, limit=1000
        )
        requests += 1
        page = reply["result"]["list"]
        rows.extend(page)
        end = first - 1
    frame = pd.DataFrame(rows, columns=["open_time", "open", "high", "low", "close", "volume", "turnover"])
    frame = frame.astype({"open_time": "int64"} | dict.fromkeys(frame.columns[1:], "float64"))
    frame = frame.drop_duplicates("open_time").sort_values("open_time")
    frame.to_parquet(data_dir / "pybit.parquet", compression="zstd")
    return time.perf_counter() - started, requests


class MemoryRows:
    """A KlineRowSource over in-memory wire rows, optionally paced by the client's rate limiter."""

    def __init__(self, rows: list[list[str]], limiter: RateLimiter | None = None) -> None:
        self.rows = rows
        self.limiter = limiter
        self.requests = 0

    async def fetch_kline_rows(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> Sequence[Sequence[str]]:
        self.requests += 1
        lo = (start_ms - START) // MIN
        hi = min(len(self.rows), (end_ms - START) // MIN + 1, lo + limit)
        if self.limiter is None:
            await asyncio.sleep(0)
            return self.rows[lo:hi][::-1]
        async with self.limiter.slot(RateGroup.PUBLIC):
            await asyncio.sleep(0)
            return self.rows[lo:hi][::-1]

    async def fetch_klines(
        self,
        category: Category,
        symbol: str,
        interval: Interval,
        start_ms: int,
        end_ms: int,
        limit: int = 1000,
    ) -> list[Bar]:
        raise NotImplementedError  # the engine uses fetch_kline_rows when a source has it


def year_rows() -> list[list[str]]:
    rng = np.random.default_rng(5)
    n = (END - START) // MIN
    close = np.round(20_000 + np.cumsum(rng.normal(0, 8, n)), 1)
    vol = np.round(rng.gamma(2.0, 20.0, n), 3)
    return [
        [str(START + i * MIN), repr(c), repr(c + 5), repr(c - 5), repr(c), repr(v), repr(round(v * c, 4))]
        for i, (c, v) in enumerate(zip(close.tolist(), vol.tolist(), strict=True))
    ]


def fresh_budget() -> None:
    """Wait until the limited sim's sliding window has forgotten the previous run's requests."""
    time.sleep(SIM_WINDOW_S + 0.5)


def report(label: str, text: str) -> None:
    print(f"{label:<44}{text}")


def main() -> None:
    configure_logging("WARNING")
    print(
        f"one symbol-year of 1-minute bars = {REQUESTS} requests; sustained-rate floor at 600/5 s = "
        f"{SUSTAINED_FLOOR_S:.2f} s (the sliding window alone would admit all {REQUESTS} at once)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with sim_process("--ip-limit", "600/5s") as base:
            fresh_budget()  # the readiness probes count too
            a = asyncio.run(bst_download(base, root / "a"))
            report(
                "A  bst download, sim at 600/5 s:",
                f"{a:6.2f} s = {a / SUSTAINED_FLOOR_S:.2f}x the floor, {525_600 / a:,.0f} bars/s",
            )
            fresh_budget()
            a_sql = asyncio.run(bst_download(base, root / "a_sql", sql=True))
            report("A' same, SQLite persistence on:", f"{a_sql:6.2f} s = {a_sql / SUSTAINED_FLOOR_S:.2f}x")
            fresh_budget()
            b, b_requests = pybit_download(base, root)
            report(
                "B  pybit get_kline loop, same sim:",
                f"{b:6.2f} s ({b_requests} requests) -> bst is {b / a:.1f}x faster",
            )
        with sim_process("--ip-limit", "off") as base:
            c = asyncio.run(bst_download(base, root / "c"))
            c16 = asyncio.run(bst_download(base, root / "c16", concurrency=16))
            report(
                "C  bst, sim without IP limit:",
                f"{c:6.2f} s (concurrency 16: {c16:.2f} s) = what this sim process can serve",
            )
    rows = year_rows()
    with tempfile.TemporaryDirectory() as tmp:
        source = MemoryRows(rows)
        started = time.perf_counter()
        store = KlineStore(tmp)
        asyncio.run(download_klines(source, store, Category.LINEAR, "BTCUSDT", Interval.M1, START, END))  # type: ignore[arg-type]
        d = time.perf_counter() - started
        report(
            "D  engine alone, in-memory rows:",
            f"{d:6.2f} s = {525_600 / d:,.0f} bars/s ({source.requests} pages parsed, deduped, written)",
        )
    with tempfile.TemporaryDirectory() as tmp:
        limiter = RateLimiter(SystemClock(), 600, 5.0)
        paced = MemoryRows(rows, limiter)
        symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
        requests = [DownloadRequest(Category.LINEAR, s, Interval.M1, START, END) for s in symbols]
        started = time.perf_counter()
        reports = asyncio.run(download_many(paced, KlineStore(tmp), requests, concurrency=16))  # type: ignore[arg-type]
        e = time.perf_counter() - started
        assert all(r.complete for r in reports)
        n = paced.requests
        window_floor = (-(-n // 600) - 1) * 5.0
        report(
            "E  engine, 3 symbol-years paced at 600/5 s:",
            f"{e:6.2f} s for {n} requests; floors: sliding window {window_floor:.1f} s "
            f"({e / window_floor:.2f}x), sustained {n / 120:.1f} s ({e / (n / 120):.2f}x)",
        )


if __name__ == "__main__":
    main()
