"""Trigger fields in the order codec: requests both ways (strict), orders as Bybit prints and reads them."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.bybit.codec import orders
from bst.bybit.codec.envelope import decode_envelope
from bst.domain.errors import BybitInvalidParameterError
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    Order,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
    TriggerBy,
    TriggerDirection,
)

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999"), places=2)


@given(
    prices,
    st.sampled_from(TriggerDirection),
    st.sampled_from(TriggerBy),
    st.sampled_from(Category),
    st.sampled_from(OrderFilter),
)
def test_a_conditional_request_survives_encode_then_decode(
    trigger: Decimal, direction: TriggerDirection, by: TriggerBy, category: Category, kind: OrderFilter
) -> None:
    request = OrderRequest(
        category,
        "BTCUSDT",
        Side.SELL,
        OrderType.MARKET,
        Decimal("0.5"),
        trigger_price=trigger,
        trigger_direction=direction,
        trigger_by=by,
        order_filter=kind,
    )
    body = json.loads(json.dumps(orders.encode_order_request(request)))  # through JSON, as sent

    assert orders.decode_order_request(body) == request
    assert (body["triggerPrice"], body["triggerDirection"], body["triggerBy"], body["orderFilter"]) == (
        format(trigger, "f"),
        direction.value,
        by.value,
        kind.value,
    )


def test_a_plain_request_carries_no_trigger_fields() -> None:
    request = OrderRequest(Category.LINEAR, "BTCUSDT", Side.BUY, OrderType.MARKET, Decimal(1))
    body = orders.encode_order_request(request)
    assert not {"triggerPrice", "triggerDirection", "triggerBy", "orderFilter"} & set(body)


def test_an_amendment_of_the_trigger_survives_encode_then_decode() -> None:
    amend = AmendRequest(
        Category.LINEAR,
        "BTCUSDT",
        order_id="x",
        trigger_price=Decimal("50000.5"),
        trigger_by=TriggerBy.MARK_PRICE,
    )
    body = orders.encode_amend_request(amend)
    assert (body["triggerPrice"], body["triggerBy"]) == ("50000.5", "MarkPrice")
    assert orders.decode_amend_request(body) == amend


BASE = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "1"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"triggerPrice": ""}, (None, None, None, None)),
        ({"triggerPrice": "0"}, (None, None, None, None)),  # Bybit's "none"
        (
            {"triggerPrice": 50000, "triggerDirection": "2"},
            (Decimal(50000), TriggerDirection.FALL, None, None),
        ),
        ({"triggerDirection": 0, "triggerBy": "", "orderFilter": ""}, (None, None, None, None)),
        (
            {"triggerBy": "IndexPrice", "orderFilter": "tpslOrder"},
            (None, None, TriggerBy.INDEX_PRICE, OrderFilter.TPSL_ORDER),
        ),
    ],
)
def test_absent_and_given_trigger_fields_decode(fields: dict[str, Any], expected: tuple[object, ...]) -> None:
    request = orders.decode_order_request({**BASE, **fields})
    assert (
        request.trigger_price,
        request.trigger_direction,
        request.trigger_by,
        request.order_filter,
    ) == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"triggerPrice": "abc"}, "params error: triggerPrice invalid: not a number"),
        ({"triggerPrice": "NaN"}, "params error: triggerPrice invalid: not a finite number"),
        ({"triggerPrice": "1e30"}, "params error: triggerPrice invalid: too large"),
        ({"triggerPrice": True}, "params error: triggerPrice invalid: not a number"),
        ({"triggerPrice": [1]}, "params error: triggerPrice invalid: not a number"),
        ({"triggerDirection": 3}, "params error: triggerDirection must be between 0 and 2, got 3"),
        ({"triggerDirection": True}, "params error: triggerDirection invalid: not a number"),
        ({"triggerDirection": "rise"}, "params error: triggerDirection invalid: not a number"),
        ({"triggerBy": "lastprice"}, "params error: triggerBy invalid"),
        ({"orderFilter": "Stop"}, "params error: orderFilter invalid"),
    ],
)
def test_malformed_trigger_fields_are_one_clean_10001(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(BybitInvalidParameterError) as caught:
        orders.decode_order_request({**BASE, **fields})
    assert caught.value.ret_code == 10001
    assert caught.value.ret_msg.startswith(message)


@given(
    st.dictionaries(
        st.sampled_from(["triggerPrice", "triggerDirection", "triggerBy", "orderFilter"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.floats(),
            st.text(max_size=12),
            st.lists(st.integers()),
        ),
    )
)
def test_any_trigger_field_decodes_or_is_a_10001_naming_it(fields: dict[str, Any]) -> None:
    problem = ""
    try:
        request = orders.decode_order_request({**BASE, **fields})
    except BybitInvalidParameterError as e:
        problem = e.ret_msg
    if problem:
        assert problem.split(" ")[2] in fields  # "params error: <field> ..."
    else:
        assert request.trigger_price is None or request.trigger_price.is_finite()
        assert request.trigger_price != 0


def _order(category: Category, **fields: Any) -> Order:
    base = Order(
        order_id="1",
        order_link_id="",
        category=category,
        symbol="BTCUSDT",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        price=Decimal(0),
        qty=Decimal("0.001"),
        time_in_force=TimeInForce.IOC,
        status=OrderStatus.UNTRIGGERED,
        reject_reason="EC_NoError",
        cancel_type="UNKNOWN",
        create_type="CreateByStopOrder",
        avg_price=None,
        leaves_qty=Decimal("0.001"),
        leaves_value=Decimal(0),
        cum_exec_qty=Decimal(0),
        cum_exec_value=Decimal(0),
        cum_exec_fee=Decimal(0),
        fee_currency="USDT",
        reduce_only=False,
        close_on_trigger=False,
        position_idx=0,
        created_time_ms=1,
        updated_time_ms=2,
        stop_order_type="Stop",
    )
    return dataclasses.replace(base, **fields)


def test_an_untriggered_order_is_printed_and_read_back_with_its_trigger() -> None:
    order = _order(
        Category.LINEAR,
        trigger_price=Decimal(50000),
        trigger_direction=TriggerDirection.FALL,
        trigger_by=TriggerBy.LAST_PRICE,
    )

    for ws in (False, True):
        item = json.loads(json.dumps(orders.encode_order(order, ws=ws)))
        assert {
            k: item[k]
            for k in ("orderStatus", "triggerPrice", "triggerDirection", "triggerBy", "stopOrderType")
        } == {
            "orderStatus": "Untriggered",
            "triggerPrice": "50000",
            "triggerDirection": 2,
            "triggerBy": "LastPrice",
            "stopOrderType": "Stop",
        }
        assert orders.parse_order(item, Category.LINEAR) == order


def test_no_trigger_prints_as_bybit_does_per_category() -> None:
    linear = orders.encode_order(_order(Category.LINEAR, stop_order_type="", status=OrderStatus.NEW))
    spot = orders.encode_order(_order(Category.SPOT, stop_order_type="", status=OrderStatus.NEW))
    assert (linear["triggerPrice"], linear["triggerDirection"], linear["triggerBy"]) == ("", 0, "")
    assert (spot["triggerPrice"], spot["triggerDirection"], spot["triggerBy"]) == ("0", 0, "")


def test_replies_read_trigger_fields_leniently(fixtures_dir: Path) -> None:
    raw = json.loads((fixtures_dir / "rest" / "ccxt_order_realtime_linear_open.json").read_text())
    (item,) = decode_envelope(raw).result["list"]
    assert (item["triggerDirection"], item["triggerBy"], item["triggerPrice"]) == ("0", "", "")
    plain = orders.parse_order(item, Category.LINEAR)
    assert (plain.trigger_price, plain.trigger_direction, plain.trigger_by) == (None, None, None)

    option = json.loads((fixtures_dir / "ws" / "private_order_option_filled.json").read_text())["data"][0]
    assert orders.parse_order(option).trigger_direction is TriggerDirection.RISE  # Bybit prints 1 here
    odd = orders.parse_order({**item, "triggerDirection": 7, "triggerBy": "UNKNOWN"}, Category.LINEAR)
    assert (odd.trigger_direction, odd.trigger_by) == (None, None)
