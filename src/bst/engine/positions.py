"""Position settings: leverage and full-position take-profit/stop-loss, with Bybit's refusals."""

from __future__ import annotations

from decimal import Decimal

from bst.bybit.retcodes import RetCode
from bst.domain.market import Side
from bst.engine.accounts import Account, margin_summary
from bst.engine.validation import check_position_tpsl
from bst.engine.venue import SymbolState, Venue, fail


def change_leverage(
    venue: Venue, account: Account, sym: SymbolState, buy_leverage: Decimal, sell_leverage: Decimal | None
) -> None:
    """Set a linear symbol's leverage (one-way: buy == sell); 110043 unchanged, 110044 unaffordable."""
    symbol = sym.spec.symbol
    leverage = buy_leverage
    for name, value in (("buyLeverage", buy_leverage), ("sellLeverage", sell_leverage)):
        if value is not None and not value.is_finite():  # NaN cannot even be compared
            fail(RetCode.PARAMS_ERROR, f"params error: {name} invalid: not a finite number")
    if sell_leverage is not None and sell_leverage != buy_leverage:
        fail(RetCode.PARAMS_ERROR, "buyLeverage must equal sellLeverage in one-way mode")
    instrument = sym.spec.instrument
    step = instrument.leverage_step
    if (
        leverage < instrument.min_leverage
        or leverage > instrument.max_leverage
        or (step > 0 and (leverage - instrument.min_leverage) % step != 0)
    ):
        fail(
            RetCode.PARAMS_ERROR,
            f"leverage {leverage} is invalid: use {instrument.min_leverage}-{instrument.max_leverage} "
            f"in steps of {step}",
        )
    if account.leverage_of(symbol) == leverage:
        fail(RetCode.LEVERAGE_NOT_MODIFIED, "Set leverage not modified")
    previous = account.leverage_of(symbol)
    position = account.positions.get(symbol)
    account.leverage[symbol] = leverage
    if position is not None:
        position.leverage = leverage
    summary = margin_summary(account, venue)
    if leverage < previous and summary.available < 0:
        account.leverage[symbol] = previous
        if position is not None:
            position.leverage = previous
        fail(RetCode.MARGIN_INSUFFICIENT, "Available margin is insufficient for this leverage")
    if position is not None:
        position.updated_ms = venue.now_ms
    venue.touch(account.uid, symbol)


def change_trading_stop(
    venue: Venue,
    account: Account,
    sym: SymbolState,
    take_profit: Decimal | None,
    stop_loss: Decimal | None,
) -> None:
    """Set (0 clears) the position's TP/SL: within the price range, on its side of the last price."""
    symbol = sym.spec.symbol
    position = account.positions.get(symbol)
    if position is None or position.size == 0:
        fail(RetCode.PARAMS_ERROR, "can not set tp/sl/ts for zero position")
    side = Side.BUY if position.size > 0 else Side.SELL
    check_position_tpsl(sym, side, sym.last_price or sym.reference_price(), take_profit, stop_loss)
    if take_profit is not None:
        position.take_profit = take_profit if take_profit > 0 else None
    if stop_loss is not None:
        position.stop_loss = stop_loss if stop_loss > 0 else None
    position.updated_ms = venue.now_ms
    venue.touch(account.uid, symbol)
