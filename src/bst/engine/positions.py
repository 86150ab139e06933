"""Position settings: leverage and full-position take-profit/stop-loss, with Bybit's refusals."""

from __future__ import annotations

from decimal import Decimal

from bst.bybit.retcodes import RetCode
from bst.engine.accounts import Account, margin_summary
from bst.engine.venue import SymbolState, Venue, fail


def _beyond(price: Decimal, reference: Decimal, above: bool) -> bool:
    """Return whether `price` is at or above (`above`) / at or below `reference`."""
    return price >= reference if above else price <= reference


def change_leverage(
    venue: Venue, account: Account, sym: SymbolState, buy_leverage: Decimal, sell_leverage: Decimal | None
) -> None:
    """Set a linear symbol's leverage (one-way: buy == sell); 110043 unchanged, 110044 unaffordable."""
    symbol = sym.spec.symbol
    leverage = buy_leverage
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
    """Set (0 clears) the position's TP/SL; each must lie on the profit/loss side of the last price."""
    symbol = sym.spec.symbol
    position = account.positions.get(symbol)
    if position is None or position.size == 0:
        fail(RetCode.PARAMS_ERROR, "can not set tp/sl/ts for zero position")
    long = position.size > 0
    last = sym.last_price or sym.reference_price()
    if last is not None:
        wrong_tp = take_profit is not None and take_profit > 0 and _beyond(take_profit, last, not long)
        wrong_sl = stop_loss is not None and stop_loss > 0 and _beyond(stop_loss, last, long)
        if wrong_tp:
            fail(
                RetCode.PARAMS_ERROR,
                f"TakeProfit:{take_profit} is on the wrong side of the last price {last}",
            )
        if wrong_sl:
            fail(RetCode.PARAMS_ERROR, f"StopLoss:{stop_loss} is on the wrong side of the last price {last}")
    if take_profit is not None:
        position.take_profit = take_profit if take_profit > 0 else None
    if stop_loss is not None:
        position.stop_loss = stop_loss if stop_loss > 0 else None
    position.updated_ms = venue.now_ms
    venue.touch(account.uid, symbol)
