"""The mainnet guard: who may trade where, decided the same way for the CLI and the service.

Trading needs credentials everywhere; on mainnet it also needs an explicit permission given for
this one action (the CLI's `--mainnet`, a service request's flag) and, where a person is present,
a typed confirmation: `TradingPermit.real_money` tells the caller to ask for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bst.app.venues import Credentials, credentials
from bst.domain.errors import ConfigError
from bst.settings import Environment, Settings


class Refusal(StrEnum):
    """Why trading was refused."""

    NO_CREDENTIALS = "no_credentials"
    MAINNET_NOT_ALLOWED = "mainnet_not_allowed"


class TradingRefusedError(ConfigError):
    """Trading is not allowed with these settings; `reason` says why, the message what to do."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TradingPermit:
    """Trading may go ahead; on `real_money` (mainnet) a person should confirm first."""

    env: Environment
    credentials: Credentials
    real_money: bool


def require_credentials(settings: Settings) -> Credentials:
    """Return the API key pair, or raise TradingRefusedError (NO_CREDENTIALS)."""
    keys = credentials(settings)
    if keys is None:
        raise TradingRefusedError(
            Refusal.NO_CREDENTIALS, "trading needs credentials: set BYBIT_API_KEY and BYBIT_API_SECRET"
        )
    return keys


def check_trading(settings: Settings, *, allow_mainnet: bool) -> TradingPermit:
    """Return a permit to send orders, or raise TradingRefusedError saying why not.

    `allow_mainnet` is the explicit, per-action permission to trade with real money; without it
    an order on mainnet is refused, so a shell or deployment pointed at mainnet by mistake never
    trades.
    """
    keys = require_credentials(settings)
    real_money = settings.env is Environment.MAINNET
    if real_money and not allow_mainnet:
        raise TradingRefusedError(
            Refusal.MAINNET_NOT_ALLOWED,
            "BYBIT_ENV is mainnet: trading with real money must be allowed explicitly (--mainnet)",
        )
    return TradingPermit(settings.env, keys, real_money)
