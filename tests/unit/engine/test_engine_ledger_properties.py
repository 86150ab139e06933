"""Property tests of the books: random order flow (the engine property test's programs) keeps them exact.

After every step, for every account and coin: the newest transaction-log row's `cashBalance` is the
wallet balance, the `change`s sum to it (opening funds are TRANSFER_IN rows), and every row has
`change = cashFlow + funding - fee`. Once every position is closed, the closed-PnL records sum to
the realised PnL of the trades (their price PnL minus all their fees: cumulative realised PnL
without funding), and their closed sizes to the fills' closed sizes.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from enginekit import SYMBOL, D, make_engine, market, set_book
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine_properties import LINEAR, Run, actions

from bst.domain.ledger import TransactionType
from bst.domain.market import Side
from bst.domain.orders import ExecType
from bst.engine import EngineConfig, LatencyModel, MatchingEngine


def check_balances(engine: MatchingEngine, uids: list[int]) -> None:
    for uid in uids:
        rows = engine.transaction_log(uid)
        newest: dict[str, Decimal] = {}
        total: dict[str, Decimal] = defaultdict(Decimal)
        for row in rows:  # newest first
            newest.setdefault(row.currency, row.cash_balance)
            total[row.currency] += row.change
            assert row.change == row.cash_flow + (row.funding or 0) - (row.fee or 0)
        wallet = engine.wallet(uid, ["USDT", "BTC"])
        for coin in ("USDT", "BTC"):
            balance = wallet.coin(coin)
            assert balance is not None
            assert newest[coin] == total[coin] == balance.wallet_balance, (uid, coin)


def close_everything(engine: MatchingEngine, uids: list[int]) -> None:
    for uid in uids:
        engine.cancel_all(uid, LINEAR, symbol=SYMBOL)
    engine.advance_time(engine.now_ms + 1_000)
    mid = engine.market(SYMBOL, category=LINEAR).mark_price or D(50_000)
    set_book(engine, bids=[(str(mid - 5), "1000")], asks=[(str(mid + 5), "1000")], ts_ms=engine.now_ms)
    for uid in uids:
        [position] = engine.positions(uid, symbol=SYMBOL)
        if position.size:
            side = Side.SELL if position.side == "Buy" else Side.BUY
            engine.place_order(uid, market(side, str(position.size), reduce_only=True))
    engine.advance_time(engine.now_ms + 1_000)


@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=10, max_size=50), st.booleans())
def test_books_stay_exact_under_random_order_flow(program: list[tuple[object, ...]], latency: bool) -> None:
    engine = make_engine(EngineConfig(latency=LatencyModel(order_ms=20 if latency else 0)), spot=True)
    run = Run(engine)
    run.step(("book", 0, [D(1), D(2)]))
    for action in program:
        run.step(action)
        check_balances(engine, run.uids)
    linear = run.uids[:2]
    close_everything(engine, linear)
    check_balances(engine, run.uids)
    for uid in linear:
        assert engine.positions(uid, symbol=SYMBOL)[0].size == 0
        fills = [e for e in engine.executions(uid, LINEAR) if e.exec_type is not ExecType.FUNDING]
        records = engine.closed_pnl(uid)
        assert sum((r.closed_pnl for r in records), D(0)) == sum(
            (e.exec_pnl - e.exec_fee for e in fills), D(0)
        )
        assert sum((r.closed_size for r in records), D(0)) == sum((e.closed_size for e in fills), D(0))
        funding = sum(
            (r.funding or 0 for r in engine.transaction_log(uid, kind=TransactionType.SETTLEMENT)), D(0)
        )
        [position] = engine.positions(uid, symbol=SYMBOL)
        assert sum((r.closed_pnl for r in records), D(0)) + funding == position.cum_realised_pnl
