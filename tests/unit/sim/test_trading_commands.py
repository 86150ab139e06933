"""The desk's journal records survive JSON exactly, field for field."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    MarketUnit,
    OrderFilter,
    OrderRequest,
    OrderType,
    TimeInForce,
    TriggerBy,
    TriggerDirection,
)
from bst.sim.trading_commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    DeskRecord,
    Execute,
    OpenAccount,
    PlaceOrder,
    Reset,
    SetLeverage,
    SetTradingStop,
    Step,
    command_from_json,
    record_from_json,
    record_to_json,
)

LINEAR, SPOT = Category.LINEAR, Category.SPOT
FEED = ((LINEAR, "BTCUSDT"), (SPOT, "ETHUSDT"))
ORDER = OrderRequest(
    SPOT,
    "ETHUSDT",
    Side.SELL,
    OrderType.LIMIT,
    Decimal("0.0100"),
    price=Decimal("3500.50"),
    time_in_force=TimeInForce.POST_ONLY,
    order_link_id="link-1",
    market_unit=MarketUnit.BASE_COIN,
    take_profit=Decimal("1E+1"),
)

CONDITIONAL = OrderRequest(
    LINEAR,
    "BTCUSDT",
    Side.BUY,
    OrderType.MARKET,
    Decimal("0.01"),
    trigger_price=Decimal("50000"),
    trigger_direction=TriggerDirection.RISE,
    trigger_by=TriggerBy.INDEX_PRICE,
)

RECORDS: list[DeskRecord] = [
    Step(1_717_243_230_500),
    Step(1_717_243_230_750, FEED),
    Execute(1_717_243_230_800, 100_000_001, PlaceOrder(ORDER), FEED[:1]),
    Execute(1, 2, PlaceOrder(OrderRequest(LINEAR, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal(1)))),
    Execute(1, 2, AmendOrder(AmendRequest(LINEAR, "BTCUSDT", order_id="abc", qty=Decimal("0.5")))),
    Execute(1, 2, CancelOrder(SPOT, "ETHUSDT", order_link_id="link-1", order_filter=OrderFilter.STOP_ORDER)),
    Execute(1, 2, CancelAll(LINEAR, settle_coin="USDT")),
    Execute(1, 2, CancelAll(SPOT, "ETHUSDT", order_filter=OrderFilter.STOP_ORDER, stop_order_type="Stop")),
    Execute(1, 2, PlaceOrder(CONDITIONAL)),
    Execute(
        1,
        2,
        AmendOrder(
            AmendRequest(LINEAR, "BTCUSDT", "abc", trigger_price=Decimal(1), trigger_by=TriggerBy.MARK_PRICE)
        ),
    ),
    Execute(1, 2, SetLeverage("BTCUSDT", Decimal(5), None)),
    Execute(1, 2, SetTradingStop("BTCUSDT", stop_loss=Decimal("0"))),
    OpenAccount("key-1", 100_000_003, (("USDT", Decimal("100000.5")), ("BTC", Decimal("0.1")))),
    Reset(9, (("key-1", (("USDT", Decimal(5)),)), ("key-2", ())), 25, False),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_round_trips_through_json_bytes(record: DeskRecord) -> None:
    data = orjson.loads(orjson.dumps(record_to_json(record)))

    assert record_from_json(data) == record


def test_decimals_keep_their_exact_text() -> None:
    data = orjson.loads(orjson.dumps(record_to_json(RECORDS[2])))

    assert data["cmd"] == {
        "op": "create",
        "args": {
            "category": "spot",
            "symbol": "ETHUSDT",
            "side": "Sell",
            "order_type": "Limit",
            "qty": "0.0100",
            "price": "3500.50",
            "time_in_force": "PostOnly",
            "order_link_id": "link-1",
            "reduce_only": False,
            "close_on_trigger": False,
            "position_idx": 0,
            "market_unit": "baseCoin",
            "take_profit": "1E+1",
            "stop_loss": None,
            "trigger_price": None,
            "trigger_direction": None,
            "trigger_by": None,
            "order_filter": None,
        },
    }


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown command 'teleport'"):
        command_from_json({"op": "teleport", "args": {}})
    with pytest.raises(ValueError, match="unknown journal record kind 'nap'"):
        record_from_json({"k": "nap"})
