"""Property tests: absurd numbers in requests are refused with Bybit's errors and never break a ledger.

The random market and order flow of `test_engine_properties` runs interleaved with requests whose
numbers are anything a decoder might let through or a caller might build by hand: NaN, sNaN,
Infinity, 1e400, 1e-400, negatives, zero, off-grid and normal values, in qty, price, TP/SL, amend
fields, trading stops and leverage. Every request either succeeds or raises a `BybitAPIError`
subclass that changes nothing (`Run.guarded`); afterwards conservation, fills and releases hold as
in the ordinary flow.
"""

from __future__ import annotations

from decimal import Decimal

from enginekit import SYMBOL, D, make_engine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import Run, actions, check_ledgers, check_messages, check_orders, check_releases

from bst.domain.market import Category, Side
from bst.domain.orders import AmendRequest, MarketUnit, OrderRequest, OrderType, TimeInForce
from bst.engine import EngineConfig, LatencyModel

LINEAR, SPOT = Category.LINEAR, Category.SPOT

wild = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([D("NaN"), D("-NaN"), D("sNaN"), D("Infinity"), D("-Infinity")]),
    st.integers(min_value=-400, max_value=400).map(lambda e: D(1).scaleb(e)),
    st.integers(min_value=-400, max_value=400).map(lambda e: -D(3).scaleb(e)),
    st.sampled_from([D(0), D("-0"), D("0.0001"), D("50000.05"), D("1e17"), D("999999999999999999")]),
    st.integers(min_value=1, max_value=400).map(lambda n: D(n) / 1000),
)
maybe_wild = st.one_of(st.none(), wild)

wild_orders = st.tuples(
    st.just("wild_order"),
    st.integers(0, 2),
    st.sampled_from(list(Side)),
    st.sampled_from([OrderType.LIMIT, OrderType.MARKET]),
    st.sampled_from([None, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY]),
    wild,
    wild,
    maybe_wild,
    maybe_wild,
    st.booleans(),
)
wild_amends = st.tuples(
    st.just("wild_amend"), st.integers(0, 50), maybe_wild, maybe_wild, maybe_wild, maybe_wild
)
wild_stops = st.tuples(st.just("wild_stop"), st.integers(0, 1), maybe_wild, maybe_wild)
wild_leverage = st.tuples(st.just("wild_leverage"), st.integers(0, 1), wild)
program_steps = st.one_of(actions, actions, wild_orders, wild_amends, wild_stops, wild_leverage)


class WildRun(Run):
    """The ordinary random flow plus requests carrying any numbers at all."""

    def step(self, action: tuple[object, ...]) -> None:
        kind = action[0]
        if kind == "wild_order":
            self.wild_order(action)
        elif kind == "wild_amend":
            self.wild_amend(action)
        elif kind == "wild_stop":
            _, account, tp, sl = action
            uid = self.uids[int(account)]  # type: ignore[call-overload]
            self.guarded(lambda: self.engine.set_trading_stop(uid, SYMBOL, take_profit=tp, stop_loss=sl))
        elif kind == "wild_leverage":
            _, account, leverage = action
            uid = self.uids[int(account)]  # type: ignore[call-overload]
            self.guarded(lambda: self.engine.set_leverage(uid, SYMBOL, leverage))  # type: ignore[arg-type]
        else:
            super().step(action)
            return
        self.events.extend(self.engine.drain_events())

    def wild_order(self, action: tuple[object, ...]) -> None:
        _, account, side, order_type, tif, qty, price, tp, sl, flag = action
        category = self.category(int(account))  # type: ignore[call-overload]
        spot = category is SPOT
        request = OrderRequest(
            category,
            SYMBOL,
            side,  # type: ignore[arg-type]
            order_type,  # type: ignore[arg-type]
            qty,  # type: ignore[arg-type]
            price if order_type is OrderType.LIMIT else None,  # type: ignore[arg-type]
            tif,  # type: ignore[arg-type]
            reduce_only=bool(flag) and not spot,
            market_unit=MarketUnit.QUOTE_COIN if spot and flag and order_type is OrderType.MARKET else None,
            take_profit=tp,  # type: ignore[arg-type]
            stop_loss=sl,  # type: ignore[arg-type]
        )
        uid = self.uids[int(account)]  # type: ignore[call-overload]
        ack = self.guarded(lambda: self.engine.place_order(uid, request))
        if ack is not None:
            self.order_ids.append((uid, category, ack.order_id))  # type: ignore[attr-defined]

    def wild_amend(self, action: tuple[object, ...]) -> None:
        if not self.order_ids:
            return
        _, pick, qty, price, tp, sl = action
        uid, category, order_id = self.order_ids[int(pick) % len(self.order_ids)]  # type: ignore[call-overload]
        amend = AmendRequest(
            category,
            SYMBOL,
            order_id=order_id,
            qty=qty,  # type: ignore[arg-type]
            price=price,  # type: ignore[arg-type]
            take_profit=tp,  # type: ignore[arg-type]
            stop_loss=sl,  # type: ignore[arg-type]
        )
        self.guarded(lambda: self.engine.amend_order(uid, amend))


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(program_steps, min_size=10, max_size=50), st.booleans())
def test_any_numbers_in_requests_are_refused_cleanly_and_keep_ledgers_exact(
    program: list[tuple[object, ...]], latency: bool
) -> None:
    config = EngineConfig(latency=LatencyModel(order_ms=20 if latency else 0))
    engine = make_engine(config, spot=True)
    run = WildRun(engine)
    run.step(("book", 0, [D(1), D(2)]))
    run.step(("mark", 0))
    for action in program:
        run.step(action)
    check_ledgers(run)
    check_releases(run)
    run.events.extend(engine.drain_events())
    check_orders(run)
    check_messages(run)
    check_ledgers(run)


def test_a_take_profit_of_1e30_is_refused_as_out_of_range() -> None:
    engine = make_engine(spot=True)
    run = WildRun(engine)
    run.step(("book", 0, [D(1), D(2)]))
    request = OrderRequest(
        LINEAR, SYMBOL, Side.BUY, OrderType.LIMIT, D("0.01"), D("49990"), take_profit=Decimal("1e30")
    )
    uid = run.uids[0]
    refused = run.guarded(lambda: engine.place_order(uid, request))
    assert refused is None
    assert engine.open_orders(uid, LINEAR) == []
