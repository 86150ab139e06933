"""The wider v5 surface of `bst sim` through bst's own client, over loopback, on a frozen clock.

Batches (per-item results, item limits, the batch rate budget), closed PnL and the transaction log
against the fills that made them, the account endpoints, funding history, open interest and risk
limits against the generator and the engine, flat positions and money as Bybit prints them.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from test_trading_rest import (
    KEY,
    LINEAR,
    SECRET,
    SYMBOL,
    fresh_desk,
    limit,
    market,
    top_of_book,
    trading_client,
)

from bst.bybit import endpoints
from bst.bybit.retcodes import RetCode
from bst.bybit.signing import rest_signature
from bst.domain.batch import CancelRef
from bst.domain.errors import BybitAPIError, BybitRateLimitError, OrderValidationError
from bst.domain.ledger import TransactionType
from bst.domain.market import Category, Side
from bst.domain.market_stats import OpenInterestInterval
from bst.domain.orders import AmendRequest, OrderRequest, OrderType
from bst.engine.account_views import risk_tier
from bst.sim.open_interest import open_interest
from bst.sim.tickers import FUNDING_PERIOD_MS, funding_rate
from bst.sim.trading_desk import spec_for

D = Decimal
NOW = 1_717_243_230_500
TRAILING_ZEROS = re.compile(r"^-?\d+\.\d*0$")


@pytest.fixture
def trading_sim(sim: Any) -> Any:
    return fresh_desk(sim)


def buy_limit(price: Decimal, link: str, qty: str = "0.001") -> OrderRequest:
    return limit(price, qty, order_link_id=link)


async def test_batch_create_answers_per_item_in_request_order(trading_sim: Any) -> None:
    bid, _, ask, _ = top_of_book(trading_sim)
    requests = [
        buy_limit(bid - 100, "b-1"),
        market("0.001", order_link_id="b-2"),
        buy_limit(bid - 100, "b-1"),  # duplicate orderLinkId: refused alone, as its single twin
        OrderRequest(LINEAR, "NOPEUSDT", Side.BUY, OrderType.LIMIT, D("0.001"), D(1), order_link_id="b-4"),
        buy_limit(bid - 200, "b-5", qty="100"),  # more than the account can afford
    ]
    async with trading_client(trading_sim) as client:
        results = await client.place_batch_orders(requests)
        opened = await client.get_open_orders(LINEAR, symbol=SYMBOL)
        [filled] = await client.get_order_history(LINEAR, order_link_id="b-2")

    assert [(r.order_link_id, r.code) for r in results] == [
        ("b-1", 0),
        ("b-2", 0),
        ("b-1", RetCode.DUPLICATE_ORDER_LINK_ID),
        ("b-4", RetCode.PARAMS_ERROR),
        ("b-5", RetCode.AVAILABLE_BALANCE_INSUFFICIENT),
    ]
    assert results[3].message == "params error: symbol invalid"
    assert [bool(r.order_id) for r in results] == [True, True, False, False, False]
    assert [r.created_ms for r in results] == [NOW, NOW, None, None, None]
    assert [(o.order_id, o.order_link_id, o.price) for o in opened] == [
        (results[0].order_id, "b-1", bid - 100)
    ]
    assert (filled.order_id, filled.cum_exec_qty, filled.avg_price) == (results[1].order_id, D("0.001"), ask)


async def test_batch_amend_and_cancel_refuse_gone_orders_alone(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    async with trading_client(trading_sim) as client:
        placed = await client.place_batch_orders([buy_limit(bid - 100, "a-1"), buy_limit(bid - 150, "a-2")])
        amended = await client.amend_batch_orders(
            [
                AmendRequest(LINEAR, SYMBOL, order_link_id="a-1", price=bid - 120),
                AmendRequest(LINEAR, SYMBOL, order_link_id="gone", price=bid - 120),
                AmendRequest(LINEAR, SYMBOL, order_id=placed[1].order_id, qty=D("0.002")),
            ]
        )
        opened = {
            o.order_link_id: (o.price, o.qty) for o in await client.get_open_orders(LINEAR, symbol=SYMBOL)
        }
        cancelled = await client.cancel_batch_orders(
            LINEAR,
            [
                CancelRef(SYMBOL, order_link_id="a-1"),
                CancelRef(SYMBOL, order_link_id="gone"),
                CancelRef(SYMBOL, placed[1].order_id),
            ],
        )
        left = await client.get_open_orders(LINEAR, symbol=SYMBOL)
        with pytest.raises(OrderValidationError, match="1 to 20 orders, got 21"):
            await client.cancel_batch_orders(
                LINEAR, [CancelRef(SYMBOL, order_link_id=f"x{i}") for i in range(21)]
            )

    assert [(r.code, r.order_id) for r in amended] == [
        (0, placed[0].order_id),
        (RetCode.ORDER_NOT_EXISTS, ""),
        (0, placed[1].order_id),
    ]
    assert opened == {"a-1": (bid - 120, D("0.001")), "a-2": (bid - 150, D("0.002"))}
    assert [(r.code, r.order_link_id) for r in cancelled] == [
        (0, "a-1"),
        (RetCode.ORDER_NOT_EXISTS, "gone"),
        (0, "a-2"),
    ]
    assert left == []


async def test_batch_requests_refused_as_a_whole(trading_sim: Any) -> None:
    async with trading_client(trading_sim) as client:
        bodies = [
            {"category": "linear", "request": [{"symbol": SYMBOL}] * 21},
            {"category": "spot", "request": [{"symbol": SYMBOL}] * 11},
            {"category": "option", "request": [{"symbol": SYMBOL}]},
            {"category": "linear", "request": []},
            {"request": [{"symbol": SYMBOL}]},
        ]
        codes = []
        for body in bodies:
            with pytest.raises(BybitAPIError) as refused:
                await client.http.call(endpoints.ORDER_CANCEL_BATCH, body, repeat_safe=False)
            codes.append((refused.value.ret_code, refused.value.ret_msg))
    assert [c for c, _ in codes] == [RetCode.PARAMS_ERROR] * 5
    assert "at most 20 orders, got 21" in codes[0][1]
    assert "at most 10 orders, got 11" in codes[1][1]


async def test_batches_count_each_item_against_their_own_budget(trading_sim: Any) -> None:
    bid, _, _, _ = top_of_book(trading_sim)
    budget = endpoints.UID_LIMITS_PER_S[endpoints.RateGroup.ORDER_CREATE_BATCH]
    requests = [buy_limit(bid - 100 - i, f"r-{i}") for i in range(budget + 5)]
    async with trading_client(trading_sim) as client:  # frozen clock: the 1 s window never rolls
        first = await client.place_batch_orders(requests[:12])
        single = await client.place_order(buy_limit(bid - 300, "single"))  # the single endpoint's own budget
        with pytest.raises(BybitRateLimitError) as exhausted:  # nothing left: refused as a whole
            await client.place_batch_orders(requests[12:14])
        opened = await client.get_open_orders(LINEAR, symbol=SYMBOL)
    assert [r.code for r in first] == [0] * budget + [RetCode.RATE_LIMIT] * (12 - budget)
    assert [r.message for r in first][-1] == "Too many visits!"
    assert single.order_link_id == "single"
    assert exhausted.value.ret_code == RetCode.RATE_LIMIT
    assert len(opened) == budget + 1


async def test_closed_pnl_and_the_transaction_log_follow_the_fills(trading_sim: Any) -> None:
    async with trading_client(trading_sim) as client:
        await client.place_order(market("0.003", order_link_id="open"))
        await client.place_order(market("0.002", side=Side.SELL, order_link_id="close", reduce_only=True))
        fills = await client.get_executions(LINEAR, symbol=SYMBOL)
        [record] = await client.get_closed_pnl(LINEAR, symbol=SYMBOL)
        log = await client.get_transaction_log()
        trades_only = await client.get_transaction_log(kind=TransactionType.TRADE, currency="USDT")
        wallet = await client.get_wallet_balance(coins=["USDT"])

    opening = [f for f in fills if f.order_link_id == "open"]
    closing = [f for f in fills if f.order_link_id == "close"]
    entry = sum((f.exec_value for f in opening), D(0))
    open_fee = sum((f.exec_fee for f in opening), D(0)) * 2 / 3
    close_fee = sum((f.exec_fee for f in closing), D(0))
    exit_value = sum((f.exec_value for f in closing), D(0))
    assert (record.closed_size, record.fill_count, record.side) == (D("0.002"), len(closing), Side.SELL)
    assert record.cum_exit_value == exit_value
    assert abs(record.cum_entry_value - entry * 2 / 3) < D("1E-8")
    assert abs(record.closed_pnl - (exit_value - entry * 2 / 3 - open_fee - close_fee)) < D("1E-7")
    assert record.close_fee == close_fee
    assert record.closed_pnl == record.cum_exit_value - record.cum_entry_value - record.open_fee - close_fee
    [usdt] = wallet.coins
    assert log[0].cash_balance == usdt.wallet_balance
    assert [r.type for r in log] == [TransactionType.TRADE] * len(fills) + [TransactionType.TRANSFER_IN]
    assert trades_only == log[:-1]
    assert sum((f.exec_fee for f in fills), D(0)) == sum((r.fee or 0 for r in log), D(0))
    assert {r.trade_id for r in trades_only} == {f.exec_id for f in fills}
    assert sum((r.change for r in log), D(0)) == usdt.wallet_balance


async def test_funding_history_is_what_the_engine_settles(sim: Any) -> None:
    trading_sim = fresh_desk(sim)
    boundary = (NOW // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
    async with trading_client(trading_sim) as client:
        await client.place_order(market("0.01", order_link_id="hold"))
        trading_sim.clock.advance((boundary - NOW) / 1000 + 1)
        [settled] = await client.get_transaction_log(kind=TransactionType.SETTLEMENT)
        history = await client.get_funding_history(LINEAR, SYMBOL, limit=5)
        window = await client.get_funding_history(
            LINEAR, SYMBOL, start_ms=boundary - 3 * FUNDING_PERIOD_MS, end_ms=boundary - 1
        )
        [position] = await client.get_positions(LINEAR, symbol=SYMBOL)

    key = sim.generator.path(LINEAR, SYMBOL).spec.key
    assert [r.funding_time_ms for r in history] == [boundary - (4 - i) * FUNDING_PERIOD_MS for i in range(5)]
    assert [r.funding_rate for r in history] == [
        funding_rate(sim.generator.seed, key, r.funding_time_ms - 1) for r in history
    ]
    assert [r.funding_time_ms for r in window] == [
        boundary - 3 * FUNDING_PERIOD_MS,
        boundary - 2 * FUNDING_PERIOD_MS,
        boundary - FUNDING_PERIOD_MS,
    ]
    assert (settled.transaction_time_ms, settled.fee_rate) == (boundary, history[-1].funding_rate)
    assert settled.funding == -(position.size * settled.trade_price * settled.fee_rate)  # type: ignore[operator]


async def test_open_interest_is_one_curve_paged_by_cursor(sim: Any) -> None:
    step = OpenInterestInterval.M5.ms
    async with trading_client(sim) as client:
        page = await client.get_open_interest(LINEAR, SYMBOL, OpenInterestInterval.M5, limit=7)
        ranged = await client.get_open_interest(
            LINEAR, SYMBOL, OpenInterestInterval.M5, start_ms=NOW - 60 * step, limit=25
        )
        daily = await client.get_open_interest(LINEAR, SYMBOL, OpenInterestInterval.D1, limit=3)
        inverse = await client.get_open_interest(Category.INVERSE, "BTCUSD", OpenInterestInterval.H1, limit=2)
        [ticker] = await client.get_tickers(LINEAR, SYMBOL)

    newest = NOW // step * step
    assert [p.ts_ms for p in page] == [newest - (6 - i) * step for i in range(7)]
    assert [p.ts_ms for p in ranged] == list(range(NOW - 60 * step + step - (NOW % step), newest + 1, step))
    gen = sim.generator
    assert all(p.open_interest == open_interest(gen, LINEAR, SYMBOL, p.ts_ms) for p in ranged + daily)
    assert all(
        p.single_side == (p.open_interest / 2 / D("0.001")).to_integral_value("ROUND_DOWN") * D("0.001")
        for p in page
    )
    assert ranged[-7:] == page
    assert [p.ts_ms % 86_400_000 for p in daily] == [0, 0, 0]
    assert all(p.open_interest == p.open_interest.to_integral_value() for p in inverse)  # USD contracts
    assert ticker.open_interest == open_interest(gen, LINEAR, SYMBOL, NOW)


async def test_risk_limits_are_the_engines_tier(sim: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        one = (
            await http.get("/v5/market/risk-limit", params={"category": "linear", "symbol": "SOLUSDT"})
        ).json()
        every = (await http.get("/v5/market/risk-limit", params={"category": "linear"})).json()
        spot = (await http.get("/v5/market/risk-limit", params={"category": "spot"})).json()
    [sol] = one["result"]["list"]
    tier = risk_tier(spec_for(sim.generator.instrument(LINEAR, "SOLUSDT")))
    assert sol == {
        "id": 1,
        "symbol": "SOLUSDT",
        "riskLimitValue": "2000000",
        "maintenanceMargin": str(tier.maintenance_margin),
        "initialMargin": "0.01",
        "isLowestRisk": 1,
        "maxLeverage": "100.00",
        "mmDeduction": "0",
    }
    assert tier.maintenance_margin == D("0.01")  # SOL is not a major: 1 %, the engine's rate
    assert [t["symbol"] for t in every["result"]["list"]] == [
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
        "XRPUSDT",
        "DOGEUSDT",
    ]
    assert [t["maintenanceMargin"] for t in every["result"]["list"][:2]] == ["0.005", "0.005"]
    assert spot["retCode"] == RetCode.PARAMS_ERROR


async def test_account_endpoints(trading_sim: Any) -> None:
    async with trading_client(trading_sim) as client:
        info = (await client.http.call(endpoints.ACCOUNT_INFO)).result
        coins = (
            await client.http.call(endpoints.COINS_BALANCE, {"accountType": "UNIFIED", "coin": "USDT,BTC"})
        ).result
        fund = (
            await client.http.call(endpoints.COINS_BALANCE, {"accountType": "FUND", "coin": "USDT"})
        ).result
        key = (await client.http.call(endpoints.API_KEY_INFO)).result
        refusals = []
        for endpoint, body in [
            (endpoints.SWITCH_POSITION_MODE, {"category": "linear", "symbol": SYMBOL, "mode": 0}),
            (endpoints.SWITCH_POSITION_MODE, {"category": "linear", "coin": "USDT", "mode": 3}),
            (endpoints.SWITCH_POSITION_MODE, {"category": "linear", "symbol": SYMBOL, "mode": 1}),
            (endpoints.SET_MARGIN_MODE, {"setMarginMode": "REGULAR_MARGIN"}),
            (endpoints.SET_MARGIN_MODE, {"setMarginMode": "PORTFOLIO_MARGIN"}),
            (endpoints.SET_MARGIN_MODE, {"setMarginMode": "cross"}),
            (endpoints.COINS_BALANCE, {"accountType": "UNIFIED"}),
        ]:
            with pytest.raises(BybitAPIError) as refused:
                await client.http.call(endpoint, body, repeat_safe=True)
            refusals.append(refused.value.ret_code)
    assert info == {
        "marginMode": "REGULAR_MARGIN",
        "updatedTime": str(NOW),
        "unifiedMarginStatus": 6,
        "dcpStatus": "OFF",
        "timeWindow": 0,
        "smpGroup": 0,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
    }
    assert coins["balance"] == [
        {"coin": "USDT", "walletBalance": "100000", "transferBalance": "100000", "bonus": ""},
        {"coin": "BTC", "walletBalance": "0", "transferBalance": "0", "bonus": ""},
    ]
    assert fund["balance"] == [{"coin": "USDT", "walletBalance": "0", "transferBalance": "0", "bonus": ""}]
    assert (key["apiKey"], key["secret"], key["readOnly"], key["ips"]) == ("trader-key-1", "", 0, ["*"])
    assert "trader-secret-1" not in str(key)
    assert refusals == [
        RetCode.POSITION_MODE_NOT_MODIFIED,
        RetCode.HEDGE_MODE_NOT_SUPPORTED,
        RetCode.PARAMS_ERROR,
        RetCode.MARGIN_MODE_NOT_MODIFIED,
        RetCode.SET_MARGIN_MODE_FAILED,
        RetCode.PARAMS_ERROR,
        RetCode.PARAMS_ERROR,
    ]


async def test_set_margin_mode_refusal_carries_bybits_reasons(trading_sim: Any) -> None:
    async with trading_client(trading_sim) as client:
        with pytest.raises(BybitAPIError):
            await client.http.call(endpoints.SET_MARGIN_MODE, {"setMarginMode": "ISOLATED_MARGIN"})
    # The client's envelope raises; the reasons are read on the wire.
    recorded = await signed_post(
        trading_sim, "/v5/account/set-margin-mode", {"setMarginMode": "ISOLATED_MARGIN"}
    )
    assert (recorded["retCode"], recorded["retMsg"]) == (3400045, "Set margin mode failed")
    [reason] = recorded["result"]["reasons"]
    assert reason["reasonCode"] == "3400045"
    assert reason["reasonMsg"].startswith("ISOLATED_MARGIN: bst sim's accounts trade in cross margin")


async def signed_post(sim: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Send one signed POST the way the client signs it and return the raw reply body."""
    payload = json.dumps(body, separators=(",", ":"))
    now = sim.clock.now_ms()
    headers = {
        "X-BAPI-API-KEY": KEY,
        "X-BAPI-TIMESTAMP": str(now),
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": rest_signature(SECRET, now, KEY, 5000, payload),
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        reply = await http.post(path, content=payload, headers=headers)
    result: dict[str, Any] = reply.json()
    return result


async def test_unknown_paths_and_methods_answer_as_bybit(sim: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        unknown = await http.get("/v5/market/no-such-thing")
        not_served = await http.post("/v5/position/add-margin", json={})
        wrong_method = await http.get("/v5/order/create")
        post_to_get = await http.post("/v5/market/time")
        root = await http.get("/")
        admin = await http.get("/sim/no-such-admin")
    for reply in (unknown, wrong_method, post_to_get, root):
        assert reply.status_code == 404
        assert (reply.json()["retCode"], reply.json()["result"]) == (RetCode.ROUTE_NOT_FOUND, {})
    assert unknown.json()["retMsg"] == "Route not found."
    assert wrong_method.json()["retMsg"] == "Route not found. /v5/order/create takes POST, not GET"
    assert not_served.status_code == 200
    assert not_served.json()["retCode"] == RetCode.ROUTE_NOT_FOUND
    assert (
        "/v5/position/add-margin is a Bybit v5 endpoint bst sim does not implement"
        in not_served.json()["retMsg"]
    )
    assert (admin.status_code, list(admin.json())) == (404, ["error"])


async def test_flat_positions_and_money_print_as_bybit(trading_sim: Any, fixtures_dir: Any) -> None:
    flat_fixture = json.loads((fixtures_dir / "rest/ccxt_position_list_linear_ltcusdt_flat.json").read_text())
    [flat_row] = flat_fixture["result"]["list"]
    async with trading_client(trading_sim) as client:
        await client.place_order(market("0.01", order_link_id="in"))
        await client.place_order(market("0.01", side=Side.SELL, order_link_id="out", reduce_only=True))
        positions = (
            await client.http.call(endpoints.POSITION_LIST, {"category": "linear", "symbol": SYMBOL})
        ).result
        wallet = (await client.http.call(endpoints.WALLET_BALANCE, {"accountType": "UNIFIED"})).result
        fills = (await client.http.call(endpoints.EXECUTION_LIST, {"category": "linear"})).result
        orders = (await client.http.call(endpoints.ORDER_HISTORY, {"category": "linear"})).result
        pnl = (await client.http.call(endpoints.CLOSED_PNL, {"category": "linear"})).result
        log = (await client.http.call(endpoints.TRANSACTION_LOG, {})).result

    [row] = positions["list"]
    flat_fields = ("side", "size", "positionValue", "avgPrice", "unrealisedPnl", "liqPrice", "bustPrice",
                   "takeProfit", "stopLoss", "positionIM", "positionMM", "positionBalance")  # fmt: skip
    assert {k: row[k] for k in flat_fields} == {k: flat_row[k] for k in flat_fields}
    assert row["adlRankIndicator"] == 0
    money_keys = {
        "walletBalance", "equity", "usdValue", "cumRealisedPnl", "curRealisedPnl", "totalEquity",
        "totalWalletBalance", "totalMarginBalance", "totalAvailableBalance", "availableToWithdraw",
        "execFee", "execValue", "cumExecValue", "cumExecFee", "closedPnl", "cumEntryValue", "cumExitValue",
        "openFee", "closeFee", "fee", "change", "cashBalance", "cashFlow",
    }  # fmt: skip
    items = [row, *wallet["list"], *wallet["list"][0]["coin"], *fills["list"], *orders["list"]]
    items += [*pnl["list"], *log["list"]]
    printed = [(key, value) for item in items for key, value in item.items() if key in money_keys]
    assert len(printed) > 30
    assert [(k, v) for k, v in printed if TRAILING_ZEROS.match(v)] == []
