"""The engine's books against hand calculations: transaction log rows and closed-PnL records, exact.

Fees are the default tier (linear taker 0.055 %, spot 0.1 %). Proportions of a cost basis that do
not terminate are rounded half-even to 8 places, as the position's own cost basis is.
"""

from __future__ import annotations

import pytest
from enginekit import SYMBOL, T0, D, make_engine, market, set_book

from bst.bybit.retcodes import RetCode
from bst.domain.account_info import MarginMode
from bst.domain.errors import BybitAPIError
from bst.domain.ledger import TransactionType
from bst.domain.market import Category, Side
from bst.domain.market_stats import DEFAULT_RISK_LIMIT_VALUE
from bst.domain.orders import ExecType, MarketUnit, OrderType
from bst.engine import MatchingEngine

LINEAR = Category.LINEAR
FIRST_FUNDING = 1_700_006_400_000  # 2023-11-15 00:00 UTC, the first 8-hour boundary after T0


def usdt(engine: MatchingEngine, uid: int) -> D:
    balance = engine.wallet(uid, ["USDT"]).coin("USDT")
    assert balance is not None
    return balance.wallet_balance


@pytest.fixture
def traded() -> tuple[MatchingEngine, int]:
    """Buy 0.3 at 50010/50020 (two fills), then sell 0.25 at 50500/50400 (two fills)."""
    engine = make_engine()
    uid = engine.open_account({"USDT": D(10_000)})
    set_book(engine, bids=[("50000", "5")], asks=[("50010", "0.1"), ("50020", "5")])
    engine.place_order(uid, market(Side.BUY, "0.3"))
    set_book(engine, bids=[("50500", "0.2"), ("50400", "5")], asks=[("50510", "5")], ts_ms=T0 + 1_000)
    engine.place_order(uid, market(Side.SELL, "0.25", link="close-1"))
    return engine, uid


def test_closed_pnl_of_an_order_closing_in_two_fills(traded: tuple[MatchingEngine, int]) -> None:
    engine, uid = traded
    [record] = engine.closed_pnl(uid)
    # Opened: 0.1 x 50010 + 0.2 x 50020 = 15005 for 0.3, fees 2.75055 + 5.5022 = 8.25275.
    # Fill 1 closes 0.2 of 0.3: cost 15005 x 2/3 = 10003.33333333 (8 dp), opening fees 5.50183333.
    # Fill 2 closes 0.05 of the 0.1 left (cost 5001.66666667): half of it, and half of the fees left.
    entry = D("10003.33333333") + D("2500.833333335")
    exit_value = D("10100") + D("2520")
    open_fee = D("5.50183333") + D("1.375458335")
    close_fee = D("5.555") + D("1.386")
    assert (record.symbol, record.side, record.order_type, record.exec_type) == (
        SYMBOL,
        Side.SELL,
        OrderType.MARKET,
        ExecType.TRADE,
    )
    assert (record.qty, record.closed_size, record.fill_count, record.leverage) == (
        D("0.25"),
        D("0.25"),
        2,
        D(10),
    )
    assert (record.cum_entry_value, record.cum_exit_value) == (entry, exit_value)
    assert (record.avg_entry_price, record.avg_exit_price) == (D("50016.66666666"), D("50480"))
    assert (record.open_fee, record.close_fee) == (open_fee, close_fee)
    assert record.closed_pnl == exit_value - entry - open_fee - close_fee == D("102.015041670")
    assert record.updated_time_ms == T0 + 1_000


def test_transaction_log_rows_carry_the_wallet_balance(traded: tuple[MatchingEngine, int]) -> None:
    engine, uid = traded
    rows = engine.transaction_log(uid)
    assert [(r.type, r.side, r.qty, r.size, r.cash_flow, r.fee, r.change, r.cash_balance) for r in rows] == [
        (TransactionType.TRADE, Side.SELL, D("0.05"), D("0.05"), D("19.166666665"), D("1.386"),
         D("17.780666665"), D("10100.639583335")),
        (TransactionType.TRADE, Side.SELL, D("0.2"), D("0.1"), D("96.66666667"), D("5.555"),
         D("91.11166667"), D("10082.85891667")),
        (TransactionType.TRADE, Side.BUY, D("0.2"), D("0.3"), D(0), D("5.5022"), D("-5.5022"),
         D("9991.74725")),
        (TransactionType.TRADE, Side.BUY, D("0.1"), D("0.1"), D(0), D("2.75055"), D("-2.75055"),
         D("9997.24945")),
        (TransactionType.TRANSFER_IN, None, D(10_000), D(0), D(10_000), D(0), D(10_000), D(10_000)),
    ]  # fmt: skip
    assert rows[0].cash_balance == usdt(engine, uid)
    assert {r.currency for r in rows} == {"USDT"}
    assert rows[0].order_link_id == "close-1"
    assert rows[0].trade_price == D("50400")
    fills = engine.executions(uid, LINEAR)
    assert [r.trade_id for r in rows[:4]] == [f.exec_id for f in fills]


def test_funding_settlement_row(traded: tuple[MatchingEngine, int]) -> None:
    engine, uid = traded
    before = usdt(engine, uid)
    engine.on_mark_price(SYMBOL, D("50000"), T0 + 2_000)
    engine.advance_time(FIRST_FUNDING)
    [row] = engine.transaction_log(uid, kind=TransactionType.SETTLEMENT)
    # 0.05 long x mark 50000 x default rate 0.0001 = 0.25 paid.
    assert (row.side, row.qty, row.size, row.trade_price, row.fee_rate) == (
        Side.BUY,
        D("0.05"),
        D("0.05"),
        D("50000"),
        D("0.0001"),
    )
    assert (row.funding, row.fee, row.cash_flow, row.change) == (D("-0.25"), D(0), D(0), D("-0.25"))
    assert row.cash_balance == before - D("0.25") == usdt(engine, uid)
    assert row.transaction_time_ms == FIRST_FUNDING
    assert len(engine.closed_pnl(uid)) == 1  # funding is no closed PnL


def test_flip_closes_the_whole_position_and_opens_the_rest(traded: tuple[MatchingEngine, int]) -> None:
    engine, uid = traded
    set_book(engine, bids=[("50100", "5")], asks=[("50110", "5")], ts_ms=T0 + 2_000)
    engine.place_order(uid, market(Side.SELL, "0.15"))
    newest = engine.closed_pnl(uid)[0]
    # Closes the 0.05 left (cost 2500.833333335, its opening fees 1.375458335); 0.1 opens short.
    close_fee = D("0.05") * D("50100") * D("0.00055")
    assert (newest.qty, newest.closed_size, newest.fill_count) == (D("0.15"), D("0.05"), 1)
    assert newest.closed_pnl == D("2505") - D("2500.833333335") - D("1.375458335") - close_fee
    [position] = engine.positions(uid, symbol=SYMBOL)
    assert (position.side, position.size) == ("Sell", D("0.1"))
    set_book(engine, bids=[("49000", "5")], asks=[("49010", "5")], ts_ms=T0 + 3_000)
    engine.place_order(uid, market(Side.BUY, "0.1", reduce_only=True))
    last = engine.closed_pnl(uid)[0]
    open_fee = D("0.1") * D("50100") * D("0.00055")  # the short's own opening fee, all of it
    assert last.closed_pnl == D("5010") - D("4901") - open_fee - D("4901") * D("0.00055")
    trades = [e for e in engine.executions(uid, LINEAR) if e.exec_type is ExecType.TRADE]
    assert sum((r.closed_pnl for r in engine.closed_pnl(uid)), D(0)) == sum(
        (e.exec_pnl - e.exec_fee for e in trades), D(0)
    )


def test_spot_fill_writes_a_row_per_coin() -> None:
    engine = make_engine(linear=False, spot=True)
    uid = engine.open_account({"USDT": D(1000)})
    set_book(engine, bids=[("29990", "1")], asks=[("30000", "1")], category=Category.SPOT)
    engine.place_order(uid, market(Side.BUY, "0.01", category=Category.SPOT, unit=MarketUnit.BASE_COIN))
    set_book(engine, bids=[("31000", "1")], asks=[("31010", "1")], category=Category.SPOT, ts_ms=T0 + 1)
    engine.place_order(uid, market(Side.SELL, "0.005", category=Category.SPOT, unit=MarketUnit.BASE_COIN))
    rows = engine.transaction_log(uid, category=Category.SPOT)
    assert [(r.currency, r.side, r.cash_flow, r.fee, r.change, r.cash_balance) for r in rows] == [
        ("USDT", Side.SELL, D("155"), D("0.155"), D("154.845"), D("854.845")),
        ("BTC", Side.SELL, D("-0.005"), D(0), D("-0.005"), D("0.00499")),
        ("USDT", Side.BUY, D("-300"), D(0), D("-300"), D("700")),
        ("BTC", Side.BUY, D("0.01"), D("0.00001"), D("0.00999"), D("0.00999")),
    ]
    wallet = engine.wallet(uid, ["USDT", "BTC"])
    assert [wallet.coin(c).wallet_balance for c in ("USDT", "BTC")] == [D("854.845"), D("0.00499")]  # type: ignore[union-attr]
    assert engine.closed_pnl(uid) == []


def test_deposits_and_filters() -> None:
    engine = make_engine()
    uid = engine.open_account({"USDT": D(100), "BTC": D(0)})
    engine.advance_time(T0 + 5_000)
    engine.deposit(uid, "USDT", D("50.5"))
    rows = engine.transaction_log(uid)
    assert [(r.type, r.currency, r.change, r.cash_balance, r.transaction_time_ms) for r in rows] == [
        (TransactionType.TRANSFER_IN, "USDT", D("50.5"), D("150.5"), T0 + 5_000),
        (TransactionType.TRANSFER_IN, "USDT", D(100), D(100), T0),
    ]
    assert engine.transaction_log(uid, start_ms=T0 + 1) == rows[:1]
    assert engine.transaction_log(uid, end_ms=T0) == rows[1:]
    assert engine.transaction_log(uid, currency="BTC") == []
    assert engine.transaction_log(uid, category=LINEAR) == []
    assert len({r.transaction_id for r in rows}) == 2


def test_books_survive_save_and_restore(traded: tuple[MatchingEngine, int]) -> None:
    engine, uid = traded
    restored = MatchingEngine.from_state(engine.to_state())
    assert restored.transaction_log(uid) == engine.transaction_log(uid)
    assert restored.closed_pnl(uid) == engine.closed_pnl(uid)
    for twin in (engine, restored):  # the carried opening fees came back too: both close alike
        set_book(twin, bids=[("50100", "5")], asks=[("50110", "5")], ts_ms=T0 + 2_000)
        twin.place_order(uid, market(Side.SELL, "0.05", reduce_only=True))
    assert restored.closed_pnl(uid) == engine.closed_pnl(uid)
    assert restored.transaction_log(uid)[0].transaction_id == engine.transaction_log(uid)[0].transaction_id


def test_position_and_margin_modes_are_one_way_cross() -> None:
    engine = make_engine()
    uid = engine.open_account({"USDT": D(100)})

    def code(call: object) -> int | None:
        try:
            call()  # type: ignore[operator]
        except BybitAPIError as e:
            return e.ret_code
        return None

    assert (
        code(lambda: engine.switch_position_mode(uid, 0, symbol=SYMBOL)) == RetCode.POSITION_MODE_NOT_MODIFIED
    )
    assert code(lambda: engine.switch_position_mode(uid, 3, coin="USDT")) == RetCode.HEDGE_MODE_NOT_SUPPORTED
    assert code(lambda: engine.switch_position_mode(uid, 1, symbol=SYMBOL)) == RetCode.PARAMS_ERROR
    assert code(lambda: engine.switch_position_mode(uid, 0, symbol="NOPEUSDT")) == RetCode.PARAMS_ERROR
    assert code(lambda: engine.switch_position_mode(uid, 0, coin="BTC")) == RetCode.PARAMS_ERROR
    assert code(lambda: engine.switch_position_mode(uid, 0)) == RetCode.PARAMS_ERROR
    assert code(lambda: engine.set_margin_mode(uid, MarginMode.CROSS)) == RetCode.MARGIN_MODE_NOT_MODIFIED
    [reason] = engine.set_margin_mode(uid, MarginMode.ISOLATED)
    assert reason.code == "3400045"
    assert reason.message.startswith("ISOLATED_MARGIN: ")
    info = engine.account_info(uid)
    assert (info.margin_mode, info.unified_margin_status, info.updated_time_ms) == (MarginMode.CROSS, 6, T0)


def test_risk_tier_is_the_engines_margin_rates() -> None:
    engine = make_engine()
    [tier] = engine.risk_limits()
    assert (tier.symbol, tier.tier_id, tier.risk_limit_value) == (SYMBOL, 1, DEFAULT_RISK_LIMIT_VALUE)
    assert (tier.maintenance_margin, tier.initial_margin, tier.max_leverage) == (
        D("0.005"),
        D("0.01"),
        D(100),
    )
    assert engine.risk_limits(SYMBOL) == [tier]
    with pytest.raises(BybitAPIError):
        engine.risk_limits("NOPEUSDT")
