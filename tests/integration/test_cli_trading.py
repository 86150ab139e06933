"""`bst order/orders/positions/balance` as subprocesses against a `bst sim` with a funded account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bst.domain.clock import SystemClock
from bst.sim.faults import FaultConfig, FaultKind
from bst.sim.server import SimServer
from bst.sim.state import SimConfig
from bst.sim.trading_desk import ApiAccount, TradingConfig, install

KEY, SECRET = "cli-key", "cli-secret"


@pytest.fixture
def trading_sim() -> Iterator[SimServer]:
    server = SimServer(SimConfig(port=0, seed=3, ip_limit_requests=0), clock=SystemClock())
    install(server.state, TradingConfig(accounts=(ApiAccount(KEY, SECRET, {"USDT": Decimal(25_000)}),)))
    server.start_in_thread()
    yield server
    server.stop_thread()


def bst(sim: Any, *args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    env.update(
        {
            "BYBIT_ENV": "sim",
            "BYBIT_API_BASE_URL": sim.base_url,
            "BYBIT_API_KEY": KEY,
            "BYBIT_API_SECRET": secret,
            "BYBIT_LOG_LEVEL": "ERROR",
            "BYBIT_RETRY_INITIAL_DELAY": "0.01",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "bst.cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_a_user_trades_from_the_command_line(trading_sim: SimServer) -> None:
    balance = json.loads(bst(trading_sim, "balance", "--json").stdout)
    assert balance == [{"coin": "USDT", "walletBalance": "25000", "equity": "25000", "locked": "0"}]

    resting = bst(
        trading_sim, "order", "buy", "BTCUSDT", "0.0129", "--limit", "1000.07", "--link-id", "cli-rest-1"
    )
    assert resting.returncode == 0, resting.stderr
    assert "orderLinkId=cli-rest-1 status=New" in resting.stdout

    taker = bst(trading_sim, "order", "buy", "BTCUSDT", "0.01", "--link-id", "cli-mkt-1")
    assert taker.returncode == 0, taker.stderr
    assert "status=Filled" in taker.stdout

    open_orders = json.loads(bst(trading_sim, "orders", "--json").stdout)
    assert [(o["orderLinkId"], Decimal(o["price"]), Decimal(o["qty"]), o["status"]) for o in open_orders] == [
        (
            "cli-rest-1",
            Decimal("1000.0"),
            Decimal("0.012"),
            "New",
        )  # rounded down to tick and lot before sending
    ]
    positions = json.loads(bst(trading_sim, "positions", "BTCUSDT", "--json").stdout)
    assert [(p["side"], p["size"]) for p in positions] == [("Buy", "0.010")]

    cancelled = bst(trading_sim, "order", "cancel", "BTCUSDT", "--link-id", "cli-rest-1")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(bst(trading_sim, "orders", "--json").stdout) == []

    closed = json.loads(bst(trading_sim, "orders", "--history", "--json").stdout)
    assert {o["orderLinkId"]: o["status"] for o in closed} == {
        "cli-rest-1": "Cancelled",
        "cli-mkt-1": "Filled",
    }


def test_refused_orders_and_bad_credentials_are_one_line(trading_sim: SimServer) -> None:
    tiny = bst(trading_sim, "order", "buy", "BTCUSDT", "0.0001", "--limit", "50000")
    assert tiny.returncode == 1
    assert tiny.stderr.count("\n") == 1
    assert "below the minimum 0.001" in tiny.stderr

    duplicate_first = bst(
        trading_sim, "order", "buy", "BTCUSDT", "0.01", "--limit", "1000", "--link-id", "dup-1"
    )
    assert duplicate_first.returncode == 0
    duplicate = bst(trading_sim, "order", "buy", "BTCUSDT", "0.01", "--limit", "1000", "--link-id", "dup-1")
    assert duplicate.returncode == 1
    assert "110072" in duplicate.stderr

    wrong = bst(trading_sim, "balance", secret="not-the-secret")
    assert wrong.returncode == 1
    assert "authentication failed" in wrong.stderr
    assert "not-the-secret" not in wrong.stderr
    assert "Traceback" not in wrong.stderr + tiny.stderr + duplicate.stderr


def test_order_commands_settle_lost_replies_through_the_execution_policy(trading_sim: SimServer) -> None:
    trading_sim.set_faults(
        FaultConfig(
            script=(FaultKind.DROP, FaultKind.DROP), path_prefixes=("/v5/order/create", "/v5/order/cancel")
        )
    )
    placed = bst(trading_sim, "order", "buy", "BTCUSDT", "0.01", "--limit", "1000", "--link-id", "cli-lost-1")
    cancelled = bst(trading_sim, "order", "cancel", "BTCUSDT", "--link-id", "cli-lost-1")
    closed = json.loads(bst(trading_sim, "orders", "--history", "--json").stdout)

    # Both replies were cut after the sim acted; each command looked the order up and reported it.
    assert placed.returncode == 0, placed.stderr
    assert "orderLinkId=cli-lost-1 status=New" in placed.stdout
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelled 1 order(s)" in cancelled.stdout
    assert [(o["orderLinkId"], o["status"]) for o in closed] == [("cli-lost-1", "Cancelled")]

    # A create whose reply is lost while every lookup fails: the outcome is unknown, and said so.
    lookups_fail = (FaultKind.HTTP_5XX,) * 60
    trading_sim.set_faults(
        FaultConfig(
            script=(FaultKind.DROP, *lookups_fail), path_prefixes=("/v5/order/create", "/v5/order/realtime")
        )
    )
    unknown = bst(
        trading_sim, "order", "buy", "BTCUSDT", "0.01", "--limit", "1000", "--link-id", "cli-lost-2"
    )
    assert unknown.returncode == 1
    assert unknown.stderr.count("\n") == 1
    assert "cli-lost-2: outcome unknown" in unknown.stderr
    assert "Traceback" not in unknown.stderr
