"""The simulator's request decoders: any input gives a valid value or a clean 10001, never an exception."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.bybit.codec import params
from bst.bybit.codec.orders import decode_amend_request, decode_order_request
from bst.bybit.retcodes import RetCode
from bst.domain.errors import BybitInvalidParameterError
from bst.domain.numbers import MAX_INTEGER_DIGITS
from bst.domain.orders import OrderType

# What a retMsg must never contain: Python reprs, exception classes, module paths.
PYTHON_INTERNALS = re.compile(
    r"<class|Traceback|decimal\.|InvalidOperation|ConversionSyntax|Error\b|\bNone\b|^'"
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["1e30", "NaN", "Infinity", "-Infinity", "1e400", "abc", "-1", "0", "0.001", "1e-30"]),
)
json_values = st.one_of(
    json_scalars,
    st.lists(json_scalars, max_size=2),
    st.dictionaries(st.text(max_size=3), json_scalars, max_size=2),
)


def assert_clean_refusal(error: BybitInvalidParameterError, field: str = "") -> None:
    assert error.ret_code == RetCode.PARAMS_ERROR
    assert error.ret_msg.startswith("params error: ")
    assert field in error.ret_msg
    assert PYTHON_INTERNALS.search(error.ret_msg) is None, error.ret_msg
    assert "\n" not in error.ret_msg


@given(json_values)
def test_a_numeric_parameter_is_a_bounded_decimal_or_a_clean_10001(value: object) -> None:
    try:
        number = params.decimal(value, "price")
    except BybitInvalidParameterError as e:
        assert_clean_refusal(e, "price")
        return
    assert number.is_finite()
    assert abs(number) < Decimal(10) ** MAX_INTEGER_DIGITS


@given(json_values, st.integers(-5, 5), st.integers(-5, 5))
def test_an_integer_parameter_is_within_its_bounds_or_a_clean_10001(
    value: object, low: int, span: int
) -> None:
    high = low + abs(span)
    try:
        number = params.integer(value, "limit", low=low, high=high)
    except BybitInvalidParameterError as e:
        assert_clean_refusal(e)
        return
    assert low <= number <= high


order_fields = {
    "category": st.one_of(st.sampled_from(["linear", "spot"]), json_values),
    "symbol": st.one_of(st.just("BTCUSDT"), json_values),
    "side": st.one_of(st.sampled_from(["Buy", "Sell"]), json_values),
    "orderType": st.one_of(st.sampled_from(["Limit", "Market"]), json_values),
    "qty": st.one_of(st.sampled_from(["0.01", "1"]), json_values),
    "price": st.one_of(st.sampled_from(["50000", "0.5"]), json_values),
    "timeInForce": st.one_of(st.sampled_from(["GTC", "IOC"]), json_values),
    "orderLinkId": json_values,
    "reduceOnly": json_values,
    "closeOnTrigger": json_values,
    "positionIdx": st.one_of(st.just(0), json_values),
    "marketUnit": json_values,
    "takeProfit": json_values,
    "stopLoss": json_values,
    "triggerPrice": json_values,
}
order_bodies = st.fixed_dictionaries({}, optional=order_fields)


@given(order_bodies)
def test_any_create_body_decodes_or_is_a_clean_10001(body: dict[str, Any]) -> None:
    try:
        order = decode_order_request(body)
    except BybitInvalidParameterError as e:
        assert_clean_refusal(e)
        return
    assert order.qty.is_finite()
    assert order.order_type is not OrderType.LIMIT or order.price is None or order.price.is_finite()
    for value in (order.take_profit, order.stop_loss):
        assert value is None or value.is_finite()


@given(order_bodies)
def test_any_amend_body_decodes_or_is_a_clean_10001(body: dict[str, Any]) -> None:
    try:
        amend = decode_amend_request(body)
    except BybitInvalidParameterError as e:
        assert_clean_refusal(e)
        return
    for value in (amend.qty, amend.price, amend.take_profit, amend.stop_loss):
        assert value is None or value.is_finite()


@given(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
def test_any_body_bytes_are_an_object_or_a_clean_10001(raw: bytes) -> None:
    try:
        body = params.decode_body(raw)
    except BybitInvalidParameterError as e:
        assert_clean_refusal(e)
        return
    assert isinstance(body, dict)


BASE = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "side": "Buy",
    "orderType": "Limit",
    "qty": "0.01",
    "price": "50000",
}


@pytest.mark.parametrize("field", ["price", "qty", "triggerPrice", "takeProfit", "stopLoss"])
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('"1e30"', "too large (at most 18 digits before the decimal point)"),
        ("1e400", "too large (at most 18 digits before the decimal point)"),
        ('"1e400"', "too large (at most 18 digits before the decimal point)"),
        ("NaN", "not a finite number"),
        ('"NaN"', "not a finite number"),
        ("Infinity", "not a finite number"),
        ('"Infinity"', "not a finite number"),
        ('"abc"', "not a number"),
        ("true", "not a number"),
        ("[1]", "not a number"),
    ],
)
def test_each_bad_number_in_a_raw_body_names_its_field(field: str, raw: str, reason: str) -> None:
    text = json.dumps(BASE)[:-1] + f', "{field}": {raw}}}'
    with pytest.raises(BybitInvalidParameterError) as refused:
        decode_order_request(params.decode_body(text.encode()))
    assert refused.value.ret_msg == f"params error: {field} invalid: {reason}"


def test_numbers_sent_as_json_numbers_are_exact() -> None:
    body = params.decode_body(
        b'{"category": "linear", "symbol": "BTCUSDT", "side": "Sell", '
        b'"orderType": "Limit", "qty": 0.1, "price": 65000.10}'
    )
    order = decode_order_request(body)
    assert (order.qty, order.price) == (Decimal("0.1"), Decimal("65000.10"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**BASE, "orderType": None}, "params error: missing required parameter: orderType"),
        ({**BASE, "orderType": "Stop"}, "params error: orderType invalid"),
        ({**BASE, "side": "buy"}, "params error: side invalid"),
        ({**BASE, "category": {"a": 1}}, "params error: category invalid"),
        ({**BASE, "reduceOnly": "maybe"}, "params error: reduceOnly invalid: use true or false"),
        ({**BASE, "positionIdx": 7}, "params error: positionIdx must be between 0 and 2, got 7"),
        ({**BASE, "positionIdx": "1.5"}, "params error: positionIdx invalid: not an integer"),
    ],
)
def test_malformed_fields_are_named_without_python_internals(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BybitInvalidParameterError) as refused:
        decode_order_request(body)
    assert refused.value.ret_msg == message
