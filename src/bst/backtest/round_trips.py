"""Round-trip trades from a linear account's executions: lots opened by orders, closed first in, first out.

A fill on the position's side (or on a flat one) opens or adds to the lot of its order; a fill on
the other side closes the oldest lots first, and what is left of it opens a lot the other way (a
reversal). Each (entry order, exit order) pair that closed some quantity is one `RoundTrip`, its
prices averaged over the fills involved. Fees are shared in proportion to quantity (an entry fee
between the trades its lot ends in, an exit fee between the lots its fill closes); funding
settlements are shared between the lots open at that instant by quantity. A share that does not
divide evenly is rounded to `SHARE_QUANTUM` (1e-12); it is taken out of what is left and the last
share is the remainder, computed with enough digits to be exact, so totals are exact whatever the
divisions: the trades plus the open lots account for every fee and every unit of price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from bst.backtest.result import RoundTrip
from bst.domain.market import Side
from bst.domain.orders import ExecType, Execution

_ZERO = Decimal(0)
SHARE_QUANTUM = Decimal("1e-12")
_DIGITS = 60
"""Working precision of the bookkeeping: sums and remainders of shares stay exact within it."""


def _share(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """Return `amount` x part / whole, to SHARE_QUANTUM (all of it when part is the whole)."""
    if part >= whole:
        return amount
    share = amount * part / whole
    return share if share == share.quantize(SHARE_QUANTUM) else share.quantize(SHARE_QUANTUM, ROUND_HALF_EVEN)


@dataclass(slots=True)
class _Lot:
    """What is still open of one entry order's fills: quantity, cost, and fee and funding not yet booked."""

    number: int
    order_id: str
    side: Side
    first_ms: int
    qty: Decimal = _ZERO
    value: Decimal = _ZERO
    fee: Decimal = _ZERO
    funding: Decimal = _ZERO

    def take(self, qty: Decimal) -> tuple[Decimal, Decimal, Decimal]:
        """Remove `qty` (<= qty); return its (entry value, entry fee, funding) shares."""
        value, fee, funding = (_share(x, qty, self.qty) for x in (self.value, self.fee, self.funding))
        self.qty -= qty
        self.value -= value
        self.fee -= fee
        self.funding -= funding
        return value, fee, funding


@dataclass(slots=True)
class _Piece:
    """A round trip being built: one lot's quantity closed by one exit order."""

    symbol: str
    lot: _Lot
    exit_order_id: str
    qty: Decimal = _ZERO
    entry_value: Decimal = _ZERO
    exit_value: Decimal = _ZERO
    fees: Decimal = _ZERO
    funding: Decimal = _ZERO
    exit_ms: int = 0

    def to_round_trip(self, execution: Execution) -> RoundTrip:
        gross = self.exit_value - self.entry_value
        if self.lot.side is Side.SELL:
            gross = -gross
        return RoundTrip(
            symbol=self.symbol,
            category=execution.category,
            side=self.lot.side,
            qty=self.qty,
            entry_time_ms=self.lot.first_ms,
            exit_time_ms=self.exit_ms,
            entry_price=self.entry_value / self.qty,
            exit_price=self.exit_value / self.qty,
            gross_pnl=gross,
            fees=self.fees,
            funding=self.funding,
            entry_order_id=self.lot.order_id,
            exit_order_id=self.exit_order_id,
        )


class RoundTripBook:
    """Lots and round trips of one account, fed its executions in time order."""

    def __init__(self) -> None:
        self._lots: dict[str, list[_Lot]] = {}
        self._pieces: dict[tuple[int, str], tuple[_Piece, Execution]] = {}
        self._opened = 0

    def add(self, execution: Execution) -> None:
        """Book one execution (trades, liquidations and funding; anything else is ignored)."""
        with localcontext() as context:
            context.prec = _DIGITS
            if execution.exec_type is ExecType.FUNDING:
                self._fund(execution)
            elif execution.exec_type in (ExecType.TRADE, ExecType.BUST_TRADE):
                self._trade(execution)

    def add_all(self, executions: Iterable[Execution]) -> None:
        """Book executions in order."""
        for execution in executions:
            self.add(execution)

    def round_trips(self) -> list[RoundTrip]:
        """Return the closed round trips, by exit time then entry time (open lots are not trades)."""
        trips = [piece.to_round_trip(execution) for piece, execution in self._pieces.values()]
        return sorted(trips, key=lambda t: (t.exit_time_ms, t.entry_time_ms))

    def open_qty(self, symbol: str) -> Decimal:
        """Return the quantity still open in lots of `symbol` (signed: negative is short)."""
        lots = self._lots.get(symbol, [])
        total = sum((lot.qty for lot in lots), _ZERO)
        return -total if lots and lots[0].side is Side.SELL else total

    def _fund(self, execution: Execution) -> None:
        lots = self._lots.get(execution.symbol, [])
        left, whole = execution.exec_fee, sum((lot.qty for lot in lots), _ZERO)
        for lot in lots:
            share = _share(left, lot.qty, whole)
            lot.funding += share
            left -= share
            whole -= lot.qty

    def _trade(self, execution: Execution) -> None:
        lots = self._lots.setdefault(execution.symbol, [])
        qty, price, fee = execution.exec_qty, execution.exec_price, execution.exec_fee
        if lots and lots[0].side is not execution.side:
            while qty > 0 and lots:
                lot = lots[0]
                closed = min(qty, lot.qty)
                entry_value, entry_fee, funding = lot.take(closed)
                exit_fee = _share(fee, closed, qty)
                piece = self._piece(execution, lot)
                piece.qty += closed
                piece.entry_value += entry_value
                piece.exit_value += closed * price
                piece.fees += entry_fee + exit_fee
                piece.funding += funding
                piece.exit_ms = execution.exec_time_ms
                qty -= closed
                fee -= exit_fee
                if lot.qty <= 0:
                    lots.pop(0)
        if qty <= 0:
            return
        if lots and lots[-1].order_id == execution.order_id:
            opened = lots[-1]
        else:
            self._opened += 1
            opened = _Lot(self._opened, execution.order_id, execution.side, execution.exec_time_ms)
            lots.append(opened)
        opened.qty += qty
        opened.value += qty * price
        opened.fee += fee

    def _piece(self, execution: Execution, lot: _Lot) -> _Piece:
        key = (lot.number, execution.order_id)
        found = self._pieces.get(key)
        if found is None:
            found = (_Piece(execution.symbol, lot, execution.order_id), execution)
            self._pieces[key] = found
        return found[0]


def round_trips(executions: Iterable[Execution]) -> list[RoundTrip]:
    """Return the round trips of a linear account's executions (in time order)."""
    book = RoundTripBook()
    book.add_all(executions)
    return book.round_trips()


__all__ = ["RoundTripBook", "round_trips"]
