"""Matching-engine throughput: orders matched per second, book/trade events per second vs resting orders.

Run: `python -m bench engine`. Single process; every figure is CPU time of this process
(`time.process_time`, so other jobs on a shared machine do not count), best of 3 repetitions.
Market data goes in both ways: the direct calls with Decimal levels (`on_book_delta`, `on_trade`)
and the domain's market events through `MatchingEngine.apply` (exchange strings, converted once),
merged from several sources by the `Feeder`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal

from bst.domain.events import BookUpdate, KlineUpdate, MarketEvent, TradesUpdate
from bst.domain.instrument import Instrument
from bst.domain.market import Bar, Category, Interval, Side, Trade
from bst.domain.orders import OrderRequest, OrderType, TimeInForce
from bst.engine import EngineConfig, Feeder, MatchingEngine, SymbolSpec

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
            start = time.process_time()
            engine.place_order(uid, requests[i % 2])
            elapsed += time.process_time() - start
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
        start = time.process_time()
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
        return 2 * count / (time.process_time() - start)

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
    start = time.process_time()
    for i, (bids, asks) in enumerate(deltas):
        engine.on_book_delta(SYMBOL, bids, asks, T0 + 1 + i)
    delta_rate = count / (time.process_time() - start)
    trades = [
        (
            MID + TICK * rng.randint(-DEPTH, DEPTH),
            D(rng.randint(1, 20)) / 100,
            rng.choice((Side.BUY, Side.SELL)),
        )
        for _ in range(count)
    ]
    start = time.process_time()
    for i, (price, size, side) in enumerate(trades):
        engine.on_trade(SYMBOL, price, size, side, T0 + 1 + count + i)
    trade_rate = count / (time.process_time() - start)
    return delta_rate, trade_rate


def _rest_orders(engine: MatchingEngine, uid: int, resting: int, rng: random.Random) -> None:
    for _ in range(resting):
        side = rng.choice((Side.BUY, Side.SELL))
        distance = TICK * rng.randint(60, 400)
        price = MID - distance if side is Side.BUY else MID + distance
        engine.place_order(
            uid,
            OrderRequest(Category.LINEAR, SYMBOL, side, OrderType.LIMIT, D("0.01"), price, TimeInForce.GTC),
        )
    engine.drain_events()


def _delta_events(rng: random.Random, count: int, t0: int) -> list[BookUpdate]:
    events = []
    for i in range(count):
        level = rng.randint(1, DEPTH)
        size = f"{rng.randint(0, 50) / 10:.3f}"
        bid = rng.random() < 0.5
        price = str(MID - TICK * level if bid else MID + TICK * level)
        levels = [[price, size]]
        events.append(
            BookUpdate(
                Category.LINEAR, SYMBOL, DEPTH, False, levels if bid else [], [] if bid else levels,
                i + 2, None, t0 + i, None, t0 + i,
            )
        )  # fmt: skip
    return events


def _trade_events(rng: random.Random, count: int, t0: int) -> list[TradesUpdate]:
    events = []
    for i in range(count):
        price = MID + TICK * rng.randint(-DEPTH, DEPTH)
        side = rng.choice((Side.BUY, Side.SELL))
        trade = Trade(t0 + i, SYMBOL, side, price, D(rng.randint(1, 20)) / 100, "")
        events.append(TradesUpdate(Category.LINEAR, SYMBOL, (trade,), t0 + i, t0 + i))
    return events


def bench_apply(resting: int, count: int) -> tuple[float, float, float]:
    """Return (book deltas/s, trades/s, merged events/s) through `apply` and the `Feeder` (best of 3).

    The feeder figure merges the same deltas and trades from two sources (one event per ms each).
    """
    rates = []
    for seed in range(3):
        rng = random.Random(seed)
        deltas = _delta_events(rng, count, T0 + 1)
        trades = _trade_events(rng, count, T0 + 1 + count)
        engine, uid = _engine(events=True)
        _rest_orders(engine, uid, resting, rng)
        start = time.process_time()
        for event in deltas:
            engine.apply(event)
        delta_rate = count / (time.process_time() - start)
        start = time.process_time()
        for event in trades:
            engine.apply(event)
        trade_rate = count / (time.process_time() - start)
        engine, uid = _engine(events=True)
        _rest_orders(engine, uid, resting, random.Random(seed))
        shifted = _trade_events(random.Random(seed), count, T0 + 1)
        sources: list[list[MarketEvent]] = [list(deltas), list(shifted)]
        start = time.process_time()
        Feeder(engine, sources).run()
        feed_rate = 2 * count / (time.process_time() - start)
        rates.append((delta_rate, trade_rate, feed_rate))
    return max(r[0] for r in rates), max(r[1] for r in rates), max(r[2] for r in rates)


def bench_bars(resting: int, count: int) -> float:
    """Return confirmed 1-minute bars/s through `apply` with `resting` orders around the path (best of 3)."""

    def run() -> float:
        rng = random.Random(5)
        engine, uid = _engine(events=True)
        _rest_orders(engine, uid, resting, rng)
        open_ms = T0 + 60_000
        bars = []
        price = MID
        for _ in range(count):
            close = price + TICK * rng.randint(-200, 200)
            high = max(price, close) + TICK * rng.randint(0, 300)
            low = min(price, close) - TICK * rng.randint(0, 300)
            bar = Bar(open_ms, price, high, low, close, D("0.02"), D("0.02") * close)
            bars.append(KlineUpdate.closed(Category.LINEAR, SYMBOL, Interval.M1, bar))
            price, open_ms = close, open_ms + 60_000
        start = time.process_time()
        for event in bars:
            engine.apply(event)
            engine.drain_events()
        return count / (time.process_time() - start)

    return _best_of(3, run)


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
    start = time.process_time()
    engine.on_trade(SYMBOL, MID - TICK * 201, D(10) ** 6, Side.SELL, T0 + 1)
    elapsed = time.process_time() - start
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
    for resting in (0, 1_000):
        deltas, trades, merged = bench_apply(resting, 10_000)
        _row(f"apply(BookUpdate) deltas with {resting:,} resting orders", deltas, "events/s")
        _row(f"apply(TradesUpdate) with {resting:,} resting orders", trades, "events/s")
        _row(f"Feeder, deltas + trades merged, {resting:,} resting orders", merged, "events/s")
    _row("apply(KlineUpdate) 1-minute bars, 1,000 resting orders", bench_bars(1_000, 2_000), "bars/s")
    _row("one trade sweeping 2,000 resting orders", bench_maker_fills(2_000), "maker fills/s")


if __name__ == "__main__":
    main()
