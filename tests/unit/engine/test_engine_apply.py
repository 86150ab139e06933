"""`MatchingEngine.apply`: each kind of domain market event moves the clock, then the market."""

from __future__ import annotations

import pytest
from enginekit import SYMBOL, T0, D, fills_of, limit, make_engine, market, order_updates, set_book
from marketkit import bar, book, ticker, trade, trades

from bst.domain.errors import ConfigError
from bst.domain.events import FundingUpdate, KlineUpdate, LiveBar
from bst.domain.market import Bar, Category, Interval, Side
from bst.domain.orders import ExecType, OrderStatus
from bst.engine import MatchingEngine
from bst.engine.market_input import bar_path

FUNDING_MS = T0 + 6_400_000  # 2023-11-15 00:00 UTC, the first settlement after T0
BUY, SELL = Side.BUY, Side.SELL


def funded(spot: bool = False) -> tuple[MatchingEngine, int]:
    engine = make_engine(spot=spot)
    return engine, engine.open_account({"USDT": D(1_000_000)})


# --- BookUpdate ----------------------------------------------------------------------------------


def test_a_book_message_gives_the_same_book_as_decimal_levels() -> None:
    by_event, _ = funded()
    by_call, _ = funded()
    bids, asks = [("50000", "1.5"), ("49999.5", "2")], [("50001", "0.7"), ("50002.0", "3")]

    by_event.apply(book(T0 + 5, bids, asks))
    by_event.apply(book(T0 + 9, [("49999.5", "0"), ("49998", "4")], [("50001", "0.2")], snapshot=False))
    by_call.on_book_snapshot(SYMBOL, [(D(p), D(s)) for p, s in bids], [(D(p), D(s)) for p, s in asks], T0 + 5)
    by_call.on_book_delta(
        SYMBOL, [(D("49999.5"), D(0)), (D("49998"), D(4))], [(D("50001"), D("0.2"))], T0 + 9
    )

    assert by_event.book_levels(SYMBOL) == by_call.book_levels(SYMBOL)
    assert by_event.book_levels(SYMBOL) == (
        [(D("50000"), D("1.5")), (D("49998"), D("4"))],
        [(D("50001"), D("0.2")), (D("50002.0"), D("3"))],
    )
    assert by_event.now_ms == T0 + 9


@pytest.mark.parametrize(
    "bad",
    [
        ["abc", "1"],
        ["50000", "-1"],
        ["0", "1"],
        ["50000"],
        ["NaN", "1"],
        ["50000", "Infinity"],
        [50000.5, "1"],
    ],
)
def test_a_malformed_level_refuses_the_whole_update(bad: list[object]) -> None:
    engine, _ = funded()
    engine.apply(book(T0, [("50000", "1")], [("50001", "1")]))
    update = book(T0 + 1, [("49990", "5")], [], snapshot=False)
    update.asks.append(bad)  # type: ignore[attr-defined]

    with pytest.raises(ConfigError, match="malformed book level"):
        engine.apply(update)

    assert engine.book_levels(SYMBOL) == ([(D("50000"), D("1"))], [(D("50001"), D("1"))])


def test_a_delta_that_moves_the_book_through_a_resting_order_fills_it() -> None:
    engine, uid = funded()
    engine.apply(book(T0, [("50000", "1"), ("49999", "2")], [("50001", "1")]))
    engine.place_order(uid, limit(BUY, "0.5", "49999"))
    engine.drain_events()

    engine.apply(book(T0 + 40, [], [("50001", "0"), ("49998.5", "2")], snapshot=False))

    [fill] = fills_of(engine.drain_events())
    assert (fill.exec_price, fill.exec_qty, fill.is_maker, fill.exec_time_ms) == (
        D("49999"),
        D("0.5"),
        True,
        T0 + 40,
    )


# --- TradesUpdate --------------------------------------------------------------------------------


def test_the_trades_of_one_message_apply_each_at_its_own_time() -> None:
    engine, uid = funded()
    set_book(engine, bids=[("50000", "1")], asks=[("50001", "1")])
    engine.place_order(uid, limit(BUY, "0.3", "49990"))
    engine.drain_events()

    engine.apply(trades(T0 + 30, (T0 + 10, "49990", "0.1", SELL), (T0 + 20, "49985", "0.5", SELL)))

    fills = fills_of(engine.drain_events())
    assert [(f.exec_time_ms, f.exec_price, f.exec_qty) for f in fills] == [
        (T0 + 10, D("49990"), D("0.1")),
        (T0 + 20, D("49990"), D("0.2")),
    ]
    assert engine.now_ms == T0 + 30
    assert engine.market(SYMBOL).last_price == D("49985")


def test_an_unlisted_symbol_or_category_is_refused() -> None:
    engine, _ = funded()
    with pytest.raises(ConfigError, match="ETHUSDT is not listed"):
        engine.apply(trades(T0, (T0, "3000", "1", BUY), symbol="ETHUSDT"))
    with pytest.raises(ConfigError, match="spot symbol BTCUSDT is not listed"):
        engine.apply(trade(T0, "50000", "1", BUY, category=Category.SPOT))


# --- TickerUpdate and FundingUpdate --------------------------------------------------------------


def test_a_ticker_sets_last_mark_index_and_funding() -> None:
    engine, _ = funded(spot=True)

    engine.apply(ticker(T0 + 3, "50010", mark="50005", index="50003", rate="0.0005"))
    engine.apply(ticker(T0 + 4, "50020", mark="1", rate="0.9", category=Category.SPOT))

    linear = engine.market(SYMBOL, category=Category.LINEAR)
    spot = engine.market(SYMBOL, category=Category.SPOT)
    assert (linear.last_price, linear.mark_price, linear.index_price, linear.funding_rate) == (
        D("50010"),
        D("50005"),
        D("50003"),
        D("0.0005"),
    )
    assert linear.next_funding_ms == FUNDING_MS
    assert (spot.last_price, spot.funding_rate, spot.next_funding_ms) == (D("50020"), D("0.0001"), None)
    assert engine.now_ms == T0 + 4


def test_a_tickers_last_price_triggers_a_stop_loss() -> None:
    engine, uid = funded()
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    engine.place_order(uid, market(BUY, "0.4"))
    engine.set_trading_stop(uid, SYMBOL, stop_loss=D("49500"))
    engine.drain_events()

    engine.apply(ticker(T0 + 7, "49400", mark="49990"))

    [close] = fills_of(engine.drain_events())
    assert (close.side, close.exec_qty, close.exec_price, close.stop_order_type) == (
        SELL,
        D("0.4"),
        D("50000"),
        "StopLoss",
    )
    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0


def test_a_funding_series_entry_sets_the_rate_of_its_settlement() -> None:
    engine, uid = funded()
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    engine.place_order(uid, market(BUY, "0.5"))
    engine.apply(ticker(T0 + 1, "50001", mark="50000"))
    engine.drain_events()
    entry = FundingUpdate.settlement(Category.LINEAR, SYMBOL, D("0.0003"), FUNDING_MS)

    engine.apply(entry)
    engine.advance_time(FUNDING_MS)

    assert (entry.ts_ms, entry.recv_ms) == (FUNDING_MS - 1, FUNDING_MS - 1)
    [funding] = fills_of(engine.drain_events())
    assert (funding.exec_type, funding.exec_time_ms, funding.fee_rate, funding.exec_fee) == (
        ExecType.FUNDING,
        FUNDING_MS,
        D("0.0003"),
        D("7.5"),  # 0.5 x 50000 x 0.0003
    )


def test_the_feeds_next_funding_time_moves_the_settlement_and_a_stale_one_is_ignored() -> None:
    engine, uid = funded()
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    engine.place_order(uid, market(BUY, "0.5"))
    earlier = T0 + 3_600_000  # the feed settles an hour from now, not at 00:00

    engine.apply(FundingUpdate(Category.LINEAR, SYMBOL, D("0.0002"), earlier, T0 + 10, T0 + 10))
    engine.apply(FundingUpdate(Category.LINEAR, SYMBOL, D("0.0002"), T0 + 5, T0 + 20, T0 + 20))

    assert engine.market(SYMBOL).next_funding_ms == earlier
    engine.drain_events()
    engine.advance_time(earlier)
    [funding] = fills_of(engine.drain_events())
    assert (funding.exec_time_ms, funding.exec_fee) == (earlier, D("5.00005"))  # 0.5 x mid 50000.5 x 0.0002
    assert engine.market(SYMBOL).next_funding_ms == earlier + 8 * 3_600_000


# --- KlineUpdate ---------------------------------------------------------------------------------


def _live(ohlc: tuple[str, str, str, str]) -> LiveBar:
    o, h, low, c = (D(x) for x in ohlc)
    return LiveBar(Bar(T0, o, h, low, c, D(1), D(1)), T0 + 59_999, confirmed=True, last_match_ms=T0)


def test_a_bar_goes_to_the_nearer_extreme_first_and_breaks_ties_by_its_direction() -> None:
    assert bar_path(_live(("100", "105", "94", "101"))) == (
        (T0, D("100")),
        (T0 + 19_999, D("105")),
        (T0 + 39_999, D("94")),
        (T0 + 59_999, D("101")),
    )
    assert [p for _, p in bar_path(_live(("100", "108", "97", "99")))] == [D(100), D(97), D(108), D(99)]
    assert [p for _, p in bar_path(_live(("100", "104", "96", "103")))] == [D(100), D(96), D(104), D(103)]
    assert [p for _, p in bar_path(_live(("100", "104", "96", "98")))] == [D(100), D(104), D(96), D(98)]


def test_a_bar_fills_the_resting_orders_its_path_reaches_at_their_own_price() -> None:
    engine, uid = funded()
    engine.apply(trade(T0, "50000", "1", BUY))
    dip = engine.place_order(uid, limit(BUY, "0.2", "49500")).order_id
    far = engine.place_order(uid, limit(SELL, "0.1", "50800")).order_id
    engine.drain_events()
    open_ms = T0 + 60_000 - T0 % 60_000

    engine.apply(bar(open_ms, ("50000", "50500", "49400", "50100"), "10"))

    [fill] = fills_of(engine.drain_events())
    assert (fill.order_id, fill.exec_price, fill.exec_qty, fill.is_maker) == (dip, D("49500"), D("0.2"), True)
    assert fill.exec_time_ms == open_ms + 39_999  # the low is the second extreme (the high is nearer)
    assert engine.get_order(uid, Category.LINEAR, order_id=far).status is OrderStatus.NEW
    assert (engine.now_ms, engine.market(SYMBOL).last_price) == (open_ms + 59_999, D("50100"))


def test_each_print_of_a_bar_offers_at_most_its_volume() -> None:
    engine, uid = funded()
    engine.apply(trade(T0, "50000", "1", BUY))
    dip = engine.place_order(uid, limit(BUY, "0.2", "49500")).order_id
    open_ms = T0 + 60_000 - T0 % 60_000

    engine.apply(bar(open_ms, ("50000", "50500", "49400", "49450"), "0.05"))  # low and close reach it
    engine.apply(bar(open_ms + 60_000, ("49450", "49450", "49450", "49450"), "0"))

    order = engine.get_order(uid, Category.LINEAR, order_id=dip)
    assert (order.status, order.cum_exec_qty) == (OrderStatus.PARTIALLY_FILLED, D("0.10"))


def test_a_bar_reaches_a_marketable_order_that_found_no_liquidity_at_its_open() -> None:
    engine, uid = funded()
    engine.apply(trade(T0, "50000", "1", BUY))
    chase = engine.place_order(uid, limit(BUY, "0.1", "50100")).order_id  # no asks: it rests
    open_ms = T0 + 60_000 - T0 % 60_000

    engine.apply(bar(open_ms, ("50050", "50300", "50040", "50200"), "3"))

    [fill] = fills_of(engine.drain_events())
    assert (fill.order_id, fill.exec_price, fill.exec_time_ms) == (chase, D("50100"), open_ms)


def test_an_open_bar_moves_nothing_but_the_clock() -> None:
    engine, uid = funded()
    engine.apply(trade(T0, "50000", "1", BUY))
    engine.place_order(uid, limit(BUY, "0.2", "49500"))
    engine.drain_events()
    open_ms = T0 + 60_000 - T0 % 60_000

    engine.apply(bar(open_ms, ("50000", "50500", "49000", "49100"), "10", confirmed=False))

    assert order_updates(engine.drain_events()) == []
    assert (engine.now_ms, engine.market(SYMBOL).last_price) == (open_ms + 59_999, D("50000"))


def test_a_stored_bar_becomes_the_confirmed_kline_of_its_last_millisecond() -> None:
    candle = Bar(T0 - T0 % 3_600_000, D(1), D(2), D("0.5"), D("1.5"), D(10), D(15))

    update = KlineUpdate.closed(Category.LINEAR, SYMBOL, Interval.H1, candle)

    end_ms = candle.open_time_ms + 3_600_000 - 1
    assert (update.ts_ms, update.recv_ms, update.interval) == (end_ms, end_ms, Interval.H1)
    assert update.bars == (LiveBar(candle, end_ms, confirmed=True, last_match_ms=end_ms),)
