"""Batch order endpoints (`/v5/order/create-batch`, `amend-batch`, `cancel-batch`): bodies and replies.

A batch body is `{"category": ..., "request": [item, ...]}`; each item takes its single endpoint's
fields without `category`. The reply judges the request as a whole in `retCode` and each item in
request order twice: `result.list[i]` (`{category, symbol, orderId, orderLinkId}`, creates also
`createAt`) and `retExtInfo.list[i]` (`{code, msg}`). A refused item has `orderId` "" and keeps the
`orderLinkId` it was sent with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bst.bybit.codec import params
from bst.bybit.codec.orders import encode_amend_request, encode_order_request
from bst.bybit.endpoints import BATCH_MAX_ITEMS
from bst.domain.batch import BatchItemResult, CancelRef
from bst.domain.market import Category
from bst.domain.orders import AmendRequest, OrderRequest

JSON = dict[str, Any]
OK_MSG = "OK"


# --- requests (the client encodes, the simulator decodes) ------------------------------------


def _items(category: Category, bodies: Sequence[JSON]) -> JSON:
    items = [{k: v for k, v in body.items() if k != "category"} for body in bodies]
    return {"category": category.value, "request": items}


def _one_category(categories: set[Category]) -> Category:
    if len(categories) != 1:
        raise params.params_error("a batch carries orders of one category")
    return next(iter(categories))


def encode_batch_create(requests: Sequence[OrderRequest]) -> JSON:
    """Return the create-batch body of `requests` (all of one category)."""
    category = _one_category({r.category for r in requests})
    return _items(category, [encode_order_request(r) for r in requests])


def encode_batch_amend(requests: Sequence[AmendRequest]) -> JSON:
    """Return the amend-batch body of `requests` (all of one category)."""
    category = _one_category({r.category for r in requests})
    return _items(category, [encode_amend_request(r) for r in requests])


def encode_batch_cancel(category: Category, orders: Sequence[CancelRef]) -> JSON:
    """Return the cancel-batch body of `orders` ("" ids are left out)."""
    bodies = [
        {
            "symbol": o.symbol,
            **({"orderId": o.order_id} if o.order_id else {}),
            **({"orderLinkId": o.order_link_id} if o.order_link_id else {}),
        }
        for o in orders
    ]
    return _items(category, bodies)


def decode_batch(body: JSON, categories: Sequence[Category]) -> tuple[Category, list[JSON]]:
    """Return (category, item bodies with `category` set) of a batch body, or raise 10001.

    The whole request is refused when `category` is missing or not in `categories`, when `request`
    is not a non-empty list of objects, or when it holds more items than the category allows.
    """
    raw = params.text(body, "category", required=True)
    try:
        category = Category(raw)
    except ValueError:
        raise params.invalid("category") from None
    if category not in categories:
        raise params.params_error(f"params error: category {raw} is not supported by the simulator")
    items = body.get("request")
    if not isinstance(items, list) or not items:
        raise params.params_error("params error: request must be a non-empty list of orders")
    if not all(isinstance(i, dict) for i in items):
        raise params.params_error("params error: every item of request must be an object")
    most = BATCH_MAX_ITEMS[category]
    if len(items) > most:
        raise params.params_error(
            f"params error: a {category.value} batch carries at most {most} orders, got {len(items)}"
        )
    return category, [{**item, "category": category.value} for item in items]


# --- replies (the simulator encodes, the client decodes) -------------------------------------


def encode_batch_reply(results: Sequence[BatchItemResult], *, creates: bool) -> tuple[JSON, JSON]:
    """Return (`result`, `retExtInfo`) of a batch reply; `creates` adds each item's `createAt`."""
    rows: list[JSON] = []
    for r in results:
        row: JSON = {
            "category": r.category.value,
            "symbol": r.symbol,
            "orderId": r.order_id,
            "orderLinkId": r.order_link_id,
        }
        if creates:
            row["createAt"] = "" if r.created_ms is None else str(r.created_ms)
        rows.append(row)
    codes = [{"code": r.code, "msg": r.message} for r in results]
    return {"list": rows}, {"list": codes}


def parse_batch_reply(result: JSON, ret_ext_info: JSON, category: Category) -> list[BatchItemResult]:
    """Return each item's outcome, in request order (a missing `retExtInfo` entry counts as OK)."""
    rows = result.get("list") or []
    codes = ret_ext_info.get("list") or []
    out: list[BatchItemResult] = []
    for i, row in enumerate(rows):
        code = codes[i] if i < len(codes) and isinstance(codes[i], dict) else {}
        created = row.get("createAt")
        out.append(
            BatchItemResult(
                category=Category(row["category"]) if row.get("category") else category,
                symbol=str(row.get("symbol") or ""),
                order_id=str(row.get("orderId") or ""),
                order_link_id=str(row.get("orderLinkId") or ""),
                code=int(code.get("code") or 0),
                message=str(code.get("msg") or ""),
                created_ms=int(created) if created not in (None, "") else None,
            )
        )
    return out
