"""Each account's books: the transaction log and the closed-PnL records, kept as money moves.

Every change of a wallet balance writes one transaction-log row (`bst.domain.ledger.Transaction`)
in the same step, carrying the balance right after it, so the newest row of a coin always equals
that coin's wallet balance: fills (a linear fill books its realised price PnL minus the fee in the
settle coin; a spot fill moves base and quote, one row each), funding settlements, and transfers
(opening balances, deposits).

Closed PnL follows Bybit: one record per order that closed (part of) a linear position, grown by
each of its closing fills. The fees paid to open a position are carried with it (`open_fees`) and
released in proportion to the quantity closed, so a record's `closed_pnl` is its price PnL minus
the opening fees of what it closed minus its own closing fees. Proportions are exact when they
terminate and rounded half-even to 8 places otherwise, always taking the released part from what
remains, so nothing is lost: the closed PnL of all records plus the opening fees still carried by
open positions equals the fills' realised PnL minus all their fees, exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from bst.domain.ledger import ClosedPnl, Transaction, TransactionType
from bst.domain.market import Category, Side
from bst.domain.orders import ExecType, Execution
from bst.domain.portfolio import average_price, proportional_cost, signed_qty

if TYPE_CHECKING:  # accounts holds the books; the books only read accounts
    from bst.domain.instrument import Instrument
    from bst.engine.accounts import Account

_ZERO = Decimal(0)


class AccountBooks:
    """One account's transaction log, closed-PnL records and the opening fees its positions carry."""

    __slots__ = ("closed", "closing", "open_fees", "opened_ms", "row_count", "transactions")

    def __init__(self) -> None:
        self.transactions: list[Transaction] = []
        """Oldest first."""
        self.closed: list[ClosedPnl] = []
        """Oldest first (by each order's first closing fill)."""
        self.closing: dict[str, int] = {}
        """orderId -> index in `closed` of its record (later fills of the order add to it)."""
        self.open_fees: dict[str, Decimal] = {}
        """Linear symbol -> fees paid to open the current position not yet released by closes."""
        self.opened_ms = 0
        """When the account was opened (engine time)."""
        self.row_count = 0
        """Rows ever written (numbers the transaction ids)."""

    def trim(self, limit: int) -> None:
        """Keep at most about `limit` rows and records (oldest dropped first, in chunks)."""
        if len(self.transactions) > limit + limit // 4:
            del self.transactions[: len(self.transactions) - limit]
        if len(self.closed) > limit + limit // 4:
            dropped = len(self.closed) - limit
            del self.closed[:dropped]
            self.closing = {oid: i - dropped for oid, i in self.closing.items() if i >= dropped}

    def next_id(self, uid: int, label: str) -> str:
        """Return a fresh transaction id, `{uid}_{symbol or coin}_{n}`."""
        self.row_count += 1
        return f"{uid}_{label}_{self.row_count}"


def with_averages(record: ClosedPnl) -> ClosedPnl:
    """Return a stored record with its average entry and exit prices (8 places, as positions show)."""
    size = record.closed_size
    return record._replace(
        avg_entry_price=average_price(record.cum_entry_value, size),
        avg_exit_price=average_price(record.cum_exit_value, size),
    )


def record_fill(
    account: Account, execution: Execution, instrument: Instrument, order_created_ms: int, limit: int
) -> None:
    """Book a fill the engine has just applied to `account` (its balances and position are updated)."""
    books = account.books
    if execution.category is Category.LINEAR:
        settle = instrument.settle_coin
        position = account.positions[execution.symbol]
        book_linear_fill(
            books,
            account.uid,
            execution,
            settle_coin=settle,
            balance=account.coin(settle).wallet,
            size_after=position.size,
            leverage=position.leverage,
            order_created_ms=order_created_ms,
        )
    else:
        base, quote = instrument.base_coin, instrument.quote_coin
        balances = (account.coin(base).wallet, account.coin(quote).wallet)
        book_spot_fill(books, account.uid, execution, (base, quote), balances)
    books.trim(limit)


def record_funding(account: Account, execution: Execution, settle_coin: str, limit: int) -> None:
    """Book a funding settlement the engine has just applied to `account`."""
    position = account.positions[execution.symbol]
    balance = account.coin(settle_coin).wallet
    book_funding(
        account.books, account.uid, execution, settle_coin=settle_coin, balance=balance, size=position.size
    )
    account.books.trim(limit)


def record_transfer(account: Account, coin: str, amount: Decimal, now_ms: int, limit: int) -> None:
    """Book `amount` of `coin` the engine has just credited to `account` (opening funds, deposits)."""
    book_transfer(account.books, account.uid, coin, amount, account.coin(coin).wallet, now_ms)
    account.books.trim(limit)


def book_transfer(
    books: AccountBooks, uid: int, coin: str, amount: Decimal, balance: Decimal, now_ms: int
) -> None:
    """Write a TRANSFER_IN row of `amount` (> 0) of `coin`, the wallet now holding `balance`."""
    books.transactions.append(
        Transaction(
            transaction_id=books.next_id(uid, coin),
            category=None,
            symbol="",
            side=None,
            transaction_time_ms=now_ms,
            type=TransactionType.TRANSFER_IN,
            currency=coin,
            qty=amount,
            size=_ZERO,
            trade_price=None,
            funding=None,
            fee=_ZERO,
            fee_rate=None,
            cash_flow=amount,
            change=amount,
            cash_balance=balance,
        )
    )


def book_spot_fill(
    books: AccountBooks,
    uid: int,
    execution: Execution,
    coins: tuple[str, str],
    balances: tuple[Decimal, Decimal],
) -> None:
    """Write the two rows of a spot fill: the base coin's, then the quote coin's.

    `coins` and `balances` are (base, quote) and their wallet balances after the fill. A buy pays
    its fee in base coin, a sell in quote coin (as the engine books them).
    """
    buy = execution.side is Side.BUY
    qty, value, fee = execution.exec_qty, execution.exec_value, execution.exec_fee
    flows = ((qty, fee if buy else _ZERO), (-value, _ZERO)) if buy else ((-qty, _ZERO), (value, fee))
    for coin, balance, (cash_flow, paid) in zip(coins, balances, flows, strict=True):
        _fill_row(
            books, uid, coin, execution, TransactionType.TRADE, coin, _ZERO, None, paid, cash_flow, balance
        )


def book_linear_fill(
    books: AccountBooks,
    uid: int,
    execution: Execution,
    *,
    settle_coin: str,
    balance: Decimal,
    size_after: Decimal,
    leverage: Decimal,
    order_created_ms: int,
) -> None:
    """Write a linear fill's row and grow its order's closed-PnL record when it closed something.

    `balance` is the settle coin's wallet after the fill, `size_after` the signed position after it.
    """
    kind = (
        TransactionType.LIQUIDATION if execution.exec_type is ExecType.BUST_TRADE else TransactionType.TRADE
    )
    fee, pnl = execution.exec_fee, execution.exec_pnl
    _fill_row(books, uid, execution.symbol, execution, kind, settle_coin, size_after, None, fee, pnl, balance)
    symbol, qty, closed = execution.symbol, execution.exec_qty, execution.closed_size
    carried = books.open_fees.pop(symbol, _ZERO)
    opening_fee = fee
    if closed > 0:
        size_before = size_after - signed_qty(execution.side, qty)
        held = abs(size_before)
        released = carried if closed == held else proportional_cost(carried, closed, held)
        carried -= released
        close_fee = fee if closed == qty else proportional_cost(fee, closed, qty)
        opening_fee = fee - close_fee
        exit_value = closed * execution.exec_price
        entry_value = exit_value - pnl if size_before > 0 else exit_value + pnl
        _grow_record(
            books,
            execution,
            order_created_ms,
            leverage,
            closed,
            entry_value,
            exit_value,
            pnl,
            released,
            close_fee,
        )
    carried += opening_fee
    if size_after != 0 and carried != 0:
        books.open_fees[symbol] = carried


def book_funding(
    books: AccountBooks, uid: int, execution: Execution, *, settle_coin: str, balance: Decimal, size: Decimal
) -> None:
    """Write a funding settlement's SETTLEMENT row (`execution` is the engine's Funding execution)."""
    received = -execution.exec_fee
    kind = TransactionType.SETTLEMENT
    _fill_row(
        books, uid, execution.symbol, execution, kind, settle_coin, size, received, _ZERO, _ZERO, balance
    )


def _fill_row(
    books: AccountBooks,
    uid: int,
    label: str,
    execution: Execution,
    kind: TransactionType,
    currency: str,
    size: Decimal,
    funding: Decimal | None,
    fee: Decimal,
    cash_flow: Decimal,
    balance: Decimal,
) -> None:
    """Append the row of an execution (a fill or a funding settlement): change = flow + funding - fee."""
    books.transactions.append(
        Transaction(
            books.next_id(uid, label),
            execution.category,
            execution.symbol,
            execution.side,
            execution.exec_time_ms,
            kind,
            currency,
            execution.exec_qty,
            size,
            execution.exec_price,
            funding,
            fee,
            execution.fee_rate,
            cash_flow,
            cash_flow + (funding or _ZERO) - fee,
            balance,
            execution.exec_id,
            execution.order_id,
            execution.order_link_id,
        )
    )


def _grow_record(
    books: AccountBooks,
    execution: Execution,
    created_ms: int,
    leverage: Decimal,
    closed: Decimal,
    entry_value: Decimal,
    exit_value: Decimal,
    pnl: Decimal,
    open_fee: Decimal,
    close_fee: Decimal,
) -> None:
    index = books.closing.get(execution.order_id)
    if index is None:
        books.closing[execution.order_id] = len(books.closed)
        books.closed.append(
            ClosedPnl(
                category=Category.LINEAR,
                symbol=execution.symbol,
                order_id=execution.order_id,
                side=execution.side,
                qty=execution.order_qty,
                order_price=execution.order_price,
                order_type=execution.order_type,
                exec_type=execution.exec_type,
                closed_size=closed,
                cum_entry_value=entry_value,
                avg_entry_price=_ZERO,  # averages are derived when read (`with_averages`)
                cum_exit_value=exit_value,
                avg_exit_price=_ZERO,
                closed_pnl=pnl - open_fee - close_fee,
                open_fee=open_fee,
                close_fee=close_fee,
                fill_count=1,
                leverage=leverage,
                created_time_ms=created_ms,
                updated_time_ms=execution.exec_time_ms,
            )
        )
        return
    old = books.closed[index]
    size = old.closed_size + closed
    entry, exit_ = old.cum_entry_value + entry_value, old.cum_exit_value + exit_value
    books.closed[index] = old._replace(
        qty=execution.order_qty,
        closed_size=size,
        cum_entry_value=entry,
        cum_exit_value=exit_,
        closed_pnl=old.closed_pnl + pnl - open_fee - close_fee,
        open_fee=old.open_fee + open_fee,
        close_fee=old.close_fee + close_fee,
        fill_count=old.fill_count + 1,
        leverage=leverage,
        updated_time_ms=execution.exec_time_ms,
    )


__all__ = [
    "AccountBooks",
    "book_funding",
    "book_linear_fill",
    "book_spot_fill",
    "book_transfer",
    "record_fill",
    "record_funding",
    "record_transfer",
    "with_averages",
]
