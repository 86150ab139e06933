"""Builders shared by the engine tests: Bybit-like instruments, a funded engine, request shorthands."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bst.domain.account_events import ExecutionsEvent, OrdersEvent
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Side
from bst.domain.orders import (
    Execution,
    MarketUnit,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
)
from bst.engine import AccountMessage, EngineConfig, MatchingEngine, SymbolSpec

D = Decimal
T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC
SYMBOL = "BTCUSDT"

BTC_LINEAR = Instrument(
    symbol=SYMBOL,
    category=Category.LINEAR,
    status="Trading",
    base_coin="BTC",
    quote_coin="USDT",
    settle_coin="USDT",
    tick_size=D("0.1"),
    qty_step=D("0.001"),
    min_qty=D("0.001"),
    max_qty=D("1190"),
    max_market_qty=D("500"),
    min_notional=D("5"),
    min_price=D("0.1"),
    max_price=D("1999999.8"),
    min_leverage=D(1),
    max_leverage=D(100),
    leverage_step=D("0.01"),
    contract_type="LinearPerpetual",
    funding_interval_min=480,
)

BTC_SPOT = Instrument(
    symbol=SYMBOL,
    category=Category.SPOT,
    status="Trading",
    base_coin="BTC",
    quote_coin="USDT",
    settle_coin="USDT",
    tick_size=D("0.01"),
    qty_step=D("0.000001"),
    min_qty=D("0.000048"),
    max_qty=D("71.73956243"),
    max_market_qty=D("0"),
    min_notional=D("1"),
)


def make_engine(
    config: EngineConfig | None = None,
    *,
    slippage: str = "0.05",
    linear: bool = True,
    spot: bool = False,
) -> MatchingEngine:
    """Return an engine listing linear and/or spot BTCUSDT, its clock at T0."""
    engine = MatchingEngine(config)
    if linear:
        engine.add_symbol(SymbolSpec(BTC_LINEAR, market_slippage_ratio=D(slippage)))
    if spot:
        engine.add_symbol(SymbolSpec(BTC_SPOT, market_slippage_ratio=D(slippage)))
    engine.advance_time(T0)
    return engine


def levels(*pairs: tuple[str, str]) -> list[tuple[Decimal, Decimal]]:
    """Return book levels from (price, size) strings."""
    return [(D(p), D(s)) for p, s in pairs]


def set_book(
    engine: MatchingEngine,
    bids: Sequence[tuple[str, str]],
    asks: Sequence[tuple[str, str]],
    *,
    ts_ms: int | None = None,
    category: Category = Category.LINEAR,
) -> None:
    """Feed a book snapshot."""
    engine.on_book_snapshot(
        SYMBOL, levels(*bids), levels(*asks), ts_ms if ts_ms is not None else engine.now_ms, category=category
    )


def limit(
    side: Side,
    qty: str,
    price: str,
    tif: TimeInForce = TimeInForce.GTC,
    *,
    link: str = "",
    reduce_only: bool = False,
    category: Category = Category.LINEAR,
    take_profit: str | None = None,
    stop_loss: str | None = None,
) -> OrderRequest:
    """Return a limit-order request."""
    return OrderRequest(
        category,
        SYMBOL,
        side,
        OrderType.LIMIT,
        D(qty),
        D(price),
        tif,
        order_link_id=link,
        reduce_only=reduce_only,
        take_profit=None if take_profit is None else D(take_profit),
        stop_loss=None if stop_loss is None else D(stop_loss),
    )


def market(
    side: Side,
    qty: str,
    *,
    link: str = "",
    reduce_only: bool = False,
    category: Category = Category.LINEAR,
    unit: MarketUnit | None = None,
    tif: TimeInForce | None = None,
) -> OrderRequest:
    """Return a market-order request."""
    return OrderRequest(
        category,
        SYMBOL,
        side,
        OrderType.MARKET,
        D(qty),
        time_in_force=tif,
        order_link_id=link,
        reduce_only=reduce_only,
        market_unit=unit,
    )


def order_updates(messages: Sequence[AccountMessage], order_id: str | None = None) -> list[Order]:
    """Return the order snapshots among `messages`, in order (of one order when given)."""
    return [
        order
        for m in messages
        if isinstance(m.event, OrdersEvent)
        for order in m.event.orders
        if order_id is None or order.order_id == order_id
    ]


def fills_of(messages: Sequence[AccountMessage]) -> list[Execution]:
    """Return the executions among `messages`, in order."""
    return [x for m in messages if isinstance(m.event, ExecutionsEvent) for x in m.event.executions]


def statuses(events: Sequence[AccountMessage], order_id: str) -> list[OrderStatus]:
    """Return the statuses one order reported, in order."""
    return [o.status for o in order_updates(events, order_id)]
