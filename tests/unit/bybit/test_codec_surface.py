"""Codecs of the wider v5 surface against Bybit's recorded payloads: batches, closed PnL, the
transaction log, account info, coin balances, key info, funding history, open interest, risk limits,
liquidation messages and `execution.fast`. Each parser reads the fixture; each encoder writes every
key the fixture has and reads back to the same value.
"""

from __future__ import annotations

import json
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from bst.bybit.codec import account_info as info_codec
from bst.bybit.codec import batch, ledger, market_stats
from bst.bybit.codec._fields import money
from bst.bybit.codec.ws_private import (
    decode_private,
    encode_fast_execution,
    encode_fast_message,
    parse_fast_execution,
)
from bst.bybit.codec.ws_public import PublicDecoder, Unhandled, check_topic, parse_topic
from bst.domain.account_events import ExecutionsEvent
from bst.domain.batch import BatchItemResult, CancelRef
from bst.domain.errors import BybitInvalidParameterError
from bst.domain.ledger import TransactionType
from bst.domain.market import Category, Side
from bst.domain.market_stats import RiskLimitTier
from bst.domain.orders import AmendRequest, ExecType, Execution, OrderRequest, OrderType

D = Decimal
CCXT_INJECTED = {"nextPageCursor"}  # ccxt's recorder adds it to every list item


def load(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / name).read_text())


def keys(item: dict[str, Any]) -> set[str]:
    return set(item) - CCXT_INJECTED


def test_money_never_prints_trailing_zeros() -> None:
    assert [money(D(x)) for x in ("0", "0.000", "0E-8", "-0.0", "12.50", "100", "1E+2", "0.00000123")] == [
        "0",
        "0",
        "0",
        "0",
        "12.5",
        "100",
        "100",
        "0.00000123",
    ]


# --- batches ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "category", "creates"),
    [
        ("rest/order_create_batch_spot.json", Category.SPOT, True),
        ("rest/order_amend_batch_option.json", Category.OPTION, False),
        ("rest/order_cancel_batch_spot_item_error.json", Category.SPOT, False),
    ],
)
def test_batch_replies_read_and_written_like_the_fixtures(
    fixtures_dir: Path, name: str, category: Category, creates: bool
) -> None:
    body = load(fixtures_dir, name)
    results = batch.parse_batch_reply(body["result"], body["retExtInfo"], category)
    result, ext = batch.encode_batch_reply(results, creates=creates)
    assert result == body["result"]
    assert ext == body["retExtInfo"]
    assert [r.category for r in results] == [category, category]


def test_batch_item_error_of_the_cancel_fixture(fixtures_dir: Path) -> None:
    body = load(fixtures_dir, "rest/order_cancel_batch_spot_item_error.json")
    ok, failed = batch.parse_batch_reply(body["result"], body["retExtInfo"], Category.SPOT)
    assert (ok.ok, ok.order_id, ok.order_link_id) == (True, "1666800494330512128", "spot-btc-03")
    assert (failed.ok, failed.code, failed.message, failed.order_id) == (
        False,
        170213,
        "Order does not exist.",
        "",
    )
    created = batch.parse_batch_reply(
        *(lambda b: (b["result"], b["retExtInfo"]))(load(fixtures_dir, "rest/order_create_batch_spot.json")),
        Category.SPOT,
    )
    assert [r.created_ms for r in created] == [1713434102752, 1713434102752]


def test_batch_bodies_carry_one_category_and_items_without_it() -> None:
    orders = [
        OrderRequest(
            Category.LINEAR, "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.001"), D("50000"), order_link_id="a"
        ),
        OrderRequest(Category.LINEAR, "ETHUSDT", Side.SELL, OrderType.MARKET, D("0.01"), order_link_id="b"),
    ]
    body = batch.encode_batch_create(orders)
    assert body["category"] == "linear"
    assert [i.get("category") for i in body["request"]] == [None, None]
    assert body["request"][0] == {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.001",
        "price": "50000",
        "orderLinkId": "a",
        "positionIdx": 0,
    }
    amend = batch.encode_batch_amend([AmendRequest(Category.LINEAR, "BTCUSDT", order_id="x", price=D("1"))])
    assert amend == {"category": "linear", "request": [{"symbol": "BTCUSDT", "orderId": "x", "price": "1"}]}
    cancel = batch.encode_batch_cancel(
        Category.SPOT, [CancelRef("BTCUSDT", order_link_id="l1"), CancelRef("ETHUSDT", order_id="9")]
    )
    assert cancel["request"] == [
        {"symbol": "BTCUSDT", "orderLinkId": "l1"},
        {"symbol": "ETHUSDT", "orderId": "9"},
    ]
    mixed = [*orders, OrderRequest(Category.SPOT, "BTCUSDT", Side.BUY, OrderType.MARKET, D(1))]
    with pytest.raises(BybitInvalidParameterError, match="one category"):
        batch.encode_batch_create(mixed)
    category, items = batch.decode_batch(body, (Category.LINEAR, Category.SPOT))
    assert category is Category.LINEAR
    assert [i["category"] for i in items] == ["linear", "linear"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"request": [{}]}, "missing required parameter: category"),
        ({"category": "nope", "request": [{}]}, "category invalid"),
        ({"category": "option", "request": [{}]}, "not supported by the simulator"),
        ({"category": "linear"}, "non-empty list"),
        ({"category": "linear", "request": []}, "non-empty list"),
        ({"category": "linear", "request": [1]}, "must be an object"),
        ({"category": "spot", "request": [{}] * 11}, "at most 10 orders, got 11"),
        ({"category": "linear", "request": [{}] * 21}, "at most 20 orders, got 21"),
    ],
)
def test_batch_body_refusals(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BybitInvalidParameterError, match=message) as caught:
        batch.decode_batch(body, (Category.LINEAR, Category.SPOT))
    assert caught.value.ret_code == 10001


def test_batch_reply_round_trip() -> None:
    results = [
        BatchItemResult(Category.LINEAR, "BTCUSDT", "id-1", "l1", 0, "OK", 1_700_000_000_000),
        BatchItemResult(Category.LINEAR, "BTCUSDT", "", "l2", 110007, "ab not enough for new order", None),
    ]
    result, ext = batch.encode_batch_reply(results, creates=True)
    assert result["list"][1]["createAt"] == ""
    assert batch.parse_batch_reply(result, ext, Category.LINEAR) == results


# --- closed PnL and the transaction log --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "taker"),
    [
        ("rest/position_closed_pnl_linear_ethperp.json", D("0.0006")),
        ("rest/ccxt_position_closed_pnl_linear_btcusdt.json", D("0.00055")),
    ],
)
def test_closed_pnl_fixtures(fixtures_dir: Path, name: str, taker: Decimal) -> None:
    [item] = load(fixtures_dir, name)["result"]["list"]
    record = ledger.parse_closed_pnl(item)
    assert record.closed_pnl == D(item["closedPnl"])
    assert (record.side, record.exec_type, record.fill_count) == (
        Side.SELL,
        ExecType.TRADE,
        int(item["fillCount"]),
    )
    # Bybit's closedPnl is the price PnL of a closed long minus the opening and the closing fee:
    fees = record.cum_exit_value - record.cum_entry_value - record.closed_pnl
    assert fees == ((record.cum_entry_value + record.cum_exit_value) * taker).quantize(D("1E-8"))
    encoded = ledger.encode_closed_pnl(record)
    assert keys(item) <= set(encoded)
    assert ledger.parse_closed_pnl(encoded) == record


def test_transaction_log_fixtures(fixtures_dir: Path) -> None:
    rows = load(fixtures_dir, "rest/account_transaction_log_linear_xrpusdt.json")["result"]["list"]
    parsed = [ledger.parse_transaction(r) for r in rows]
    assert [p.type for p in parsed] == [
        TransactionType.SETTLEMENT,
        TransactionType.TRADE,
        TransactionType.TRADE,
    ]
    for row, p in zip(rows, parsed, strict=True):
        assert p.change == p.cash_flow + (p.funding or 0) - (p.fee or 0)
        assert keys(row) <= set(ledger.encode_transaction(p))
        assert ledger.parse_transaction(ledger.encode_transaction(p)) == p
    # newest first: each row's balance is the older row's plus its change
    for newer, older in pairwise(parsed):
        assert newer.cash_balance == older.cash_balance + newer.change
    [settlement] = load(fixtures_dir, "rest/ccxt_account_transaction_log_linear_ltcusdt_settlement.json")[
        "result"
    ]["list"]
    row = ledger.parse_transaction(settlement)
    assert (row.funding, row.fee, row.fee_rate, row.trade_price) == (
        D("-0.0006935"),
        D(0),
        D("0.0001"),
        D("69.35"),
    )


# --- account info, coin balances, key info --------------------------------------------------------


def test_account_info_fixture(fixtures_dir: Path) -> None:
    result = load(fixtures_dir, "rest/account_info.json")["result"]
    info = info_codec.parse_account_info(result)
    assert (info.unified_margin_status, info.margin_mode.value, info.updated_time_ms) == (
        4,
        "REGULAR_MARGIN",
        1697078946000,
    )
    encoded = info_codec.encode_account_info(info)
    assert set(result) <= set(encoded)
    assert info_codec.parse_account_info(encoded) == info


def test_margin_mode_refusal_fixture(fixtures_dir: Path) -> None:
    body = load(fixtures_dir, "rest/account_set_margin_mode_error_3400045.json")
    [reason] = info_codec.parse_margin_mode_reasons(body["result"])
    assert (reason.code, reason.message) == (
        "3400000",
        "Equity needs to be equal to or greater than 1000 USDC",
    )
    assert info_codec.encode_margin_mode_reasons((reason,)) == body["result"]
    assert info_codec.encode_margin_mode_reasons(()) == {"reasons": []}


def test_coin_balances_fixture(fixtures_dir: Path) -> None:
    result = load(fixtures_dir, "rest/asset_query_account_coins_balance_fund.json")["result"]
    balances = info_codec.parse_coin_balances(result)
    [usdc] = balances.balances
    assert (balances.account_type, usdc.coin, usdc.wallet_balance, usdc.bonus) == ("FUND", "USDC", D(0), None)
    assert info_codec.encode_coin_balances(balances) == result


def test_api_key_info_fixture(fixtures_dir: Path) -> None:
    result = load(fixtures_dir, "rest/user_query_api.json")["result"]
    key = info_codec.parse_api_key_info(result)
    assert (key.read_only, key.key_type, key.user_id, key.is_master, key.deadline_day) == (
        True,
        1,
        1448939,
        True,
        -2,
    )
    assert key.permissions["ContractTrade"] == ("Order", "Position")
    assert key.ips == ("18.181.170.164", "13.212.45.47", "13.212.45.48")
    encoded = info_codec.encode_api_key_info(key)
    assert encoded["secret"] == ""
    assert set(result) - {"userIDInt64", "inviterIDInt64", "affiliateIDInt64"} <= set(encoded)
    assert info_codec.parse_api_key_info(encoded) == key
    assert "XXXXXXXX" not in repr(key)


# --- funding history, open interest, risk limits ---------------------------------------------------


def test_funding_history_fixture(fixtures_dir: Path) -> None:
    result = load(fixtures_dir, "rest/market_funding_history_linear_ethperp.json")["result"]
    [record] = market_stats.parse_funding_history(result)
    assert (record.symbol, record.funding_rate, record.funding_time_ms) == (
        "ETHPERP",
        D("0.0001"),
        1672041600000,
    )
    assert market_stats.encode_funding_history(Category.LINEAR, [record]) == result


@pytest.mark.parametrize(
    ("name", "single"),
    [
        ("rest/market_open_interest_inverse_btcusd.json", True),
        ("rest/ccxt_market_open_interest_linear_btcusdt_raw.json", False),
    ],
)
def test_open_interest_fixtures(fixtures_dir: Path, name: str, single: bool) -> None:
    result = load(fixtures_dir, name)["result"]
    points, cursor = market_stats.parse_open_interest(result)
    assert cursor == result["nextPageCursor"]
    assert all((p.single_side is not None) is single for p in points)
    category = Category(result["category"])
    assert market_stats.encode_open_interest(category, result["symbol"], points, cursor) == result


def test_risk_limits_as_bybit_prints_them() -> None:
    tier = RiskLimitTier(1, "BTCUSDT", D(2_000_000), D("0.005"), D("0.01"), True, D("100.00"), D(0))
    result = market_stats.encode_risk_limits(Category.LINEAR, [tier], "")
    assert result["list"] == [
        {
            "id": 1,
            "symbol": "BTCUSDT",
            "riskLimitValue": "2000000",
            "maintenanceMargin": "0.005",
            "initialMargin": "0.01",
            "isLowestRisk": 1,
            "maxLeverage": "100.00",
            "mmDeduction": "0",
        }
    ]
    assert market_stats.parse_risk_limits(result) == ([tier], "")
    # the docs' sample prints the rates as numbers in places: both read alike
    as_numbers = {"list": [{**result["list"][0], "maintenanceMargin": 0.005, "mmDeduction": ""}]}
    assert market_stats.parse_risk_limits(as_numbers)[0][0].maintenance_margin == D("0.005")


# --- streams ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["ws/public_all_liquidation_roseusdt.json", "ws/public_liquidation_galausdt.json"]
)
def test_liquidation_messages(fixtures_dir: Path, name: str) -> None:
    message = load(fixtures_dir, name)
    [liquidation] = market_stats.parse_liquidation_message(message)
    if isinstance(message["data"], list):
        assert (liquidation.symbol, liquidation.side, liquidation.size, liquidation.price) == (
            "ROSEUSDT",
            Side.SELL,
            D(20000),
            D("0.04499"),
        )
        encoded = orjson.loads(
            market_stats.encode_all_liquidation_message("ROSEUSDT", [liquidation], message["ts"])
        )
    else:
        assert (liquidation.symbol, liquidation.side, liquidation.ts_ms) == (
            "GALAUSDT",
            Side.BUY,
            1673251091822,
        )
        encoded = orjson.loads(market_stats.encode_liquidation_message(liquidation))
    assert encoded == message


def test_liquidation_topics_are_derivatives_only_and_not_followed() -> None:
    assert parse_topic("allLiquidation.BTCUSDT").symbol == "BTCUSDT"
    assert check_topic("liquidation.BTCUSDT", Category.LINEAR) is None
    assert check_topic("allLiquidation.BTCUSD", Category.INVERSE) is None
    assert "linear and inverse" in str(check_topic("allLiquidation.BTCUSDT", Category.SPOT))
    decoded = PublicDecoder(Category.LINEAR).decode(b'{"topic":"allLiquidation.X","ts":1,"data":[]}', 2)
    assert isinstance(decoded, Unhandled)
    assert "not followed" in decoded.reason


@pytest.mark.parametrize(
    "name", ["ws/private_execution_fast_icpusdt.json", "ws/private_execution_fast_icpusdt_docs.json"]
)
def test_fast_execution_fixtures(fixtures_dir: Path, name: str) -> None:
    message = load(fixtures_dir, name)
    [item] = message["data"]
    fast = parse_fast_execution(item)
    assert (fast.symbol, fast.side, fast.exec_qty, fast.exec_price, fast.is_maker, fast.seq) == (
        "ICPUSDT",
        Side.SELL,
        D(3000),
        D("12.015"),
        False,
        34771365464,
    )
    execution = Execution(
        exec_id=fast.exec_id,
        order_id=fast.order_id,
        order_link_id=fast.order_link_id,
        category=fast.category,
        symbol=fast.symbol,
        side=fast.side,
        order_type=OrderType.MARKET,
        order_price=D(0),
        order_qty=fast.exec_qty,
        leaves_qty=D(0),
        exec_type=ExecType.TRADE,
        exec_price=fast.exec_price,
        exec_qty=fast.exec_qty,
        exec_value=fast.exec_qty * fast.exec_price,
        exec_fee=D(1),
        fee_rate=D("0.00055"),
        fee_currency="USDT",
        is_maker=False,
        closed_size=D(0),
        exec_pnl=D(0),
        exec_time_ms=fast.exec_time_ms,
        seq=fast.seq,
    )
    assert encode_fast_execution(execution) == item
    assert (
        orjson.loads(encode_fast_message("execution.fast", [execution], message["creationTime"])) == message
    )
    decoded = decode_private(json.dumps(message), 1)  # the stream reads it as fills without fees
    assert isinstance(decoded, ExecutionsEvent)
    assert [(e.exec_id, e.exec_qty, e.exec_fee) for e in decoded.executions] == [
        (fast.exec_id, D(3000), D(0))
    ]
