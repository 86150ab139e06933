"""Funding settlement of linear positions (every funding interval, 00/08/16 UTC for 8 h symbols)."""

from __future__ import annotations

from decimal import Decimal

from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, Execution, OrderType
from bst.domain.portfolio import funding_fee
from bst.engine.ledger import record_funding
from bst.engine.venue import SymbolState, Venue

_ZERO = Decimal(0)


def settle_funding(venue: Venue, sym: SymbolState, at_ms: int) -> list[int]:
    """Charge or credit funding on every open position of `sym` at `at_ms`; return the accounts charged."""
    mark = sym.reference_price()
    if mark is None or not sym.holders:
        return []
    rate = sym.funding_rate if sym.funding_rate is not None else sym.spec.default_funding_rate
    settle = sym.spec.instrument.settle_coin
    for uid in sorted(sym.holders):
        account = venue.accounts[uid]
        position = account.positions[sym.spec.symbol]
        if position.size == 0:
            continue
        fee = funding_fee(position.size, mark, rate)
        if account.fees.fee_quantum is not None:
            fee = account.fees.fee(fee, Decimal(1))
        size = abs(position.size)
        execution = Execution(
            exec_id=venue.ids.next_uuid(),
            order_id=venue.ids.next_uuid(),
            order_link_id="",
            category=Category.LINEAR,
            symbol=sym.spec.symbol,
            side=Side.BUY if position.size > 0 else Side.SELL,
            order_type=OrderType.UNKNOWN,
            order_price=_ZERO,
            order_qty=_ZERO,
            leaves_qty=_ZERO,
            exec_type=ExecType.FUNDING,
            exec_price=mark,
            exec_qty=size,
            exec_value=size * mark,
            exec_fee=fee,
            fee_rate=rate,
            fee_currency=settle,
            is_maker=False,
            closed_size=_ZERO,
            exec_pnl=_ZERO,
            exec_time_ms=at_ms,
            seq=venue.next_exec_seq(),
            mark_price=mark,
            create_type="",
        )
        coin = account.coin(settle)
        coin.wallet -= fee
        coin.cum_realised -= fee
        position.cur_realised -= fee
        position.cum_realised -= fee
        position.updated_ms = at_ms
        position.seq = execution.seq
        venue.record_execution(account, execution)
        record_funding(account, execution, settle, venue.config.max_executions)
        venue.touch(uid, sym.spec.symbol)
    return sorted(sym.holders)
