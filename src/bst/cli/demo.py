"""`make demo`: start `bst sim` in-process and drive the real CLI against it, step by step.

Runs on embedded defaults only (SQLite, in-process cache, the simulator on loopback), so a fresh
clone shows real output with nothing else installed. Each step prints the command a user would
type, then that command's own output.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.rule import Rule

from bst.app.simulator import FaultConfig, start_sim_in_thread
from bst.cli import common
from bst.cli.main import app
from bst.domain.clock import SystemClock

DEMO_SEED = 42
RULE_WIDTH = 130
"""Width of the section rules when output is piped (a terminal's own width otherwise)."""


def _rule(title: str = "") -> None:
    width = None if common.console.is_terminal else RULE_WIDTH
    common.console.print(Rule(title), width=width)


def _bst(command: str) -> int:
    """Run one `bst` command in-process, showing it as a user would type it."""
    common.console.print(f"\n[bold cyan]$ bst {command}[/]")
    started = time.perf_counter()
    code = common.run_app_with_args(app, shlex.split(command))
    common.console.print(f"[dim](exit {code}, {time.perf_counter() - started:.2f} s)[/]")
    return code


def main() -> int:
    """Run the demo; return 0 when every step behaved as expected."""
    workdir = Path(os.environ.get("BST_DEMO_DIR") or tempfile.mkdtemp(prefix="bst-demo-"))
    sim = start_sim_in_thread(DEMO_SEED, clock=SystemClock())
    os.environ.update(
        {
            "BYBIT_ENV": "sim",
            "BYBIT_API_BASE_URL": sim.base_url,
            "BYBIT_WS_BASE_URL": sim.ws_url,
            "BYBIT_DATA_DIR": str(workdir / "data"),
            "BYBIT_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bst.sqlite'}",
            "BYBIT_LOG_LEVEL": "WARNING",
            "BYBIT_LOG_JSON": "false",
        }
    )
    failures: list[str] = []

    def expect(command: str, ok: bool = True) -> None:
        code = _bst(command)
        if (code == 0) != ok:
            failures.append(f"bst {command} exited {code}")

    try:
        _rule("bst demo: a local Bybit v5 exchange and the client that talks to it")
        common.console.print(f"bst sim is serving REST and WebSocket on {sim.base_url} (seed {DEMO_SEED})")
        _rule("1. Market data through the REST client")
        expect("market time")
        expect("market instruments --category linear")
        expect("market kline BTCUSDT --interval 60 --limit 10")
        expect("market ticker ETHUSDT")
        expect("market orderbook SOLUSDT --depth 5")

        _rule("2. Candle history into the local store (Parquet + SQLite)")
        since = (datetime.now(tz=UTC) - timedelta(days=30)).strftime("%Y-%m-%d")
        expect(f"download BTCUSDT ETHUSDT SOLUSDT -i 1 -i 60 --since {since}")
        expect(
            f"download BTCUSDT ETHUSDT SOLUSDT -i 1 -i 60 --since {since}"
        )  # incremental: nothing to fetch
        expect("data list")
        expect("data show BTCUSDT -i 60 --tail 5")
        expect("data verify")

        _rule("3. Resilience: 20 % server errors and dropped connections")
        sim.set_faults(FaultConfig(http_5xx_rate=0.15, drop_rate=0.05, error_rate=0.05, seed=DEMO_SEED))
        os.environ["BYBIT_RETRY_INITIAL_DELAY"] = "0.05"
        os.environ["BYBIT_RETRY_MAX_ATTEMPTS"] = "6"
        expect("market kline ETHUSDT --interval 15 --limit 5")
        expect("market kline SOLUSDT --interval D --limit 5")
        sim.set_faults(FaultConfig())

        _rule("4. Bad input: one clear line and a non-zero exit")
        expect("market kline NOPEUSDT --interval 60", ok=False)
        expect("market kline BTCUSDT --interval 7", ok=False)
        expect("download BTCUSDT --since 2024-02-01 --until 2024-01-01", ok=False)

        _rule("5. A backtest on the downloaded candles: the SMA cross, filled at the next bar's open")
        expect(f"backtest sma_cross BTCUSDT -i 60 --since {since} --size 0.01")
        expect("backtest list")
    finally:
        sim.stop_thread()
    _rule()
    if failures:
        common.err_console.print("demo finished with unexpected results: " + "; ".join(failures))
        return 1
    common.console.print(
        f"demo done: files in {workdir}. Next: `.venv/bin/bst sim` in one shell and "
        "`BYBIT_ENV=sim .venv/bin/bst market kline BTCUSDT -i 60` in another (README: CLI reference)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
