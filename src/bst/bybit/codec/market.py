"""Market endpoints: kline, mark-price kline, instruments, tickers, order book, trades, time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from bst.bybit.codec._fields import num
from bst.domain.instrument import Instrument
from bst.domain.market import (
    Bar,
    BookSnapshot,
    Category,
    PriceBar,
    PriceLevel,
    ServerTime,
    Side,
    Ticker,
    Trade,
)

JSON = dict[str, Any]
KLINE_COLUMNS = ("open_time_ms", "open", "high", "low", "close", "volume", "turnover")


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _opt_dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


# --- kline -----------------------------------------------------------------------------------


def parse_klines(result: JSON) -> list[Bar]:
    """Return the bars of a kline result, oldest first (the wire list is newest first)."""
    rows = result.get("list") or []
    bars = [
        Bar(
            int(r[0]),
            Decimal(r[1]),
            Decimal(r[2]),
            Decimal(r[3]),
            Decimal(r[4]),
            Decimal(r[5]),
            Decimal(r[6]),
        )
        for r in rows
    ]
    bars.sort(key=lambda b: b.open_time_ms)
    return bars


def parse_klines_columns(result: JSON) -> dict[str, npt.NDArray[Any]]:
    """Return a kline result as research columns, oldest first: int64 open_time_ms, float64 rest."""
    rows = result.get("list") or []
    if not rows:
        cols: dict[str, npt.NDArray[Any]] = {"open_time_ms": np.empty(0, dtype=np.int64)}
        cols.update({name: np.empty(0, dtype=np.float64) for name in KLINE_COLUMNS[1:]})
        return cols
    table = np.array(rows[::-1], dtype=object)
    cols = {"open_time_ms": table[:, 0].astype(np.int64)}
    for i, name in enumerate(KLINE_COLUMNS[1:], start=1):
        cols[name] = table[:, i].astype(np.float64)
    order = np.argsort(cols["open_time_ms"], kind="stable")
    if not np.all(order[:-1] < order[1:]):
        cols = {k: v[order] for k, v in cols.items()}
    return cols


def parse_price_klines(result: JSON) -> list[PriceBar]:
    """Return mark/index-price bars, oldest first."""
    rows = result.get("list") or []
    bars = [PriceBar(int(r[0]), Decimal(r[1]), Decimal(r[2]), Decimal(r[3]), Decimal(r[4])) for r in rows]
    bars.sort(key=lambda b: b.open_time_ms)
    return bars


def encode_kline_row(bar: Bar) -> list[str]:
    """Return one wire kline row (7 strings)."""
    return [
        num(bar.open_time_ms),
        num(bar.open),
        num(bar.high),
        num(bar.low),
        num(bar.close),
        num(bar.volume),
        num(bar.turnover),
    ]


def encode_klines(category: Category, symbol: str, bars: Iterable[Bar]) -> JSON:
    """Return a kline result; `bars` oldest first, the wire list newest first."""
    rows = [encode_kline_row(b) for b in bars]
    rows.reverse()
    return {"category": category.value, "symbol": symbol, "list": rows}


def encode_price_klines(category: Category, symbol: str, bars: Iterable[PriceBar]) -> JSON:
    """Return a mark-price kline result, newest first."""
    rows = [[num(b.open_time_ms), num(b.open), num(b.high), num(b.low), num(b.close)] for b in bars]
    rows.reverse()
    return {"category": category.value, "symbol": symbol, "list": rows}


def encode_kline_rows(
    category: Category, symbol: str, rows_newest_first: list[list[str]] | orjson.Fragment
) -> JSON:
    """Return a kline (or price-kline) result from wire rows already formatted, newest first.

    The rows may come as their JSON text already (an `orjson.Fragment`, as the simulator builds it).
    """
    return {"category": category.value, "symbol": symbol, "list": rows_newest_first}


# --- instruments -----------------------------------------------------------------------------


def parse_instrument(item: JSON, category: Category) -> Instrument:
    """Return one instruments-info item as an Instrument (spot, linear or inverse)."""
    price_filter = item.get("priceFilter") or {}
    lot = item.get("lotSizeFilter") or {}
    leverage = item.get("leverageFilter") or {}
    if category is Category.SPOT:
        qty_step = _dec(lot.get("basePrecision") or lot.get("qtyStep") or "0")
        min_qty = _dec(lot.get("minOrderQty") or "0")
        max_qty = _dec(lot.get("maxLimitOrderQty") or lot.get("maxOrderQty") or "0")
        max_mkt = _dec(lot.get("maxMarketOrderQty") or max_qty)
        min_notional = _dec(lot.get("minOrderAmt") or "0")
    else:
        qty_step = _dec(lot.get("qtyStep") or "0")
        min_qty = _dec(lot.get("minOrderQty") or "0")
        max_qty = _dec(lot.get("maxOrderQty") or "0")
        max_mkt = _dec(lot.get("maxMktOrderQty") or max_qty)
        min_notional = _dec(lot.get("minNotionalValue") or "0")
    return Instrument(
        symbol=str(item["symbol"]),
        category=category,
        status=str(item.get("status", "")),
        base_coin=str(item.get("baseCoin", "")),
        quote_coin=str(item.get("quoteCoin", "")),
        settle_coin=str(item.get("settleCoin") or item.get("quoteCoin", "")),
        tick_size=_dec(price_filter.get("tickSize") or "0"),
        qty_step=qty_step,
        min_qty=min_qty,
        max_qty=max_qty,
        max_market_qty=max_mkt,
        min_notional=min_notional,
        min_price=_dec(price_filter.get("minPrice") or "0"),
        max_price=_dec(price_filter.get("maxPrice") or "0"),
        min_leverage=_dec(leverage.get("minLeverage") or "1"),
        max_leverage=_dec(leverage.get("maxLeverage") or "1"),
        leverage_step=_dec(leverage.get("leverageStep") or "0.01"),
        contract_type=str(item.get("contractType", "")),
        launch_time_ms=int(item.get("launchTime") or 0),
        funding_interval_min=int(item.get("fundingInterval") or 0),
    )


def parse_instruments(result: JSON, category: Category) -> tuple[list[Instrument], str]:
    """Return one page of instruments and the next cursor ("" at the end)."""
    items = result.get("list") or []
    return [parse_instrument(i, category) for i in items], str(result.get("nextPageCursor") or "")


def encode_instrument(inst: Instrument) -> JSON:
    """Return one instruments-info item as Bybit prints it."""
    if inst.category is Category.SPOT:
        return {
            "symbol": inst.symbol,
            "baseCoin": inst.base_coin,
            "quoteCoin": inst.quote_coin,
            "innovation": "0",
            "status": inst.status,
            "marginTrading": "utaOnly",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": num(inst.qty_step),
                "quotePrecision": "0.00000001",
                "minOrderQty": num(inst.min_qty),
                "maxOrderQty": num(inst.max_qty),
                "minOrderAmt": num(inst.min_notional),
                "maxOrderAmt": "8000000",
                "maxLimitOrderQty": num(inst.max_qty),
                "maxMarketOrderQty": num(inst.max_market_qty),
            },
            "priceFilter": {"tickSize": num(inst.tick_size)},
            "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
        }
    return {
        "symbol": inst.symbol,
        "contractType": inst.contract_type or "LinearPerpetual",
        "status": inst.status,
        "baseCoin": inst.base_coin,
        "quoteCoin": inst.quote_coin,
        "launchTime": num(inst.launch_time_ms),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": num(max(0, -int(inst.tick_size.as_tuple().exponent))),
        "leverageFilter": {
            "minLeverage": num(inst.min_leverage),
            "maxLeverage": num(inst.max_leverage),
            "leverageStep": num(inst.leverage_step),
        },
        "priceFilter": {
            "minPrice": num(inst.min_price),
            "maxPrice": num(inst.max_price),
            "tickSize": num(inst.tick_size),
        },
        "lotSizeFilter": {
            "maxOrderQty": num(inst.max_qty),
            "minOrderQty": num(inst.min_qty),
            "qtyStep": num(inst.qty_step),
            "postOnlyMaxOrderQty": num(inst.max_qty),
            "maxMktOrderQty": num(inst.max_market_qty),
            "minNotionalValue": num(inst.min_notional),
        },
        "unifiedMarginTrade": True,
        "fundingInterval": inst.funding_interval_min,
        "settleCoin": inst.settle_coin,
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "symbolType": "",
    }


# --- tickers ---------------------------------------------------------------------------------


def parse_ticker(item: JSON) -> Ticker:
    """Return one tickers item (REST or a merged WS state) as a Ticker."""
    return Ticker(
        symbol=str(item["symbol"]),
        last_price=_dec(item["lastPrice"]),
        bid1_price=_opt_dec(item.get("bid1Price")),
        bid1_size=_opt_dec(item.get("bid1Size")),
        ask1_price=_opt_dec(item.get("ask1Price")),
        ask1_size=_opt_dec(item.get("ask1Size")),
        prev_price_24h=_opt_dec(item.get("prevPrice24h")),
        price_24h_pcnt=_opt_dec(item.get("price24hPcnt")),
        high_price_24h=_opt_dec(item.get("highPrice24h")),
        low_price_24h=_opt_dec(item.get("lowPrice24h")),
        volume_24h=_opt_dec(item.get("volume24h")),
        turnover_24h=_opt_dec(item.get("turnover24h")),
        mark_price=_opt_dec(item.get("markPrice")),
        index_price=_opt_dec(item.get("indexPrice")),
        open_interest=_opt_dec(item.get("openInterest")),
        funding_rate=_opt_dec(item.get("fundingRate")),
        next_funding_time_ms=_opt_int(item.get("nextFundingTime")),
    )


def parse_tickers(result: JSON) -> list[Ticker]:
    """Return every ticker of a tickers result."""
    return [parse_ticker(i) for i in result.get("list") or []]


def _s(value: Decimal | int | None) -> str:
    return "" if value is None else num(value)


def encode_ticker(t: Ticker, category: Category) -> JSON:
    """Return one tickers item as Bybit prints it for `category`."""
    common = {
        "symbol": t.symbol,
        "bid1Price": _s(t.bid1_price),
        "bid1Size": _s(t.bid1_size),
        "ask1Price": _s(t.ask1_price),
        "ask1Size": _s(t.ask1_size),
        "lastPrice": num(t.last_price),
        "prevPrice24h": _s(t.prev_price_24h),
        "price24hPcnt": _s(t.price_24h_pcnt),
        "highPrice24h": _s(t.high_price_24h),
        "lowPrice24h": _s(t.low_price_24h),
        "turnover24h": _s(t.turnover_24h),
        "volume24h": _s(t.volume_24h),
    }
    if category is Category.SPOT:
        common["usdIndexPrice"] = _s(t.index_price)
        return common
    common.update(
        {
            "indexPrice": _s(t.index_price),
            "markPrice": _s(t.mark_price),
            "prevPrice1h": "",  # the domain Ticker carries no 1 h price; the sim fills its own
            "openInterest": _s(t.open_interest),
            "openInterestValue": _s(
                None if t.open_interest is None else t.open_interest * (t.mark_price or t.last_price)
            ),
            "fundingRate": _s(t.funding_rate),
            "nextFundingTime": _s(t.next_funding_time_ms),
            "predictedDeliveryPrice": "",
            "basisRate": "",
            "basis": "",
            "deliveryFeeRate": "",
            "deliveryTime": "0",
            "preOpenPrice": "",
            "preQty": "",
            "curPreListingPhase": "",
            "fundingIntervalHour": "8",
            "fundingCap": "0.005",
            "basisRateYear": "",
        }
    )
    return common


# --- order book, trades, time ----------------------------------------------------------------


def _levels(rows: Sequence[Sequence[Any]]) -> tuple[PriceLevel, ...]:
    return tuple((Decimal(str(p)), Decimal(str(q))) for p, q in rows)


def parse_orderbook(result: JSON) -> BookSnapshot:
    """Return a REST order-book snapshot (bids descending, asks ascending)."""
    bids = sorted(_levels(result.get("b") or []), key=lambda lv: lv[0], reverse=True)
    asks = sorted(_levels(result.get("a") or []), key=lambda lv: lv[0])
    return BookSnapshot(
        symbol=str(result.get("s", "")),
        bids=tuple(bids),
        asks=tuple(asks),
        ts_ms=int(result.get("ts") or 0),
        update_id=int(result.get("u") or 0),
        seq=_opt_int(result.get("seq")),
        cts_ms=_opt_int(result.get("cts")),
    )


def encode_orderbook(book: BookSnapshot) -> JSON:
    """Return an order-book result as Bybit prints it."""
    return {
        "s": book.symbol,
        "b": [[num(p), num(q)] for p, q in book.bids],
        "a": [[num(p), num(q)] for p, q in book.asks],
        "ts": book.ts_ms,
        "u": book.update_id,
        "seq": book.seq if book.seq is not None else book.update_id,
        "cts": book.cts_ms if book.cts_ms is not None else book.ts_ms,
    }


def parse_recent_trades(result: JSON) -> list[Trade]:
    """Return recent public trades, oldest first."""
    trades = [
        Trade(
            ts_ms=int(i["time"]),
            symbol=str(i["symbol"]),
            side=Side(i["side"]),
            price=_dec(i["price"]),
            size=_dec(i["size"]),
            trade_id=str(i["execId"]),
            is_block_trade=bool(i.get("isBlockTrade", False)),
            seq=_opt_int(i.get("seq")),
        )
        for i in result.get("list") or []
    ]
    trades.sort(key=lambda t: t.ts_ms)
    return trades


def encode_recent_trades(category: Category, trades: Iterable[Trade]) -> JSON:
    """Return a recent-trade result, newest first."""
    rows = [
        {
            "execId": t.trade_id,
            "symbol": t.symbol,
            "price": num(t.price),
            "size": num(t.size),
            "side": t.side.value,
            "time": num(t.ts_ms),
            "isBlockTrade": t.is_block_trade,
            "isRPITrade": False,
            "seq": num(t.seq if t.seq is not None else 0),
        }
        for t in trades
    ]
    rows.reverse()
    return {"category": category.value, "list": rows}


def parse_server_time(result: JSON, envelope_time_ms: int | None = None) -> ServerTime:
    """Return the server time; the nanosecond field is the most precise."""
    time_ns = int(result.get("timeNano") or 0) or int(result.get("timeSecond", 0)) * 1_000_000_000
    time_ms = time_ns // 1_000_000 if time_ns else int(envelope_time_ms or 0)
    return ServerTime(time_ms=time_ms, time_ns=time_ns or time_ms * 1_000_000)


def encode_server_time(time_ns: int) -> JSON:
    """Return a /v5/market/time result."""
    return {"timeSecond": num(time_ns // 1_000_000_000), "timeNano": num(time_ns)}
