"""Matching user orders against the external market, and booking the fills into accounts.

Taker side: an arriving order walks the opposite levels up to its limit (market orders: the
slippage-protected price), one execution per level, consuming the liquidity it takes. Maker side:
a resting order fills at its own price when a public trade prints at or through it (at its price
only the volume beyond the external queue ahead of it reaches it, when the queue model is on), or
when the book moves through it (a crossed book: the opposite liquidity at or better than its price
fills it). Resting orders are served best price first, then by time priority.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal

from bst.domain.instrument import to_step
from bst.domain.market import Category, Side
from bst.domain.orders import (
    CancelType,
    CreateType,
    ExecType,
    Execution,
    OrderStatus,
    OrderType,
    RejectReason,
    StopOrderType,
    TimeInForce,
    cancelled_status,
)
from bst.domain.portfolio import apply_fill
from bst.engine import bar_fills
from bst.engine.accounts import Account, margin_summary
from bst.engine.venue import SymbolState, Venue
from bst.engine.working import WorkingOrder

_ZERO = Decimal(0)


def quote_sell_base(quote: Decimal, price: Decimal | None, step: Decimal) -> Decimal:
    """Return the base a quote-sized market sell locks: quote / protected price, up to the lot step."""
    if price is None or price <= 0:
        return _ZERO
    return to_step(quote / price, step, ROUND_UP)


def _crosses(is_buy: bool, order_price: Decimal, other: Decimal) -> bool:
    """Return whether a buy at `order_price` reaches `other` (a sell: the mirror)."""
    return order_price >= other if is_buy else order_price <= other


class Matcher:
    """Order lifecycle and fills over a `Venue`."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    # --- reservations -------------------------------------------------------------------------

    def spot_need(self, order: WorkingOrder) -> tuple[str, Decimal]:
        """Return the coin and amount a spot order's unfilled part locks (quote for buys, base for sells).

        A market order waiting for its trigger has no price yet: its trigger price stands in.
        """
        instrument = self.venue.sym_of(order).spec.instrument
        price = order.price if order.price is not None else order.trigger_price
        if order.is_buy:
            amount = order.leaves_quote if order.quote_sized else order.leaves_qty * (price or _ZERO)
            return instrument.quote_coin, amount
        amount = order.leaves_qty
        if order.quote_sized:
            amount = quote_sell_base(order.leaves_quote, price, instrument.qty_step)
        return instrument.base_coin, amount

    def reserve(self, order: WorkingOrder) -> None:
        """Hold what the order's unfilled part needs: order margin (linear) or locked coin (spot).

        An untriggered conditional order holds nothing (a spot TP/SL order holds its coin).
        """
        if not order.holds_funds:
            return
        account = self.venue.accounts[order.uid]
        if order.category is Category.LINEAR:
            if not order.reduce_only and order.price is not None:
                account.exposure_of(order.symbol).add(order.side, order.leaves_qty, order.price)
            return
        coin, amount = self.spot_need(order)
        order.lock += amount
        account.coin(coin).locked += amount

    def unreserve(self, order: WorkingOrder) -> None:
        """Release whatever the order still holds."""
        if not order.holds_funds:
            return
        venue = self.venue
        account = venue.accounts[order.uid]
        if order.category is Category.LINEAR:
            if not order.reduce_only and order.price is not None and order.leaves_qty > 0:
                account.exposure_of(order.symbol).add(order.side, -order.leaves_qty, order.price)
            return
        if order.lock:
            instrument = venue.sym_of(order).spec.instrument
            coin = instrument.quote_coin if order.is_buy else instrument.base_coin
            account.coin(coin).locked -= order.lock
            order.lock = _ZERO

    # --- lifecycle ----------------------------------------------------------------------------

    def closable(self, order: WorkingOrder) -> Decimal:
        """Return how much of the account's position this order's side would reduce."""
        position = self.venue.accounts[order.uid].positions.get(order.symbol)
        size = position.size if position is not None else _ZERO
        return max(_ZERO, -size) if order.is_buy else max(_ZERO, size)

    def activate(self, order: WorkingOrder) -> None:
        """Bring an accepted order to the book: checks, taker matching, then rest or cancel."""
        sym = self.venue.sym_of(order)
        if order.reduce_only:
            closable = self.closable(order)
            if closable <= 0:
                self.cancel(order, CancelType.CANCEL_BY_REDUCE_ONLY, RejectReason.OTHERS)
                return
            if order.leaves_qty > closable:
                order.qty = order.cum_qty + closable
        if order.price is None:
            self.cancel(order, CancelType.UNKNOWN, self.unfilled_reason(order))
            return
        if bar_fills.applies(sym, order):
            bar_fills.activate(self, order, sym)
            return
        book = sym.book
        if order.tif is TimeInForce.POST_ONLY:
            other = book.best_ask() if order.is_buy else book.best_bid()
            if other is not None and _crosses(order.is_buy, order.price, other):
                self.cancel(order, CancelType.UNKNOWN, RejectReason.POST_ONLY_WILL_TAKE_LIQUIDITY)
                return
        if order.tif is TimeInForce.FOK and not self._fok_fillable(order, sym):
            self.cancel(order, CancelType.UNKNOWN, RejectReason.NO_ENOUGH_QTY_TO_FILL)
            return
        self.take(order, sym, order.price)
        if self.is_done(order):
            self.complete(order)
        elif order.order_type is OrderType.MARKET or order.tif in (TimeInForce.IOC, TimeInForce.FOK):
            self.cancel(order, CancelType.UNKNOWN, self.unfilled_reason(order))
        else:
            self.rest(order, sym)
            self.venue.emit_order(order)
        self.after_fills(sym, {order.uid})

    def unfilled_reason(self, order: WorkingOrder) -> str:
        """Return the rejectReason of a taker cancelled for want of liquidity."""
        if order.category is Category.SPOT:
            return RejectReason.CANCEL_FOR_NO_FULL_FILL
        return RejectReason.NO_IMMEDIATE_QTY_TO_FILL

    def _fok_fillable(self, order: WorkingOrder, sym: SymbolState) -> bool:
        need = order.leaves_quote if order.quote_sized else order.leaves_qty
        if order.reduce_only:
            need = min(need, self.closable(order))
        got = _ZERO
        for price, left in sym.book.taker_levels(order.is_buy, order.price):
            got += left * price if order.quote_sized else left
            if got >= need:
                return True
        return False

    def is_done(self, order: WorkingOrder) -> bool:
        """Return whether nothing of the order is left to fill."""
        if order.quote_sized:
            return order.leaves_quote <= 0
        return order.leaves_qty <= 0

    def complete(self, order: WorkingOrder) -> None:
        """Mark an order filled, release leftovers, and archive it."""
        if order.resting:
            self.venue.sym_of(order).resting(order.is_buy).remove(order)
        self.unreserve(order)
        order.status = OrderStatus.FILLED
        order.updated_ms = self.venue.now_ms
        self.venue.emit_order(order)
        self.venue.archive(order)
        self.venue.touch(order.uid)

    def rest(self, order: WorkingOrder, sym: SymbolState, *, keep_queue: bool = False) -> None:
        """Put an order's remainder on the book behind the external volume at its price."""
        assert order.price is not None  # resting orders are limit orders
        order.status = OrderStatus.PARTIALLY_FILLED if order.cum_qty > 0 else OrderStatus.NEW
        if not keep_queue:
            queue_model = self.venue.config.queue_model
            order.queue_ahead = sym.book.size_at(order.is_buy, order.price) if queue_model else _ZERO
        order.updated_ms = self.venue.now_ms
        sym.resting(order.is_buy).add(order)

    def cancel(self, order: WorkingOrder, cancel_type: str, reason: str) -> None:
        """Close an open order without further fills (`Deactivated` if it never triggered)."""
        if order.resting:
            self.venue.sym_of(order).resting(order.is_buy).remove(order)
        elif order.status is OrderStatus.NEW:
            bar_fills.forget(self.venue.sym_of(order), order)
        self.unreserve(order)
        if order.awaiting_trigger:
            self.venue.sym_of(order).triggers.discard(order)
            order.status = OrderStatus.DEACTIVATED
        else:
            order.status = cancelled_status(order.category, order.cum_qty)
        order.cancel_type = cancel_type
        order.reject_reason = reason
        order.updated_ms = self.venue.now_ms
        self.venue.emit_order(order)
        self.venue.archive(order)
        self.venue.touch(order.uid)

    # --- fills --------------------------------------------------------------------------------

    def fillable(self, order: WorkingOrder, available: Decimal, price: Decimal) -> Decimal:
        """Return how much of `available` at `price` the order may take now."""
        if order.quote_sized:
            step = self.venue.sym_of(order).spec.instrument.qty_step
            qty = order.leaves_quote / price
            qty = to_step(qty, step, ROUND_DOWN)
            qty = min(qty, available)
            if not order.is_buy:
                qty = min(qty, order.lock)  # a quote-sized sell spends at most the base it locked
        else:
            qty = min(order.leaves_qty, available)
        if order.reduce_only:
            qty = min(qty, self.closable(order))
        return qty

    def take(self, order: WorkingOrder, sym: SymbolState, limit: Decimal) -> None:
        """Match an arriving order against the opposite external levels up to `limit`."""
        for price, left in sym.book.taker_levels(order.is_buy, limit):
            qty = self.fillable(order, left, price)
            if qty <= 0:
                break
            self.fill(order, sym, qty, price, is_maker=False)
            sym.book.consume(not order.is_buy, price, qty)
            if self.is_done(order):
                break

    def fill(
        self,
        order: WorkingOrder,
        sym: SymbolState,
        qty: Decimal,
        price: Decimal,
        *,
        is_maker: bool,
        exec_type: ExecType = ExecType.TRADE,
    ) -> Execution:
        """Book one execution of `qty` at `price` into the order and its account."""
        venue = self.venue
        account = venue.accounts[order.uid]
        spec = sym.spec
        taker_rate, maker_rate = account.fees.rates(spec.category, spec.symbol)
        rate = maker_rate if is_maker else taker_rate
        value = qty * price
        closed_size = pnl = _ZERO
        instrument = spec.instrument
        if order.category is Category.LINEAR:
            fee = account.fees.fee(value, rate)
            closed_size, pnl = self._book_linear(account, order, sym, qty, price, fee)
            if not order.reduce_only and order.price is not None:
                account.exposure_of(order.symbol).add(order.side, -qty, order.price)
        else:
            base, quote = account.coin(instrument.base_coin), account.coin(instrument.quote_coin)
            if order.is_buy:
                fee = account.fees.fee(qty, rate)
                release = value if order.quote_sized else qty * (order.price or _ZERO)
                quote.wallet -= value
                quote.locked -= release
                base.wallet += qty - fee
            else:
                fee = account.fees.fee(value, rate)
                release = qty
                base.wallet -= qty
                base.locked -= qty
                quote.wallet += value - fee
            order.lock -= release
        order.cum_qty += qty
        order.cum_value += value
        order.cum_fee += fee
        order.closed_pnl += pnl
        order.updated_ms = venue.now_ms
        execution = Execution(
            exec_id=venue.new_order_id(order.category),
            order_id=order.order_id,
            order_link_id=order.order_link_id,
            category=order.category,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            order_price=order.price if order.price is not None else _ZERO,
            order_qty=order.qty,
            leaves_qty=order.leaves_qty,
            exec_type=exec_type,
            exec_price=price,
            exec_qty=qty,
            exec_value=value,
            exec_fee=fee,
            fee_rate=rate,
            fee_currency=order.fee_currency,
            is_maker=is_maker,
            closed_size=closed_size,
            exec_pnl=pnl,
            exec_time_ms=venue.now_ms,
            seq=venue.next_exec_seq(),
            mark_price=sym.reference_price(),
            create_type=order.create_type,
            stop_order_type=order.stop_order_type,
            market_unit=order.market_unit,
        )
        venue.record_execution(account, execution)
        venue.touch(account.uid, order.symbol if order.category is Category.LINEAR else None)
        return execution

    def _book_linear(
        self,
        account: Account,
        order: WorkingOrder,
        sym: SymbolState,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
    ) -> tuple[Decimal, Decimal]:
        """Apply a linear fill to the position and settle-coin wallet; return (closed size, PnL)."""
        venue = self.venue
        position = account.position(order.symbol)
        old_size = position.size
        effect = apply_fill(old_size, position.entry_value, order.side, qty, price)
        opened_fresh = old_size == 0 or (effect.size != 0 and (effect.size > 0) != (old_size > 0))
        if opened_fresh:
            position.cur_realised = _ZERO
            position.created_ms = venue.now_ms
        position.size = effect.size
        position.entry_value = effect.entry_value
        booked = effect.realised_pnl - fee
        position.cur_realised += booked
        position.cum_realised += booked
        position.updated_ms = venue.now_ms
        position.seq = venue.exec_seq + 1
        coin = account.coin(sym.spec.instrument.settle_coin)
        coin.wallet += booked
        coin.cum_realised += booked
        if effect.size == 0:
            position.take_profit = position.stop_loss = None
            sym.holders.pop(account.uid, None)
        else:
            sym.holders[account.uid] = None
            if order.take_profit is not None or order.stop_loss is not None:
                position.take_profit = order.take_profit or position.take_profit
                position.stop_loss = order.stop_loss or position.stop_loss
        return effect.closed_size, effect.realised_pnl

    # --- resting orders against market data ---------------------------------------------------

    def on_trade(self, sym: SymbolState, price: Decimal, size: Decimal, taker_side: Side) -> None:
        """Fill resting orders a public trade of `size` at `price` reached."""
        resting = sym.resting(taker_side is Side.SELL)
        queue_model = self.venue.config.queue_model
        remaining = size
        finished: list[WorkingOrder] = []
        touched: set[int] = set()
        for order in resting.view():
            assert order.price is not None
            if remaining <= 0 or not _crosses(order.is_buy, order.price, price):
                break
            reach = remaining
            if queue_model and order.price == price:
                reach = remaining - order.queue_ahead
                order.queue_ahead = max(_ZERO, order.queue_ahead - remaining)
                if reach <= 0:
                    continue
            qty = self.fillable(order, reach, order.price)
            if qty <= 0:
                continue
            self.fill(order, sym, qty, order.price, is_maker=True)
            remaining -= qty
            touched.add(order.uid)
            if self.is_done(order):
                finished.append(order)
            else:
                order.status = OrderStatus.PARTIALLY_FILLED
                self.venue.emit_order(order)
        for order in finished:
            self.complete(order)
        if touched:
            self.after_fills(sym, touched)

    def on_levels_changed(self, sym: SymbolState, changes: list[tuple[bool, Decimal, Decimal]]) -> None:
        """Shrink queues where the external level shrank, then fill orders the book moved through."""
        bids_changed = asks_changed = False
        queue_model = self.venue.config.queue_model
        for is_bid, price, size in changes:
            if is_bid:
                bids_changed = True
            else:
                asks_changed = True
            if queue_model:
                for order in sym.resting(is_bid).at_price(price):
                    if order.queue_ahead > size:
                        order.queue_ahead = size
        # only new opposite liquidity can cross a resting order: asks for buys, bids for sells
        sides = tuple(is_buy for is_buy, moved in ((True, asks_changed), (False, bids_changed)) if moved)
        if sides:
            self.match_crossed(sym, sides)

    def match_crossed(self, sym: SymbolState, sides: tuple[bool, ...] = (True, False)) -> None:
        """Fill resting orders whose price the opposite side of the book has reached, as makers."""
        touched: set[int] = set()
        book = sym.book
        for is_buy in sides:
            resting = sym.resting(is_buy)
            while True:
                order = resting.best()
                if order is None or order.price is None:
                    break
                other = book.best_ask() if is_buy else book.best_bid()
                if other is None or not _crosses(is_buy, order.price, other):
                    break
                filled = False
                for level_price, left in book.taker_levels(is_buy, order.price):
                    qty = self.fillable(order, left, order.price)
                    if qty <= 0:
                        break
                    self.fill(order, sym, qty, order.price, is_maker=True)
                    book.consume(not is_buy, level_price, qty)
                    filled = True
                    if self.is_done(order):
                        break
                if not filled:
                    break
                touched.add(order.uid)
                if self.is_done(order):
                    self.complete(order)
                else:
                    order.status = OrderStatus.PARTIALLY_FILLED
                    self.venue.emit_order(order)
                    break
        if touched:
            self.after_fills(sym, touched)

    def after_fills(self, sym: SymbolState, uids: set[int]) -> None:
        """Keep reduce-only orders within their positions after fills on `sym`."""
        if not sym.is_linear:
            return
        for uid in sorted(uids):
            self.enforce_reduce_only(self.venue.accounts[uid], sym.spec.symbol)

    def enforce_reduce_only(self, account: Account, symbol: str) -> None:
        """Cancel reduce-only orders with nothing left to reduce; trim those larger than the position."""
        if not account.reduce_only_open:
            return
        orders = [
            o
            for o in account.open_orders.values()
            if o.reduce_only
            and o.symbol == symbol
            and o.status is not OrderStatus.CREATED
            and not o.awaiting_trigger  # sized against the position when it triggers
        ]
        for order in orders:
            closable = self.closable(order)
            if closable <= 0:
                self.cancel(order, CancelType.CANCEL_BY_REDUCE_ONLY, RejectReason.OTHERS)
            elif order.leaves_qty > closable:
                order.qty = order.cum_qty + closable
                order.updated_ms = self.venue.now_ms
                self.venue.emit_order(order)

    # --- engine-initiated orders: TP/SL and liquidation ---------------------------------------

    def _system_order(
        self, account: Account, sym: SymbolState, side: Side, qty: Decimal, price: Decimal | None
    ) -> WorkingOrder:
        venue = self.venue
        order = WorkingOrder(
            uid=account.uid,
            order_id=venue.new_order_id(sym.spec.category),
            order_link_id="",
            category=sym.spec.category,
            symbol=sym.spec.symbol,
            side=side,
            order_type=OrderType.MARKET,
            price=price,
            qty=qty,
            tif=TimeInForce.IOC,
            reduce_only=True,
            close_on_trigger=True,
            market_unit=None,
            created_ms=venue.now_ms,
            priority=venue.next_priority(),
            fee_currency=sym.spec.instrument.settle_coin,
            last_price_on_created=sym.last_price,
        )
        account.add_open(order)
        venue.orders[order.order_id] = order
        return order

    def check_tpsl(self, sym: SymbolState) -> None:
        """Close positions whose take-profit or stop-loss the last price reached (market, reduce-only)."""
        last = sym.last_price
        if last is None or not sym.holders:
            return
        for uid in sorted(sym.holders):
            account = self.venue.accounts[uid]
            position = account.positions[sym.spec.symbol]
            long = position.size > 0
            kind: str | None = None
            tp, sl = position.take_profit, position.stop_loss
            if tp is not None and (last >= tp if long else last <= tp):
                kind = StopOrderType.TAKE_PROFIT
            elif sl is not None and (last <= sl if long else last >= sl):
                kind = StopOrderType.STOP_LOSS
            if kind is None:
                continue
            position.take_profit = position.stop_loss = None
            side = Side.SELL if long else Side.BUY
            order = self._system_order(
                account, sym, side, abs(position.size), self.protected_price(sym, side)
            )
            order.stop_order_type = kind
            order.create_type = (
                CreateType.CREATE_BY_TAKE_PROFIT
                if kind == StopOrderType.TAKE_PROFIT
                else CreateType.CREATE_BY_STOP_LOSS
            )
            self.activate(order)
            self.venue.touch(uid, sym.spec.symbol)

    def protected_price(self, sym: SymbolState, side: Side) -> Decimal | None:
        """Return a market order's IOC limit: reference x (1 +/- slippage ratio), on the tick grid."""
        reference = sym.reference_price()
        if reference is None:
            return None
        ratio = sym.spec.market_slippage_ratio
        tick = sym.spec.instrument.tick_size
        # Rounded inside the band: a buy's limit down, a sell's up (never beyond the protection).
        if side is Side.BUY:
            return to_step(reference * (1 + ratio), tick, ROUND_DOWN)
        return to_step(reference * (1 - ratio), tick, ROUND_UP)

    def check_liquidation(self, account: Account) -> None:
        """Liquidate the account when its margin balance no longer covers maintenance margin."""
        if not self.venue.config.liquidation:
            return
        if not any(p.size != 0 for p in account.positions.values()):
            return
        summary = margin_summary(account, self.venue)
        if summary.position_mm > 0 and summary.margin_balance <= summary.position_mm:
            self.liquidate(account)

    def liquidate(self, account: Account) -> None:
        """Cancel the account's linear orders and close every position at mark as a BustTrade.

        Simplified Bybit liquidation: no partial steps, no insurance fund; the closing fee is the
        taker rate and whatever equity is left stays in the wallet (it may be negative after a gap).
        """
        venue = self.venue
        for order in [o for o in account.open_orders.values() if o.category is Category.LINEAR]:
            self.cancel(order, CancelType.CANCEL_ALL_BEFORE_LIQ, RejectReason.OTHERS)
        for symbol in sorted(account.positions):
            position = account.positions[symbol]
            if position.size == 0:
                continue
            sym = venue.symbols[(Category.LINEAR, symbol)]
            mark = sym.reference_price()
            assert mark is not None  # a position implies a price was seen
            side = Side.SELL if position.size > 0 else Side.BUY
            order = self._system_order(account, sym, side, abs(position.size), mark)
            order.create_type = CreateType.CREATE_BY_LIQ
            self.fill(order, sym, order.qty, mark, is_maker=False, exec_type=ExecType.BUST_TRADE)
            self.complete(order)
            venue.touch(account.uid, symbol)
