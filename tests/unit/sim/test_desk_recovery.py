"""A persistent trading desk recovers exactly: snapshot + journal replay == the uninterrupted run.

"Crash" here means: copy the state file, its journal and epoch file as they are on disk at that
moment (every reply already waited for its records to be durable) and start a new desk on the
copy. The uninterrupted desk goes on; each copy must recover to exactly the state the original had
when the copy was taken, except the id epoch, which a start always moves on by one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.domain.clock import ManualClock
from bst.domain.errors import BybitAPIError, ConfigError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    ExecType,
    OrderRequest,
    OrderStatus,
    OrderType,
    TriggerDirection,
)
from bst.sim.journal import segments
from bst.sim.state import SimConfig, SimState
from bst.sim.trading_commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    PlaceOrder,
    SetLeverage,
    SetTradingStop,
)
from bst.sim.trading_desk import ApiAccount, TradingConfig, TradingDesk

KEY, SECRET = "desk-key", "desk-secret"
SEED = 20240601
NOW = 1_717_243_230_500  # 2024-06-01 12:00:30.500 UTC
SYMBOL = "BTCUSDT"
LINEAR, SPOT = Category.LINEAR, Category.SPOT


def make_desk(path: Path | None, now_ms: int = NOW) -> TradingDesk:
    state = SimState(SimConfig(seed=SEED), ManualClock(now_ms))
    config = TradingConfig(accounts=(ApiAccount(KEY, SECRET),), state_file=path, tick_s=0)
    return TradingDesk(state, config)


def uid_of(desk: TradingDesk) -> int:
    known = desk.credentials(KEY)
    assert known is not None
    return known[1]


def run(desk: TradingDesk, command: Command, category: Category = LINEAR) -> dict[str, Any] | str:
    """Execute like the route does; a refusal comes back as its retCode text."""
    try:
        return desk.execute(uid_of(desk), command, [(category, SYMBOL)])[0]
    except BybitAPIError as e:
        return f"refused {e.ret_code}"


def advance(desk: TradingDesk, seconds: float) -> None:
    clock = desk.state.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds)
    desk.sync()


def fingerprint(desk: TradingDesk) -> tuple[dict[str, Any], int]:
    """Return the whole desk state (read directly, not through the snapshot code) and the id epoch."""
    with desk.lock:
        engine = desk.engine.to_state()
        epoch, counter = desk.engine.id_position
        engine["ids"] = [engine["ids"][0], counter]
        data = {
            "engine": engine,
            "keys": desk.keys[KEY],  # only configured keys can sign in after a restart (no secrets kept)
            "uids": dict(desk.uids),
            "fed": dict(desk.fed_ms),
            "book": dict(desk.book_ms),
            "stepped": desk._stepped_ms,
            "touched": set(desk._touched),
        }
    return data, epoch


def best(desk: TradingDesk, category: Category = LINEAR) -> tuple[Decimal, Decimal]:
    """Return the generator's best bid and ask at the sim clock (what the engine is fed)."""
    book = desk.generator.book_snapshot(SYMBOL, desk.state.now_ms(), 1, category=category)
    return book.bids[0][0], book.asks[0][0]


def limit(side: Side, qty: str, price: Decimal, link: str, category: Category = LINEAR) -> PlaceOrder:
    return PlaceOrder(
        OrderRequest(category, SYMBOL, side, OrderType.LIMIT, Decimal(qty), price, order_link_id=link)
    )


def market(side: Side, qty: str, category: Category = LINEAR) -> PlaceOrder:
    return PlaceOrder(OrderRequest(category, SYMBOL, side, OrderType.MARKET, Decimal(qty)))


def conditional(trigger: Decimal, direction: TriggerDirection, link: str) -> PlaceOrder:
    request = OrderRequest(
        LINEAR,
        SYMBOL,
        Side.BUY,
        OrderType.MARKET,
        Decimal("0.002"),
        order_link_id=link,
        trigger_price=trigger,
        trigger_direction=direction,
    )
    return PlaceOrder(request)


Op = Callable[[TradingDesk], object]

SCENARIO: list[Op] = [
    lambda d: run(d, market(Side.BUY, "0.01")),
    lambda d: run(d, limit(Side.BUY, "0.02", best(d)[0], "rest-1")),
    lambda d: run(d, limit(Side.SELL, "0.01", best(d)[1] + 400, "rest-2")),
    lambda d: advance(d, 20),
    lambda d: run(
        d, AmendOrder(AmendRequest(LINEAR, SYMBOL, order_link_id="rest-2", price=best(d)[1] + 300))
    ),
    lambda d: d.save(),
    lambda d: run(d, market(Side.BUY, "150", SPOT), SPOT),
    lambda d: run(d, limit(Side.SELL, "0.0005", best(d, SPOT)[1], "spot-1", SPOT), SPOT),
    lambda d: run(d, limit(Side.BUY, "0.01", best(d)[0] - 5000, "far")),
    lambda d: run(d, conditional(best(d)[1] + 30, TriggerDirection.RISE, "up")),
    lambda d: run(d, conditional(best(d)[0] - 20_000, TriggerDirection.FALL, "never")),
    lambda d: advance(d, 4 * 3600),  # through the 16:00 funding settlement
    lambda d: run(d, CancelOrder(LINEAR, SYMBOL, order_link_id="rest-1")),
    lambda d: run(d, CancelOrder(LINEAR, SYMBOL, order_link_id="far")),
    lambda d: run(d, CancelOrder(LINEAR, SYMBOL, order_id="no-such-order")),
    lambda d: run(d, SetLeverage(SYMBOL, Decimal(5), Decimal(5))),
    lambda d: run(d, SetTradingStop(SYMBOL, take_profit=best(d)[1] * 2)),
    lambda d: d.add_account(ApiAccount("late-key", "late-secret", {"USDT": Decimal(7)})),
    lambda d: advance(d, 0.3),
    lambda d: run(d, CancelAll(SPOT, SYMBOL), SPOT),
]


def image(source: Path, into: Path) -> Path:
    """Copy the state file and its journal/epoch files as they are on disk now; return the copy's path."""
    into.mkdir()
    for path in source.parent.iterdir():
        if path.name.startswith(source.name):
            shutil.copy2(path, into / path.name)
    return into / source.name


def test_every_crash_point_recovers_the_exact_state_of_the_uninterrupted_run(tmp_path: Path) -> None:
    state_file = tmp_path / "live" / "state.json"
    desk = make_desk(state_file)
    crashes: list[tuple[Path, dict[str, Any], int]] = []
    for number, op in enumerate(SCENARIO):
        op(desk)
        desk.wait_durable()  # what a reply waits for
        expected, epoch = fingerprint(desk)
        crashes.append((image(state_file, tmp_path / f"crash-{number}"), expected, epoch))

    uid = uid_of(desk)
    linear = {e.exec_type for e in desk.engine.executions(uid, LINEAR)}
    assert linear == {ExecType.TRADE, ExecType.FUNDING}  # the scenario fills and settles funding
    assert desk.engine.executions(uid, SPOT)
    statuses = {o.order_link_id: o.status for o in desk.engine.closed_orders(uid, LINEAR)}
    statuses |= {o.order_link_id: o.status for o in desk.engine.open_orders(uid, LINEAR)}
    assert (statuses["up"], statuses["never"]) == (OrderStatus.FILLED, OrderStatus.UNTRIGGERED)
    for path, expected, epoch in crashes:
        again = make_desk(path, NOW)  # the restarted sim's clock does not matter to the state
        recovered, new_epoch = fingerprint(again)
        assert recovered == expected, path.parent.name
        assert new_epoch == epoch + 1


def test_a_torn_last_record_is_dropped_and_the_rest_recovers(tmp_path: Path) -> None:
    state_file = tmp_path / "live" / "state.json"
    desk = make_desk(state_file)
    for op in SCENARIO[:5]:
        op(desk)
    desk.wait_durable()
    expected, _ = fingerprint(desk)
    copy = image(state_file, tmp_path / "crash")
    (_, last), *_ = reversed(segments(copy.with_name(copy.name + ".journal-")))
    with last.open("ab") as f:
        f.write(b'99 0badc0de {"k":"exec","t":171')  # a crash in the middle of an append

    recovered, _ = fingerprint(make_desk(copy))

    assert recovered == expected


def test_a_clean_stop_leaves_only_the_snapshot_and_restarts_exactly(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    desk = make_desk(state_file)
    for op in SCENARIO[:4]:
        op(desk)
    expected, epoch = fingerprint(desk)

    desk.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    recovered, new_epoch = fingerprint(make_desk(state_file))

    assert files == ["state.json", "state.json.epoch"]
    assert recovered == expected
    assert new_epoch == epoch + 1


def test_ids_are_never_reused_even_when_the_state_is_lost(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    desk = make_desk(state_file)
    orders = [
        limit(Side.BUY, "0.01", best(desk)[0] - 100, "a"),
        limit(Side.BUY, "0.001", best(desk, SPOT)[0] - 100, "s", SPOT),
    ]
    before = [run(desk, order, order.request.category) for order in orders]
    desk.close()
    with pytest.raises(BybitAPIError, match="stopping"):
        desk.execute(uid_of(desk), orders[0], [(LINEAR, SYMBOL)])
    for path in tmp_path.iterdir():
        if path.name != "state.json.epoch":  # the snapshot and the journal are gone, the epoch stays
            path.unlink()

    again = make_desk(state_file)
    after = [run(again, order, order.request.category) for order in orders]

    ids = [reply["orderId"] for reply in before + after if isinstance(reply, dict)]
    assert len(set(ids)) == 4
    assert [len(i) for i in ids] == [36, 19, 36, 19]


def test_a_state_file_of_another_market_or_a_journal_without_snapshot_is_refused(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    desk = make_desk(state_file)
    run(desk, market(Side.BUY, "0.01"))
    desk.wait_durable()
    other = SimState(SimConfig(seed=SEED + 1), ManualClock(NOW))

    with pytest.raises(ConfigError, match=f"belongs to a sim with --seed {SEED}"):
        TradingDesk(other, TradingConfig(state_file=state_file, tick_s=0))
    state_file.unlink()
    with pytest.raises(ConfigError, match="has no snapshot to start from"):
        make_desk(state_file)


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("wait"), st.sampled_from([0.05, 0.3, 2.0, 45.0, 900.0])),
        st.tuples(st.just("same-time"), st.just(0.0)),
        st.tuples(st.sampled_from(["buy", "sell"]), st.integers(-3, 3)),
        st.tuples(st.just("market"), st.integers(1, 3)),
        st.tuples(st.just("cancel-all"), st.just(0.0)),
    ),
    min_size=1,
    max_size=14,
)


def apply_op(desk: TradingDesk, op: tuple[str, float]) -> None:
    kind, value = op
    if kind == "wait":
        advance(desk, value)
    elif kind == "same-time":
        desk.sync()  # a second step to the same sim time must change nothing
    elif kind in ("buy", "sell"):
        bid, ask = best(desk)
        side = Side.BUY if kind == "buy" else Side.SELL
        price = (bid if side is Side.BUY else ask) + Decimal(str(value)) * Decimal("0.5")
        run(desk, limit(side, "0.003", price, ""))
    elif kind == "market":
        run(desk, market(Side.BUY if value % 2 else Side.SELL, f"0.00{int(value)}"))
    else:
        run(desk, CancelAll(LINEAR, SYMBOL))


@settings(max_examples=25, deadline=None)
@given(ops=OPS)
def test_the_feed_is_a_pure_function_of_the_sim_times_stepped_to(ops: list[tuple[str, float]]) -> None:
    one, two = make_desk(None), make_desk(None)
    for op in ops:
        apply_op(one, op)
        apply_op(two, op)
        if op[0] != "same-time":
            two.sync()  # extra steps to a time already stepped to are no-ops

    assert fingerprint(one) == fingerprint(two)


def test_a_state_file_from_before_the_journal_still_loads(tmp_path: Path) -> None:
    old = make_desk(None)
    placed = run(old, limit(Side.BUY, "0.01", best(old)[0] - 100, "kept"))
    engine = old.engine.to_state()
    engine["ids"] = engine["ids"][:2]  # [seed, counter]: no epoch yet
    fed = [[c.value, s, ms] for (c, s), ms in sorted(old.fed_ms.items())]
    state_file = tmp_path / "state.json"
    state_file.write_bytes(orjson.dumps({"engine": engine, "keys": {KEY: uid_of(old)}, "fed": fed}))

    desk = make_desk(state_file)

    assert isinstance(placed, dict)
    order = desk.engine.get_order(uid_of(desk), LINEAR, order_link_id="kept")
    assert (order.order_id, order.status) == (placed["orderId"], OrderStatus.NEW)
    assert desk.engine.id_position == (1, old.engine.id_position[1])
