"""Optimiser throughput: trials per minute with 1 and 2 worker processes on one PostgreSQL study.

Run: `python -m bench optimize` (PostgreSQL at BST_TEST_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/test, used as admin to create and drop a database of its own;
skipped with the reason when unreachable). Each configuration runs a fresh study of the SMA cross
on 1,000 daily bars of a synthetic wave (TPE, `fast` in 3..30, `slow` in 31..120). Trials per
minute are wall-clock throughput, so they depend on what else runs on the machine: the CPU
seconds per trial (this process and its workers, `getrusage`) are printed beside them.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import socket
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from bst.backtest.optimize import MarketData, StudyAccess, TrialJob, build_space, optimize, parse_objectives
from bst.strategies import SmaCrossParams

ADMIN_URL = os.environ.get("BST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TRIALS = 40
BARS = 1000


def _wave(path: Path) -> Path:
    index = pd.date_range("2021-01-01", periods=BARS, freq="D", tz="UTC")
    closes = [round(100 + 12 * math.sin(i / 9) + 6 * math.sin(i / 31) + 0.03 * i, 2) for i in range(BARS)]
    opens = [closes[0], *closes[:-1]]
    frame = pd.DataFrame(
        {
            "Open": opens,
            "High": [max(o, c) + 0.5 for o, c in zip(opens, closes, strict=True)],
            "Low": [min(o, c) - 0.5 for o, c in zip(opens, closes, strict=True)],
            "Close": closes,
            "Volume": 1000.0,
        },
        index=index,
    )
    frame.index.name = "time"
    frame.to_csv(path)
    return path


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parsed = urlparse(ADMIN_URL)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1.0).close()
    except OSError:
        print(f"skipped: PostgreSQL at {ADMIN_URL} is not reachable")
        return
    name = f"bst_bench_optuna_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    storage = "postgresql+psycopg://" + ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = _wave(Path(tmp) / "wave.csv")
            space = build_space(SmaCrossParams, ["fast=3:30", "slow=31:120", "qty=1"])
            job = TrialJob(
                "sma_cross",
                MarketData(("WAVE",), Path(tmp), data_file=data),
                space,
                parse_objectives("sharpe"),
            )
            print(f"{TRIALS} trials per study, SMA cross on {BARS} daily bars, TPE, storage PostgreSQL")
            print(f"{'workers':>8} {'wall s':>8} {'trials/min':>11} {'CPU s/trial':>12}")
            for workers in (1, 2):
                cpu, wall = _cpu_s(), time.perf_counter()
                optimize(
                    job, StudyAccess(storage, f"bench-{workers}"), trials=TRIALS, workers=workers, seed=1
                )
                wall = time.perf_counter() - wall
                cpu = _cpu_s() - cpu
                print(f"{workers:>8} {wall:>8.1f} {TRIALS / wall * 60:>11.1f} {cpu / TRIALS:>12.3f}")
            print(f"(machine: {os.cpu_count()} CPUs; wall figures include worker start-up and data loading)")
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
