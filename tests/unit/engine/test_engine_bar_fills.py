"""Bar fills: takers on a book-less symbol fill at bar prints (candle backtests), computed by hand.

The default fees are Bybit's base tier: taker 0.055 %, maker 0.02 %.
"""

from __future__ import annotations

import dataclasses
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from enginekit import BTC_LINEAR, SYMBOL, T0, fills_of, limit, market, set_book, statuses
from hypothesis import given, settings
from hypothesis import strategies as st
from marketkit import bar

from bst.domain.market import Category, Side
from bst.domain.orders import OrderStatus, TimeInForce, TriggerDirection
from bst.domain.portfolio import PositionSide
from bst.engine import BarFill, EngineConfig, MatchingEngine, SymbolSpec
from bst.engine.market_input import bar_path

D = Decimal
OPEN = T0 - T0 % 60_000 + 60_000  # the first whole minute after T0
LINEAR = Category.LINEAR


def _engine(
    mode: BarFill, *, slippage: str = "0", config: EngineConfig | None = None
) -> tuple[MatchingEngine, int]:
    engine = MatchingEngine(config)
    engine.add_symbol(SymbolSpec(BTC_LINEAR, bar_fill=mode, bar_slippage_ratio=D(slippage)))
    engine.advance_time(T0)
    uid = engine.open_account({"USDT": D(100_000)})
    engine.apply(bar(OPEN, ("50000", "50500", "49400", "50100"), "10"))
    engine.drain_events()
    return engine, uid


def _position(engine: MatchingEngine, uid: int) -> tuple[Decimal, Decimal | None]:
    position = engine.positions(uid, symbol=SYMBOL)[0]
    signed = -position.size if position.side is PositionSide.SELL else position.size
    return signed, position.avg_price if position.size else None


def test_next_print_fills_a_market_order_at_the_next_bars_open_with_the_taker_fee() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    ack = engine.place_order(uid, market(Side.BUY, "0.1"))
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.NEW
    assert engine.executions(uid, LINEAR) == []
    engine.apply(bar(OPEN + 60_000, ("50200", "50600", "50150", "50400"), "10"))
    (fill,) = engine.executions(uid, LINEAR)
    assert (fill.exec_price, fill.exec_qty, fill.exec_fee, fill.is_maker) == (
        D(50200),
        D("0.1"),
        D("2.761"),  # 0.1 x 50200 x 0.00055
        False,
    )
    assert fill.exec_time_ms == OPEN + 60_000  # the open print's time
    assert _position(engine, uid) == (D("0.1"), D(50200))
    assert engine.wallet(uid).coin("USDT").wallet_balance == D("99997.239")


def test_last_print_fills_a_market_order_at_once_at_the_last_close() -> None:
    engine, uid = _engine(BarFill.LAST_PRINT)
    ack = engine.place_order(uid, market(Side.SELL, "0.2"))
    (fill,) = engine.executions(uid, LINEAR)
    assert (fill.exec_price, fill.exec_qty, fill.exec_fee) == (D(50100), D("0.2"), D("5.511"))
    assert statuses(engine.drain_events(), ack.order_id)[-1] is OrderStatus.FILLED
    assert _position(engine, uid) == (D("-0.2"), D(50100))


def test_slippage_moves_the_price_against_the_taker_onto_the_tick_grid() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT, slippage="0.001")
    engine.place_order(uid, market(Side.BUY, "0.1"))
    engine.apply(bar(OPEN + 60_000, ("50123.4", "50600", "50000", "50400"), "10"))
    engine.place_order(uid, market(Side.SELL, "0.1", reduce_only=True))
    engine.apply(bar(OPEN + 120_000, ("50123.4", "50600", "50000", "50400"), "10"))
    buy, sell = sorted(engine.executions(uid, LINEAR), key=lambda e: e.exec_time_ms)
    assert buy.exec_price == D("50173.6")  # 50123.4 x 1.001 = 50173.5234, up to the 0.1 tick
    assert sell.exec_price == D("50073.2")  # 50123.4 x 0.999 = 50073.2766, down to the tick
    assert sell.exec_pnl == D("-10.04")  # (50073.2 - 50173.6) x 0.1
    assert _position(engine, uid) == (D(0), None)


def test_a_marketable_limit_takes_at_the_open_when_the_open_reaches_it() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    engine.place_order(uid, limit(Side.BUY, "0.1", "50150"))  # at or above the last 50100: it takes
    engine.apply(bar(OPEN + 60_000, ("50120", "50600", "50110", "50400"), "10"))
    (fill,) = engine.executions(uid, LINEAR)
    assert (fill.exec_price, fill.is_maker) == (D(50120), False)


def test_a_marketable_limit_the_open_gaps_away_from_rests_and_fills_as_maker_at_its_price() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    ack = engine.place_order(uid, limit(Side.BUY, "0.1", "50150"))
    engine.apply(bar(OPEN + 60_000, ("50200", "50250", "50050", "50100"), "10"))  # open above, low below
    (fill,) = engine.executions(uid, LINEAR)
    assert (fill.exec_price, fill.is_maker, fill.exec_fee) == (D(50150), True, D("1.003"))
    assert statuses(engine.drain_events(), ack.order_id) == [OrderStatus.NEW, OrderStatus.FILLED]


def test_a_limit_the_bar_path_touches_fills_at_its_own_price() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    engine.place_order(uid, limit(Side.BUY, "0.1", "49500"))
    engine.apply(bar(OPEN + 60_000, ("50200", "50300", "49450", "49800"), "10"))
    (fill,) = engine.executions(uid, LINEAR)
    assert (fill.exec_price, fill.is_maker, fill.exec_fee) == (D(49500), True, D("0.99"))
    assert fill.exec_time_ms == OPEN + 60_000 + 2 * 59_999 // 3  # the low, at two thirds of the bar


def test_an_ioc_limit_the_open_does_not_reach_is_cancelled_unfilled() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    ack = engine.place_order(uid, limit(Side.BUY, "0.1", "50150", TimeInForce.IOC))
    engine.apply(bar(OPEN + 60_000, ("50200", "50250", "50050", "50100"), "10"))
    assert engine.executions(uid, LINEAR) == []
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.CANCELLED


def test_a_stop_loss_the_market_gaps_through_fills_at_the_open() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    engine.place_order(uid, market(Side.BUY, "0.1"))
    engine.apply(bar(OPEN + 60_000, ("50200", "50600", "50150", "50400"), "10"))
    engine.set_trading_stop(uid, SYMBOL, stop_loss=D(49000))
    engine.apply(bar(OPEN + 120_000, ("48500", "48900", "48000", "48800"), "10"))  # opens below the stop
    close = engine.executions(uid, LINEAR)[0]
    assert (close.exec_price, close.exec_qty, close.side) == (D(48500), D("0.1"), Side.SELL)
    assert close.exec_pnl == D(-170)  # (48500 - 50200) x 0.1
    assert close.exec_fee == D("2.6675")  # 0.1 x 48500 x 0.00055
    assert close.exec_time_ms == OPEN + 120_000
    assert _position(engine, uid) == (D(0), None)


def test_a_stop_loss_touched_inside_a_bar_fills_at_its_own_price() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    engine.place_order(uid, market(Side.BUY, "0.1"))
    engine.apply(bar(OPEN + 60_000, ("50200", "50600", "50150", "50400"), "10"))
    engine.set_trading_stop(uid, SYMBOL, stop_loss=D(49900))
    # open 50000, high 50100 first (nearer), then the low 49500: the fall passes the stop at 49900
    engine.apply(bar(OPEN + 120_000, ("50000", "50100", "49500", "49700"), "10"))
    close = engine.executions(uid, LINEAR)[0]
    assert (close.exec_price, close.exec_pnl, close.is_maker) == (D(49900), D(-30), False)


def test_a_take_profit_touched_inside_a_bar_fills_at_its_own_price_for_a_short() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    engine.place_order(uid, market(Side.SELL, "0.1"))
    engine.apply(bar(OPEN + 60_000, ("50200", "50600", "50150", "50400"), "10"))
    engine.set_trading_stop(uid, SYMBOL, take_profit=D("49777.7"))
    engine.apply(bar(OPEN + 120_000, ("50000", "50100", "49500", "49700"), "10"))
    close = engine.executions(uid, LINEAR)[0]
    assert (close.side, close.exec_price, close.exec_pnl) == (Side.BUY, D("49777.7"), D("42.23"))


def test_a_cancelled_waiting_order_never_fills() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    ack = engine.place_order(uid, market(Side.BUY, "0.1"))
    engine.cancel_order(uid, LINEAR, SYMBOL, order_id=ack.order_id)
    engine.apply(bar(OPEN + 60_000, ("50200", "50600", "50150", "50400"), "10"))
    assert engine.executions(uid, LINEAR) == []
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.CANCELLED
    assert engine.wallet(uid).coin("USDT").wallet_balance == D(100_000)


def test_a_reduce_only_market_order_waiting_for_the_open_closes_the_position() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    engine.place_order(uid, market(Side.BUY, "0.1"))
    engine.apply(bar(OPEN + 60_000, ("50200", "50600", "50150", "50400"), "10"))
    engine.place_order(uid, market(Side.SELL, "0.5", reduce_only=True))  # trimmed to the position
    engine.apply(bar(OPEN + 120_000, ("50300", "50600", "50150", "50400"), "10"))
    close = engine.executions(uid, LINEAR)[0]
    assert (close.exec_qty, close.exec_price, close.exec_pnl) == (D("0.1"), D(50300), D(10))
    assert _position(engine, uid) == (D(0), None)


def test_a_waiting_order_survives_a_save_and_restore() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT, slippage="0.0005")
    engine.place_order(uid, market(Side.BUY, "0.1"))
    engine.drain_events()
    restored = MatchingEngine.from_state(engine.to_state())
    for each in (engine, restored):
        each.apply(bar(OPEN + 60_000, ("50200", "50600", "50150", "50400"), "10"))
    assert restored.executions(uid, LINEAR) == engine.executions(uid, LINEAR)
    assert engine.executions(uid, LINEAR)[0].exec_price == D("50225.1")  # 50200 x 1.0005, up to tick


def test_a_book_on_the_takers_side_wins_over_bar_fills() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    set_book(engine, [("50090", "1")], [("50110", "1")])
    engine.place_order(uid, market(Side.BUY, "0.1"))
    (fill,) = engine.executions(uid, LINEAR)
    assert fill.exec_price == D(50110)


def test_without_a_bar_fill_a_book_less_market_order_is_still_cancelled() -> None:
    engine = MatchingEngine()
    engine.add_symbol(SymbolSpec(BTC_LINEAR))
    engine.advance_time(T0)
    uid = engine.open_account({"USDT": D(100_000)})
    engine.apply(bar(OPEN, ("50000", "50500", "49400", "50100"), "10"))
    ack = engine.place_order(uid, market(Side.BUY, "0.1"))
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.CANCELLED
    assert fills_of(engine.drain_events()) == []


def test_feeding_a_bars_prints_one_by_one_equals_applying_the_bar() -> None:
    whole, uid = _engine(BarFill.NEXT_PRINT)
    split, _ = _engine(BarFill.NEXT_PRINT)
    for engine in (whole, split):
        engine.place_order(uid, market(Side.BUY, "0.1"))
        engine.place_order(uid, limit(Side.BUY, "0.1", "49500"))
    update = bar(OPEN + 60_000, ("50200", "50300", "49450", "49800"), "10")
    whole.apply(update)
    previous = None
    for at_ms, price in bar_path(update.bars[0]):
        split.on_bar_print(SYMBOL, price, D(10), at_ms, previous=previous)
        previous = price
    assert split.executions(uid, LINEAR) == whole.executions(uid, LINEAR)
    assert split.drain_events() == whole.drain_events()
    assert split.to_state() == whole.to_state()


def test_a_conditional_market_order_touched_inside_a_bar_fills_at_its_trigger() -> None:
    engine, uid = _engine(BarFill.NEXT_PRINT)
    request = dataclasses.replace(
        market(Side.SELL, "0.1"), trigger_price=D(49_800), trigger_direction=TriggerDirection.FALL
    )
    ack = engine.place_order(uid, request)
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.UNTRIGGERED
    # open 50000, high 50100 (nearer) then the low 49500: the fall passes 49800 on the way
    engine.apply(bar(OPEN + 60_000, ("50000", "50100", "49500", "49700"), "10"))
    (fill,) = engine.executions(uid, LINEAR)
    assert (fill.exec_price, fill.exec_qty, fill.is_maker) == (D(49_800), D("0.1"), False)
    assert engine.get_order(uid, LINEAR, order_id=ack.order_id).status is OrderStatus.FILLED


PRICE = st.integers(40_000_0, 60_000_0).map(lambda n: D(n) / 10)


@st.composite
def _bars(draw: st.DrawFn) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
    out = []
    for _ in range(draw(st.integers(2, 6))):
        o, c = draw(PRICE), draw(PRICE)
        h = max(o, c) + draw(st.integers(0, 500)) / D(10)
        low = min(o, c) - draw(st.integers(0, 500)) / D(10)
        out.append((o, h, low, c))
    return out


@settings(max_examples=60, deadline=None)
@given(
    _bars(), st.booleans(), st.sampled_from(list(BarFill)), st.integers(0, 20).map(lambda n: D(n) / 10_000)
)
def test_a_market_order_between_bars_fills_at_the_next_open_or_the_last_close(
    ohlc: list[tuple[Decimal, Decimal, Decimal, Decimal]], buy: bool, mode: BarFill, slippage: Decimal
) -> None:
    """Property: wherever the bars go, the fill price is the mode's print moved by the slippage,
    on the tick grid against the taker, and the wallet pays exactly price x qty x taker rate."""
    engine, uid = _engine(mode, slippage=str(slippage))
    side = Side.BUY if buy else Side.SELL
    last_close = D("50100")  # the close of the bar _engine fed
    for index, (o, h, low, c) in enumerate(ohlc):
        before = engine.wallet(uid).coin("USDT").wallet_balance
        executions = len(engine.executions(uid, LINEAR))
        engine.place_order(uid, market(side, "0.01"))
        engine.apply(bar(OPEN + (index + 1) * 60_000, (str(o), str(h), str(low), str(c)), "10"))
        fills = engine.executions(uid, LINEAR)
        assert len(fills) == executions + 1
        fill = fills[0]
        print_price = o if mode is BarFill.NEXT_PRINT else last_close
        raw = print_price * (1 + slippage) if buy else print_price * (1 - slippage)
        tick = BTC_LINEAR.tick_size
        expected = (raw / tick).to_integral_value(ROUND_UP if buy else ROUND_DOWN) * tick if slippage else raw
        assert fill.exec_price == expected
        assert fill.exec_fee == D("0.01") * expected * D("0.00055")
        assert (fill.exec_price >= print_price) if buy else (fill.exec_price <= print_price)
        after = engine.wallet(uid).coin("USDT").wallet_balance
        assert after == before - fill.exec_fee + fill.exec_pnl
        last_close = c
