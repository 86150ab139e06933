"""Market statistics: funding history, open interest, risk limits, and liquidation stream messages.

REST: `/v5/market/funding/history` (`{category, list:[{symbol, fundingRate, fundingRateTimestamp}]}`),
`/v5/market/open-interest` (`{symbol, category, list:[{openInterest, singleOpenInterest?,
timestamp}], nextPageCursor}`, `openInterest` printed with 8 places as Bybit does),
`/v5/market/risk-limit` (`{category, list:[{id, symbol, riskLimitValue, maintenanceMargin,
initialMargin, isLowestRisk, maxLeverage, mmDeduction}], nextPageCursor}`, rates as fractions).

WebSocket: `allLiquidation.{symbol}` (`data` an array of `{T, s, S, v, p}`) and the older
`liquidation.{symbol}` (`data` one object `{updatedTime, symbol, side, size, price}`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson

from bst.bybit.codec._fields import dec, integer, num, opt_dec
from bst.domain.market import Category, Side
from bst.domain.market_stats import FundingRateRecord, Liquidation, OpenInterest, RiskLimitTier

JSON = dict[str, Any]
_OI_PLACES = Decimal("0.00000001")
LIQUIDATION_TOPIC = "liquidation"
ALL_LIQUIDATION_TOPIC = "allLiquidation"


# --- funding history -------------------------------------------------------------------------


def encode_funding_history(category: Category, records: Sequence[FundingRateRecord]) -> JSON:
    """Return the funding-history result (records in the order given: newest first)."""
    return {
        "category": category.value,
        "list": [
            {
                "symbol": r.symbol,
                "fundingRate": num(r.funding_rate),
                "fundingRateTimestamp": str(r.funding_time_ms),
            }
            for r in records
        ],
    }


def parse_funding_history(result: JSON) -> list[FundingRateRecord]:
    """Return the funding records of a funding-history result, as listed (newest first)."""
    return [
        FundingRateRecord(
            symbol=str(i["symbol"]),
            funding_rate=dec(i.get("fundingRate")),
            funding_time_ms=integer(i.get("fundingRateTimestamp")),
        )
        for i in result.get("list") or []
    ]


# --- open interest ---------------------------------------------------------------------------


def encode_open_interest(
    category: Category, symbol: str, points: Sequence[OpenInterest], cursor: str
) -> JSON:
    """Return the open-interest result (points newest first)."""
    rows: list[JSON] = []
    for p in points:
        row: JSON = {"openInterest": num(p.open_interest.quantize(_OI_PLACES))}
        if p.single_side is not None:
            row["singleOpenInterest"] = num(p.single_side)
        row["timestamp"] = str(p.ts_ms)
        rows.append(row)
    return {"symbol": symbol, "category": category.value, "list": rows, "nextPageCursor": cursor}


def parse_open_interest(result: JSON) -> tuple[list[OpenInterest], str]:
    """Return the points (newest first) and the next page's cursor ("" at the end)."""
    points = [
        OpenInterest(
            ts_ms=integer(i.get("timestamp")),
            open_interest=dec(i.get("openInterest")),
            single_side=opt_dec(i.get("singleOpenInterest")),
        )
        for i in result.get("list") or []
    ]
    return points, str(result.get("nextPageCursor") or "")


# --- risk limits -----------------------------------------------------------------------------


def encode_risk_limits(category: Category, tiers: Sequence[RiskLimitTier], cursor: str) -> JSON:
    """Return the risk-limit result."""
    return {
        "category": category.value,
        "list": [
            {
                "id": t.tier_id,
                "symbol": t.symbol,
                "riskLimitValue": num(t.risk_limit_value),
                "maintenanceMargin": num(t.maintenance_margin),
                "initialMargin": num(t.initial_margin),
                "isLowestRisk": 1 if t.is_lowest_risk else 0,
                "maxLeverage": num(t.max_leverage),
                "mmDeduction": "" if t.mm_deduction is None else num(t.mm_deduction),
            }
            for t in tiers
        ],
        "nextPageCursor": cursor,
    }


def parse_risk_limits(result: JSON) -> tuple[list[RiskLimitTier], str]:
    """Return the tiers and the next page's cursor (rates may arrive as numbers or strings)."""
    tiers = [
        RiskLimitTier(
            tier_id=integer(i.get("id")),
            symbol=str(i["symbol"]),
            risk_limit_value=dec(i.get("riskLimitValue")),
            maintenance_margin=dec(i.get("maintenanceMargin")),
            initial_margin=dec(i.get("initialMargin")),
            is_lowest_risk=integer(i.get("isLowestRisk")) == 1,
            max_leverage=dec(i.get("maxLeverage")),
            mm_deduction=opt_dec(i.get("mmDeduction")),
        )
        for i in result.get("list") or []
    ]
    return tiers, str(result.get("nextPageCursor") or "")


# --- liquidation streams ---------------------------------------------------------------------


def encode_all_liquidation_message(symbol: str, items: Sequence[Liquidation], ts_ms: int) -> bytes:
    """Return one `allLiquidation.{symbol}` message carrying `items` (oldest first)."""
    rows = [
        {"T": i.ts_ms, "s": i.symbol, "S": i.side.value, "v": num(i.size), "p": num(i.price)} for i in items
    ]
    return orjson.dumps(
        {"topic": f"{ALL_LIQUIDATION_TOPIC}.{symbol}", "type": "snapshot", "ts": ts_ms, "data": rows}
    )


def encode_liquidation_message(item: Liquidation) -> bytes:
    """Return one message of the older `liquidation.{symbol}` topic (one liquidation, `data` an object)."""
    data = {
        "price": num(item.price),
        "side": item.side.value,
        "size": num(item.size),
        "symbol": item.symbol,
        "updatedTime": item.ts_ms,
    }
    return orjson.dumps(
        {"data": data, "topic": f"{LIQUIDATION_TOPIC}.{item.symbol}", "ts": item.ts_ms, "type": "snapshot"}
    )


def parse_liquidation_message(msg: JSON) -> list[Liquidation]:
    """Return the liquidations of a message of either topic (raise KeyError/ValueError when malformed)."""
    data = msg["data"]
    if isinstance(data, dict):
        return [
            Liquidation(
                ts_ms=int(data.get("updatedTime") or msg["ts"]),
                symbol=str(data["symbol"]),
                side=Side(data["side"]),
                size=Decimal(str(data["size"])),
                price=Decimal(str(data["price"])),
            )
        ]
    return [
        Liquidation(
            ts_ms=int(row["T"]),
            symbol=str(row["s"]),
            side=Side(row["S"]),
            size=Decimal(str(row["v"])),
            price=Decimal(str(row["p"])),
        )
        for row in data
    ]
