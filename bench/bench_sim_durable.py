"""What durability costs `bst sim`: order creates with and without `--state-file` (the journal).

Two levels: the trading desk alone (`execute` + waiting for the journal, as the route does, from 1
and from 8 threads, the sim clock frozen so every order costs the same: no market catch-up between
orders), and the whole server over loopback on the system clock (signed `POST /v5/order/create`
from 16 concurrent connections, 100 accounts so the per-UID limit of 10/s never refuses). Orders
are market orders alternating buy and sell (each fills: matching, fees and position updates).
Prints orders/s (wall), CPU ms per 1000 orders (process time of this process, server included),
and journal records per sync (the group-commit batch).

Run: python -m bench sim_durable
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import orjson

from bst.bybit.signing import rest_signature
from bst.domain.clock import ManualClock, SystemClock
from bst.domain.market import Category, Side
from bst.domain.orders import OrderRequest, OrderType
from bst.sim.journal import Journal
from bst.sim.server import SimServer
from bst.sim.state import SimConfig, SimState
from bst.sim.trading_commands import Execute, PlaceOrder, record_to_json
from bst.sim.trading_desk import ApiAccount, TradingConfig, TradingDesk, desk_of, install

ACCOUNTS = [ApiAccount(f"bench-key-{n}", f"bench-secret-{n}") for n in range(100)]
SYMBOL = "BTCUSDT"
FEED = [(Category.LINEAR, SYMBOL)]
NOW_MS = 1_748_779_230_500  # 2025-06-01 12:00:30.500 UTC


def _order(n: int) -> PlaceOrder:
    side = Side.BUY if n % 2 == 0 else Side.SELL
    return PlaceOrder(OrderRequest(Category.LINEAR, SYMBOL, side, OrderType.MARKET, Decimal("0.001")))


def _syncs(desk: TradingDesk) -> str:
    journal = desk.journal
    if journal is None or journal.syncs == 0:
        return "        -"
    return f"{journal.last_lsn / journal.syncs:9.1f}"


def bench_desk(state_file: Path | None, threads: int, orders: int = 2000) -> None:
    state = SimState(SimConfig(seed=1), ManualClock(NOW_MS))
    desk = TradingDesk(
        state, TradingConfig(accounts=tuple(ACCOUNTS[:threads]), state_file=state_file, tick_s=0)
    )
    uids = [desk.uids[a.api_key] for a in ACCOUNTS[:threads]]
    desk.execute(uids[0], _order(0), FEED)  # start feeding

    def work(uid: int) -> None:
        for n in range(orders // threads):
            lsn = desk.execute(uid, _order(n), FEED)[1]
            desk.wait_durable(lsn)

    workers = [threading.Thread(target=work, args=(uid,)) for uid in uids]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    label = "journal  " if state_file else "in memory"
    print(
        f"desk    {label} {threads} thread(s)  {orders / wall:7.0f} orders/s  "
        f"{cpu / orders * 1e6:7.0f} us CPU/order  records/sync {_syncs(desk)}"
    )
    desk.close()


async def _http_run(base_url: str, orders: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    counter = iter(range(orders))

    async def client(index: int) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            for n in counter:
                account = ACCOUNTS[n % len(ACCOUNTS)]
                side = "Buy" if n % 2 == 0 else "Sell"
                body = json.dumps(
                    {
                        "category": "linear",
                        "symbol": SYMBOL,
                        "side": side,
                        "orderType": "Market",
                        "qty": "0.001",
                    }
                )
                now = int(time.time() * 1000)
                headers = {
                    "X-BAPI-API-KEY": account.api_key,
                    "X-BAPI-TIMESTAMP": str(now),
                    "X-BAPI-RECV-WINDOW": "5000",
                    "X-BAPI-SIGN": rest_signature(account.api_secret, now, account.api_key, 5000, body),
                }
                started = time.perf_counter()
                reply = await http.post("/v5/order/create", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if reply.json()["retCode"] != 0:
                    raise RuntimeError(f"create refused: {reply.text}")

    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return latencies


def bench_server(state_file: Path | None, orders: int = 2000, concurrency: int = 16) -> None:
    server = SimServer(SimConfig(port=0, seed=1, ip_limit_requests=0), clock=SystemClock())
    install(server.state, TradingConfig(accounts=tuple(ACCOUNTS), state_file=state_file))
    server.start_in_thread()
    try:
        asyncio.run(_http_run(server.base_url, 50, 4))  # warm up connections and the feed
        cpu, wall = time.process_time(), time.perf_counter()
        latencies = asyncio.run(_http_run(server.base_url, orders, concurrency))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        desk = desk_of(server.state)
        records = _syncs(desk)
    finally:
        server.stop_thread()
    p50 = statistics.median(latencies) * 1000
    p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000
    label = "--state-file" if state_file else "in memory   "
    print(
        f"server  {label} {concurrency} conns  {orders / wall:7.0f} creates/s  p50 {p50:6.2f} ms  "
        f"p99 {p99:6.2f} ms  {cpu / orders * 1e6:7.0f} us CPU/create  records/sync {records}"
    )


def bench_journal(prefix: Path, writers: int, records: int = 2000) -> None:
    """Append one order's journal record and wait for it, from each of `writers` threads."""
    record = orjson.dumps(record_to_json(Execute(NOW_MS, 100_000_001, _order(0), tuple(FEED))))
    journal = Journal(prefix, 1)

    def work() -> None:
        for _ in range(records // writers):
            journal.wait(journal.append(record))

    workers = [threading.Thread(target=work) for _ in range(writers)]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    journal.close()
    print(
        f"journal {writers} writer(s)  {records / wall:7.0f} records/s  "
        f"{cpu / records * 1e6:5.0f} us CPU/record  records/sync {records / journal.syncs:5.1f}  "
        f"({len(record)} bytes each)"
    )


def main() -> None:
    """Print the journal, desk and server figures, each without and with the journal."""
    with tempfile.TemporaryDirectory() as tmp:
        for writers in (1, 8):
            bench_journal(Path(tmp) / f"journal-{writers}-", writers)
        for threads in (1, 8):
            bench_desk(None, threads)
            bench_desk(Path(tmp) / f"desk-{threads}.json", threads)
        bench_server(None)
        bench_server(Path(tmp) / "server.json")


if __name__ == "__main__":
    main()
