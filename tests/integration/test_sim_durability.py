"""Acknowledged means durable: `bst sim --state-file` killed with SIGKILL under load loses nothing it told.

`bst sim` runs as a real process on one port and state file. Three accounts trade through the bst
REST client (limit orders near the touch on linear and spot, market orders, amends, cancels, fill
reads) while a private stream per account records every push. The sim is killed with SIGKILL at
seeded random moments (some during start-up) and restarted on the same file, ten times. Then,
against the last incarnation, everything any client was told must hold:

- every acknowledged create is there with the same orderId, orderLinkId, side and qty; its price is
  the last acknowledged amend's (or one sent after it whose reply was lost); an acknowledged cancel
  left it cancelled; a state pushed on the stream is the final one or an earlier one of it;
- every fill pushed or read over REST is there with the same order, qty, price and fee;
- no orderId names two different orders and no execId two different fills over the whole run;
- each wallet equals its start plus what its fills imply (linear PnL and fees, spot flows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from bst.bybit.signing import rest_signature, ws_auth_signature
from bst.domain.account_events import ExecutionsEvent, OrdersEvent
from bst.domain.clock import ManualClock, SystemClock
from bst.domain.errors import BybitAPIError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    Execution,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from bst.domain.portfolio import PositionSide, apply_fill
from bst.exchange.config import ClientConfig, Credentials, RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.exchange.ws_private import PrivateStream, PrivateStreamConfig
from bst.sim import journal
from bst.sim.generator import MarketGenerator
from bst.sim.server import SimServer
from bst.sim.state import SimConfig
from bst.sim.trading_desk import ApiAccount, TradingConfig, install

SEED = 20240601
NOW_MS = 1_717_243_230_500
ACCOUNTS = [(f"durable-key-{n}", f"durable-secret-{n}") for n in (1, 2, 3)]
START_USDT = Decimal(100_000)
KILLS = 10
SYMBOL = "BTCUSDT"
LINEAR, SPOT = Category.LINEAR, Category.SPOT
CANCELLED = {OrderStatus.CANCELLED, OrderStatus.PARTIALLY_FILLED_CANCELED}
ENV = {**os.environ, "BYBIT_LOG_LEVEL": "WARNING", "COLUMNS": "250"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LAUNCHER = r"""
import json, os, sys
from bst.cli import common, sim_cmd  # what `bst sim` imports, paid once for every incarnation
from bst.cli.main import app
for line in sys.stdin:
    order = json.loads(line)
    if "wait" in order:
        _, status = os.waitpid(order["wait"], 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
        continue
    pid = os.fork()
    if pid == 0:  # the incarnation: `bst sim ...` with its output in a file
        out = os.open(order["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        code = common.run_app_with_args(app, order["args"])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    print(pid, flush=True)
"""


class SimProcess:
    """`bst sim` incarnations, one after another, on the same port and state file.

    Each one is a process of its own running the `bst sim` command; a launcher that has imported
    bst once forks them, so a restart costs the sim's start-up (recovery, snapshot, listen), not the
    interpreter's ~1 s of imports, and ten kills fit in the test's time on a loaded machine.
    """

    def __init__(self, state_file: Path, port: int) -> None:
        self.state_file = state_file
        self.port = port
        self.output = state_file.with_name("sim-output.log")
        self.output.touch()  # read before the first incarnation writes to it
        self.launcher = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        self.pid: int | None = None
        self.offset = 0
        self.started = 0
        """How many incarnations got as far as serving."""

    def _order(self, order: dict[str, Any]) -> int:
        assert self.launcher.stdin is not None
        assert self.launcher.stdout is not None
        self.launcher.stdin.write(json.dumps(order) + "\n")
        self.launcher.stdin.flush()
        return int(self.launcher.stdout.readline())

    def spawn(self) -> None:
        args = ["sim", "--port", str(self.port), "--seed", str(SEED), "--ip-limit", "off"]
        args += ["--state-file", str(self.state_file), "--snapshot-every-s", "0.5"]
        for key, secret in ACCOUNTS:
            args += ["--api-key", key, "--api-secret", secret]
        self.offset = self.output.stat().st_size
        self.pid = self._order({"args": args, "out": str(self.output)})

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.output.open() as f:
                f.seek(self.offset)
                text = f.read()
            if "bst sim listening" in text:
                self.started += 1
                return
            if "\nerror: " in "\n" + text:  # the one-line failure of a sim that cannot start
                break
            time.sleep(0.02)
        raise AssertionError(f"bst sim did not start:\n{self.errors()}")

    def kill(self) -> None:
        pid, self.pid = self.pid, None
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._order({"wait": pid})

    def stop(self) -> int:
        pid, self.pid = self.pid, None
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        return self._order({"wait": pid})

    def close(self) -> None:
        self.kill()
        assert self.launcher.stdin is not None
        self.launcher.stdin.close()
        self.launcher.wait(30)

    def errors(self) -> str:
        return self.output.read_text()[-3000:]


@dataclass
class Told:
    """Everything the clients were told, over the whole run."""

    creates: dict[str, tuple[str, OrderRequest]] = field(default_factory=dict)
    """orderLinkId -> (orderId, request) of every acknowledged create."""
    amends: dict[str, list[tuple[Decimal, bool]]] = field(default_factory=dict)
    """orderId -> [(price, acknowledged)] of every amend sent that was not refused, in order."""
    cancels: set[str] = field(default_factory=set)
    links: dict[str, set[str]] = field(default_factory=dict)
    """orderId -> every orderLinkId seen with it (acks, pushes, REST): one each, or an id was reused."""
    fills: dict[str, set[tuple[str, Decimal, Decimal, Decimal]]] = field(default_factory=dict)
    """execId -> every (orderId, qty, price, fee) seen with it: one each, or an id was reused."""
    pushed: dict[str, Order] = field(default_factory=dict)
    """orderId -> the furthest state pushed on the private stream."""
    acked_ops: int = 0
    unknown_ops: int = 0

    def saw_order(self, order_id: str, link: str) -> None:
        self.links.setdefault(order_id, set()).add(link)

    def saw_fill(self, fill: Execution) -> None:
        seen = (fill.order_id, fill.exec_qty, fill.exec_price, fill.exec_fee)
        self.fills.setdefault(fill.exec_id, set()).add(seen)
        self.saw_order(fill.order_id, fill.order_link_id)

    def saw_push(self, order: Order) -> None:
        self.saw_order(order.order_id, order.order_link_id)
        before = self.pushed.get(order.order_id)
        if before is None or (order.cum_exec_qty, order.status.is_terminal) >= (
            before.cum_exec_qty,
            before.status.is_terminal,
        ):
            self.pushed[order.order_id] = order


def client_of(port: int, key: str, secret: str) -> BybitRestClient:
    retry = RetryConfig(
        max_attempts=2, initial_delay_s=0.02, backoff_factor=2.0, max_delay_s=0.1, jitter_s=0.0
    )
    config = ClientConfig(
        base_url=f"http://127.0.0.1:{port}", credentials=Credentials(key, secret), retry=retry, timeout_s=3.0
    )
    return BybitRestClient(config, clock=SystemClock())


async def watch(stream: PrivateStream, told: Told) -> None:
    async for event in stream:
        if isinstance(event, ExecutionsEvent):
            for fill in event.executions:
                told.saw_fill(fill)
        elif isinstance(event, OrdersEvent):
            for order in event.orders:
                told.saw_push(order)


async def trade(n: int, client: BybitRestClient, told: Told, rng: random.Random, done: asyncio.Event) -> None:
    """Place, amend, cancel and read back until `done`, recording what the sim acknowledged."""
    generator = MarketGenerator(SEED)
    mine: list[
        tuple[str, Category, Decimal]
    ] = []  # acknowledged, maybe still open: (orderId, category, price)
    step = 0
    while not done.is_set():
        step += 1
        category = rng.choice((LINEAR, LINEAR, SPOT))
        book = generator.book_snapshot(SYMBOL, int(time.time() * 1000), 1, category=category)
        tick = Decimal("0.1") if category is LINEAR else Decimal("0.01")
        roll = rng.random()
        try:
            if roll < 0.5 or not mine:
                side = rng.choice((Side.BUY, Side.SELL)) if category is LINEAR else Side.BUY
                if roll < 0.1 and category is LINEAR:
                    order = OrderRequest(category, SYMBOL, side, OrderType.MARKET, Decimal("0.002"))
                else:
                    touch = book.bids[0][0] if side is Side.BUY else book.asks[0][0]
                    price = touch + tick * rng.randint(-4, 2) * (1 if side is Side.BUY else -1)
                    order = OrderRequest(category, SYMBOL, side, OrderType.LIMIT, Decimal("0.001"), price)
                order = replace(order, order_link_id=f"a{n}-{step}")
                ack = await client.place_order(order)
                told.creates[order.order_link_id] = (ack.order_id, order)
                told.saw_order(ack.order_id, order.order_link_id)
                if order.price is not None:
                    mine.append((ack.order_id, category, order.price))
            elif roll < 0.75:
                order_id, category, price = mine[rng.randrange(len(mine))]
                new_price = price + tick * rng.choice((-2, -1, 1, 2))
                sent = told.amends.setdefault(order_id, [])
                sent.append((new_price, False))
                try:
                    await client.amend_order(
                        AmendRequest(category, SYMBOL, order_id=order_id, price=new_price)
                    )
                except BybitAPIError as e:
                    if not e.outcome_unknown and not _transport(e):
                        sent.pop()  # refused: it changed nothing
                    raise
                sent[-1] = (new_price, True)
            elif roll < 0.9:
                order_id, category, _ = mine.pop(rng.randrange(len(mine)))
                ack = await client.cancel_order(category, SYMBOL, order_id=order_id)
                told.cancels.add(ack.order_id)
            else:
                for fill in await client.get_executions(category, symbol=SYMBOL):
                    told.saw_fill(fill)
            told.acked_ops += 1
        except BybitAPIError as e:
            if e.outcome_unknown or _transport(e):
                told.unknown_ops += 1
                await asyncio.sleep(0.05)  # the sim is (re)starting


def _transport(error: BybitAPIError) -> bool:
    return error.retryable or error.ret_code is None


async def final_state(
    client: BybitRestClient,
) -> tuple[dict[str, Order], list[Execution], dict[str, Decimal]]:
    orders: dict[str, Order] = {}
    fills: list[Execution] = []
    for category in (LINEAR, SPOT):
        for order in await client.get_order_history(category, symbol=SYMBOL):
            orders[order.order_id] = order
        for order in await client.get_open_orders(category, symbol=SYMBOL):
            orders[order.order_id] = order
        fills += await client.get_executions(category)
    wallet = await client.get_wallet_balance(coins=["USDT", "BTC"])
    (position,) = await client.get_positions(LINEAR, symbol=SYMBOL)
    signed = position.size if position.side is not PositionSide.SELL else -position.size
    return orders, fills, {**{c.coin: c.wallet_balance for c in wallet.coins}, "position": signed}


def implied_balances(fills: list[Execution]) -> dict[str, Decimal]:
    """Return USDT and BTC after `fills` and the linear position they leave (REST has no execPnl:
    the realised PnL follows from the fills by the domain's one-way position rule)."""
    usdt, btc = START_USDT, Decimal(0)
    size, entry_value = Decimal(0), Decimal(0)
    for fill in sorted(fills, key=lambda f: f.seq):
        if fill.category is LINEAR:
            effect = apply_fill(size, entry_value, fill.side, fill.exec_qty, fill.exec_price)
            size, entry_value = effect.size, effect.entry_value
            usdt += effect.realised_pnl - fill.exec_fee
        elif fill.side is Side.BUY:
            usdt -= fill.exec_value
            btc += fill.exec_qty - fill.exec_fee
        else:
            usdt += fill.exec_value - fill.exec_fee
            btc -= fill.exec_qty
    return {"USDT": usdt, "BTC": btc, "position": size}


def check_account(told: Told, orders: dict[str, Order], fills: list[Execution]) -> None:
    for link, (order_id, request) in told.creates.items():
        order = orders.get(order_id)
        assert order is not None, f"acknowledged order {link} ({order_id}) is gone"
        assert (order.order_link_id, order.side, order.qty) == (link, request.side, request.qty)
        if request.order_type is OrderType.LIMIT:
            sent = told.amends.get(order_id, [])
            last_acked = max((i for i, (_, acked) in enumerate(sent) if acked), default=-1)
            allowed = {sent[last_acked][0] if last_acked >= 0 else request.price}
            allowed |= {price for price, _ in sent[last_acked + 1 :]}
            assert order.price in allowed, f"{link}: price {order.price}, told one of {allowed}"
        if order_id in told.cancels:
            assert order.status in CANCELLED, f"{link} was acknowledged cancelled, is {order.status}"
    for order_id, pushed in told.pushed.items():
        order = orders.get(order_id)
        if order is None:
            continue  # a funding "order" has no order record; its fill is checked below
        assert order.cum_exec_qty >= pushed.cum_exec_qty, f"{order_id} lost fills it had pushed"
        if pushed.status.is_terminal:
            assert order.status is pushed.status, f"{order_id} pushed {pushed.status}, now {order.status}"
    final = {f.exec_id: (f.order_id, f.exec_qty, f.exec_price, f.exec_fee) for f in fills}
    assert len(final) == len(fills), "an execId appears twice in the final history"
    for exec_id, seen in told.fills.items():
        assert exec_id in final, f"fill {exec_id} that a client saw is gone"
        assert seen == {final[exec_id]}, f"fill {exec_id}: told {seen}, now {final[exec_id]}"


def test_kill_9_under_load_loses_nothing_acknowledged_and_reuses_no_id(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    sim = SimProcess(tmp_path / "state.json", free_port())
    told = [Told() for _ in ACCOUNTS]

    async def scenario() -> list[tuple[dict[str, Order], list[Execution], dict[str, Decimal]]]:
        done = asyncio.Event()
        clients = [client_of(sim.port, key, secret) for key, secret in ACCOUNTS]
        streams = [
            PrivateStream(
                PrivateStreamConfig(
                    f"ws://127.0.0.1:{sim.port}",
                    Credentials(key, secret),
                    topics=("order", "execution"),
                    reconnect_initial_s=0.05,
                    reconnect_max_s=0.3,
                    open_timeout_s=3.0,
                )
            )
            for key, secret in ACCOUNTS
        ]
        sim.spawn()
        for stream in streams:
            await stream.start()
        watchers = [asyncio.create_task(watch(s, t)) for s, t in zip(streams, told, strict=True)]
        traders = [
            asyncio.create_task(trade(n, c, t, random.Random(SEED + n), done))
            for n, (c, t) in enumerate(zip(clients, told, strict=True))
        ]
        for kill in range(KILLS):
            if kill % 4 == 3:  # somewhere in start-up: recovery, the start-up snapshot, listening
                await asyncio.sleep(rng.uniform(0.01, 0.4))
            else:
                await asyncio.to_thread(sim.wait_ready)
                await asyncio.sleep(rng.uniform(0.2, 0.9))
            sim.kill()
            sim.spawn()
        await asyncio.to_thread(sim.wait_ready)
        await asyncio.sleep(0.5)
        done.set()
        await asyncio.gather(*traders)
        for client in clients:  # no order may fill between the reads of fills and of the wallet
            for category in (LINEAR, SPOT):
                await client.cancel_all_orders(category, symbol=SYMBOL)
        await asyncio.sleep(0.5)  # the last pushes
        for stream in streams:
            await stream.close()
        for watcher in watchers:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        states = [await final_state(client) for client in clients]
        for client in clients:
            await client.aclose()
        return states

    try:
        states = asyncio.run(scenario())
        exit_code = sim.stop()
    finally:
        sim.close()

    assert exit_code == 0, sim.errors()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("state.json")) == [
        "state.json",
        "state.json.epoch",
    ]
    epochs = int((tmp_path / "state.json.epoch").read_text())
    assert sim.started <= epochs <= KILLS + 1  # every start that reached its listen began an epoch
    every_order: dict[str, set[str]] = {}
    every_fill: dict[str, set[tuple[str, Decimal, Decimal, Decimal]]] = {}
    for account, (orders, fills, wallet) in zip(told, states, strict=True):
        check_account(account, orders, fills)
        assert wallet == implied_balances(fills)
        for order_id, links in account.links.items():
            every_order.setdefault(order_id, set()).update(links)
        for order in orders.values():
            every_order.setdefault(order.order_id, set()).add(order.order_link_id)
        for exec_id, seen in account.fills.items():
            every_fill.setdefault(exec_id, set()).update(seen)
    reused = {order_id: links for order_id, links in every_order.items() if len(links) > 1}
    assert reused == {}, "an orderId was handed to more than one order"
    assert all(len(seen) == 1 for seen in every_fill.values()), "an execId named two fills"
    # the run really exercised what it proves
    assert sum(len(t.creates) for t in told) >= 60
    assert sum(len(t.fills) for t in told) >= 30
    assert sum(len(t.cancels) for t in told) >= 5
    assert sum(1 for t in told for sent in t.amends.values() for _, acked in sent if acked) >= 5
    assert sum(t.unknown_ops for t in told) >= 1


def test_a_reply_and_its_push_leave_only_once_the_journal_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sync = journal._sync_data
    gate, syncing = threading.Event(), threading.Event()

    def gated_sync(fd: int) -> None:  # a disk that takes as long as the test says
        syncing.set()
        gate.wait(30)
        real_sync(fd)

    monkeypatch.setattr(journal, "_sync_data", gated_sync)
    sim = SimServer(SimConfig(port=0, seed=SEED, ip_limit_requests=0), clock=ManualClock(NOW_MS))
    key, secret = ACCOUNTS[0]
    install(sim.state, TradingConfig(accounts=(ApiAccount(key, secret),), state_file=tmp_path / "state.json"))
    sim.start_in_thread()
    try:
        with connect(f"{sim.ws_url}/v5/private") as ws, ThreadPoolExecutor(1) as pool:
            expires = NOW_MS + 10_000
            ws.send(json.dumps({"op": "auth", "args": [key, expires, ws_auth_signature(secret, expires)]}))
            ws.send(json.dumps({"op": "subscribe", "args": ["order"]}))
            assert [json.loads(ws.recv(10))["success"] for _ in range(2)] == [True, True]
            reply = pool.submit(signed_create, sim.base_url, key, secret)
            assert syncing.wait(10)  # the create's record is on its way to the disk
            with pytest.raises(TimeoutError):
                ws.recv(0.3)
            held = not reply.done()
            gate.set()
            created = reply.result(10)
            pushed = json.loads(ws.recv(10))
    finally:
        gate.set()
        sim.stop_thread()

    assert held, "the create was answered before its journal record was on disk"
    assert created["retCode"] == 0
    assert pushed["topic"] == "order"
    assert pushed["data"][0]["orderId"] == created["result"]["orderId"]


def signed_create(base_url: str, key: str, secret: str) -> dict[str, Any]:
    body = json.dumps(
        {"category": "linear", "symbol": SYMBOL, "side": "Buy", "orderType": "Market", "qty": "0.001"}
    )
    headers = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": str(NOW_MS),
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": rest_signature(secret, NOW_MS, key, 5000, body),
        "Content-Type": "application/json",
    }
    return dict(httpx.post(f"{base_url}/v5/order/create", content=body, headers=headers, timeout=30).json())
