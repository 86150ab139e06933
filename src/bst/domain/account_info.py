"""Account settings and key information: margin and position mode, coin balances, the API key."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum, StrEnum


class MarginMode(StrEnum):
    """A unified account's margin mode (`/v5/account/set-margin-mode`, `/v5/account/info`)."""

    ISOLATED = "ISOLATED_MARGIN"
    CROSS = "REGULAR_MARGIN"
    PORTFOLIO = "PORTFOLIO_MARGIN"


class PositionMode(IntEnum):
    """A linear symbol's position mode (`/v5/position/switch-mode` `mode`)."""

    ONE_WAY = 0
    """Bybit's "Merged Single": one position per symbol, `positionIdx` 0."""
    HEDGE = 3
    """Bybit's "Both Sides": a long and a short position per symbol."""


@dataclass(frozen=True, slots=True)
class MarginModeReason:
    """Why a margin-mode switch was refused (Bybit's `reasons[]`: a string code and a message)."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """A unified account's settings (`/v5/account/info`).

    `unified_margin_status`: 1 classic, 3/4 UTA 1.0 (pro), 5/6 UTA 2.0 (pro).
    """

    unified_margin_status: int
    margin_mode: MarginMode
    is_master_trader: bool
    spot_hedging_on: bool
    updated_time_ms: int


@dataclass(frozen=True, slots=True)
class CoinTransferBalance:
    """One coin of an account as the asset API shows it: wallet and transferable balance."""

    coin: str
    wallet_balance: Decimal
    transfer_balance: Decimal
    bonus: Decimal | None = None


@dataclass(frozen=True, slots=True)
class AccountCoinBalances:
    """The coin balances of one account type (`/v5/asset/transfer/query-account-coins-balance`)."""

    member_id: str
    account_type: str
    balances: tuple[CoinTransferBalance, ...]


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What `/v5/user/query-api` tells about the calling key; the secret is never part of it.

    `permissions` maps a permission group (ContractTrade, Spot, Wallet, ...) to the rights granted;
    `ips` are the bound addresses ("*" when unbound).
    """

    key_id: str
    note: str
    api_key: str = field(repr=False)
    read_only: bool
    permissions: dict[str, tuple[str, ...]]
    ips: tuple[str, ...]
    key_type: int
    deadline_day: int
    expired_at: str
    created_at: str
    user_id: int
    is_master: bool
    vip_level: str = ""
    unified: bool = True


__all__ = [
    "AccountCoinBalances",
    "AccountInfo",
    "ApiKeyInfo",
    "CoinTransferBalance",
    "MarginMode",
    "MarginModeReason",
    "PositionMode",
]
