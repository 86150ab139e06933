"""Determinism and persistence: same inputs give the same run; a saved engine continues identically."""

from __future__ import annotations

import json
import random

from enginekit import SYMBOL, D, limit, make_engine, market
from test_engine_properties import Run, random_action

from bst.domain.market import Category, Side
from bst.domain.orders import OrderStatus
from bst.engine import EngineConfig, LatencyModel, MatchingEngine


def drive(run: Run, rng: random.Random, steps: int) -> None:
    for _ in range(steps):
        run.step(random_action(rng))


def config(seed: int) -> EngineConfig:
    return EngineConfig(latency=LatencyModel(order_ms=20, jitter_ms=30), seed=seed)


def test_same_seed_and_inputs_give_the_same_run() -> None:
    runs = []
    for _ in range(2):
        run = Run(make_engine(config(7), spot=True))
        run.step(("book", 0, [D(1), D(2)]))
        drive(run, random.Random(3), 150)
        runs.append(run)
    assert runs[0].events == runs[1].events
    assert runs[0].engine.to_state() == runs[1].engine.to_state()


def test_another_seed_gives_other_ids() -> None:
    ids = []
    for seed in (1, 2):
        engine = make_engine(EngineConfig(seed=seed))
        engine.on_book_snapshot(SYMBOL, [(D(50_000), D(1))], [(D(50_001), D(1))], engine.now_ms)
        uid = engine.open_account({"USDT": D(10_000)})
        ids.append(engine.place_order(uid, limit(Side.BUY, "0.01", "49000")).order_id)
    assert ids[0] != ids[1]


def test_a_restored_engine_continues_exactly_like_the_original() -> None:
    original = Run(make_engine(config(11), spot=True))
    original.step(("book", 0, [D(1), D(2)]))
    rng = random.Random(5)
    drive(original, rng, 120)
    saved = json.loads(json.dumps(original.engine.to_state()))
    assert any(o for uid in original.uids for o in original.engine.open_orders(uid, Category.LINEAR))

    restored = Run.__new__(Run)
    restored.engine = MatchingEngine.from_state(saved)
    restored.mid, restored.uids = original.mid, list(original.uids)
    restored.order_ids, restored.events = list(original.order_ids), []
    original.events = []
    assert restored.engine.to_state() == saved

    tail = random.Random(99)
    actions = [random_action(tail) for _ in range(150)]
    for run in (original, restored):
        for action in actions:
            run.step(action)
    assert original.events
    assert restored.events == original.events
    assert restored.engine.to_state() == original.engine.to_state()


def test_history_survives_a_restart() -> None:
    engine = make_engine()
    engine.on_book_snapshot(SYMBOL, [(D(50_000), D(1))], [(D(50_001), D(1))], engine.now_ms)
    uid = engine.open_account({"USDT": D(10_000)})
    ack = engine.place_order(uid, market(Side.BUY, "0.01", link="keep-me"))

    restored = MatchingEngine.from_state(json.loads(json.dumps(engine.to_state())))

    order = restored.get_order(uid, Category.LINEAR, order_link_id="keep-me")
    assert (order.order_id, order.status) == (ack.order_id, OrderStatus.FILLED)
    assert restored.executions(uid, Category.LINEAR) == engine.executions(uid, Category.LINEAR)
    assert restored.positions(uid, symbol=SYMBOL) == engine.positions(uid, symbol=SYMBOL)
    assert restored.wallet(uid) == engine.wallet(uid)
