"""Property tests: random markets and random order flow keep the engine's books and ledgers exact.

Each example runs a random program of market-data events (the domain's `BookUpdate`, `TradesUpdate`,
`TickerUpdate`, `FundingUpdate` and confirmed `KlineUpdate` bars, through `MatchingEngine.apply`),
requests (some refused) and time jumps across funding times, on two linear accounts and one spot
account, then checks:
conservation (opening balance + realised PnL - fees - funding = wallet, exactly, per coin), positions
equal the signed sum of fills, partial fills sum to cumExecQty/Value/Fee, leavesQty + cumExecQty =
qty while open, statuses move only along legal edges, no order is both filled and cancelled, a
refused request changes nothing, and once every order is cancelled nothing stays locked or reserved.
The outbox speaks the private stream's events: every message is a non-empty STREAM event stamped
with the engine time it happened (fills carry that time too), in time order, an account's position
and wallet updates closing each action.
"""

from __future__ import annotations

import random
from collections import defaultdict
from decimal import Decimal

import pytest
from enginekit import SYMBOL, T0, D, make_engine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bst.domain.account_events import (
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    WalletsEvent,
)
from bst.domain.errors import BybitAPIError
from bst.domain.events import BookUpdate, FundingUpdate, KlineUpdate, LiveBar, TickerUpdate, TradesUpdate
from bst.domain.market import Bar, Category, Interval, Side, Ticker, Trade
from bst.domain.orders import (
    AmendRequest,
    ExecType,
    Execution,
    MarketUnit,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
    is_legal_transition,
)
from bst.engine import AccountMessage, EngineConfig, LatencyModel, MatchingEngine

TICK = D("0.1")
LINEAR, SPOT = Category.LINEAR, Category.SPOT
OPENING = {"USDT": D(200_000), "BTC": D(2)}

prices = st.integers(min_value=-60, max_value=60)  # ticks of 10 USDT around the mid
sizes = st.integers(min_value=1, max_value=400).map(lambda n: D(n) / 1000)
sides = st.sampled_from([Side.BUY, Side.SELL])

orders = st.tuples(
    st.just("order"),
    st.integers(0, 2),
    sides,
    st.sampled_from(["limit", "limit", "limit", "market"]),
    st.sampled_from(
        [TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY]
    ),
    sizes,
    st.integers(min_value=-12, max_value=12),
    st.sampled_from([False, False, False, True]),
)
market_events = st.one_of(
    st.tuples(st.just("book"), st.integers(-8, 8), st.lists(sizes, min_size=1, max_size=4)),
    st.tuples(st.just("delta"), st.booleans(), prices, st.integers(0, 400).map(lambda n: D(n) / 1000)),
    st.tuples(st.just("trade"), sides, st.integers(-12, 12), sizes),
    st.tuples(st.just("mark"), st.integers(-12, 12)),
    st.tuples(
        st.just("bar"),
        st.lists(st.integers(-12, 12), min_size=4, max_size=4),
        st.integers(0, 400).map(lambda n: D(n) / 1000),
    ),
)
other_events = st.one_of(
    st.tuples(st.just("rate"), st.integers(-10, 10).map(lambda n: D(n) / 10_000)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("amend"), st.integers(0, 50), sizes, st.integers(-12, 12)),
    st.tuples(st.just("leverage"), st.integers(0, 1), st.sampled_from([D(2), D(5), D(10), D(25)])),
)
time_jumps = st.tuples(st.just("time"), st.integers(1, 10 * 3_600_000))
actions = st.one_of(orders, orders, market_events, market_events, other_events, time_jumps)


class Run:
    """Drive one engine with a random program, recording every event."""

    def __init__(self, engine: MatchingEngine) -> None:
        self.engine = engine
        self.mid = D(50_000)
        self.uids = [engine.open_account(dict(OPENING)) for _ in range(3)]  # 0, 1 linear; 2 spot
        self.order_ids: list[tuple[int, Category, str]] = []
        self.events: list[AccountMessage] = []

    def category(self, account: int) -> Category:
        return SPOT if account == 2 else LINEAR

    def step(self, action: tuple[object, ...]) -> None:
        engine = self.engine
        now = engine.now_ms
        kind = action[0]
        if kind == "book":
            _, move, level_sizes = action
            self.mid += D(move) * 10
            bids = [[str(self.mid - 5 - 10 * i), str(s)] for i, s in enumerate(level_sizes)]
            asks = [[str(self.mid + 5 + 10 * i), str(s)] for i, s in enumerate(level_sizes)]
            for category in (LINEAR, SPOT):
                engine.apply(BookUpdate(category, SYMBOL, 50, True, bids, asks, 1, None, now, None, now))
        elif kind == "delta":
            _, bid, offset, size = action
            level = [[str(self.mid + D(offset) * 10), str(size)]]
            for category in (LINEAR, SPOT):
                bids, asks = (level, []) if bid else ([], level)
                engine.apply(BookUpdate(category, SYMBOL, 50, False, bids, asks, 2, None, now, None, now))
        elif kind == "trade":
            _, side, offset, size = action
            printed = Trade(now, SYMBOL, side, self.mid + D(offset) * 10, size, f"t{now}")
            for category in (LINEAR, SPOT):
                engine.apply(TradesUpdate(category, SYMBOL, (printed,), now, now))
        elif kind == "mark":
            mark = self.mid + D(action[1]) * 10
            last = engine.market(SYMBOL, category=LINEAR).last_price or mark
            state = Ticker(SYMBOL, last, None, None, None, None, mark_price=mark)
            engine.apply(TickerUpdate(LINEAR, SYMBOL, state, False, None, now, now))
        elif kind == "bar":
            _, offsets, volume = action
            o, c, a, b = (self.mid + D(x) * 10 for x in offsets)
            candle = Bar(now, o, max(o, c, a, b), min(o, c, a, b), c, volume, volume * c)
            live = LiveBar(candle, now + 59_999, confirmed=True, last_match_ms=now + 59_999)
            for category in (LINEAR, SPOT):
                engine.apply(KlineUpdate(category, SYMBOL, Interval.M1, (live,), now + 59_999, now + 59_999))
        elif kind == "rate":
            next_ms = engine.market(SYMBOL, category=LINEAR).next_funding_ms or now + 1
            engine.apply(FundingUpdate(LINEAR, SYMBOL, action[1], next_ms, now, now))
        elif kind == "time":
            engine.advance_time(now + action[1])
        elif kind == "leverage":
            self.guarded(lambda: engine.set_leverage(self.uids[action[1]], SYMBOL, action[2]))
        else:
            self.request(action)
        self.events.extend(engine.drain_events())

    def request(self, action: tuple[object, ...]) -> None:
        engine = self.engine
        if action[0] == "order":
            _, account, side, kind, tif, qty, offset, reduce_only = action
            category = self.category(account)
            price = self.mid + D(offset) * 10
            unit = None
            if category is SPOT and kind == "market":
                # spot has no reduce-only: the flag picks a quote-coin-sized order instead
                unit = MarketUnit.QUOTE_COIN if reduce_only else MarketUnit.BASE_COIN
                if reduce_only:
                    qty = qty * 50_000
            request = OrderRequest(
                category,
                SYMBOL,
                side,
                OrderType.LIMIT if kind == "limit" else OrderType.MARKET,
                qty,
                price if kind == "limit" else None,
                tif,
                reduce_only=bool(reduce_only) and category is LINEAR,
                market_unit=unit,
            )
            uid = self.uids[account]
            ack = self.guarded(lambda: engine.place_order(uid, request))
            if ack is not None:
                self.order_ids.append((uid, category, ack.order_id))
            return
        if not self.order_ids:
            return
        uid, category, order_id = self.order_ids[action[1] % len(self.order_ids)]
        if action[0] == "cancel":
            self.guarded(lambda: engine.cancel_order(uid, category, SYMBOL, order_id=order_id))
        else:
            _, _, qty, offset = action
            amend = AmendRequest(
                category, SYMBOL, order_id=order_id, qty=qty, price=self.mid + D(offset) * 10
            )
            self.guarded(lambda: engine.amend_order(uid, amend))

    def guarded(self, call: object) -> object:
        """Run a request; a refusal must leave every observable account state unchanged."""
        before = self.observe()
        try:
            return call()
        except BybitAPIError:
            assert self.observe() == before
            assert self.engine.drain_events() == []
            return None

    def observe(self) -> list[object]:
        engine = self.engine
        state: list[object] = []
        for uid, category in zip(self.uids, (LINEAR, LINEAR, SPOT), strict=True):
            state.append(engine.wallet(uid))
            state.append(engine.open_orders(uid, category, symbol=SYMBOL))
            state.append(engine.positions(uid, symbol=SYMBOL))
        return state


def check_ledgers(run: Run) -> None:
    engine = run.engine
    for uid in run.uids:
        expected: dict[str, Decimal] = defaultdict(Decimal, OPENING)
        position = D(0)
        for category in (LINEAR, SPOT):
            for e in engine.executions(uid, category):
                if e.exec_type is ExecType.FUNDING:
                    expected["USDT"] -= e.exec_fee
                elif category is LINEAR:
                    expected["USDT"] += e.exec_pnl - e.exec_fee
                    position += e.exec_qty if e.side is Side.BUY else -e.exec_qty
                elif e.side is Side.BUY:
                    expected["BTC"] += e.exec_qty - e.exec_fee
                    expected["USDT"] -= e.exec_value
                else:
                    expected["BTC"] -= e.exec_qty
                    expected["USDT"] += e.exec_value - e.exec_fee
        wallet = engine.wallet(uid, coins=["USDT", "BTC"])
        for coin in ("USDT", "BTC"):
            balance = wallet.coin(coin)
            assert balance is not None
            assert balance.wallet_balance == expected[coin], (uid, coin)
            assert balance.locked >= 0
        row = engine.positions(uid, symbol=SYMBOL)[0]
        assert (row.size if row.side != "Sell" else -row.size) == position


def check_messages(run: Run) -> None:
    last_ms = T0
    for message in run.events:
        event = message.event
        assert message.uid in run.uids
        assert event.source is AccountEventSource.STREAM
        assert event.recv_ms == event.ts_ms >= last_ms
        last_ms = event.ts_ms
        if isinstance(event, OrdersEvent):
            assert event.orders
        elif isinstance(event, ExecutionsEvent):
            assert event.executions
            assert {x.exec_time_ms for x in event.executions} == {event.ts_ms}
        elif isinstance(event, PositionsEvent):
            assert event.positions
            assert len({p.symbol for p in event.positions}) == len(event.positions)
        else:
            assert isinstance(event, WalletsEvent)
            assert len(event.wallets) == 1
    # each account's fills and order states are followed by its position/wallet updates
    last_kind: dict[int, type] = {}
    for message in run.events:
        last_kind[message.uid] = type(message.event)
    assert all(kind is WalletsEvent for kind in last_kind.values())


def check_orders(run: Run) -> None:
    check_messages(run)
    executions: dict[str, list[Execution]] = defaultdict(list)
    history: dict[str, list[Order]] = defaultdict(list)
    for message in run.events:
        event = message.event
        if isinstance(event, ExecutionsEvent):
            for execution in event.executions:
                if execution.exec_type is not ExecType.FUNDING:
                    executions[execution.order_id].append(execution)
            continue
        if not isinstance(event, OrdersEvent):
            continue
        for order in event.orders:
            fills = executions[order.order_id]
            assert order.cum_exec_qty == sum((e.exec_qty for e in fills), D(0))
            assert order.cum_exec_value == sum((e.exec_value for e in fills), D(0))
            assert order.cum_exec_fee == sum((e.exec_fee for e in fills), D(0))
            if order.status.is_open and order.market_unit is not MarketUnit.QUOTE_COIN:
                assert order.leaves_qty + order.cum_exec_qty == order.qty
            if order.status.is_terminal:
                assert order.leaves_qty == 0
            previous = history[order.order_id][-1].status if history[order.order_id] else None
            assert is_legal_transition(previous, order.status), (previous, order.status)
            history[order.order_id].append(order)
    for updates in history.values():
        seen = {o.status for o in updates}
        assert not {OrderStatus.FILLED, OrderStatus.CANCELLED} <= seen
        assert not {OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED_CANCELED} <= seen


def check_releases(run: Run) -> None:
    engine = run.engine
    for uid, category in zip(run.uids, (LINEAR, LINEAR, SPOT), strict=True):
        engine.cancel_all(uid, category, symbol=SYMBOL)
    engine.advance_time(engine.now_ms + 1_000)
    for uid in run.uids:
        wallet = engine.wallet(uid, coins=["USDT", "BTC"])
        assert all(c.locked == 0 and c.total_order_im == 0 for c in wallet.coins)


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(actions, min_size=10, max_size=60), st.booleans(), st.booleans())
def test_random_order_flow_keeps_every_ledger_exact(
    program: list[tuple[object, ...]], queue_model: bool, latency: bool
) -> None:
    config = EngineConfig(
        queue_model=queue_model,
        latency=LatencyModel(order_ms=20 if latency else 0, jitter_ms=30 if latency else 0),
    )
    engine = make_engine(config, spot=True)
    assert engine.now_ms == T0
    run = Run(engine)
    run.step(("book", 0, [D(1), D(2)]))
    for action in program:
        run.step(action)
    check_ledgers(run)
    check_releases(run)
    run.events.extend(engine.drain_events())
    check_orders(run)
    check_ledgers(run)


def random_action(rng: random.Random) -> tuple[object, ...]:
    """Draw one action of the same shapes the hypothesis strategies produce, from a seeded RNG."""
    roll = rng.random()
    size = D(rng.randint(1, 400)) / 1000
    side = rng.choice([Side.BUY, Side.SELL])
    if roll < 0.4:
        kind = rng.choice(["limit", "limit", "limit", "market"])
        tif = rng.choice(
            [TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY]
        )
        return ("order", rng.randint(0, 2), side, kind, tif, size, rng.randint(-12, 12), rng.random() < 0.2)
    if roll < 0.55:
        return ("trade", side, rng.randint(-12, 12), size)
    if roll < 0.65:
        return ("book", rng.randint(-8, 8), [D(rng.randint(1, 400)) / 1000 for _ in range(rng.randint(1, 4))])
    if roll < 0.72:
        return ("delta", rng.random() < 0.5, rng.randint(-60, 60), D(rng.randint(0, 400)) / 1000)
    if roll < 0.77:
        return ("mark", rng.randint(-12, 12))
    if roll < 0.80:
        return ("bar", [rng.randint(-12, 12) for _ in range(4)], D(rng.randint(0, 400)) / 1000)
    if roll < 0.85:
        return ("cancel", rng.randint(0, 50))
    if roll < 0.92:
        return ("amend", rng.randint(0, 50), size, rng.randint(-12, 12))
    if roll < 0.94:
        return ("rate", D(rng.randint(-10, 10)) / 10_000)
    if roll < 0.96:
        return ("leverage", rng.randint(0, 1), rng.choice([D(2), D(5), D(10), D(25)]))
    return ("time", rng.randint(1, 10 * 3_600_000))


@pytest.mark.parametrize("seed", range(6))
def test_long_seeded_order_flow_keeps_every_ledger_exact(seed: int) -> None:
    rng = random.Random(seed)
    latency = LatencyModel(order_ms=20, jitter_ms=30) if seed % 2 else LatencyModel()
    engine = make_engine(EngineConfig(queue_model=seed % 3 != 0, latency=latency, seed=seed), spot=True)
    run = Run(engine)
    run.step(("book", 0, [D(1), D(2)]))
    for _ in range(300):
        run.step(random_action(rng))
    check_ledgers(run)
    check_releases(run)
    run.events.extend(engine.drain_events())
    check_orders(run)
    check_ledgers(run)
    fills = [x for m in run.events if isinstance(m.event, ExecutionsEvent) for x in m.event.executions]
    assert {x.is_maker for x in fills} == {True, False}  # the flow exercised both sides
