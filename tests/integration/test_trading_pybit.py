"""pybit's HTTP trading calls work against `bst sim`, and agree with bst's own client.

pybit signs with its own (real) clock, so the sim runs on a live SystemClock; prices come from the
generator's book at the moment of each call, so the checks compare pybit's replies with bst's
client and with each other rather than with fixed numbers.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP
from test_trading_rest import KEY, LINEAR, SECRET, SYMBOL, fresh_desk, top_of_book, trading_client

from bst.domain.clock import SystemClock
from bst.domain.orders import Execution, Order


def pybit_session(sim: Any) -> HTTP:
    session = HTTP(testnet=False, api_key=KEY, api_secret=SECRET, max_retries=1, retry_delay=0)
    session.endpoint = sim.base_url  # pybit builds every URL from `endpoint`
    return session


def read_with_bst(sim: Any, order_link_id: str) -> tuple[Order | None, list[Execution]]:
    async def read() -> tuple[Order | None, list[Execution]]:
        async with trading_client(sim, clock=SystemClock()) as client:
            order = await client.find_order(LINEAR, SYMBOL, order_link_id)
            fills = await client.get_executions(LINEAR, symbol=SYMBOL, order_link_id=order_link_id)
        return order, fills

    return asyncio.run(read())


def test_pybit_places_reads_and_cancels_orders_on_the_sim(sim_factory: Any) -> None:
    sim = fresh_desk(sim_factory(clock=SystemClock(), ip_limit_requests=1_000_000))
    session = pybit_session(sim)
    bid, _, _, _ = top_of_book(sim)
    resting_price = str(bid - Decimal(800))

    resting = session.place_order(
        category="linear",
        symbol=SYMBOL,
        side="Buy",
        orderType="Limit",
        qty="0.003",
        price=resting_price,
        timeInForce="PostOnly",
        orderLinkId="pybit-rest",
    )
    bought = session.place_order(
        category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.002", orderLinkId="pybit-mkt"
    )
    open_orders = session.get_open_orders(category="linear", symbol=SYMBOL)
    positions = session.get_positions(category="linear", symbol=SYMBOL)
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")
    cancelled = session.cancel_order(category="linear", symbol=SYMBOL, orderLinkId="pybit-rest")
    after_cancel = session.get_open_orders(category="linear", symbol=SYMBOL)
    with pytest.raises(InvalidRequestError, match="110072"):
        session.place_order(
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="0.001",
            orderLinkId="pybit-mkt",
        )
    with pytest.raises(InvalidRequestError, match="110001"):
        session.cancel_order(category="linear", symbol=SYMBOL, orderLinkId="pybit-rest")
    market_order, fills = read_with_bst(sim, "pybit-mkt")

    assert resting["retCode"] == bought["retCode"] == 0
    assert [
        (o["orderId"], o["orderLinkId"], o["price"], o["qty"], o["timeInForce"], o["orderStatus"])
        for o in open_orders["result"]["list"]
    ] == [(resting["result"]["orderId"], "pybit-rest", resting_price, "0.003", "PostOnly", "New")]
    assert market_order is not None
    assert (market_order.order_id, market_order.status.value, market_order.cum_exec_qty) == (
        bought["result"]["orderId"],
        "Filled",
        Decimal("0.002"),
    )
    [position] = positions["result"]["list"]
    cost = sum((f.exec_price * f.exec_qty for f in fills), Decimal(0))
    assert (position["side"], position["size"]) == ("Buy", "0.002")
    assert Decimal(position["avgPrice"]) == cost / Decimal("0.002")
    [account] = wallet["result"]["list"]
    [usdt] = account["coin"]
    fees = sum((f.exec_fee for f in fills), Decimal(0))
    assert (usdt["coin"], Decimal(usdt["walletBalance"])) == ("USDT", Decimal(100_000) - fees)
    assert cancelled["result"] == {"orderId": resting["result"]["orderId"], "orderLinkId": "pybit-rest"}
    assert after_cancel["result"]["list"] == []
