"""The feeder: time-ordered sources merged lazily and deterministically into the engine, to a bound."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

from enginekit import SYMBOL, T0, D, fills_of, limit, make_engine, set_book
from hypothesis import given, settings
from hypothesis import strategies as st
from marketkit import book, ticker, trade

from bst.domain.events import FundingUpdate, MarketEvent, TradesUpdate
from bst.domain.market import Category, Side
from bst.engine import Feeder, merge_events


def tagged(source: int, position: int, ts_ms: int) -> FundingUpdate:
    """Return an event that remembers which source it came from and where."""
    return FundingUpdate(Category.LINEAR, f"S{source}", Decimal(position), 0, ts_ms, ts_ms)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40)), max_size=6))
def test_any_interleaving_of_sorted_sources_comes_out_sorted_complete_and_stable(
    times: list[list[int]],
) -> None:
    sources = [[tagged(s, p, t) for p, t in enumerate(sorted(ts))] for s, ts in enumerate(times)]

    merged = list(merge_events(sources))

    def origin(e: MarketEvent) -> tuple[int, int, int]:
        assert isinstance(e, FundingUpdate)
        return (e.ts_ms, int(e.symbol[1:]), int(e.funding_rate))

    assert [e.ts_ms for e in merged] == sorted(t for ts in times for t in ts)
    # complete, and ties resolved by source order, then by each source's own order
    assert [origin(e) for e in merged] == sorted(origin(e) for source in sources for e in source)


def test_the_feeder_stops_at_its_bound_and_resumes_where_it_stopped() -> None:
    engine = make_engine()
    uid = engine.open_account({"USDT": D(100_000)})
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")])
    engine.place_order(uid, limit(Side.BUY, "0.3", "49990"))
    engine.drain_events()
    prints = [trade(T0 + t, "49990", "0.1", Side.SELL) for t in (10, 20, 20, 30, 50)]
    prices = [ticker(T0 + t, "49990", mark=m) for t, m in ((20, "49995"), (40, "49980"))]
    feeder = Feeder(engine, [prints, prices])

    applied = feeder.run(T0 + 20)

    assert (applied, feeder.applied, feeder.next_ms, engine.now_ms) == (4, 4, T0 + 30, T0 + 20)
    assert engine.market(SYMBOL).mark_price == D("49995")  # the ticker at +20 came after its trades
    assert [f.exec_time_ms for f in fills_of(engine.drain_events())] == [T0 + 10, T0 + 20, T0 + 20]

    engine.advance_time(T0 + 25)  # the caller may act in between; the feeder carries on from +30
    assert feeder.run() == 3
    assert (feeder.next_ms, engine.now_ms, engine.market(SYMBOL).mark_price) == (None, T0 + 50, D("49980"))


def test_the_feeder_yields_each_event_after_applying_it_so_a_caller_can_act() -> None:
    engine = make_engine()
    uid = engine.open_account({"USDT": D(100_000)})
    feeder = Feeder(
        engine,
        [
            [book(T0 + 5, [("50000", "1")], [("50001", "1")])],
            [trade(T0 + 9, "49000", "1", Side.SELL)],
        ],
    )

    for event in feeder.events():
        if event.ts_ms == T0 + 5:  # the strategy sees the book, then bids below it
            engine.place_order(uid, limit(Side.BUY, "0.2", "49500"))

    [fill] = fills_of(engine.drain_events())
    assert (fill.exec_price, fill.exec_qty, fill.exec_time_ms) == (D("49500"), D("0.2"), T0 + 9)


def test_sources_are_read_lazily_so_an_endless_one_can_be_fed_to_a_bound() -> None:
    engine = make_engine()
    pulled: list[int] = []

    def endless() -> Iterator[TradesUpdate]:
        for n in itertools.count():
            pulled.append(n)
            yield trade(T0 + 1_000 * n, str(50_000 + n), "0.01", Side.BUY)

    feeder = Feeder(engine, [endless()])
    feeder.run(T0 + 4_500)

    assert (feeder.applied, engine.market(SYMBOL).last_price, engine.now_ms) == (5, D(50_004), T0 + 4_500)
    assert pulled == [0, 1, 2, 3, 4, 5]  # one event ahead, never more
