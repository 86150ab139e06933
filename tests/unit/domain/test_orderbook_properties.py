"""Property tests: random snapshot/delta streams against the naive reference book, every query."""

from __future__ import annotations

from decimal import Decimal

from bookref import DIV, NaiveBook
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.domain.market import Side
from bst.domain.orderbook import ApplyResult, BookSide, OrderBook

D = Decimal
Level = tuple[int, int]  # (tick, size units); size 0 deletes


def _text(units: int, decimals: int, style: int) -> str:
    """Spell units * 10**-decimals the way a feed might: fixed, padded, or normalized (maybe 1E+1)."""
    value = D(units).scaleb(-decimals)
    if units == 0 and style == 0:
        return "0"
    if style == 2:
        return str(value.normalize())
    return f"{value:.{decimals + style}f}"


@st.composite
def streams(
    draw: st.DrawFn,
) -> tuple[int, int, list[tuple[bool, list[tuple[str, str]], list[tuple[str, str]]]]]:
    price_decimals = draw(st.integers(0, 4))
    size_decimals = draw(st.integers(0, 5))
    bid_ticks = st.integers(1, 40)
    ask_ticks = st.integers(41, 80)
    sizes = st.one_of(st.just(0), st.integers(1, 10**7))

    def levels(ticks: st.SearchStrategy[int], max_size: int) -> list[tuple[str, str]]:
        raw = draw(st.lists(st.tuples(ticks, sizes, st.integers(0, 2), st.integers(0, 2)), max_size=max_size))
        return [(_text(t, price_decimals, ps), _text(q, size_decimals, qs)) for t, q, ps, qs in raw]

    messages = [(True, levels(bid_ticks, 30), levels(ask_ticks, 30))]
    for _ in range(draw(st.integers(1, 25))):
        snapshot = draw(st.integers(0, 19)) == 0
        messages.append((snapshot, levels(bid_ticks, 12), levels(ask_ticks, 12)))
    return price_decimals, size_decimals, messages


def _check_against(book: OrderBook, ref: NaiveBook, qty: Decimal) -> None:
    assert book.bids() == ref.bid_levels()
    assert book.asks() == ref.ask_levels()
    bids, asks = ref.bid_levels(), ref.ask_levels()
    assert book.best_bid() == (bids[0] if bids else None)
    assert book.best_ask() == (asks[0] if asks else None)
    if bids and asks:
        assert book.mid() == (bids[0][0] + asks[0][0]) / 2
        assert book.spread() == asks[0][0] - bids[0][0]
        assert book.spread_bps() == DIV.divide(
            (asks[0][0] - bids[0][0]) * 10_000, (bids[0][0] + asks[0][0]) / 2
        )
    else:
        assert book.mid() is None
        assert book.spread() is None
    assert book.microprice() == ref.microprice()
    for n in (1, 3, 10):
        assert book.imbalance(n) == ref.imbalance(n)
        assert book.depth_size(BookSide.BID, n) == sum((q for _, q in bids[:n]), D(0))
        assert book.depth_notional(BookSide.ASK, n) == sum((p * q for p, q in asks[:n]), D(0))
    assert book.imbalances([1, 3, 10]) == {n: ref.imbalance(n) for n in (1, 3, 10)}
    for side in (Side.BUY, Side.SELL):
        fill = book.market_order(side, qty)
        filled, notional, used, complete = ref.walk(side, qty)
        assert (fill.filled_qty, fill.notional, fill.levels, fill.complete) == (
            filled,
            notional,
            used,
            complete,
        )
    snap = book.to_snapshot(5)
    assert list(snap.bids) == bids[:5]
    assert list(snap.asks) == asks[:5]


@settings(max_examples=150, deadline=None)
@given(streams(), st.integers(1, 10**8))
def test_random_streams_match_the_reference(
    stream: tuple[int, int, list[tuple[bool, list[tuple[str, str]], list[tuple[str, str]]]]], qty_units: int
) -> None:
    price_decimals, size_decimals, messages = stream
    book = OrderBook("X", 50, price_scale=price_decimals if qty_units % 2 else 0)
    ref = NaiveBook()
    qty = D(qty_units).scaleb(-size_decimals)
    update_id = 100
    for snapshot, bids, asks in messages:
        update_id += 1
        if snapshot:
            ref.snapshot(bids, asks)
            result = book.apply_snapshot([list(b) for b in bids], [list(a) for a in asks], update_id)
            assert result is ApplyResult.SNAPSHOT
        else:
            ref.delta(bids, asks)
            result = book.apply_delta([list(b) for b in bids], [list(a) for a in asks], update_id)
            assert result is ApplyResult.APPLIED
        assert book.is_valid
        _check_against(book, ref, qty)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 3), st.booleans()), min_size=1, max_size=40))
def test_continuity_model(steps: list[tuple[int, bool]]) -> None:
    """Each step moves `u` by a step (1 = in order) or sends a snapshot; compare with a plain model."""
    book = OrderBook("X", 50)
    ref = NaiveBook()
    valid, last_u, u = False, 0, 1000
    for i, (step, snapshot) in enumerate(steps):
        u += step
        level = [[str(10 + i % 7), str(i + 1)]]
        if snapshot:
            ref.snapshot(level, [["100", "1"]])
            assert book.apply_snapshot(level, [["100", "1"]], u) is ApplyResult.SNAPSHOT
            valid, last_u = True, u
        elif not valid:
            assert book.apply_delta(level, [], u) is ApplyResult.REJECTED
        elif u <= last_u:
            assert book.apply_delta(level, [], u) is ApplyResult.DUPLICATE
        elif u != last_u + 1:
            assert book.apply_delta(level, [], u) is ApplyResult.GAP
            valid = False
        else:
            ref.delta(level, [])
            assert book.apply_delta(level, [], u) is ApplyResult.APPLIED
            last_u = u
        assert book.is_valid is valid
        if valid:
            assert book.bids() == ref.bid_levels()
            assert book.update_id == last_u
