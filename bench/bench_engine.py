"""Matching-engine throughput: orders matched per second, book/trade events per second vs resting orders.

Run: `python -m bench engine`. Single process, CPU only; figures are best of 3 repetitions.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal

from bst.domain.instrument import Instrument
from bst.domain.market import Category, Side
from bst.domain.orders import OrderRequest, OrderType, TimeInForce
from bst.engine import EngineConfig, MatchingEngine, SymbolSpec

D = Decimal
SYMBOL = "BTCUSDT"
T0 = 1_700_000_000_000
TICK = D("0.1")
INSTRUMENT = Instrument(
    symbol=SYMBOL,
    category=Category.LINEAR,
    status="Trading",
    base_coin="BTC",
    quote_coin="USDT",
    settle_coin="USDT",
    tick_size=TICK,
    qty_step=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1190"),
    max_market_qty=D("500"),
    min_notional=D("5"),
    min_leverage=D(1),
    max_leverage=D(100),
    funding_interval_min=480,
)
MID = D(50_000)
DEPTH = 50


def _book(offset: int = 0) -> tuple[list[tuple[D, D]], list[tuple[D, D]]]:
    mid = MID + offset * TICK
    bids = [(mid - TICK * (i + 1), D(5)) for i in range(DEPTH)]
    asks = [(mid + TICK * (i + 1), D(5)) for i in range(DEPTH)]
    return bids, asks


def _engine(*, events: bool = True) -> tuple[MatchingEngine, int]:
    engine = MatchingEngine(EngineConfig(emit_events=events, max_open_orders_per_symbol=1_000_000))
    engine.add_symbol(SymbolSpec(INSTRUMENT, limit_price_band_ratio=D("0.5")))
    engine.advance_time(T0)
    bids, asks = _book()
    engine.on_book_snapshot(SYMBOL, bids, asks, T0)
    uid = engine.open_account({"USDT": D(10) ** 12})
    return engine, uid


def _best_of(repeat: int, run: Callable[[], float]) -> float:
    return max(run() for _ in range(repeat))


def bench_taker_orders(count: int, *, events: bool, levels: int) -> float:
    """Return orders/s for market orders that each fill across `levels` levels.

    One level: every level holds 10^9 BTC, so the book never runs dry. Several levels: levels of
    1 BTC, and after each order a delta re-lists the levels it emptied (not timed).
    """

    def run() -> float:
        engine, uid = _engine(events=events)
        size = D(10) ** 9 if levels == 1 else D(1)
        bids, asks = _book()
        bids = [(p, size) for p, _ in bids]
        asks = [(p, size) for p, _ in asks]
        engine.on_book_snapshot(SYMBOL, bids, asks, T0)
        qty = D("0.5") if levels == 1 else D(levels) - D("0.5")
        requests = [
            OrderRequest(Category.LINEAR, SYMBOL, side, OrderType.MARKET, qty)
            for side in (Side.BUY, Side.SELL)
        ]
        refresh = [[(p, D(0)) for p, _ in side[:levels]] + list(side[:levels]) for side in (asks, bids)]
        elapsed = 0.0
        for i in range(count):
            start = time.perf_counter()
            engine.place_order(uid, requests[i % 2])
            elapsed += time.perf_counter() - start
            if levels > 1:
                if i % 2 == 0:
                    engine.on_book_delta(SYMBOL, [], refresh[0], T0 + i)
                else:
                    engine.on_book_delta(SYMBOL, refresh[1], [], T0 + i)
            if events and i % 100 == 0:
                engine.drain_events()
        return count / elapsed

    return _best_of(3, run)


def bench_resting_orders(count: int) -> float:
    """Return orders/s for passive limit orders that rest (no fill), then are cancelled."""

    def run() -> float:
        engine, uid = _engine(events=True)
        rng = random.Random(1)
        start = time.perf_counter()
        acks = []
        for _ in range(count):
            side = rng.choice((Side.BUY, Side.SELL))
            distance = TICK * rng.randint(1, 300)
            price = MID - distance if side is Side.BUY else MID + distance
            request = OrderRequest(
                Category.LINEAR, SYMBOL, side, OrderType.LIMIT, D("0.01"), price, TimeInForce.GTC
            )
            acks.append(engine.place_order(uid, request))
        for ack in acks:
            engine.cancel_order(uid, Category.LINEAR, SYMBOL, order_id=ack.order_id)
        engine.drain_events()
        return 2 * count / (time.perf_counter() - start)

    return _best_of(3, run)


def bench_market_data(resting: int, count: int) -> tuple[float, float]:
    """Return (book deltas/s, trades/s) with `resting` user orders resting away from the touch (best of 3)."""
    rates = [_market_data_once(resting, count, seed) for seed in range(3)]
    return max(r[0] for r in rates), max(r[1] for r in rates)


def _market_data_once(resting: int, count: int, seed: int) -> tuple[float, float]:
    engine, uid = _engine(events=True)
    rng = random.Random(seed)
    for _ in range(resting):
        side = rng.choice((Side.BUY, Side.SELL))
        distance = TICK * rng.randint(60, 400)
        price = MID - distance if side is Side.BUY else MID + distance
        engine.place_order(
            uid,
            OrderRequest(Category.LINEAR, SYMBOL, side, OrderType.LIMIT, D("0.01"), price, TimeInForce.GTC),
        )
    engine.drain_events()
    deltas = []
    for _ in range(count):
        level = rng.randint(1, DEPTH)
        size = D(rng.randint(0, 50)) / 10
        if rng.random() < 0.5:
            deltas.append(([(MID - TICK * level, size)], []))
        else:
            deltas.append(([], [(MID + TICK * level, size)]))
    start = time.perf_counter()
    for i, (bids, asks) in enumerate(deltas):
        engine.on_book_delta(SYMBOL, bids, asks, T0 + 1 + i)
    delta_rate = count / (time.perf_counter() - start)
    trades = [
        (
            MID + TICK * rng.randint(-DEPTH, DEPTH),
            D(rng.randint(1, 20)) / 100,
            rng.choice((Side.BUY, Side.SELL)),
        )
        for _ in range(count)
    ]
    start = time.perf_counter()
    for i, (price, size, side) in enumerate(trades):
        engine.on_trade(SYMBOL, price, size, side, T0 + 1 + count + i)
    trade_rate = count / (time.perf_counter() - start)
    return delta_rate, trade_rate


def bench_maker_fills(resting: int) -> float:
    """Return maker fills/s when one trade sweeps through `resting` resting orders (best of 3)."""
    return max(_sweep_once(resting) for _ in range(3))


def _sweep_once(resting: int) -> float:
    engine, uid = _engine(events=True)
    for i in range(resting):
        price = MID - TICK * (1 + i % 200)
        engine.place_order(
            uid,
            OrderRequest(
                Category.LINEAR, SYMBOL, Side.BUY, OrderType.LIMIT, D("0.01"), price, TimeInForce.GTC
            ),
        )
    engine.drain_events()
    start = time.perf_counter()
    engine.on_trade(SYMBOL, MID - TICK * 201, D(10) ** 6, Side.SELL, T0 + 1)
    elapsed = time.perf_counter() - start
    fills = sum(1 for _ in engine.drain_events())
    assert engine.open_orders(uid, Category.LINEAR) == [], "every resting order should have filled"
    return resting / elapsed if fills else 0.0


def _row(label: str, value: float, unit: str) -> None:
    print(f"| {label} | {value:,.0f} {unit} |")


def main() -> None:
    print("| figure | value |")
    print("|---|---|")
    _row(
        "market orders, 1 fill each, events on", bench_taker_orders(5_000, events=True, levels=1), "orders/s"
    )
    _row(
        "market orders, 1 fill each, events off",
        bench_taker_orders(5_000, events=False, levels=1),
        "orders/s",
    )
    _row(
        "market orders, 5 fills each, events on", bench_taker_orders(2_000, events=True, levels=5), "orders/s"
    )
    _row("passive limit place + cancel", bench_resting_orders(5_000), "requests/s")
    for resting in (0, 100, 1_000, 10_000):
        deltas, trades = bench_market_data(resting, 10_000)
        _row(f"book deltas with {resting:,} resting orders", deltas, "events/s")
        _row(f"public trades with {resting:,} resting orders", trades, "events/s")
    _row("one trade sweeping 2,000 resting orders", bench_maker_fills(2_000), "maker fills/s")


if __name__ == "__main__":
    main()
