"""Spot: balances, locks, fees in the received coin, quote-sized market buys, spot-only statuses."""

from __future__ import annotations

import pytest
from enginekit import SYMBOL, D, limit, make_engine, market, set_book

from bst.domain.errors import BybitOrderError, ConfigError
from bst.domain.market import Category, Side
from bst.domain.orders import AmendRequest, CancelType, MarketUnit, OrderStatus, RejectReason, TimeInForce
from bst.engine import MatchingEngine

SPOT = Category.SPOT


@pytest.fixture
def engine() -> MatchingEngine:
    engine = make_engine(linear=False, spot=True)
    set_book(engine, bids=[("49990", "1")], asks=[("50000", "0.001"), ("50010", "1")], category=SPOT)
    return engine


@pytest.fixture
def uid(engine: MatchingEngine) -> int:
    return engine.open_account({"USDT": D(10_000), "BTC": D("0.5")})


def balance(engine: MatchingEngine, uid: int, coin: str) -> tuple[D, D]:
    """Return (wallet, locked) of a coin."""
    row = engine.wallet(uid, coins=[coin]).coin(coin)
    assert row is not None
    return row.wallet_balance, row.locked


def test_limit_buy_locks_quote_until_cancelled(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "0.1", "49000", category=SPOT))
    assert balance(engine, uid, "USDT") == (D(10_000), D("4900.0"))
    assert engine.wallet(uid).coin("USDT").available_to_withdraw == D("5100.0")  # type: ignore[union-attr]

    engine.cancel_order(uid, SPOT, SYMBOL, order_id=ack.order_id)

    assert balance(engine, uid, "USDT") == (D(10_000), D(0))


def test_maker_buy_receives_base_minus_fee(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, limit(Side.BUY, "0.1", "49995", category=SPOT))
    engine.on_trade(SYMBOL, D("49990"), D("1"), Side.SELL, engine.now_ms + 1, category=SPOT)

    fill = engine.executions(uid, SPOT)[0]
    assert (fill.exec_price, fill.exec_qty, fill.is_maker) == (D("49995"), D("0.1"), True)
    assert (fill.exec_fee, fill.fee_currency, fill.closed_size) == (D("0.0001"), "BTC", 0)
    assert balance(engine, uid, "BTC") == (D("0.5999"), D(0))
    assert balance(engine, uid, "USDT") == (D("5000.5"), D(0))


def test_market_buy_is_quote_sized_and_cancels_the_dust(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, market(Side.BUY, "100", category=SPOT))

    order = engine.get_order(uid, SPOT, order_id=ack.order_id)
    assert order.market_unit is MarketUnit.QUOTE_COIN
    # 0.001 BTC at 50000 (50 USDT), then 50 / 50010 = 0.000999 BTC (49.95999 USDT); 0.04001 cannot buy a step
    assert (order.status, order.reject_reason) == (
        OrderStatus.PARTIALLY_FILLED_CANCELED,
        "EC_CancelForNoFullFill",
    )
    assert (order.cum_exec_qty, order.cum_exec_value, order.leaves_value) == (
        D("0.001999"),
        D("99.95999"),
        D("0.04001"),
    )
    assert (order.price, order.leaves_qty, order.cum_exec_fee) == (0, 0, D("0.000001999"))
    assert balance(engine, uid, "USDT") == (D("9900.04001"), D(0))
    assert balance(engine, uid, "BTC") == (D("0.501997001"), D(0))


def test_market_buy_in_base_coin_and_market_sell(engine: MatchingEngine, uid: int) -> None:
    buy = engine.place_order(uid, market(Side.BUY, "0.002", category=SPOT, unit=MarketUnit.BASE_COIN))
    bought = engine.get_order(uid, SPOT, order_id=buy.order_id)
    assert (bought.status, bought.cum_exec_value) == (OrderStatus.FILLED, D("100.010"))

    sell = engine.place_order(uid, market(Side.SELL, "0.3", category=SPOT))

    sold = engine.get_order(uid, SPOT, order_id=sell.order_id)
    assert (sold.status, sold.cum_exec_qty, sold.fee_currency) == (OrderStatus.FILLED, D("0.3"), "USDT")
    assert sold.cum_exec_fee == D("14.997")  # 0.3 x 49990 x 0.001, paid in quote
    assert balance(engine, uid, "USDT") == (D(10_000) - D("100.010") + D("14997") - D("14.997"), D(0))


def test_spot_ioc_partial_fill_is_partially_filled_canceled(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "0.01", "50000", TimeInForce.IOC, category=SPOT))

    order = engine.get_order(uid, SPOT, order_id=ack.order_id)
    assert (order.status, order.cum_exec_qty) == (OrderStatus.PARTIALLY_FILLED_CANCELED, D("0.001"))
    assert order.reject_reason == RejectReason.CANCEL_FOR_NO_FULL_FILL
    assert balance(engine, uid, "USDT") == (D(9950), D(0))  # the unfilled 450 USDT is unlocked


def test_cancelling_a_partly_filled_spot_order(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.SELL, "0.2", "50005", category=SPOT))
    engine.on_trade(SYMBOL, D("50006"), D("0.05"), Side.BUY, engine.now_ms + 1, category=SPOT)
    assert balance(engine, uid, "BTC") == (D("0.45"), D("0.15"))

    engine.cancel_order(uid, SPOT, SYMBOL, order_id=ack.order_id)

    order = engine.get_order(uid, SPOT, order_id=ack.order_id)
    assert (order.status, order.cancel_type, order.reject_reason) == (
        OrderStatus.PARTIALLY_FILLED_CANCELED,
        CancelType.CANCEL_BY_USER,
        RejectReason.PER_CANCEL_REQUEST,
    )
    assert balance(engine, uid, "BTC") == (D("0.45"), D(0))


def test_amending_a_spot_buy_moves_its_lock(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, limit(Side.BUY, "0.1", "49000", category=SPOT))
    engine.amend_order(
        uid, AmendRequest(SPOT, SYMBOL, order_id=ack.order_id, qty=D("0.15"), price=D("48000"))
    )

    assert balance(engine, uid, "USDT") == (D(10_000), D("7200.00"))
    with pytest.raises(BybitOrderError) as short:
        engine.amend_order(uid, AmendRequest(SPOT, SYMBOL, order_id=ack.order_id, qty=D("0.25")))
    assert short.value.ret_code == 170131


def test_spot_ret_codes(engine: MatchingEngine, uid: int) -> None:
    engine.place_order(uid, limit(Side.BUY, "0.001", "49000", category=SPOT, link="dup"))
    cases = [
        (limit(Side.SELL, "0.6", "51000", category=SPOT), 170131),  # holds 0.5 BTC
        (limit(Side.BUY, "0.3", "49000", category=SPOT), 170131),  # 14700 USDT > 10000
        (limit(Side.BUY, "0.0000015", "49000", category=SPOT), 170137),
        (limit(Side.BUY, "0.001", "49000.001", category=SPOT), 170134),
        (limit(Side.BUY, "0.00001", "49000", category=SPOT), 170136),
        (market(Side.BUY, "0.5", category=SPOT), 170140),  # 0.5 USDT < 1 USDT minimum order value
        (limit(Side.BUY, "0.001", "49000", category=SPOT, link="dup"), 170141),
    ]
    for request, code in cases:
        with pytest.raises(BybitOrderError) as info:
            engine.place_order(uid, request)
        assert info.value.ret_code == code, request
    with pytest.raises(BybitOrderError) as missing:
        engine.cancel_order(uid, SPOT, SYMBOL, order_id="1")
    assert missing.value.ret_code == 170213


def test_symbol_listed_in_two_categories_needs_the_category() -> None:
    engine = make_engine(spot=True)
    with pytest.raises(ConfigError, match="several categories"):
        engine.on_trade(SYMBOL, D("1"), D("1"), Side.BUY, engine.now_ms)
    engine.on_trade(SYMBOL, D("50000"), D("1"), Side.BUY, engine.now_ms, category=SPOT)
    assert engine.market(SYMBOL, category=SPOT).last_price == D("50000")
    assert engine.market(SYMBOL, category=Category.LINEAR).last_price is None


def test_quote_sized_market_sell_locks_and_spends_base(engine: MatchingEngine, uid: int) -> None:
    ack = engine.place_order(uid, market(Side.SELL, "1000", category=SPOT, unit=MarketUnit.QUOTE_COIN))

    order = engine.get_order(uid, SPOT, order_id=ack.order_id)
    # 1000 / 49990 = 0.020004... BTC, down to the 0.000001 step: 0.020004 BTC for 999.99996 USDT
    assert (order.status, order.cum_exec_qty, order.cum_exec_value) == (
        OrderStatus.PARTIALLY_FILLED_CANCELED,
        D("0.020004"),
        D("999.99996"),
    )
    assert balance(engine, uid, "BTC") == (D("0.479996"), D(0))
    with pytest.raises(BybitOrderError) as short:
        engine.place_order(uid, market(Side.SELL, "30000", category=SPOT, unit=MarketUnit.QUOTE_COIN))
    assert short.value.ret_code == 170131  # 30000 USDT of BTC at the protected price needs > 0.5 BTC
