"""Taker fills without a book: bar prints as the liquidity of candle backtests.

A candle has no depth: in a candle-only run a market order finds nothing to take and a triggered
TP/SL would be cancelled unfilled. On a symbol with `SymbolSpec.bar_fill` set, a taker that finds
no book liquidity on its side fills at a bar print instead:

- `BarFill.NEXT_PRINT`: a user order that would take (a market order, or a limit at or through the
  last price) waits for the next print and fills there: in a candle run, the next bar's open (the
  convention of backtesting.py). A limit fills there only when the print is at or better than its
  price; otherwise it rests, as any limit does.
- `BarFill.LAST_PRINT`: it fills at once at the last print: the close of the bar just seen.
- An order the engine sends itself while the market moves (a triggered TP/SL or conditional order)
  fills at once at the current print, in both modes. Bars move through every TP/SL price on their
  way (`stops_between`), so a stop touched inside a bar fills at its own price and one the market
  gapped through (a bar opening beyond it) at the open.

A taker fills in full: a candle's volume counts trades, not the liquidity a taker meets. Its price
is the print moved against it by `bar_slippage_ratio` and put on the tick grid away from it (buys
up, sells down); a limit never fills beyond its own price. Bybit's market-order price band does not
apply: it protects against a thin book, and a print is the market's price. Fees are the taker rate.
Resting orders are untouched: prints fill them at their own price (`bst.engine.market_input`).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import TYPE_CHECKING

from bst.domain.instrument import to_step
from bst.domain.orders import (
    CancelType,
    CreateType,
    OrderStatus,
    OrderType,
    RejectReason,
    TimeInForce,
    TriggerBy,
)
from bst.engine.config import BarFill, SymbolSpec
from bst.engine.venue import SymbolState, Venue
from bst.engine.working import WorkingOrder

if TYPE_CHECKING:
    from bst.engine.matching import Matcher

_UNLIMITED = Decimal("Infinity")


def applies(sym: SymbolState, order: WorkingOrder) -> bool:
    """Return whether `order` fills at bar prints: the symbol has a bar fill and no book on its side."""
    if sym.spec.bar_fill is None:
        return False
    book = sym.book
    return (book.best_ask() if order.is_buy else book.best_bid()) is None


def taker_price(
    spec: SymbolSpec, print_price: Decimal, is_buy: bool, limit: Decimal | None
) -> Decimal | None:
    """Return a bar-fill taker's price at `print_price`, or None when a limit is not reached.

    The print moves against the taker by the slippage ratio, onto the tick grid away from it; a
    limit caps it (a buy never pays more than its limit, a sell never gets less).
    """
    if limit is not None and (print_price > limit if is_buy else print_price < limit):
        return None
    ratio = spec.bar_slippage_ratio
    price = print_price
    if ratio:
        tick = spec.instrument.tick_size
        if is_buy:
            price = to_step(print_price * (1 + ratio), tick, ROUND_UP)
        else:
            price = to_step(print_price * (1 - ratio), tick, ROUND_DOWN)
    if limit is not None:
        price = min(price, limit) if is_buy else max(price, limit)
    return price


def activate(matcher: Matcher, order: WorkingOrder, sym: SymbolState) -> None:
    """Bring an arriving order to a book-less symbol: fill at a print, wait for one, rest or cancel."""
    last = sym.last_price
    market = order.order_type is OrderType.MARKET
    assert order.price is not None  # market orders carry their protected price here
    takes = market or (last is not None and (order.price >= last if order.is_buy else order.price <= last))
    if not takes:
        _rest_or_cancel(matcher, order, sym)
        return
    if order.tif is TimeInForce.POST_ONLY:
        matcher.cancel(order, CancelType.UNKNOWN, RejectReason.POST_ONLY_WILL_TAKE_LIQUIDITY)
        return
    waits = (
        sym.spec.bar_fill is BarFill.NEXT_PRINT
        and order.status is OrderStatus.CREATED
        and order.create_type == CreateType.CREATE_BY_USER
    )
    if waits:
        order.status = OrderStatus.NEW
        order.updated_ms = matcher.venue.now_ms
        sym.awaiting_print.append(order)
        matcher.venue.emit_order(order)
        return
    assert last is not None  # a market order without any price was cancelled before
    fill_at(matcher, order, sym, last)


def on_print(matcher: Matcher, sym: SymbolState, price: Decimal) -> None:
    """Fill the orders waiting for a print at `price`, in arrival order."""
    waiting, sym.awaiting_print = sym.awaiting_print, []
    for order in waiting:
        if order.is_open:
            fill_at(matcher, order, sym, price)


def forget(sym: SymbolState, order: WorkingOrder) -> None:
    """Stop an order waiting for a print (it was cancelled or closed)."""
    if order in sym.awaiting_print:
        sym.awaiting_print.remove(order)


def fill_at(matcher: Matcher, order: WorkingOrder, sym: SymbolState, print_price: Decimal) -> None:
    """Fill a taker in full at `print_price` (slipped, capped by its limit), or rest/cancel it."""
    limit = None if order.order_type is OrderType.MARKET else order.price
    price = taker_price(sym.spec, print_price, order.is_buy, limit)
    if price is None:
        _rest_or_cancel(matcher, order, sym, announced=order.status is OrderStatus.NEW)
        return
    qty = matcher.fillable(order, _UNLIMITED, price)
    if qty > 0:
        matcher.fill(order, sym, qty, price, is_maker=False)
    if matcher.is_done(order):
        matcher.complete(order)
    elif limit is None or order.tif in (TimeInForce.IOC, TimeInForce.FOK):
        matcher.cancel(order, CancelType.UNKNOWN, matcher.unfilled_reason(order))
    else:
        matcher.rest(order, sym)
        matcher.venue.emit_order(order)
    matcher.after_fills(sym, {order.uid})


def _rest_or_cancel(
    matcher: Matcher, order: WorkingOrder, sym: SymbolState, *, announced: bool = False
) -> None:
    """Rest a limit (a waiting one already reported `New`: no second update), or cancel a taker."""
    if order.order_type is OrderType.MARKET or order.tif in (TimeInForce.IOC, TimeInForce.FOK):
        matcher.cancel(order, CancelType.UNKNOWN, matcher.unfilled_reason(order))
        return
    matcher.rest(order, sym)
    if not announced:
        matcher.venue.emit_order(order)


def stops_between(venue: Venue, sym: SymbolState, start: Decimal, end: Decimal) -> list[Decimal]:
    """Return the stop prices strictly between two prints, in the order a move start -> end meets them.

    Stops: positions' TP/SL and the triggers of conditional orders watching the last price. A bar
    moves continuously between its prints, so it passes every such price: printing them lets a stop
    touched inside a bar trigger (and fill) at its own price.
    """
    low, high = (start, end) if start < end else (end, start)
    candidates: list[Decimal | None] = []
    if sym.triggers:
        candidates.extend(sym.triggers.trigger_prices(TriggerBy.LAST_PRICE))
    for uid in sym.holders:
        position = venue.accounts[uid].positions.get(sym.spec.symbol)
        if position is not None:
            candidates.extend((position.take_profit, position.stop_loss))
    found = {p for p in candidates if p is not None and low < p < high}
    return sorted(found, reverse=end < start)
