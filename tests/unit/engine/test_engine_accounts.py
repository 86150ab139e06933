"""Linear accounts: fees, PnL, average entry, leverage, margin, funding, liquidation, TP/SL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from enginekit import SYMBOL, T0, D, limit, make_engine, market, set_book

from bst.domain.errors import BybitInvalidParameterError, BybitOrderError
from bst.domain.market import Category, Side
from bst.domain.orders import CancelType, CreateType, ExecType, OrderStatus, StopOrderType
from bst.domain.portfolio import PositionSide, position_margins
from bst.engine import EngineConfig, FeeSchedule, MatchingEngine

EIGHT_HOURS = 8 * 3_600_000
FIRST_FUNDING = 1_700_006_400_000  # 2023-11-15 00:00 UTC, the first 8 h boundary after T0


@pytest.fixture
def engine() -> MatchingEngine:
    engine = make_engine()
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    return engine


@pytest.fixture
def uid(engine: MatchingEngine) -> int:
    return engine.open_account({"USDT": D(100_000)})


def usdt(engine: MatchingEngine, uid: int) -> D:
    coin = engine.wallet(uid).coin("USDT")
    assert coin is not None
    return coin.wallet_balance


def test_round_trip_books_pnl_and_taker_fees_exactly(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, market(Side.BUY, "1"))
    assert usdt(engine, uid) == D("99972.49945")  # 50001 x 0.00055 = 27.50055

    set_book(engine, bids=[("51000", "5")], asks=[("51001", "5")])
    engine.place_order(uid, market(Side.SELL, "1"))

    close = engine.executions(uid, Category.LINEAR)[0]
    assert (close.closed_size, close.exec_pnl, close.exec_fee) == (D("1"), D("999"), D("28.05"))
    assert usdt(engine, uid) == D("100943.44945")
    position = engine.positions(uid, symbol=SYMBOL)[0]
    assert (position.side, position.size, position.cum_realised_pnl) == (PositionSide.NONE, 0, D("943.44945"))
    assert engine.wallet(uid).coin("USDT").cum_realised_pnl == D("943.44945")  # type: ignore[union-attr]


def test_average_entry_and_partial_close(engine: MatchingEngine, uid: int) -> None:
    set_book(engine, bids=[("49990", "5")], asks=[("50000", "1"), ("50003", "2")])
    engine.place_order(uid, market(Side.BUY, "3"))
    position = engine.positions(uid, symbol=SYMBOL)[0]
    assert (position.size, position.avg_price, position.position_value) == (D("3"), D("50002"), D("150006"))

    set_book(engine, bids=[("50100", "5")], asks=[("50101", "5")])
    engine.place_order(uid, market(Side.SELL, "1"))
    engine.on_mark_price(SYMBOL, D("50100"), engine.now_ms)

    close = engine.executions(uid, Category.LINEAR)[0]
    assert (close.closed_size, close.exec_pnl) == (D("1"), D("98"))
    position = engine.positions(uid, symbol=SYMBOL)[0]
    assert (position.size, position.avg_price, position.unrealised_pnl) == (D("2"), D("50002"), D("196"))


def test_non_terminating_cost_split_still_adds_up(engine: MatchingEngine, uid: int) -> None:
    set_book(engine, bids=[("49990", "5")], asks=[("50000.1", "0.001"), ("50000.2", "0.002")])
    engine.place_order(uid, market(Side.BUY, "0.003"))
    assert engine.positions(uid, symbol=SYMBOL)[0].avg_price == D("50000.16666667")

    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    engine.place_order(uid, market(Side.SELL, "0.001"))
    engine.place_order(uid, market(Side.SELL, "0.002"))

    pnls = [e.exec_pnl for e in reversed(engine.executions(uid, Category.LINEAR)) if e.closed_size > 0]
    # 150.0005 of cost: one third (50.00016667, rounded to 8 dp) leaves first, the rest with the last fill
    assert pnls == [D("-0.00016667"), D("-0.00033333")]
    assert sum(pnls) == D("150.0000") - D("150.0005")


def test_a_larger_opposite_order_flips_the_position(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, market(Side.BUY, "1"))
    engine.place_order(uid, market(Side.SELL, "1.5"))

    flip = engine.executions(uid, Category.LINEAR)[0]
    assert (flip.closed_size, flip.exec_pnl) == (D("1"), D("-1"))
    position = engine.positions(uid, symbol=SYMBOL)[0]
    assert (position.side, position.size, position.avg_price) == (PositionSide.SELL, D("0.5"), D("50000"))


def test_fee_schedule_overrides_rebates_and_rounding() -> None:
    engine = make_engine(
        EngineConfig(
            fees=FeeSchedule(
                symbol_rates=((Category.LINEAR, SYMBOL, D("0.0004"), D("-0.0001")),), fee_quantum=D("0.01")
            )
        )
    )
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    uid = engine.open_account({"USDT": D(100_000)})

    engine.place_order(uid, market(Side.BUY, "0.003"))  # 150.003 x 0.0004 = 0.0600012 -> 0.06
    engine.place_order(uid, limit(Side.BUY, "0.1", "49999"))
    engine.on_trade(SYMBOL, D("49990"), D("1"), Side.SELL, engine.now_ms + 1)  # rebate 4999.9 x 0.0001

    fees = [(e.is_maker, e.exec_fee) for e in reversed(engine.executions(uid, Category.LINEAR))]
    assert fees == [(False, D("0.06")), (True, D("-0.50"))]
    assert [(r.taker_fee_rate, r.maker_fee_rate) for r in engine.fee_rates(uid, Category.LINEAR)] == [
        (D("0.0004"), D("-0.0001"))
    ]


def test_default_fee_rates_are_bybits_base_tier() -> None:
    engine = make_engine(spot=True)
    uid = engine.open_account()
    linear = engine.fee_rates(uid, Category.LINEAR, symbol=SYMBOL)[0]
    spot = engine.fee_rates(uid, Category.SPOT, symbol=SYMBOL)[0]
    assert (linear.taker_fee_rate, linear.maker_fee_rate) == (D("0.00055"), D("0.0002"))
    assert (spot.taker_fee_rate, spot.maker_fee_rate) == (D("0.001"), D("0.001"))


def test_set_leverage_rules(engine: MatchingEngine, uid: int) -> None:
    engine.set_leverage(uid, SYMBOL, D(20))
    assert engine.leverage(uid, SYMBOL) == D(20)
    with pytest.raises(BybitOrderError) as same:
        engine.set_leverage(uid, SYMBOL, D(20), D(20))
    assert same.value.ret_code == 110043
    for buy, sell in ((D("0.5"), None), (D(101), None), (D("10.005"), None), (D(20), D(25))):
        with pytest.raises(BybitInvalidParameterError):
            engine.set_leverage(uid, SYMBOL, buy, sell)

    engine.place_order(uid, market(Side.BUY, "1"))
    position = engine.positions(uid, symbol=SYMBOL)[0]
    # IM = 50001 / 20 + 1 x 50001 x 0.95 x 0.00055 (close fee at the bankruptcy price)
    assert (position.leverage, position.position_im) == (D(20), D("2526.17552250"))


def test_lowering_leverage_beyond_the_margin_is_refused() -> None:
    engine = make_engine()
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    uid = engine.open_account({"USDT": D(1000)})
    engine.set_leverage(uid, SYMBOL, D(50))
    engine.place_order(uid, market(Side.BUY, "0.5"))

    with pytest.raises(BybitOrderError) as refused:
        engine.set_leverage(uid, SYMBOL, D(2))
    assert refused.value.ret_code == 110044
    assert engine.positions(uid, symbol=SYMBOL)[0].leverage == D(50)


def test_position_margin_formula_matches_a_bybit_position() -> None:
    # LTCUSDT from /v5/position/list: size 1.2, value 77.519375, 6x, MMR 1 % -> IM 12.95542633, MM 0.81072399
    im, mm = position_margins(D("1.2"), D("77.519375"), D(6), D("0.00055"), D("0.01"))
    assert abs(im - D("12.95542633")) < D("0.000001")
    assert abs(mm - D("0.81072399")) < D("0.000001")
    assert (im, mm) == (D("12.95542555"), D("0.81072347"))


def test_resting_orders_reserve_the_larger_side_of_order_margin(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, limit(Side.BUY, "1", "49000"))
    wallet = engine.wallet(uid)
    # 4900 IM + 26.95 fee to open + 24.255 fee to close
    assert (wallet.total_initial_margin, wallet.total_available_balance) == (D("4951.205"), D("95048.795"))

    engine.place_order(uid, limit(Side.SELL, "0.5", "51000"))
    assert engine.wallet(uid).total_initial_margin == D("4951.205")


def test_funding_settles_at_00_08_16_utc(engine: MatchingEngine, uid: int) -> None:
    short = engine.open_account({"USDT": D(100_000)})
    engine.place_order(uid, market(Side.BUY, "1"))
    engine.place_order(short, market(Side.SELL, "1"))
    engine.on_mark_price(SYMBOL, D("50000"), T0 + 1)
    long_before, short_before = usdt(engine, uid), usdt(engine, short)

    engine.advance_time(FIRST_FUNDING - 1)
    assert engine.executions(uid, Category.LINEAR, exec_type=ExecType.FUNDING) == []
    engine.advance_time(FIRST_FUNDING + 2 * EIGHT_HOURS)

    funding = engine.executions(uid, Category.LINEAR, exec_type=ExecType.FUNDING)
    assert [e.exec_time_ms for e in funding] == [
        FIRST_FUNDING + 2 * EIGHT_HOURS,
        FIRST_FUNDING + EIGHT_HOURS,
        FIRST_FUNDING,
    ]
    first = funding[-1]
    assert (first.side, first.exec_qty, first.exec_price, first.exec_value) == (
        Side.BUY,
        D(1),
        D(50000),
        D(50000),
    )
    assert (first.fee_rate, first.exec_fee, first.order_type) == (D("0.0001"), D("5.0000"), "UNKNOWN")
    assert usdt(engine, uid) == long_before - 15
    assert usdt(engine, short) == short_before + 15
    received = engine.executions(short, Category.LINEAR, exec_type=ExecType.FUNDING)[0]
    assert (received.side, received.exec_fee) == (Side.SELL, D("-5.0000"))


def test_funding_uses_the_latest_rate_and_skips_flat_accounts(engine: MatchingEngine, uid: int) -> None:
    flat = engine.open_account({"USDT": D(100)})
    engine.place_order(uid, market(Side.BUY, "2"))
    engine.on_mark_price(SYMBOL, D("50000"), T0 + 1)
    engine.on_funding_rate(SYMBOL, D("-0.0003"), T0 + 2)

    engine.advance_time(FIRST_FUNDING)

    [funding] = engine.executions(uid, Category.LINEAR, exec_type=ExecType.FUNDING)
    assert funding.exec_fee == D("-30.0000")  # a negative rate pays longs: 2 x 50000 x 0.0003
    assert engine.executions(flat, Category.LINEAR) == []
    position = engine.positions(uid, symbol=SYMBOL)[0]
    assert position.cur_realised_pnl == D("-55.0011") + D("30")  # opening fee, then funding received


def test_liquidation_at_the_maintenance_margin() -> None:
    engine = make_engine()
    set_book(engine, bids=[("50000", "5")], asks=[("50001", "5")])
    uid = engine.open_account({"USDT": D(1000)})
    engine.set_leverage(uid, SYMBOL, D(50))
    engine.place_order(uid, market(Side.BUY, "0.5"))
    resting = engine.place_order(uid, limit(Side.BUY, "0.01", "49000"))
    liq = engine.positions(uid, symbol=SYMBOL)[0].liq_price
    assert liq is not None

    engine.on_mark_price(SYMBOL, liq + D("0.1"), engine.now_ms + 1)
    assert engine.positions(uid, symbol=SYMBOL)[0].size == D("0.5")

    engine.on_mark_price(SYMBOL, liq, engine.now_ms + 1)

    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0
    bust = engine.executions(uid, Category.LINEAR)[0]
    assert (bust.exec_type, bust.exec_price, bust.exec_qty, bust.side) == (
        ExecType.BUST_TRADE,
        liq,
        D("0.5"),
        Side.SELL,
    )
    cancelled = engine.get_order(uid, Category.LINEAR, order_id=resting.order_id)
    assert (cancelled.status, cancelled.cancel_type) == (
        OrderStatus.CANCELLED,
        CancelType.CANCEL_ALL_BEFORE_LIQ,
    )
    closing = engine.get_order(uid, Category.LINEAR, order_id=bust.order_id)
    assert closing.create_type == CreateType.CREATE_BY_LIQ
    # what is left: 1000 - open fee - loss - close fee, all at mark
    expected = D(1000) - D("13.750275") + D("0.5") * (liq - D("50001")) - D("0.5") * liq * D("0.00055")
    assert usdt(engine, uid) == expected


def test_take_profit_attached_to_an_order_closes_the_position(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, replace(market(Side.BUY, "1"), take_profit=D("51000")))
    assert engine.positions(uid, symbol=SYMBOL)[0].take_profit == D("51000")

    set_book(engine, bids=[("50990", "5")], asks=[("51001", "5")])
    engine.on_trade(SYMBOL, D("51000"), D("0.1"), Side.BUY, engine.now_ms + 1)

    position = engine.positions(uid, symbol=SYMBOL)[0]
    assert (position.size, position.take_profit) == (0, None)
    close = engine.executions(uid, Category.LINEAR)[0]
    order = engine.get_order(uid, Category.LINEAR, order_id=close.order_id)
    assert (order.create_type, order.stop_order_type, order.reduce_only) == (
        CreateType.CREATE_BY_TAKE_PROFIT,
        StopOrderType.TAKE_PROFIT,
        True,
    )
    assert (close.exec_price, close.exec_pnl) == (D("50990"), D("989"))


def test_trading_stop_loss_on_a_short(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, market(Side.SELL, "1"))
    with pytest.raises(BybitInvalidParameterError):
        engine.set_trading_stop(uid, SYMBOL, stop_loss=D("49000"))  # below the price for a short
    engine.set_trading_stop(uid, SYMBOL, stop_loss=D("50500"))

    set_book(engine, bids=[("50490", "5")], asks=[("50510", "5")])
    engine.on_trade(SYMBOL, D("50499.9"), D("1"), Side.BUY, engine.now_ms + 1)
    assert engine.positions(uid, symbol=SYMBOL)[0].size == D(1)
    engine.on_trade(SYMBOL, D("50500"), D("1"), Side.BUY, engine.now_ms + 1)

    assert engine.positions(uid, symbol=SYMBOL)[0].size == 0
    close = engine.executions(uid, Category.LINEAR)[0]
    assert (close.exec_price, close.exec_pnl, close.stop_order_type) == (D("50510"), D("-510"), "StopLoss")
