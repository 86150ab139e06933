"""The L2 book against Bybit's recorded streams and its continuity rules, with exact values."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from bookref import NaiveBook

from bst.domain.errors import ConfigError
from bst.domain.market import BookSnapshot, Side
from bst.domain.orderbook import ApplyResult, BookSide, OrderBook, StaleBookError

D = Decimal


def _load_lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _apply(book: OrderBook, msg: dict) -> ApplyResult:  # type: ignore[type-arg]
    data = msg["data"]
    fn = book.apply_snapshot if msg["type"] == "snapshot" else book.apply_delta
    return fn(data["b"], data["a"], data["u"], data.get("seq"), msg["ts"], msg.get("cts"))


def _book(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], u: int = 100, depth: int = 50
) -> OrderBook:
    book = OrderBook("BTCUSDT", depth)
    assert (
        book.apply_snapshot([list(b) for b in bids], [list(a) for a in asks], u, seq=1000)
        is ApplyResult.SNAPSHOT
    )
    return book


# --- the real ob500 stream ---------------------------------------------------------------------


def test_ob500_stream_matches_a_naive_reference_after_every_message(fixtures_dir: Path) -> None:
    messages = _load_lines(fixtures_dir / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl")
    book = OrderBook("XRPUSDT", 500)
    ref = NaiveBook()
    results = []
    for msg in messages:
        data = msg["data"]
        assert isinstance(data, dict)
        if msg["type"] == "snapshot":
            ref.snapshot(data["b"], data["a"])
        else:
            ref.delta(data["b"], data["a"])
        results.append(_apply(book, msg))
        assert book.bids() == ref.bid_levels()
        assert book.asks() == ref.ask_levels()
        assert book.imbalance(10) == ref.imbalance(10)
    assert results == [ApplyResult.SNAPSHOT] + [ApplyResult.APPLIED] * 49
    assert book.is_valid
    assert book.stats.deltas == 49
    assert book.stats.gaps == book.stats.unknown_deletes == 0


def test_ob500_final_state_pinned(fixtures_dir: Path) -> None:
    book = OrderBook("XRPUSDT", 500)
    for msg in _load_lines(fixtures_dir / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl"):
        _apply(book, msg)
    assert (book.update_id, book.seq, book.ts_ms, book.cts_ms) == (
        20254918,
        130020252664,
        1733011205490,
        1733011205488,
    )
    assert (book.bid_count, book.ask_count) == (500, 500)
    assert book.best_bid() == (D("1.9537"), D("10605"))
    assert book.best_ask() == (D("1.9538"), D("6702"))
    assert book.mid() == D("1.95375")
    assert book.spread() == D("0.0001")
    assert book.spread_bps() == D("0.5118362124120281509916826615")
    assert book.microprice() == D("1.953761275784364707921650199")
    assert book.imbalance(1) == D("0.6127578436470792165019934131")
    assert book.imbalance(5) == D("0.2736316956471000116699731591")
    assert book.depth_size(BookSide.BID, 5) == D("28137")
    assert book.depth_notional(BookSide.BID, 5) == D("54966.6091")
    fill = book.market_order(Side.BUY, D("100000"))
    assert (fill.filled_qty, fill.notional, fill.avg_price) == (
        D("100000"),
        D("195410.0288"),
        D("1.954100288"),
    )
    assert (fill.best_price, fill.worst_price, fill.levels, fill.complete) == (
        D("1.9538"),
        D("1.9545"),
        8,
        True,
    )
    assert fill.slippage_bps == D("1.536943392363599140137168595")


# --- the orderbook.50 docs samples ----------------------------------------------------------------


def test_orderbook50_snapshot_fixture(fixtures_dir: Path) -> None:
    msg = json.loads((fixtures_dir / "ws" / "public_orderbook50_snapshot_btcusdt.json").read_text())
    book = OrderBook("BTCUSDT", 50)
    assert _apply(book, msg) is ApplyResult.SNAPSHOT
    assert book.bids() == [(D("16493.50"), D("0.006")), (D("16493.00"), D("0.100"))]
    assert book.asks() == [(D("16611.00"), D("0.029")), (D("16612.00"), D("0.213"))]
    assert (book.update_id, book.seq) == (18521288, 7961638724)


def test_orderbook50_delta_fixture_does_not_continue_the_snapshot_fixture(fixtures_dir: Path) -> None:
    snap = json.loads((fixtures_dir / "ws" / "public_orderbook50_snapshot_btcusdt.json").read_text())
    delta = json.loads((fixtures_dir / "ws" / "public_orderbook50_delta_btcusdt.json").read_text())
    book = OrderBook("BTCUSDT", 50)
    _apply(book, snap)
    assert _apply(book, delta) is ApplyResult.GAP
    assert not book.is_valid
    assert book.invalid_reason == "update id gap: expected 18521289, got 177400507"
    with pytest.raises(StaleBookError, match="update id gap"):
        book.require_valid()


def test_orderbook50_delta_fixture_semantics(fixtures_dir: Path) -> None:
    delta = json.loads((fixtures_dir / "ws" / "public_orderbook50_delta_btcusdt.json").read_text())
    book = _book(
        [("30247.20", "1.000"), ("30245.40", "2.000"), ("30240.00", "3.000")],
        [("30248.70", "1.500"), ("30249.60", "0.700"), ("30252.20", "9.000")],
        u=177400506,
    )
    assert _apply(book, {**delta, "ts": 1, "cts": 2}) is ApplyResult.APPLIED
    # replaced, inserted, deleted ("0"), exactly as the message says
    assert book.bids() == [
        (D("30247.20"), D("30.028")),
        (D("30245.40"), D("0.224")),
        (D("30242.10"), D("1.593")),
        (D("30240.30"), D("1.305")),
    ]
    assert book.asks() == [
        (D("30249.30"), D("0.892")),
        (D("30249.50"), D("1.778")),
        (D("30251.90"), D("2.947")),
        (D("30252.20"), D("0.659")),
        (D("30252.50"), D("4.591")),
    ]
    assert (book.update_id, book.seq) == (177400507, 66544703342)


# --- continuity ----------------------------------------------------------------------------------


def test_delta_before_any_snapshot_is_rejected() -> None:
    book = OrderBook("BTCUSDT", 50)
    assert book.apply_delta([["1", "1"]], [], 5) is ApplyResult.REJECTED
    assert book.invalid_reason == "no snapshot yet"
    assert book.bid_count == 0
    assert book.stats.rejected == 1


def test_gap_invalidates_and_refuses_until_a_snapshot() -> None:
    book = _book([("10", "1")], [("11", "1")], u=100)
    assert book.apply_delta([["10", "2"]], [], 101) is ApplyResult.APPLIED
    assert book.apply_delta([["10", "3"]], [], 103) is ApplyResult.GAP
    assert book.bids() == [(D(10), D(2))]  # the gapped delta was not applied
    assert book.apply_delta([["10", "4"]], [], 104) is ApplyResult.REJECTED
    assert book.bids() == [(D(10), D(2))]
    assert book.stats.gaps == 1
    assert book.stats.rejected == 1
    assert book.apply_snapshot([["9", "5"]], [["12", "6"]], 200) is ApplyResult.SNAPSHOT
    assert book.is_valid
    assert book.invalid_reason is None
    assert book.apply_delta([["9", "0"]], [], 201) is ApplyResult.APPLIED
    assert book.bids() == []


def test_duplicate_or_older_delta_is_ignored() -> None:
    book = _book([("10", "1")], [("11", "1")], u=100)
    assert book.apply_delta([["10", "2"]], [], 101) is ApplyResult.APPLIED
    assert book.apply_delta([["10", "9"]], [], 101) is ApplyResult.DUPLICATE
    assert book.apply_delta([["10", "9"]], [], 50) is ApplyResult.DUPLICATE
    assert book.is_valid
    assert book.bids() == [(D(10), D(2))]
    assert book.stats.duplicates == 2


def test_seq_going_backwards_is_a_gap() -> None:
    book = _book([("10", "1")], [("11", "1")], u=100)
    assert book.apply_delta([["10", "2"]], [], 101, seq=999) is ApplyResult.GAP
    assert book.invalid_reason == "cross sequence went backwards: 1000 -> 999"


def test_continuity_check_can_be_disabled_for_sampled_data() -> None:
    book = OrderBook("X", 50, check_continuity=False)
    book.apply_snapshot([["10", "1"]], [["11", "1"]], 100)
    assert book.apply_delta([["10", "2"]], [], 105) is ApplyResult.APPLIED


def test_u_equal_1_resets_the_book_and_counts_a_restart() -> None:
    book = _book([("10", "1"), ("9", "1")], [("11", "1")], u=5000)
    assert book.apply_snapshot([["8", "2"]], [["12", "3"]], 1) is ApplyResult.SNAPSHOT
    assert book.bids() == [(D(8), D(2))]
    assert book.asks() == [(D(12), D(3))]
    assert book.stats.restarts == 1
    assert book.apply_delta([["8", "4"]], [], 2) is ApplyResult.APPLIED


def test_level1_accepts_repeated_snapshots_but_no_delta() -> None:
    book = OrderBook("BTCUSDT", 1)
    assert book.apply_snapshot([["10", "1"]], [["11", "1"]], 7) is ApplyResult.SNAPSHOT
    assert book.apply_snapshot([["10", "1"]], [["11", "1"]], 7) is ApplyResult.SNAPSHOT  # re-sent, same u
    assert book.apply_snapshot([["10", "2"]], [["11", "1"]], 8) is ApplyResult.SNAPSHOT
    assert book.best_bid() == (D(10), D(2))
    assert book.apply_delta([["10", "3"]], [], 9) is ApplyResult.GAP
    assert book.invalid_reason == "delta on a level-1 stream, which sends snapshots only"


def test_crossed_delta_invalidates() -> None:
    book = _book([("10", "1")], [("11", "1")], u=1)
    assert book.apply_delta([["11", "5"]], [], 2) is ApplyResult.CROSSED
    assert book.invalid_reason == "crossed book: best bid 11 >= best ask 11"
    assert book.stats.crossed == 1
    assert book.apply_delta([], [["11", "0"]], 3) is ApplyResult.REJECTED


def test_crossed_snapshot_is_invalid() -> None:
    book = OrderBook("X", 50)
    assert book.apply_snapshot([["12", "1"]], [["11", "1"]], 3) is ApplyResult.CROSSED
    assert not book.is_valid
    assert ApplyResult.CROSSED.needs_resync
    assert not ApplyResult.APPLIED.needs_resync


def test_invalidate_and_age() -> None:
    book = OrderBook("X", 50)
    assert book.age_ms(5) is None
    book.apply_snapshot([["10", "1"]], [["11", "1"]], 3, ts_ms=1000, recv_ms=1010)
    assert book.age_ms(1500) == 490
    assert book.is_fresh(1500, 490)
    assert not book.is_fresh(1501, 490)
    book.invalidate("connection lost")
    assert (book.is_valid, book.invalid_reason) == (False, "connection lost")
    assert not book.is_fresh(1500, 490)


# --- representation edge cases --------------------------------------------------------------------


def test_same_price_spelled_differently_is_one_level() -> None:
    book = _book([("10.50", "1.000")], [("11.00", "1.000")], u=1)
    assert book.apply_delta([["10.5", "2"]], [["11", "0"]], 2) is ApplyResult.APPLIED
    assert book.bids() == [(D("10.50"), D("2.000"))]
    assert book.asks() == []
    assert book.bid_count == 1


def test_finer_values_grow_the_scales_exactly() -> None:
    book = _book([("10", "1")], [("11", "2")], u=1)
    assert (book.price_scale, book.size_scale) == (0, 0)
    assert book.apply_delta([["10.25", "0.125"]], [["10.5", "1.5"]], 2) is ApplyResult.APPLIED
    assert (book.price_scale, book.size_scale) == (2, 3)
    assert book.bids() == [(D("10.25"), D("0.125")), (D("10.00"), D("1.000"))]
    assert book.asks() == [(D("10.50"), D("1.500")), (D("11.00"), D("2.000"))]
    assert book.imbalance(2) == D("1.125") / D("4.625")


def test_exponent_and_zero_spellings() -> None:
    book = _book([("10", "1")], [("11", "2")], u=1)
    assert book.apply_delta([["10", "0.000"], ["9", "1E-3"]], [["11", "0E-8"]], 2) is ApplyResult.APPLIED
    assert book.bids() == [(D(9), D("0.001"))]
    assert book.asks() == []


def test_unknown_delete_is_counted_not_fatal() -> None:
    book = _book([("10", "1")], [("11", "2")], u=1)
    assert book.apply_delta([["9", "0"]], [], 2) is ApplyResult.APPLIED
    assert book.stats.unknown_deletes == 1
    assert book.is_valid


@pytest.mark.parametrize(
    ("bids", "reason"),
    [
        ([["10", "-1"]], "negative"),
        ([["abc", "1"]], "not a decimal number"),
        ([["10"]], "bad level"),
        ([["0", "1"]], "price must be positive"),
        ([["10", "NaN"]], "not a finite number"),
    ],
)
def test_malformed_delta_invalidates(bids: list[list[str]], reason: str) -> None:
    book = _book([("10", "1")], [("11", "2")], u=1)
    assert book.apply_delta(bids, [], 2) is ApplyResult.MALFORMED
    assert reason in (book.invalid_reason or "")
    assert book.stats.malformed == 1


def test_snapshot_zero_sizes_are_empty_levels() -> None:
    book = _book([("10", "1"), ("9", "0")], [("11", "2")], u=1)
    assert book.bids() == [(D(10), D(1))]
    assert book.stats.unknown_deletes == 0


def test_load_rest_snapshot_and_round_trip() -> None:
    snap = BookSnapshot("BTCUSDT", ((D("100.5"), D("2")),), ((D("101"), D("3.25")),), 5, 77, 9, 4)
    book = OrderBook("BTCUSDT", 200)
    assert book.load_snapshot(snap, recv_ms=6) is ApplyResult.SNAPSHOT
    out = book.to_snapshot()
    assert out.bids == ((D("100.5"), D("2.00")),)
    assert out.asks == ((D("101.0"), D("3.25")),)
    assert (out.update_id, out.seq, out.ts_ms, out.cts_ms) == (77, 9, 5, 4)


# --- queries -------------------------------------------------------------------------------------


def test_empty_and_one_sided_queries() -> None:
    book = _book([("10", "1")], [], u=1)
    assert book.best_ask() is None
    assert book.mid() is book.spread() is book.microprice() is book.spread_bps() is None
    assert book.imbalance(3) == D(1)
    empty = OrderBook("X")
    assert empty.imbalance(1) is None
    assert empty.imbalances([1, 5]) == {1: None, 5: None}


def test_microprice_and_imbalances() -> None:
    book = _book([("100", "3"), ("99", "1")], [("101", "1"), ("102", "5")], u=1)
    assert book.microprice() == D("100.75")  # (100*1 + 101*3) / 4
    assert book.imbalances([2, 1]) == {1: D("0.75"), 2: D("0.4")}
    assert book.imbalance(1) == D("0.75")


def test_market_order_and_spend() -> None:
    book = _book([("100", "3"), ("99", "1")], [("101", "1"), ("102", "5")], u=1)
    buy = book.market_order(Side.BUY, D("3"))
    assert (buy.filled_qty, buy.notional, buy.avg_price, buy.worst_price, buy.levels) == (
        D(3),
        D(305),
        D("101.6666666666666666666666667"),
        D(102),
        2,
    )
    sell = book.market_order(Side.SELL, D(10))
    assert (sell.filled_qty, sell.notional, sell.complete) == (D(4), D(399), False)
    spend = book.spend(Side.BUY, D(305))
    assert (spend.filled_qty, spend.notional, spend.complete) == (D(3), D(305), True)
    partial = book.spend(Side.BUY, D(100))
    assert partial.filled_qty == D("0.9900990099009900990099009900")
    assert partial.notional <= D(100)


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_query_arguments(bad: int) -> None:
    book = _book([("100", "3")], [("101", "1")], u=1)
    with pytest.raises(ConfigError):
        book.imbalance(bad)
    with pytest.raises(ConfigError):
        book.depth_size(BookSide.ASK, bad)
    with pytest.raises(ConfigError):
        book.market_order(Side.BUY, D(bad))
    with pytest.raises(ConfigError):
        book.spend(Side.BUY, D(bad))
