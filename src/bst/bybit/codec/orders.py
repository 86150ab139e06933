"""Order endpoints and the private `order`/`execution` topics: requests, orders, executions."""

from __future__ import annotations

from typing import Any

from bst.bybit.codec import params
from bst.bybit.codec._fields import boolean, dec, integer, money, num, opt_dec, text
from bst.domain.market import Category, Side
from bst.domain.orders import (
    AmendRequest,
    ExecType,
    Execution,
    MarketUnit,
    Order,
    OrderAck,
    OrderFilter,
    OrderRequest,
    OrderStatus,
    OrderType,
    TimeInForce,
    TriggerBy,
    TriggerDirection,
)

JSON = dict[str, Any]


# --- requests (client encodes, simulator decodes) --------------------------------------------


def encode_order_request(req: OrderRequest) -> JSON:
    """Return the `/v5/order/create` body for `req` (strings for numbers, as Bybit expects)."""
    body: JSON = {
        "category": req.category.value,
        "symbol": req.symbol,
        "side": req.side.value,
        "orderType": req.order_type.value,
        "qty": num(req.qty),
    }
    if req.price is not None and req.order_type is OrderType.LIMIT:
        body["price"] = num(req.price)
    if req.time_in_force is not None:
        body["timeInForce"] = req.time_in_force.value
    if req.order_link_id:
        body["orderLinkId"] = req.order_link_id
    if req.category is not Category.SPOT:
        body["positionIdx"] = req.position_idx
        if req.reduce_only:
            body["reduceOnly"] = True
        if req.close_on_trigger:
            body["closeOnTrigger"] = True
    if req.market_unit is not None:
        body["marketUnit"] = req.market_unit.value
    if req.take_profit is not None:
        body["takeProfit"] = num(req.take_profit)
    if req.stop_loss is not None:
        body["stopLoss"] = num(req.stop_loss)
    if req.trigger_price is not None:
        body["triggerPrice"] = num(req.trigger_price)
    if req.trigger_direction is not None:
        body["triggerDirection"] = req.trigger_direction.value
    if req.trigger_by is not None:
        body["triggerBy"] = req.trigger_by.value
    if req.order_filter is not None:
        body["orderFilter"] = req.order_filter.value
    return body


ORDER_NUMBER_FIELDS = (
    "qty",
    "price",
    "triggerPrice",
    "takeProfit",
    "stopLoss",
    "tpLimitPrice",
    "slLimitPrice",
)
"""Numeric fields of create/amend bodies: each is read strictly when present, even one the sim ignores."""


def check_numbers(body: JSON, names: tuple[str, ...] = ORDER_NUMBER_FIELDS) -> None:
    """Raise 10001 when any numeric field of `body` that is present is not a sane number."""
    for name in names:
        params.optional_decimal(body.get(name), name)


def _trigger_direction(body: JSON) -> TriggerDirection | None:
    """Return a request's `triggerDirection`: 1 rise, 2 fall, None when absent or 0 (Bybit's none)."""
    value = params.optional_integer(body.get("triggerDirection"), "triggerDirection", 0, low=0, high=2)
    return TriggerDirection(value) if value else None


def decode_order_request(body: JSON) -> OrderRequest:
    """Return the OrderRequest of a `/v5/order/create` body; raise 10001 (`params`) when malformed."""
    check_numbers(body)
    order_type = params.required_choice(body, "orderType", OrderType)
    return OrderRequest(
        category=params.required_choice(body, "category", Category),
        symbol=params.text(body, "symbol", required=True),
        side=params.required_choice(body, "side", Side),
        order_type=order_type,
        qty=params.decimal(body.get("qty"), "qty"),
        price=params.optional_decimal(body.get("price"), "price") if order_type is OrderType.LIMIT else None,
        time_in_force=params.choice(body, "timeInForce", TimeInForce),
        order_link_id=params.text(body, "orderLinkId"),
        reduce_only=params.flag(body, "reduceOnly"),
        close_on_trigger=params.flag(body, "closeOnTrigger"),
        position_idx=params.optional_integer(body.get("positionIdx"), "positionIdx", 0, low=0, high=2),
        market_unit=params.choice(body, "marketUnit", MarketUnit),
        take_profit=params.optional_decimal(body.get("takeProfit"), "takeProfit", zero_is_none=True),
        stop_loss=params.optional_decimal(body.get("stopLoss"), "stopLoss", zero_is_none=True),
        trigger_price=params.optional_decimal(body.get("triggerPrice"), "triggerPrice", zero_is_none=True),
        trigger_direction=_trigger_direction(body),
        trigger_by=params.choice(body, "triggerBy", TriggerBy),
        order_filter=params.choice(body, "orderFilter", OrderFilter),
    )


def encode_amend_request(req: AmendRequest) -> JSON:
    """Return the `/v5/order/amend` body for `req`."""
    body: JSON = {"category": req.category.value, "symbol": req.symbol}
    if req.order_id:
        body["orderId"] = req.order_id
    if req.order_link_id:
        body["orderLinkId"] = req.order_link_id
    for key, value in (
        ("qty", req.qty),
        ("price", req.price),
        ("takeProfit", req.take_profit),
        ("stopLoss", req.stop_loss),
        ("triggerPrice", req.trigger_price),
    ):
        if value is not None:
            body[key] = num(value)
    if req.trigger_by is not None:
        body["triggerBy"] = req.trigger_by.value
    return body


def decode_amend_request(body: JSON) -> AmendRequest:
    """Return the AmendRequest of a `/v5/order/amend` body; raise 10001 (`params`) when malformed."""
    check_numbers(body)
    return AmendRequest(
        category=params.required_choice(body, "category", Category),
        symbol=params.text(body, "symbol", required=True),
        order_id=params.text(body, "orderId"),
        order_link_id=params.text(body, "orderLinkId"),
        qty=params.optional_decimal(body.get("qty"), "qty"),
        price=params.optional_decimal(body.get("price"), "price"),
        take_profit=params.optional_decimal(body.get("takeProfit"), "takeProfit"),
        stop_loss=params.optional_decimal(body.get("stopLoss"), "stopLoss"),
        trigger_price=params.optional_decimal(body.get("triggerPrice"), "triggerPrice", zero_is_none=True),
        trigger_by=params.choice(body, "triggerBy", TriggerBy),
    )


def parse_ack(result: JSON) -> OrderAck:
    """Return the ids of a create/amend/cancel reply."""
    return OrderAck(order_id=str(result.get("orderId", "")), order_link_id=str(result.get("orderLinkId", "")))


def encode_ack(ack: OrderAck) -> JSON:
    """Return a create/amend/cancel result."""
    return {"orderId": ack.order_id, "orderLinkId": ack.order_link_id}


# --- orders ----------------------------------------------------------------------------------


def _fee_currency(item: JSON) -> str:
    # The order topic names the fee coin; REST orders only carry it as the key of cumFeeDetail.
    named = item.get("feeCurrency")
    if named:
        return str(named)
    detail = item.get("cumFeeDetail")
    return str(next(iter(detail))) if isinstance(detail, dict) and len(detail) == 1 else ""


def _stop_order_type(item: JSON) -> str:
    # Bybit prints "" or "UNKNOWN" for plain orders; both mean none.
    value = str(item.get("stopOrderType") or "")
    return "" if value == "UNKNOWN" else value


def _read_trigger_direction(item: JSON) -> TriggerDirection | None:
    # Replies are read leniently: Bybit prints 0 for none (and 1 on some plain orders).
    raw = str(item.get("triggerDirection") or "0")
    return TriggerDirection(int(raw)) if raw in ("1", "2") else None


def _read_trigger_by(item: JSON) -> TriggerBy | None:
    raw = item.get("triggerBy")
    return next((m for m in TriggerBy if m.value == raw), None)


def parse_order(item: JSON, category: Category | None = None) -> Order:
    """Return one order (REST list item or WS `order` item; the WS item names its category)."""
    cat = Category(item["category"]) if item.get("category") else (category or Category.LINEAR)
    market_unit = item.get("marketUnit")
    return Order(
        order_id=str(item["orderId"]),
        order_link_id=str(item.get("orderLinkId") or ""),
        category=cat,
        symbol=str(item["symbol"]),
        side=Side(item["side"]),
        order_type=OrderType(item.get("orderType") or "UNKNOWN"),
        price=dec(item.get("price")),
        qty=dec(item.get("qty")),
        time_in_force=TimeInForce(item.get("timeInForce") or "GTC"),
        status=OrderStatus(item["orderStatus"]),
        reject_reason=str(item.get("rejectReason") or ""),
        cancel_type=str(item.get("cancelType") or ""),
        create_type=str(item.get("createType") or ""),
        avg_price=opt_dec(item.get("avgPrice"), zero_is_none=True),
        leaves_qty=dec(item.get("leavesQty")),
        leaves_value=dec(item.get("leavesValue")),
        cum_exec_qty=dec(item.get("cumExecQty")),
        cum_exec_value=dec(item.get("cumExecValue")),
        cum_exec_fee=dec(item.get("cumExecFee")),
        fee_currency=_fee_currency(item),
        reduce_only=boolean(item.get("reduceOnly", False)),
        close_on_trigger=boolean(item.get("closeOnTrigger", False)),
        position_idx=integer(item.get("positionIdx")),
        created_time_ms=integer(item.get("createdTime")),
        updated_time_ms=integer(item.get("updatedTime")),
        market_unit=MarketUnit(market_unit) if market_unit else None,
        stop_order_type=_stop_order_type(item),
        take_profit=opt_dec(item.get("takeProfit"), zero_is_none=True),
        stop_loss=opt_dec(item.get("stopLoss"), zero_is_none=True),
        trigger_price=opt_dec(item.get("triggerPrice"), zero_is_none=True),
        last_price_on_created=opt_dec(item.get("lastPriceOnCreated")),
        closed_pnl=dec(item.get("closedPnl")),
        trigger_direction=_read_trigger_direction(item),
        trigger_by=_read_trigger_by(item),
    )


def encode_order(order: Order, *, ws: bool = False) -> JSON:
    """Return one order as Bybit prints it in REST lists (or, with `ws`, in the `order` topic)."""
    item: JSON = {
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "blockTradeId": "",
        "symbol": order.symbol,
        "price": num(order.price),
        "qty": num(order.qty),
        "side": order.side.value,
        "isLeverage": "",
        "positionIdx": order.position_idx,
        "orderStatus": order.status.value,
        "createType": order.create_type,
        "cancelType": order.cancel_type or "UNKNOWN",
        "rejectReason": order.reject_reason or "EC_NoError",
        "avgPrice": text(order.avg_price, empty="0" if ws else ""),
        "leavesQty": num(order.leaves_qty),
        "leavesValue": money(order.leaves_value),
        "cumExecQty": num(order.cum_exec_qty),
        "cumExecValue": money(order.cum_exec_value),
        "cumExecFee": money(order.cum_exec_fee),
        "timeInForce": order.time_in_force.value,
        "orderType": order.order_type.value,
        "stopOrderType": order.stop_order_type,
        "orderIv": "",
        "marketUnit": order.market_unit.value if order.market_unit else "",
        # Bybit prints no trigger as "" on derivatives orders and as zero on spot ones
        "triggerPrice": text(order.trigger_price, empty="0" if order.category is Category.SPOT else ""),
        "takeProfit": text(order.take_profit, empty="0"),
        "stopLoss": text(order.stop_loss, empty="0"),
        "tpslMode": "",
        "ocoTriggerBy": "",
        "tpLimitPrice": "0",
        "slLimitPrice": "0",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": order.trigger_direction.value if order.trigger_direction else 0,
        "triggerBy": order.trigger_by.value if order.trigger_by else "",
        "lastPriceOnCreated": text(order.last_price_on_created),
        "basePrice": "",
        "reduceOnly": order.reduce_only,
        "closeOnTrigger": order.close_on_trigger,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "createdTime": num(order.created_time_ms),
        "updatedTime": num(order.updated_time_ms),
    }
    if order.category is not Category.OPTION:
        item["cumFeeDetail"] = {order.fee_currency: money(order.cum_exec_fee)} if order.fee_currency else {}
    if ws:
        item["category"] = order.category.value
        item["feeCurrency"] = order.fee_currency
        item["closedPnl"] = money(order.closed_pnl)
    return item


# --- executions ------------------------------------------------------------------------------


def parse_execution(item: JSON, category: Category | None = None) -> Execution:
    """Return one execution (REST `/v5/execution/list` item or WS `execution` item)."""
    cat = Category(item["category"]) if item.get("category") else (category or Category.LINEAR)
    market_unit = item.get("marketUnit")
    return Execution(
        exec_id=str(item["execId"]),
        order_id=str(item.get("orderId", "")),
        order_link_id=str(item.get("orderLinkId") or ""),
        category=cat,
        symbol=str(item["symbol"]),
        side=Side(item["side"]),
        order_type=OrderType(item.get("orderType") or "UNKNOWN"),
        order_price=dec(item.get("orderPrice")),
        order_qty=dec(item.get("orderQty")),
        leaves_qty=dec(item.get("leavesQty")),
        exec_type=ExecType(item.get("execType") or "UNKNOWN"),
        exec_price=dec(item.get("execPrice")),
        exec_qty=dec(item.get("execQty")),
        exec_value=dec(item.get("execValue")),
        exec_fee=dec(item.get("execFee")),
        fee_rate=dec(item.get("feeRate")),
        fee_currency=str(item.get("feeCurrency") or ""),
        is_maker=boolean(item.get("isMaker", False)),
        closed_size=dec(item.get("closedSize")),
        exec_pnl=dec(item.get("execPnl")),
        exec_time_ms=integer(item.get("execTime")),
        seq=integer(item.get("seq")),
        mark_price=opt_dec(item.get("markPrice")),
        create_type=str(item.get("createType") or "CreateByUser"),
        stop_order_type=_stop_order_type(item),
        market_unit=MarketUnit(market_unit) if market_unit else None,
    )


def encode_execution(ex: Execution, *, ws: bool = False) -> JSON:
    """Return one execution as Bybit prints it (REST list, or with `ws` the `execution` topic)."""
    item: JSON = {
        "symbol": ex.symbol,
        "orderId": ex.order_id,
        "orderLinkId": ex.order_link_id,
        "side": ex.side.value,
        "orderPrice": num(ex.order_price),
        "orderQty": num(ex.order_qty),
        "leavesQty": num(ex.leaves_qty),
        "createType": ex.create_type,
        "orderType": ex.order_type.value,
        "stopOrderType": ex.stop_order_type or "UNKNOWN",
        "execFee": money(ex.exec_fee),
        "execId": ex.exec_id,
        "execPrice": num(ex.exec_price),
        "execQty": num(ex.exec_qty),
        "execType": ex.exec_type.value,
        "execValue": money(ex.exec_value),
        "execTime": num(ex.exec_time_ms),
        "feeCurrency": ex.fee_currency,
        "isMaker": ex.is_maker,
        "feeRate": num(ex.fee_rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": text(ex.mark_price),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": num(ex.closed_size),
        "seq": ex.seq,
        "marketUnit": ex.market_unit.value if ex.market_unit else "",
        "extraFees": "",
    }
    if ws:
        item["category"] = ex.category.value
        item["execPnl"] = money(ex.exec_pnl)
        item["isLeverage"] = "0"
    return item


def page(items: list[JSON], category: Category, cursor: str = "") -> JSON:
    """Return a paged list result (`{category, list, nextPageCursor}`)."""
    return {"category": category.value, "list": items, "nextPageCursor": cursor}
