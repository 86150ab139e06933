"""The trading ports' contract: one set of cases, run against every `OrderGateway` + `AccountFeed`.

A strategy, the execution policy and the bot are written against `bst.domain.ports`; they can only
be venue-neutral if every adapter behaves the same for the same request. These cases pin that
behaviour, and each runs unchanged against every venue of `venues.py`:

- `sim`: the live adapters (`BybitRestClient` + `PrivateStream`) against `bst sim` over loopback;
- `engine`: `EngineGateway` over an in-process matching engine (what backtests use).

What they pin: acks and the events that follow (kinds, statuses, quantities, prices and fees, exact
where the venue's market is known), the queries (open orders, order lookup, positions, wallet,
executions, instruments) agreeing with the events, and refusals raising the same error class with
the same retCode. A new adapter (another exchange, a paper venue) joins by adding a venue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from venues import (
    BALANCE,
    LINEAR,
    MAKER,
    SYMBOL,
    TAKER,
    TradingVenue,
    engine_venue,
    sim_venue,
)

from bst.bybit.retcodes import RetCode
from bst.domain.account_events import (
    AccountEvent,
    AccountEventSource,
    ExecutionsEvent,
    OrdersEvent,
    PositionsEvent,
    ResyncEvent,
    WalletsEvent,
)
from bst.domain.errors import (
    BybitAPIError,
    BybitDuplicateOrderError,
    BybitOrderError,
    BybitOrderNotFoundError,
    OrderValidationError,
)
from bst.domain.market import Side
from bst.domain.orders import AmendRequest, ExecType, Order, OrderRequest, OrderStatus, OrderType
from bst.domain.portfolio import PositionSide

STREAM = AccountEventSource.STREAM


@pytest.fixture(params=["sim", "engine"])
async def fresh_venue(request: pytest.FixtureRequest) -> AsyncIterator[TradingVenue]:
    """Yield each venue with a freshly funded account, its feed not started yet."""
    source = sim_venue(request.getfixturevalue("sim")) if request.param == "sim" else engine_venue()
    yield await anext(source)
    await source.aclose()


@pytest.fixture
async def venue(fresh_venue: TradingVenue) -> TradingVenue:
    """Return the venue with its feed started and the hand-over read (the feed is current)."""
    await fresh_venue.feed.start()
    await fresh_venue.hand_over()
    return fresh_venue


def limit(price: Decimal, qty: str = "0.001", *, side: Side = Side.BUY, **fields: Any) -> OrderRequest:
    return OrderRequest(LINEAR, SYMBOL, side, OrderType.LIMIT, Decimal(qty), price=price, **fields)


def market(qty: str, *, side: Side = Side.BUY, **fields: Any) -> OrderRequest:
    return OrderRequest(LINEAR, SYMBOL, side, OrderType.MARKET, Decimal(qty), **fields)


def orders_in(events: list[AccountEvent]) -> list[Order]:
    return [o for e in events if isinstance(e, OrdersEvent) for o in e.orders]


def order_reached(order_id: str, status: OrderStatus) -> Any:
    """Return a predicate: the events hold `order_id` in `status`, and the wallet update after it."""

    def done(seen: list[AccountEvent]) -> bool:
        for index, event in enumerate(seen):
            if isinstance(event, OrdersEvent) and any(
                o.order_id == order_id and o.status is status for o in event.orders
            ):
                return any(isinstance(e, WalletsEvent) for e in seen[index + 1 :])
        return False

    return done


# --- start ------------------------------------------------------------------------------------------


async def test_a_started_feed_hands_over_positions_and_wallet_first(fresh_venue: TradingVenue) -> None:
    await fresh_venue.feed.start()
    events = await fresh_venue.hand_over()

    assert [type(e) for e in events] == [PositionsEvent, WalletsEvent, ResyncEvent]
    positions, wallets, resync = events
    assert isinstance(positions, PositionsEvent)
    assert isinstance(wallets, WalletsEvent)
    assert isinstance(resync, ResyncEvent)
    assert positions.positions == ()
    assert positions.source is wallets.source is AccountEventSource.RESYNC
    assert [w.total_wallet_balance for w in wallets.wallets] == [BALANCE]
    assert (resync.connection, resync.orders, resync.executions, resync.positions) == (1, 0, 0, 0)


# --- a resting order: place, amend, cancel ---------------------------------------------------------------


async def test_a_resting_limit_order_is_acked_listed_and_reported_new(venue: TradingVenue) -> None:
    price = venue.best_bid - 50 * venue.instrument.tick_size

    ack = await venue.gateway.place_order(limit(price, "0.002", order_link_id="c-rest"))
    events = await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))

    assert ack.order_link_id == "c-rest"
    [new] = [o for o in orders_in(events) if o.order_id == ack.order_id]
    assert (new.status, new.side, new.price, new.qty, new.cum_exec_qty, new.leaves_qty) == (
        OrderStatus.NEW,
        Side.BUY,
        price,
        Decimal("0.002"),
        Decimal(0),
        Decimal("0.002"),
    )
    assert all(e.source is STREAM for e in events if not isinstance(e, ResyncEvent))
    [listed] = await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL)
    assert (listed.order_id, listed.order_link_id, listed.status, listed.price, listed.qty) == (
        ack.order_id,
        "c-rest",
        OrderStatus.NEW,
        price,
        Decimal("0.002"),
    )
    [position] = await venue.gateway.get_positions(LINEAR, symbol=SYMBOL)
    assert position.size == 0  # a resting order opens nothing


async def test_amend_changes_price_then_qty_and_each_change_arrives(venue: TradingVenue) -> None:
    tick = venue.instrument.tick_size
    first, second = venue.best_bid - 60 * tick, venue.best_bid - 70 * tick
    ack = await venue.gateway.place_order(limit(first, "0.002", order_link_id="c-amend"))
    await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))

    repriced = await venue.gateway.amend_order(
        AmendRequest(LINEAR, SYMBOL, order_link_id="c-amend", price=second)
    )
    after_price = await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))
    resized = await venue.gateway.amend_order(
        AmendRequest(LINEAR, SYMBOL, order_id=ack.order_id, qty=Decimal("0.003"))
    )
    after_qty = await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))

    assert repriced == resized == ack
    assert [(o.price, o.qty) for o in orders_in(after_price)] == [(second, Decimal("0.002"))]
    assert [(o.price, o.qty) for o in orders_in(after_qty)] == [(second, Decimal("0.003"))]
    [listed] = await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL)
    assert (listed.price, listed.qty, listed.leaves_qty) == (second, Decimal("0.003"), Decimal("0.003"))


async def test_cancel_reports_cancelled_and_the_order_leaves_the_open_list(venue: TradingVenue) -> None:
    price = venue.best_bid - 80 * venue.instrument.tick_size
    ack = await venue.gateway.place_order(limit(price, order_link_id="c-cancel"))
    await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))

    cancelled = await venue.gateway.cancel_order(LINEAR, SYMBOL, order_link_id="c-cancel")
    events = await venue.events_until(order_reached(ack.order_id, OrderStatus.CANCELLED))

    assert cancelled == ack
    [closed] = orders_in(events)
    assert (closed.status, closed.cum_exec_qty, closed.leaves_qty) == (
        OrderStatus.CANCELLED,
        Decimal(0),
        Decimal(0),
    )
    assert await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL) == []
    wallet = await venue.gateway.get_wallet_balance()
    assert wallet.total_initial_margin == 0  # the order's margin is released
    assert wallet.total_available_balance == BALANCE


async def test_cancel_all_cancels_every_open_order_of_the_symbol(venue: TradingVenue) -> None:
    tick = venue.instrument.tick_size
    acks = [
        await venue.gateway.place_order(limit(venue.best_bid - (90 + i) * tick, order_link_id=f"c-all-{i}"))
        for i in range(3)
    ]
    for ack in acks:
        await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))

    cancelled = await venue.gateway.cancel_all_orders(LINEAR, symbol=SYMBOL)
    events = await venue.events_until(
        lambda seen: (
            {o.order_id for o in orders_in(seen) if o.status is OrderStatus.CANCELLED}
            == {a.order_id for a in acks}
            and isinstance(seen[-1], WalletsEvent)
        )
    )

    assert sorted(a.order_link_id for a in cancelled) == ["c-all-0", "c-all-1", "c-all-2"]
    assert {a.order_id for a in cancelled} == {a.order_id for a in acks}
    assert all(o.status is OrderStatus.CANCELLED for o in orders_in(events))
    assert await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL) == []
    assert await venue.gateway.cancel_all_orders(LINEAR, symbol=SYMBOL) == []


# --- fills ----------------------------------------------------------------------------------------------


async def test_a_market_order_fills_with_execution_order_position_and_wallet(venue: TradingVenue) -> None:
    qty, ask = Decimal("0.002"), venue.best_ask
    fee = qty * ask * TAKER

    ack = await venue.gateway.place_order(market("0.002", order_link_id="c-mkt"))
    events = await venue.events_until(order_reached(ack.order_id, OrderStatus.FILLED))

    assert [type(e) for e in events] == [ExecutionsEvent, OrdersEvent, PositionsEvent, WalletsEvent]
    fills, orders, positions, wallets = events
    assert isinstance(fills, ExecutionsEvent)
    assert isinstance(orders, OrdersEvent)
    assert isinstance(positions, PositionsEvent)
    assert isinstance(wallets, WalletsEvent)
    [fill] = fills.executions
    assert (fill.order_id, fill.order_link_id, fill.exec_type, fill.side) == (
        ack.order_id,
        "c-mkt",
        ExecType.TRADE,
        Side.BUY,
    )
    assert (fill.exec_price, fill.exec_qty, fill.exec_fee, fill.fee_rate, fill.is_maker) == (
        ask,
        qty,
        fee,
        TAKER,
        False,
    )
    [order] = orders.orders
    assert (order.status, order.cum_exec_qty, order.leaves_qty, order.avg_price, order.cum_exec_fee) == (
        OrderStatus.FILLED,
        qty,
        Decimal(0),
        ask,
        fee,
    )
    [position] = positions.positions
    assert (position.symbol, position.side, position.size, position.avg_price) == (
        SYMBOL,
        PositionSide.BUY,
        qty,
        ask,
    )
    [wallet] = wallets.wallets
    assert wallet.total_wallet_balance == BALANCE - fee
    # The queries agree with the events.
    assert await venue.gateway.get_executions(LINEAR, symbol=SYMBOL) == [fill]
    assert await venue.gateway.get_executions(LINEAR, order_link_id="c-mkt") == [fill]
    [queried] = await venue.gateway.get_positions(LINEAR, symbol=SYMBOL)
    assert (queried.side, queried.size, queried.avg_price) == (PositionSide.BUY, qty, ask)
    assert [p.symbol for p in await venue.gateway.get_positions(LINEAR)] == [SYMBOL]
    balance = await venue.gateway.get_wallet_balance()
    assert balance.total_wallet_balance == BALANCE - fee
    usdt = balance.coin("USDT")
    assert usdt is not None
    assert usdt.wallet_balance == BALANCE - fee


async def test_a_resting_order_fills_as_maker_when_the_market_trades_through(venue: TradingVenue) -> None:
    price = venue.resting_fill_price
    qty = Decimal("0.001")
    ack = await venue.gateway.place_order(limit(price, "0.001", order_link_id="c-maker"))
    await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))

    await venue.trade_through()
    events = await venue.events_until(order_reached(ack.order_id, OrderStatus.FILLED))

    fills = [f for e in events if isinstance(e, ExecutionsEvent) for f in e.executions]
    assert [(f.order_id, f.exec_price, f.exec_qty, f.is_maker, f.exec_fee) for f in fills] == [
        (ack.order_id, price, qty, True, qty * price * MAKER)
    ]
    [filled] = [o for o in orders_in(events) if o.status is OrderStatus.FILLED]
    assert (filled.order_id, filled.avg_price, filled.cum_exec_qty) == (ack.order_id, price, qty)
    found = await venue.gateway.find_order(LINEAR, SYMBOL, "c-maker")
    assert found is not None
    assert (found.status, found.cum_exec_qty) == (OrderStatus.FILLED, qty)


# --- lookups --------------------------------------------------------------------------------------------


async def test_find_order_by_link_id_open_closed_and_unknown(venue: TradingVenue) -> None:
    price = venue.best_bid - 40 * venue.instrument.tick_size
    ack = await venue.gateway.place_order(limit(price, order_link_id="c-find"))
    await venue.events_until(order_reached(ack.order_id, OrderStatus.NEW))

    open_order = await venue.gateway.find_order(LINEAR, SYMBOL, "c-find")
    by_id = await venue.gateway.find_order(LINEAR, SYMBOL, order_id=ack.order_id)
    await venue.gateway.cancel_order(LINEAR, SYMBOL, order_id=ack.order_id)
    await venue.events_until(order_reached(ack.order_id, OrderStatus.CANCELLED))
    closed_order = await venue.gateway.find_order(LINEAR, SYMBOL, "c-find")
    unknown = await venue.gateway.find_order(LINEAR, SYMBOL, "c-never-placed")

    assert open_order is not None
    assert by_id is not None
    assert closed_order is not None
    assert (open_order.order_id, open_order.status) == (ack.order_id, OrderStatus.NEW)
    assert (by_id.order_link_id, by_id.status) == ("c-find", OrderStatus.NEW)
    assert (closed_order.order_id, closed_order.status) == (ack.order_id, OrderStatus.CANCELLED)
    assert unknown is None


async def test_instruments_list_the_category_and_name_one(venue: TradingVenue) -> None:
    named = await venue.gateway.get_instruments(LINEAR, SYMBOL)
    every = await venue.gateway.get_instruments(LINEAR)
    unknown = await venue.gateway.get_instruments(LINEAR, "NOSUCHUSDT")

    assert named == [venue.instrument]
    assert venue.instrument in every
    assert all(i.category is LINEAR for i in every)
    assert unknown == []


async def test_a_fresh_account_is_flat_with_its_whole_balance_available(venue: TradingVenue) -> None:
    [position] = await venue.gateway.get_positions(LINEAR, symbol=SYMBOL)
    wallet = await venue.gateway.get_wallet_balance(coins=["USDT"])

    assert (position.symbol, position.side, position.size) == (SYMBOL, PositionSide.NONE, Decimal(0))
    assert await venue.gateway.get_positions(LINEAR) == []
    assert (wallet.total_wallet_balance, wallet.total_available_balance, wallet.total_initial_margin) == (
        BALANCE,
        BALANCE,
        Decimal(0),
    )
    assert await venue.gateway.get_executions(LINEAR, symbol=SYMBOL) == []
    assert await venue.gateway.get_open_orders(LINEAR) == []


# --- refusals: the same class and retCode everywhere -----------------------------------------------------


async def refusal(call: Any) -> BybitAPIError:
    with pytest.raises(BybitAPIError) as caught:
        await call
    error = caught.value
    assert not error.outcome_unknown  # a refusal is an answer, not a lost reply
    return error


async def test_reduce_only_without_a_position_is_refused_110017(venue: TradingVenue) -> None:
    error = await refusal(venue.gateway.place_order(market("0.001", side=Side.SELL, reduce_only=True)))

    assert (type(error), error.ret_code) == (BybitOrderError, RetCode.REDUCE_ONLY_NOT_SATISFIED)


async def test_cancel_or_amend_of_an_unknown_order_is_order_not_found(venue: TradingVenue) -> None:
    cancel = await refusal(venue.gateway.cancel_order(LINEAR, SYMBOL, order_link_id="c-unknown"))
    amend = await refusal(
        venue.gateway.amend_order(
            AmendRequest(LINEAR, SYMBOL, order_link_id="c-unknown", qty=Decimal("0.002"))
        )
    )

    assert (type(cancel), cancel.ret_code) == (BybitOrderNotFoundError, RetCode.ORDER_NOT_EXISTS)
    assert (type(amend), amend.ret_code) == (BybitOrderNotFoundError, RetCode.ORDER_NOT_EXISTS)


async def test_cancel_of_a_filled_order_is_order_not_found(venue: TradingVenue) -> None:
    ack = await venue.gateway.place_order(market("0.001", order_link_id="c-done"))
    await venue.events_until(order_reached(ack.order_id, OrderStatus.FILLED))

    error = await refusal(venue.gateway.cancel_order(LINEAR, SYMBOL, order_id=ack.order_id))

    assert (type(error), error.ret_code) == (BybitOrderNotFoundError, RetCode.ORDER_NOT_EXISTS)


async def test_a_reused_order_link_id_is_a_duplicate_110072(venue: TradingVenue) -> None:
    price = venue.best_bid - 30 * venue.instrument.tick_size
    first = await venue.gateway.place_order(limit(price, order_link_id="c-dup"))
    await venue.events_until(order_reached(first.order_id, OrderStatus.NEW))

    error = await refusal(venue.gateway.place_order(limit(price, order_link_id="c-dup")))

    assert (type(error), error.ret_code) == (BybitDuplicateOrderError, RetCode.DUPLICATE_ORDER_LINK_ID)
    [still] = await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL)
    assert still.order_id == first.order_id


async def test_an_order_beyond_the_available_balance_is_refused_110007(venue: TradingVenue) -> None:
    # 100 BTC at the bid with the default leverage 10 needs far more than the account's margin.
    error = await refusal(venue.gateway.place_order(limit(venue.best_bid, "100", order_link_id="c-big")))

    assert (type(error), error.ret_code) == (BybitOrderError, RetCode.AVAILABLE_BALANCE_INSUFFICIENT)
    assert await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL) == []
    assert await venue.gateway.find_order(LINEAR, SYMBOL, "c-big") is None


async def test_local_checks_refuse_before_anything_is_sent(venue: TradingVenue) -> None:
    with pytest.raises(OrderValidationError):
        await venue.gateway.place_order(limit(venue.best_bid, order_link_id="not valid!"))
    with pytest.raises(OrderValidationError):
        await venue.gateway.cancel_order(LINEAR, SYMBOL)
    with pytest.raises(OrderValidationError):
        await venue.gateway.amend_order(AmendRequest(LINEAR, SYMBOL, qty=Decimal("0.002")))

    assert await venue.gateway.get_open_orders(LINEAR, symbol=SYMBOL) == []
