"""Positions, wallet balance and fee rates (REST and the private `position`/`wallet` topics)."""

from __future__ import annotations

from typing import Any

from bst.bybit.codec._fields import boolean, dec, integer, money, num, opt_dec, text
from bst.domain.market import Category
from bst.domain.market_stats import DEFAULT_RISK_ID, DEFAULT_RISK_LIMIT_VALUE
from bst.domain.portfolio import CoinBalance, FeeRate, Position, PositionSide, PositionStatus, WalletBalance

JSON = dict[str, Any]


def parse_position(item: JSON, category: Category | None = None) -> Position:
    """Return one position; REST names the entry price `avgPrice`, the WS topic `entryPrice`."""
    cat = Category(item["category"]) if item.get("category") else (category or Category.LINEAR)
    entry = item.get("avgPrice", item.get("entryPrice"))
    return Position(
        category=cat,
        symbol=str(item["symbol"]),
        position_idx=integer(item.get("positionIdx")),
        side=PositionSide(item.get("side") or ""),
        size=dec(item.get("size")),
        avg_price=dec(entry),
        position_value=dec(item.get("positionValue")),
        leverage=dec(item.get("leverage"), "1"),
        mark_price=dec(item.get("markPrice")),
        liq_price=opt_dec(item.get("liqPrice"), zero_is_none=True),
        bust_price=opt_dec(item.get("bustPrice"), zero_is_none=True),
        position_im=dec(item.get("positionIM")),
        position_mm=dec(item.get("positionMM")),
        unrealised_pnl=dec(item.get("unrealisedPnl")),
        cur_realised_pnl=dec(item.get("curRealisedPnl")),
        cum_realised_pnl=dec(item.get("cumRealisedPnl")),
        position_status=PositionStatus(item.get("positionStatus") or "Normal"),
        created_time_ms=integer(item.get("createdTime")),
        updated_time_ms=integer(item.get("updatedTime")),
        seq=integer(item.get("seq")),
        take_profit=opt_dec(item.get("takeProfit"), zero_is_none=True),
        stop_loss=opt_dec(item.get("stopLoss"), zero_is_none=True),
        auto_add_margin=integer(item.get("autoAddMargin")),
        is_reduce_only=boolean(item.get("isReduceOnly", False)),
    )


def encode_position(pos: Position, *, ws: bool = False) -> JSON:
    """Return one position as Bybit prints it (REST list, or with `ws` the `position` topic).

    Money without trailing zeros (`money`). A flat position prints as Bybit's recorded flat row:
    `size` "0", `positionValue`, `unrealisedPnl` and (REST) `takeProfit`/`stopLoss` "", `avgPrice`
    "0", margins "0", no ADL rank.
    """
    flat = pos.size == 0
    item: JSON = {
        "positionIdx": pos.position_idx,
        "riskId": DEFAULT_RISK_ID,
        "riskLimitValue": num(DEFAULT_RISK_LIMIT_VALUE),
        "symbol": pos.symbol,
        "side": pos.side.value,
        "size": "0" if flat else num(pos.size),
        "positionValue": "" if flat else money(pos.position_value),
        "tradeMode": 0,
        "autoAddMargin": pos.auto_add_margin,
        "positionStatus": pos.position_status.value,
        "leverage": num(pos.leverage),
        "markPrice": money(pos.mark_price),
        "liqPrice": text(pos.liq_price),
        "bustPrice": text(pos.bust_price),
        "positionIM": money(pos.position_im),
        "positionMM": money(pos.position_mm),
        "positionBalance": money(pos.position_im),
        "tpslMode": "Full",
        "takeProfit": "" if flat and not ws else text(pos.take_profit, empty="0"),
        "stopLoss": "" if flat and not ws else text(pos.stop_loss, empty="0"),
        "trailingStop": "0",
        "unrealisedPnl": "" if flat else money(pos.unrealised_pnl),
        "curRealisedPnl": money(pos.cur_realised_pnl),
        "cumRealisedPnl": money(pos.cum_realised_pnl),
        "adlRankIndicator": 0 if flat else 2,
        "createdTime": num(pos.created_time_ms),
        "updatedTime": num(pos.updated_time_ms),
        "seq": pos.seq,
        "isReduceOnly": pos.is_reduce_only,
        "leverageSysUpdatedTime": "",
        "mmrSysUpdatedTime": "",
    }
    average = "0" if flat else money(pos.avg_price)
    if ws:
        item["entryPrice"] = average
        item["category"] = pos.category.value
        item["sessionAvgPrice"] = ""
    else:
        item["avgPrice"] = average
        item["breakEvenPrice"] = average
        item["openTime"] = 0 if flat else pos.created_time_ms
    return item


def _coin(item: JSON) -> CoinBalance:
    return CoinBalance(
        coin=str(item["coin"]),
        equity=dec(item.get("equity")),
        usd_value=dec(item.get("usdValue")),
        wallet_balance=dec(item.get("walletBalance")),
        locked=dec(item.get("locked")),
        total_order_im=dec(item.get("totalOrderIM")),
        total_position_im=dec(item.get("totalPositionIM")),
        total_position_mm=dec(item.get("totalPositionMM")),
        unrealised_pnl=dec(item.get("unrealisedPnl")),
        cum_realised_pnl=dec(item.get("cumRealisedPnl")),
        available_to_withdraw=dec(item.get("availableToWithdraw")),
        borrow_amount=dec(item.get("borrowAmount")),
        accrued_interest=dec(item.get("accruedInterest")),
        bonus=dec(item.get("bonus")),
        margin_collateral=boolean(item.get("marginCollateral", True)),
        collateral_switch=boolean(item.get("collateralSwitch", True)),
    )


def parse_wallet(item: JSON) -> WalletBalance:
    """Return one wallet-balance list item (REST) or `wallet` topic item."""
    return WalletBalance(
        account_type=str(item.get("accountType", "UNIFIED")),
        total_equity=dec(item.get("totalEquity")),
        total_wallet_balance=dec(item.get("totalWalletBalance")),
        total_margin_balance=dec(item.get("totalMarginBalance")),
        total_available_balance=dec(item.get("totalAvailableBalance")),
        total_perp_upl=dec(item.get("totalPerpUPL")),
        total_initial_margin=dec(item.get("totalInitialMargin")),
        total_maintenance_margin=dec(item.get("totalMaintenanceMargin")),
        account_im_rate=opt_dec(item.get("accountIMRate")),
        account_mm_rate=opt_dec(item.get("accountMMRate")),
        coins=tuple(_coin(c) for c in item.get("coin") or []),
    )


def parse_wallets(result: JSON) -> list[WalletBalance]:
    """Return the accounts of a wallet-balance result."""
    return [parse_wallet(i) for i in result.get("list") or []]


def encode_wallet(w: WalletBalance) -> JSON:
    """Return one wallet-balance list item as Bybit prints it."""
    return {
        "accountType": w.account_type,
        "totalEquity": money(w.total_equity),
        "totalWalletBalance": money(w.total_wallet_balance),
        "totalMarginBalance": money(w.total_margin_balance),
        "totalAvailableBalance": money(w.total_available_balance),
        "totalPerpUPL": money(w.total_perp_upl),
        "totalInitialMargin": money(w.total_initial_margin),
        "totalMaintenanceMargin": money(w.total_maintenance_margin),
        "accountIMRate": text(w.account_im_rate),
        "accountMMRate": text(w.account_mm_rate),
        "accountLTV": "0",
        "coin": [
            {
                "coin": c.coin,
                "equity": money(c.equity),
                "usdValue": money(c.usd_value),
                "walletBalance": money(c.wallet_balance),
                "locked": money(c.locked),
                "borrowAmount": money(c.borrow_amount),
                "accruedInterest": money(c.accrued_interest),
                "totalOrderIM": money(c.total_order_im),
                "totalPositionIM": money(c.total_position_im),
                "totalPositionMM": money(c.total_position_mm),
                "unrealisedPnl": money(c.unrealised_pnl),
                "cumRealisedPnl": money(c.cum_realised_pnl),
                "bonus": money(c.bonus),
                "marginCollateral": c.margin_collateral,
                "collateralSwitch": c.collateral_switch,
                "spotBorrow": "0",
                "spotHedgingQty": "0",
                "availableToWithdraw": money(c.available_to_withdraw),
                "free": "",
            }
            for c in w.coins
        ],
    }


def parse_fee_rates(result: JSON) -> list[FeeRate]:
    """Return the fee rates of a fee-rate result."""
    return [
        FeeRate(
            symbol=str(i.get("symbol", "")),
            taker_fee_rate=dec(i.get("takerFeeRate")),
            maker_fee_rate=dec(i.get("makerFeeRate")),
            base_coin=str(i.get("baseCoin", "")),
        )
        for i in result.get("list") or []
    ]


def encode_fee_rate(rate: FeeRate) -> JSON:
    """Return one fee-rate list item."""
    item: JSON = {
        "symbol": rate.symbol,
        "takerFeeRate": num(rate.taker_fee_rate),
        "makerFeeRate": num(rate.maker_fee_rate),
    }
    if rate.base_coin:
        item["baseCoin"] = rate.base_coin
    return item
