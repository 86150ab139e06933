"""Round trips from executions: FIFO lots per entry order, fees and funding shared exactly."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bst.backtest.round_trips import RoundTripBook, round_trips
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, Execution, OrderType

D = Decimal
_seq = iter(range(1, 10**9))


def fill(
    order: str, side: Side, qty: str, price: str, fee: str, at: int, kind: ExecType = ExecType.TRADE
) -> Execution:
    return Execution(
        exec_id=f"e{next(_seq)}",
        order_id=order,
        order_link_id="",
        category=Category.LINEAR,
        symbol="BTCUSDT",
        side=side,
        order_type=OrderType.MARKET,
        order_price=D(0),
        order_qty=D(qty),
        leaves_qty=D(0),
        exec_type=kind,
        exec_price=D(price),
        exec_qty=D(qty),
        exec_value=D(qty) * D(price),
        exec_fee=D(fee),
        fee_rate=D(0),
        fee_currency="USDT",
        is_maker=False,
        closed_size=D(0),
        exec_pnl=D(0),
        exec_time_ms=at,
        seq=0,
    )


BUY, SELL = Side.BUY, Side.SELL


def test_a_reversal_closes_the_old_lot_and_opens_the_other_way_splitting_its_fee() -> None:
    trips = round_trips(
        [
            fill("a", BUY, "1", "100", "0.1", 1),
            fill("b", SELL, "2", "110", "0.4", 2),  # closes 1 long, opens 1 short
            fill("c", BUY, "1", "105", "0.2", 3),
        ]
    )
    assert [(t.side, t.qty, t.entry_price, t.exit_price, t.gross_pnl, t.fees) for t in trips] == [
        (BUY, D(1), D(100), D(110), D(10), D("0.3")),  # 0.1 + half of 0.4
        (SELL, D(1), D(110), D(105), D(5), D("0.4")),  # the other half + 0.2
    ]
    assert [t.pnl for t in trips] == [D("9.7"), D("4.6")]


def test_fills_of_one_order_are_one_lot_closed_first_in_first_out() -> None:
    trips = round_trips(
        [
            fill("a", BUY, "1", "100", "0", 1),
            fill("a", BUY, "1", "102", "0", 2),  # one lot of 2 at 101
            fill("b", BUY, "2", "110", "0", 3),  # a second lot
            fill("c", SELL, "3", "120", "0", 4),  # closes lot a, and half of lot b
        ]
    )
    assert [(t.entry_order_id, t.exit_order_id, t.qty, t.entry_price, t.gross_pnl) for t in trips] == [
        ("a", "c", D(2), D(101), D(38)),
        ("b", "c", D(1), D(110), D(10)),
    ]
    book = RoundTripBook()
    book.add_all(
        [
            fill("a", BUY, "1", "100", "0", 1),
            fill("b", BUY, "2", "110", "0", 3),
            fill("c", SELL, "2", "120", "0", 4),
        ]
    )
    assert book.open_qty("BTCUSDT") == D(1)


def test_funding_is_shared_between_the_lots_open_when_it_settles() -> None:
    trips = round_trips(
        [
            fill("a", BUY, "1", "100", "0", 1),
            fill("b", BUY, "3", "100", "0", 2),
            fill("f", BUY, "4", "100", "0.4", 3, ExecType.FUNDING),  # 1 : 3
            fill("c", SELL, "4", "100", "0", 4),
        ]
    )
    assert [(t.entry_order_id, t.funding, t.pnl) for t in trips] == [
        ("a", D("0.1"), D("-0.1")),
        ("b", D("0.3"), D("-0.3")),
    ]


QTY = st.integers(1, 50).map(lambda n: D(n) / 10)
PRICE = st.integers(9_000, 11_000).map(lambda n: D(n) / 100)
FEE = st.integers(0, 300).map(lambda n: D(n) / 1000)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), QTY, PRICE, FEE, st.booleans()), min_size=1, max_size=30))
def test_the_trades_and_what_is_still_open_account_for_every_fill_exactly(
    steps: list[tuple[bool, Decimal, Decimal, Decimal, bool]],
) -> None:
    """Invariant: the trades' PnL, plus the open lots at cost, equals the ledger's cash flow."""
    executions, position, cash, order = [], D(0), D(0), 0
    for at, (buy, qty, price, fee, funding) in enumerate(steps):
        if funding and position != 0:
            executions.append(fill("f", BUY, str(abs(position)), "100", str(fee), at, ExecType.FUNDING))
            cash -= fee
            continue
        order += 1
        side = BUY if buy else SELL
        executions.append(fill(f"o{order}", side, str(qty), str(price), str(fee), at))
        signed = qty if buy else -qty
        position += signed
        cash -= signed * price + fee
    book = RoundTripBook()
    book.add_all(executions)
    trips = book.round_trips()
    assert book.open_qty("BTCUSDT") == position
    closed = sum((t.pnl for t in trips), D(0))
    # what the open lots hold, at cost, with the fees and funding they have not booked yet
    lots = book._lots.get("BTCUSDT", [])
    sign = -1 if lots and lots[0].side is SELL else 1
    open_cost = sum((sign * lot.value + lot.fee + lot.funding for lot in lots), D(0))
    assert closed - open_cost == cash  # every fee and every unit of price accounted for, exactly
    for trip in trips:
        assert trip.qty > 0
        assert trip.exit_time_ms >= trip.entry_time_ms
