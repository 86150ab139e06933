"""Account settings and keys: `/v5/account/info`, set-margin-mode reasons, coin balances, key info."""

from __future__ import annotations

from typing import Any

from bst.bybit.codec._fields import boolean, dec, integer, money, opt_dec
from bst.domain.account_info import (
    AccountCoinBalances,
    AccountInfo,
    ApiKeyInfo,
    CoinTransferBalance,
    MarginMode,
    MarginModeReason,
)

JSON = dict[str, Any]


def encode_account_info(info: AccountInfo) -> JSON:
    """Return the account-info result (deprecated `dcpStatus`/`timeWindow`/`smpGroup` as Bybit fills them)."""
    return {
        "marginMode": info.margin_mode.value,
        "updatedTime": str(info.updated_time_ms),
        "unifiedMarginStatus": info.unified_margin_status,
        "dcpStatus": "OFF",
        "timeWindow": 0,
        "smpGroup": 0,
        "isMasterTrader": info.is_master_trader,
        "spotHedgingStatus": "ON" if info.spot_hedging_on else "OFF",
    }


def parse_account_info(result: JSON) -> AccountInfo:
    """Return the account's settings."""
    return AccountInfo(
        unified_margin_status=integer(result.get("unifiedMarginStatus")),
        margin_mode=MarginMode(result["marginMode"]),
        is_master_trader=boolean(result.get("isMasterTrader", False)),
        spot_hedging_on=result.get("spotHedgingStatus") == "ON",
        updated_time_ms=integer(result.get("updatedTime")),
    )


def encode_margin_mode_reasons(reasons: tuple[MarginModeReason, ...]) -> JSON:
    """Return the set-margin-mode result: `{"reasons": [{reasonCode, reasonMsg}]}` (empty on success)."""
    return {"reasons": [{"reasonCode": r.code, "reasonMsg": r.message} for r in reasons]}


def parse_margin_mode_reasons(result: JSON) -> tuple[MarginModeReason, ...]:
    """Return why a margin-mode switch was refused (empty when it was done)."""
    return tuple(
        MarginModeReason(str(r.get("reasonCode") or ""), str(r.get("reasonMsg") or ""))
        for r in result.get("reasons") or []
    )


def encode_coin_balances(balances: AccountCoinBalances) -> JSON:
    """Return the query-account-coins-balance result (`bonus` "" when unknown)."""
    return {
        "memberId": balances.member_id,
        "accountType": balances.account_type,
        "balance": [
            {
                "coin": b.coin,
                "walletBalance": money(b.wallet_balance),
                "transferBalance": money(b.transfer_balance),
                "bonus": "" if b.bonus is None else money(b.bonus),
            }
            for b in balances.balances
        ],
    }


def parse_coin_balances(result: JSON) -> AccountCoinBalances:
    """Return one account type's coin balances."""
    return AccountCoinBalances(
        member_id=str(result.get("memberId") or ""),
        account_type=str(result.get("accountType") or ""),
        balances=tuple(
            CoinTransferBalance(
                coin=str(b["coin"]),
                wallet_balance=dec(b.get("walletBalance")),
                transfer_balance=dec(b.get("transferBalance")),
                bonus=opt_dec(b.get("bonus")),
            )
            for b in result.get("balance") or []
        ),
    )


def encode_api_key_info(info: ApiKeyInfo) -> JSON:
    """Return the query-api result; `secret` is always "" (Bybit never returns it)."""
    return {
        "id": info.key_id,
        "note": info.note,
        "apiKey": info.api_key,
        "readOnly": 1 if info.read_only else 0,
        "secret": "",
        "permissions": {group: list(rights) for group, rights in info.permissions.items()},
        "ips": list(info.ips),
        "type": info.key_type,
        "deadlineDay": info.deadline_day,
        "expiredAt": info.expired_at,
        "createdAt": info.created_at,
        "unified": 1 if info.unified else 0,
        "uta": 1 if info.unified else 0,
        "userID": info.user_id,
        "inviterID": 0,
        "vipLevel": info.vip_level,
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": "",
        "isMaster": info.is_master,
        "parentUid": "0",
        "kycLevel": "LEVEL_1",
        "kycRegion": "",
    }


def parse_api_key_info(result: JSON) -> ApiKeyInfo:
    """Return what the key-info result says about the key."""
    permissions = result.get("permissions") or {}
    return ApiKeyInfo(
        key_id=str(result.get("id") or ""),
        note=str(result.get("note") or ""),
        api_key=str(result.get("apiKey") or ""),
        read_only=integer(result.get("readOnly")) == 1,
        permissions={str(k): tuple(str(r) for r in v or []) for k, v in permissions.items()},
        ips=tuple(str(ip) for ip in result.get("ips") or []),
        key_type=integer(result.get("type"), 1),
        deadline_day=integer(result.get("deadlineDay")),
        expired_at=str(result.get("expiredAt") or ""),
        created_at=str(result.get("createdAt") or ""),
        user_id=integer(result.get("userID")),
        is_master=boolean(result.get("isMaster", True)),
        vip_level=str(result.get("vipLevel") or ""),
        unified=integer(result.get("uta"), 1) == 1,
    )
