"""The strategy runtime, step-wise: what callbacks see, in which order, and what intents come out."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from paper_venue import linear_instrument
from runtime_kit import LINEAR, START_MS, SYMBOL, Driver, Script, bar, klines

from bst.domain.account_events import AccountEventSource, PositionsEvent, WalletsEvent
from bst.domain.clock import ManualClock
from bst.domain.errors import ConfigError, OrderValidationError
from bst.domain.events import BookUpdate, KlineUpdate, LiveBar, TickerUpdate, TradesUpdate
from bst.domain.market import Category, Interval, Side, Ticker, Trade
from bst.domain.orders import OrderRequest, OrderStatus, OrderType
from bst.domain.portfolio import CoinBalance, PositionSide, WalletBalance
from bst.domain.ports import MarketChannel, MarketSubscription
from bst.trading.context import Context
from bst.trading.execution import ExecutionPolicy, Resolution
from bst.trading.intents import CancelAllIntent, IntentResult, SubmitIntent
from bst.trading.market_view import ConfirmedBar, DataNeeds
from bst.trading.order_tracker import LocalPhase, OrderTracker
from bst.trading.runtime import RuntimeConfig, StrategyError, StrategyRuntime
from bst.trading.timers import TimerFired

MINUTE = 60_000


def buy_one(ctx: Context, _: object) -> None:
    ctx.buy(Decimal("0.01"))


def sell_one(ctx: Context, _: object) -> None:
    ctx.sell(Decimal("0.01"))


def closes_seen(script: Script) -> list[tuple[int, Decimal]]:
    out = []
    for name, now, what in script.seen:
        if name == "on_bar":
            assert isinstance(what, ConfirmedBar)
            out.append((now, what.bar.close))
    return out


async def test_confirmed_bars_reach_on_bar_once_in_order_at_their_last_millisecond() -> None:
    script = Script()
    driver = Driver(script)
    await driver.start()
    first, second = bar(START_MS, 100), bar(START_MS + MINUTE, 101)
    end = START_MS + MINUTE - 1
    partial = KlineUpdate(
        LINEAR,
        SYMBOL,
        Interval.M1,
        (LiveBar(second, START_MS + 2 * MINUTE - 1, False, end + 10),),
        end + 10,
        end + 10,
    )
    events = [
        KlineUpdate.closed(LINEAR, SYMBOL, Interval.M1, first),
        partial,  # still open: not a bar yet
        KlineUpdate.closed(LINEAR, SYMBOL, Interval.M1, first),  # repeated (a reconnect): ignored
        KlineUpdate.closed(LINEAR, SYMBOL, Interval.M5, first),  # an interval not asked for
        KlineUpdate.closed(LINEAR, "ETHUSDT", Interval.M1, first),  # a symbol of another run
        KlineUpdate.closed(LINEAR, SYMBOL, Interval.M1, second),
    ]
    await driver.feed(events)

    assert closes_seen(script) == [(end, Decimal(100)), (end + MINUTE, Decimal(101))]
    window = driver.runtime.context.bars()
    assert list(window) == [first, second]
    assert window[-1] == second
    assert window.closes().tolist() == [100.0, 101.0]
    assert driver.runtime.now_ms == end + MINUTE


async def test_the_window_keeps_the_last_history_bars() -> None:
    script = Script(DataNeeds(bars=(Interval.M1,), history=3))
    driver = Driver(script)
    await driver.start()
    await driver.feed(klines([1, 2, 3, 4, 5]))

    window = driver.runtime.context.bars(Interval.M1)
    assert window.closes().tolist() == [3.0, 4.0, 5.0]
    assert window.closes(2).tolist() == [4.0, 5.0]
    assert [b.close for b in window[:2]] == [Decimal(3), Decimal(4)]
    assert len(window) == 3


async def test_order_methods_queue_and_return_deterministic_ids_without_sending() -> None:
    returned: list[str] = []
    calls_during: list[list[str]] = []

    def act(ctx: Context, _: object) -> None:
        returned.append(ctx.buy(Decimal("0.01")))
        returned.append(ctx.sell(Decimal("0.02"), Decimal("50000")))
        calls_during.append(list(driver.venue.calls))

    driver = Driver(Script(on_bar=act), tag="run7")
    await driver.start()
    await driver.feed(klines([100, 101]))

    assert returned == ["run7-1", "run7-2", "run7-3", "run7-4"]
    assert calls_during == [[], ["place run7-1", "place run7-2"]]
    assert [(d.kind, d.order_link_id, d.at_ms) for d in driver.decisions] == [
        ("submit", "run7-1", START_MS + MINUTE - 1),
        ("submit", "run7-2", START_MS + MINUTE - 1),
        ("submit", "run7-3", START_MS + 2 * MINUTE - 1),
        ("submit", "run7-4", START_MS + 2 * MINUTE - 1),
    ]


async def test_requests_are_rounded_passively_to_the_grid_before_they_are_queued() -> None:
    def act(ctx: Context, _: object) -> None:
        ctx.buy(0.0109, 50000.07)  # floats are read by their shortest text
        ctx.sell(Decimal("0.0101"), Decimal("50000.01"))

    driver = Driver(Script(on_start=act))
    await driver.start()

    buy, sell = (r.intent for r in driver.results)
    assert isinstance(buy, SubmitIntent)
    assert isinstance(sell, SubmitIntent)
    assert (buy.request.qty, buy.request.price, buy.request.order_type) == (
        Decimal("0.010"),
        Decimal("50000.0"),
        OrderType.LIMIT,
    )
    assert (sell.request.qty, sell.request.price) == (Decimal("0.010"), Decimal("50000.1"))


@pytest.mark.parametrize(
    ("act", "message"),
    [
        (lambda ctx: ctx.buy(Decimal("0.0001")), "quantity 0.0001 rounds to 0.000 at lot step 0.001"),
        (lambda ctx: ctx.buy(Decimal("0.001"), Decimal("100")), "order value 0.1000 is below the minimum"),
        (lambda ctx: ctx.buy(float("nan")), "qty nan refused: not a finite number"),
        (lambda ctx: ctx.buy(True), "qty must be a number, got True"),
        (lambda ctx: ctx.cancel("t-99"), "cannot cancel 't-99': no order of this run has that id"),
        (lambda ctx: ctx.amend("t-99", qty=1), "cannot amend 't-99': no order of this run has that id"),
    ],
)
async def test_a_request_that_breaks_a_rule_raises_in_the_callback(act: object, message: str) -> None:
    caught: list[str] = []

    def attempt(ctx: Context, _: object) -> None:
        assert callable(act)
        try:
            act(ctx)
        except OrderValidationError as e:
            caught.append(str(e))

    driver = Driver(Script(on_start=attempt))
    await driver.start()

    assert len(caught) == 1
    assert message in caught[0]
    assert driver.decisions == []


async def test_a_callback_that_raises_stops_the_run_and_its_intents_are_dropped() -> None:
    def fail(ctx: Context, _: object) -> None:
        ctx.buy(Decimal("0.01"))
        raise ValueError("the strategy's own bug")

    driver = Driver(Script(on_bar=fail))
    await driver.start()

    with pytest.raises(StrategyError) as stopped:
        await driver.feed(klines([100]))

    assert str(stopped.value) == (
        "strategy script failed in on_bar at 2023-11-14T22:00:59.999+00:00: "
        "ValueError: the strategy's own bug"
    )
    assert isinstance(stopped.value.__cause__, ValueError)
    assert not driver.runtime.has_intents
    assert driver.runtime.context.orders() == []
    assert driver.runtime.context._ids.peek() == "t-1"  # the dropped intent's id is free again


async def test_fills_orders_and_positions_reach_their_callbacks_once() -> None:
    script = Script(on_start=buy_one)
    driver = Driver(script)
    driver.venue.mark(SYMBOL, Decimal(100), START_MS)
    await driver.start()

    assert script.names() == ["on_start", "on_fill", "on_order", "on_position"]
    fill, order, position = (what for _, _, what in script.seen[1:])
    assert fill.exec_qty == Decimal("0.010")  # type: ignore[attr-defined]
    assert order.status is OrderStatus.FILLED  # type: ignore[attr-defined]
    assert position.side is PositionSide.BUY  # type: ignore[attr-defined]
    ctx = driver.runtime.context
    assert ctx.position_size() == Decimal("0.010")
    assert ctx.orders() == []
    state = ctx.order("t-1")
    assert state is not None
    assert (state.status, state.filled_qty, state.phase) == (
        OrderStatus.FILLED,
        Decimal("0.010"),
        LocalPhase.EXCHANGE,
    )


async def test_repeated_and_stale_account_events_are_not_dispatched_again() -> None:
    script = Script(on_start=buy_one)
    driver = Driver(script)
    driver.venue.mark(SYMBOL, Decimal(100), START_MS)
    driver.runtime.start(START_MS)
    intents = driver.runtime.take_intents()
    await driver.runtime.execute(intents)
    events = driver.venue.drain()
    for event in events + events:  # the stream and a REST re-read both deliver them
        driver.runtime.on_account(event)
    [positions] = [e for e in events if isinstance(e, PositionsEvent)]
    older = dataclasses.replace(positions.positions[0], seq=0, size=Decimal(5))
    driver.runtime.on_account(PositionsEvent((older,), AccountEventSource.RESYNC, START_MS, START_MS))

    assert script.names() == ["on_start", "on_fill", "on_order", "on_position"]
    assert driver.runtime.context.position_size() == Decimal("0.010")


async def test_a_re_read_that_leaves_a_position_out_means_it_is_flat() -> None:
    script = Script(on_start=sell_one)
    driver = Driver(script)
    driver.venue.mark(SYMBOL, Decimal(100), START_MS)
    await driver.start()
    assert driver.runtime.context.position_size() == Decimal("-0.010")

    driver.runtime.on_account(PositionsEvent((), AccountEventSource.RESYNC, START_MS + 5, START_MS + 5))

    name, now, flat = script.seen[-1]
    assert (name, now) == ("on_position", START_MS + 5)
    assert (flat.side, flat.size) == (PositionSide.NONE, Decimal(0))  # type: ignore[attr-defined]
    assert driver.runtime.context.position_size() == 0


async def test_a_refused_intent_reaches_on_intent_failed_after_the_batch() -> None:
    def act(ctx: Context, _: object) -> None:
        ctx.sell(Decimal("0.01"), reduce_only=True)  # nothing to reduce: the venue refuses
        ctx.buy(Decimal("0.01"))

    script = Script(on_start=act)
    driver = Driver(script)
    driver.venue.mark(SYMBOL, Decimal(100), START_MS)
    await driver.start()

    failed = [what for name, _, what in script.seen if name == "on_intent_failed"]
    assert len(failed) == 1
    result = failed[0]
    assert isinstance(result, IntentResult)
    assert (result.intent.order_link_id, result.resolution) == ("t-1", Resolution.REFUSED)
    assert "110017" in result.reason
    assert driver.venue.calls == ["place t-1", "place t-2"]
    assert script.names().index("on_intent_failed") > script.names().index("on_start")
    state = driver.runtime.context.order("t-1")
    assert state is not None
    assert state.phase is LocalPhase.REJECTED_LOCALLY


async def test_working_orders_show_queued_then_live_and_can_be_amended_and_cancelled() -> None:
    views: list[list[tuple[str, LocalPhase | None, Decimal | None]]] = []

    def place(ctx: Context, _: object) -> None:
        ctx.buy(Decimal("0.01"), Decimal("90"))
        ctx.buy(Decimal("0.01"), Decimal("80"))
        views.append([(o.order_link_id, o.phase, o.price) for o in ctx.orders()])

    def change(ctx: Context, b: object) -> None:
        assert isinstance(b, ConfirmedBar)
        if b.bar.close == 100:
            ctx.amend("t-1", price=Decimal("95.04"))
            ctx.cancel("t-2")
        views.append([(o.order_link_id, o.phase, o.price) for o in ctx.orders()])

    driver = Driver(Script(on_start=place, on_bar=change))
    driver.venue.mark(SYMBOL, Decimal(100), START_MS)
    await driver.start()
    await driver.feed(klines([100, 101]))

    assert views == [
        [("t-1", None, Decimal(90)), ("t-2", None, Decimal(80))],
        [("t-1", LocalPhase.EXCHANGE, Decimal(90)), ("t-2", LocalPhase.EXCHANGE, Decimal(80))],
        [("t-1", LocalPhase.EXCHANGE, Decimal("95.0"))],
    ]
    assert [d.kind for d in driver.decisions] == ["submit", "submit", "amend", "cancel"]
    ctx = driver.runtime.context
    with pytest.raises(OrderValidationError, match="cannot cancel t-2: the order is Cancelled"):
        ctx.cancel("t-2")


async def test_close_position_and_cancel_all() -> None:
    ids: list[str | None] = []

    def act(ctx: Context, b: object) -> None:
        assert isinstance(b, ConfirmedBar)
        if b.bar.close == 100:
            ids.append(ctx.close_position())  # flat: nothing to close
            ctx.buy(Decimal("0.02"))
            ctx.buy(Decimal("0.01"), Decimal("50"))
        else:
            ids.append(ctx.close_position())
            ctx.cancel_all()

    driver = Driver(Script(on_bar=act))
    await driver.start()
    await driver.feed(klines([100, 101]))

    assert ids == [None, "t-3"]
    close = driver.results[2].intent
    assert isinstance(close, SubmitIntent)
    assert (close.request.side, close.request.qty, close.request.reduce_only) == (
        Side.SELL,
        Decimal("0.020"),
        True,
    )
    assert isinstance(driver.results[3].intent, CancelAllIntent)
    assert [r.resolution for r in driver.results] == [Resolution.DONE] * 4
    assert driver.venue.size(SYMBOL) == 0
    assert driver.runtime.context.orders() == []


async def test_submit_takes_a_full_request_but_not_an_id_or_another_category() -> None:
    caught: list[str] = []

    def act(ctx: Context, _: object) -> None:
        good = OrderRequest(LINEAR, SYMBOL, Side.BUY, OrderType.MARKET, Decimal("0.01"), position_idx=0)
        assert ctx.submit(good) == "t-1"
        for bad in (
            dataclasses.replace(good, order_link_id="mine"),
            dataclasses.replace(good, category=Category.SPOT),
        ):
            try:
                ctx.submit(bad)
            except OrderValidationError as e:
                caught.append(str(e))
        try:
            ctx.buy(Decimal("0.01"), symbol="ETHUSDT")
        except ConfigError as e:
            caught.append(str(e))

    driver = Driver(Script(on_start=act))
    driver.venue.mark(SYMBOL, Decimal(100), START_MS)
    await driver.start()

    assert caught == [
        "leave order_link_id empty (got 'mine'): the run assigns its ids",
        "this run trades linear, not spot",
        "ETHUSDT is not a symbol of this run (BTCUSDT)",
    ]
    assert [d.order_link_id for d in driver.decisions] == ["t-1"]


async def test_timers_fire_in_due_order_at_their_due_time_before_later_events() -> None:
    def arm(ctx: Context, _: object) -> None:
        ctx.set_timer("once", START_MS + 90_000)
        ctx.every("tick", 40_000)
        ctx.set_timer("dropped", START_MS + 1)
        assert ctx.cancel_timer("dropped")

    def on_timer(ctx: Context, t: object) -> None:
        assert isinstance(t, TimerFired)
        if t.name == "tick" and t.due_ms == START_MS + 120_000:
            ctx.cancel_timer("tick")

    script = Script(on_start=arm, on_timer=on_timer)
    driver = Driver(script)
    await driver.start()
    await driver.feed(klines([1, 2, 3, 4]))

    seen = [(name, now, getattr(what, "name", None)) for name, now, what in script.seen[1:]]
    assert seen == [
        ("on_timer", START_MS + 40_000, "tick"),
        ("on_bar", START_MS + 59_999, None),
        ("on_timer", START_MS + 80_000, "tick"),
        ("on_timer", START_MS + 90_000, "once"),
        ("on_bar", START_MS + 119_999, None),
        ("on_timer", START_MS + 120_000, "tick"),
        ("on_bar", START_MS + 179_999, None),
        ("on_bar", START_MS + 239_999, None),
    ]
    assert driver.runtime.next_timer_ms() is None


async def test_the_run_time_never_goes_back() -> None:
    script = Script(DataNeeds(bars=(Interval.M1,), trades=True))
    driver = Driver(script)
    await driver.start()
    late = TradesUpdate(
        LINEAR, SYMBOL, (Trade(START_MS - 5, SYMBOL, Side.BUY, Decimal(1), Decimal(1), "x"),), START_MS - 5, 0
    )
    await driver.feed([*klines([1]), late])

    assert [now for _, now, _ in script.seen] == [START_MS, START_MS + MINUTE - 1, START_MS + MINUTE - 1]


def book(ts_ms: int, bid: str, ask: str, *, snapshot: bool = True, update_id: int = 1) -> BookUpdate:
    return BookUpdate(
        LINEAR, SYMBOL, 50, snapshot, [[bid, "2"]], [[ask, "1"]], update_id, update_id, ts_ms, None, ts_ms
    )


async def test_books_trades_and_tickers_fill_the_market_view() -> None:
    mids: list[Decimal | None] = []
    script = Script(
        DataNeeds(book_depth=50, trades=True, ticker=True),
        on_book=lambda ctx, change: mids.append(change.metrics.mid if change.metrics else None),  # type: ignore[attr-defined]
    )
    driver = Driver(script)
    await driver.start()
    trade = Trade(START_MS + 2, SYMBOL, Side.BUY, Decimal("100.5"), Decimal("3"), "x")
    ticker = Ticker(SYMBOL, Decimal("100.5"), None, None, None, None, mark_price=Decimal("100.4"))
    await driver.feed(
        [
            book(START_MS + 1, "100", "101"),
            TradesUpdate(LINEAR, SYMBOL, (trade,), START_MS + 2, START_MS + 2),
            book(START_MS + 3, "100.2", "101", snapshot=False, update_id=2),
            TickerUpdate(LINEAR, SYMBOL, ticker, True, 1, START_MS + 4, START_MS + 4),
        ]
    )

    assert script.names() == ["on_start", "on_book", "on_trade", "on_book"]
    assert mids == [Decimal("100.5"), Decimal("100.6")]
    ctx = driver.runtime.context
    metrics = ctx.metrics()
    assert metrics is not None
    assert (metrics.best_bid, metrics.best_ask, metrics.vwap, metrics.buy_volume) == (
        Decimal("100.2"),
        Decimal("101"),
        Decimal("100.5"),
        Decimal("3"),
    )
    current = ctx.book()
    assert current is not None
    assert current.best_bid() == (Decimal("100.2"), Decimal("2"))
    assert ctx.ticker() == ticker
    assert driver.runtime.now_ms == START_MS + 4


async def test_the_wallet_and_balances_come_from_wallet_events() -> None:
    driver = Driver(Script())
    await driver.start()
    usdt = CoinBalance(
        "USDT", *(Decimal(v) for v in ("1000", "1000", "1000", "0", "0", "0", "0", "0", "0", "1000"))
    )
    wallet = WalletBalance("UNIFIED", *(Decimal(1000),) * 7, None, None, (usdt,))  # type: ignore[arg-type]
    driver.runtime.on_account(WalletsEvent((wallet,), AccountEventSource.STREAM, START_MS, START_MS))

    ctx = driver.runtime.context
    assert ctx.wallet == wallet
    assert ctx.balance() == usdt
    assert ctx.balance("BTC") is None


def test_the_runtime_asks_for_what_the_strategy_needs() -> None:
    needs = DataNeeds(bars=(Interval.M1, Interval.H1), book_depth=50, trades=True, ticker=True)
    runtime = StrategyRuntime(
        Script(needs),
        RuntimeConfig(LINEAR, ("BTCUSDT", "ETHUSDT")),
        [linear_instrument("BTCUSDT"), linear_instrument("ETHUSDT")],
        ExecutionPolicy(Driver(Script()).venue, OrderTracker(), ManualClock()),
    )

    subs = runtime.subscriptions()
    assert subs[:5] == [
        MarketSubscription(MarketChannel.BARS, LINEAR, "BTCUSDT", interval=Interval.M1),
        MarketSubscription(MarketChannel.BARS, LINEAR, "BTCUSDT", interval=Interval.H1),
        MarketSubscription(MarketChannel.BOOK, LINEAR, "BTCUSDT", depth=50),
        MarketSubscription(MarketChannel.TRADES, LINEAR, "BTCUSDT"),
        MarketSubscription(MarketChannel.TICKER, LINEAR, "BTCUSDT"),
    ]
    assert [s.symbol for s in subs[5:]] == ["ETHUSDT"] * 5
    runtime.start(START_MS)
    with pytest.raises(ConfigError, match=r"name the interval: the strategy asks for \['1', '60'\]"):
        runtime.context.bars()
    with pytest.raises(ConfigError, match="no 5 bars of BTCUSDT"):
        runtime.context.bars(Interval.M5)


async def test_lifecycle_and_configuration_errors_are_one_line() -> None:
    driver = Driver(Script())
    runtime = driver.runtime
    with pytest.raises(
        ConfigError, match=r"^start the runtime \(start\(now_ms\)\) before feeding it events$"
    ):
        runtime.on_market(klines([1])[0])
    runtime.start(START_MS)
    with pytest.raises(ConfigError, match=r"^the runtime was started already$"):
        runtime.start(START_MS)
    runtime.stop()
    with pytest.raises(ConfigError, match=r"^the runtime was stopped: it takes no more events$"):
        runtime.on_market(klines([1])[0])

    policy = driver.policy
    with pytest.raises(ConfigError, match=r"^no instrument for ETHUSDT: load the run's instruments first$"):
        StrategyRuntime(Script(), RuntimeConfig(LINEAR, ("ETHUSDT",)), [linear_instrument()], policy)
    with pytest.raises(ConfigError, match=r"^symbols are listed twice: BTCUSDT, BTCUSDT$"):
        RuntimeConfig(LINEAR, (SYMBOL, SYMBOL))
    with pytest.raises(ConfigError, match=r"^invalid run tag 'a b'"):
        StrategyRuntime(Script(), RuntimeConfig(LINEAR, (SYMBOL,), tag="a b"), [linear_instrument()], policy)
    spot = dataclasses.replace(linear_instrument(), category=Category.SPOT)
    with pytest.raises(ConfigError, match=r"^the instrument given for BTCUSDT is spot BTCUSDT$"):
        StrategyRuntime(Script(), RuntimeConfig(LINEAR, (SYMBOL,)), [spot], policy)


async def test_an_amendment_is_rounded_and_checked_like_an_order() -> None:
    refusals: list[str] = []

    def place(ctx: Context, _: object) -> None:
        ctx.buy(Decimal("0.01"), Decimal("90"))

    def amend(ctx: Context, _: object) -> None:
        for change in ({"stop_loss": Decimal("95")}, {"qty": Decimal("0.0001")}, {}):
            try:
                ctx.amend("t-1", **change)
            except OrderValidationError as e:
                refusals.append(str(e))
        ctx.amend("t-1", qty=0.0209, price=Decimal("91.07"), take_profit=Decimal("99"))

    driver = Driver(Script(on_start=place, on_bar=amend))
    driver.venue.mark(SYMBOL, Decimal(100), START_MS)
    await driver.start()
    await driver.feed(klines([100]))

    assert refusals == [
        "amend of t-1 refused before sending: stop loss 95 of a buy must be below 90.0",
        "amend of t-1 refused before sending: quantity must be a positive number, got 0.000",
        "amend of t-1 changes nothing: give qty, price, TP or SL",
    ]
    amended = driver.results[-1].intent
    assert amended.request.qty == Decimal("0.020")  # type: ignore[union-attr]
    assert amended.request.price == Decimal("91.0")  # type: ignore[union-attr]
    assert amended.request.take_profit == Decimal("99")  # type: ignore[union-attr]
