"""The engine's account books and settings as queries: closed PnL, transaction log, modes, risk tier.

Mixed into `MatchingEngine`. The engine models one-way positions in a cross-margin unified account;
asking for another position or margin mode is refused with Bybit's codes for "not modified" (the
mode asked is the mode in force) and for what the engine does not offer (hedge mode: 110029;
isolated or portfolio margin: the refusal reasons of `/v5/account/set-margin-mode`).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from bst.bybit.retcodes import SYMBOL_INVALID_MSG, RetCode
from bst.domain.account_info import AccountInfo, MarginMode, MarginModeReason, PositionMode
from bst.domain.ledger import ClosedPnl, Transaction, TransactionType
from bst.domain.market import Category
from bst.domain.market_stats import DEFAULT_RISK_ID, DEFAULT_RISK_LIMIT_VALUE, RiskLimitTier
from bst.engine.config import SymbolSpec
from bst.engine.ledger import with_averages
from bst.engine.venue import fail

if TYPE_CHECKING:
    from bst.engine.accounts import Account
    from bst.engine.venue import Venue

UTA_2_PRO = 6
"""`unifiedMarginStatus` of a UTA 2.0 pro account, whose default rate limits the sim applies."""
_RATE_PLACES = Decimal("0.0001")
_NOT_MODELLED = "bst sim's accounts trade in cross margin (REGULAR_MARGIN) only"


def risk_tier(spec: SymbolSpec) -> RiskLimitTier:
    """Return the one risk tier the engine applies to every position of a linear symbol.

    Maintenance margin is the spec's rate; initial margin is 1 / max leverage (cut to
    4 places, as Bybit prints it); no deduction.
    """
    instrument = spec.instrument
    initial = (Decimal(1) / instrument.max_leverage).quantize(_RATE_PLACES, rounding=ROUND_DOWN).normalize()
    return RiskLimitTier(
        tier_id=DEFAULT_RISK_ID,
        symbol=spec.symbol,
        risk_limit_value=DEFAULT_RISK_LIMIT_VALUE,
        maintenance_margin=spec.maintenance_margin_rate,
        initial_margin=initial,
        is_lowest_risk=True,
        max_leverage=instrument.max_leverage,
        mm_deduction=Decimal(0),
    )


class AccountViews:
    """Queries of an account's books and settings (needs the engine's `_venue` and `_account`)."""

    _venue: Venue

    def _account(self, uid: int) -> Account:
        raise NotImplementedError

    def closed_pnl(
        self,
        uid: int,
        *,
        symbol: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[ClosedPnl]:
        """Return the account's closed-PnL records (linear), newest close first, by update time."""
        records = [
            with_averages(r)
            for r in reversed(self._account(uid).books.closed)
            if (symbol is None or r.symbol == symbol)
            and (start_ms is None or r.updated_time_ms >= start_ms)
            and (end_ms is None or r.updated_time_ms <= end_ms)
        ]
        records.sort(key=lambda r: r.updated_time_ms, reverse=True)
        return records

    def transaction_log(
        self,
        uid: int,
        *,
        category: Category | None = None,
        currency: str | None = None,
        kind: TransactionType | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[Transaction]:
        """Return the account's transaction-log rows, newest first, filtered."""
        return [
            t
            for t in reversed(self._account(uid).books.transactions)
            if (category is None or t.category is category)
            and (currency is None or t.currency == currency)
            and (kind is None or t.type is kind)
            and (start_ms is None or t.transaction_time_ms >= start_ms)
            and (end_ms is None or t.transaction_time_ms <= end_ms)
        ]

    def account_info(self, uid: int) -> AccountInfo:
        """Return the account's settings: a UTA 2.0 pro account in cross margin."""
        account = self._account(uid)
        return AccountInfo(
            unified_margin_status=UTA_2_PRO,
            margin_mode=MarginMode.CROSS,
            is_master_trader=False,
            spot_hedging_on=False,
            updated_time_ms=account.books.opened_ms,
        )

    def switch_position_mode(self, uid: int, mode: int, *, symbol: str = "", coin: str = "") -> None:
        """Switch a symbol's (or a settle coin's) position mode; the engine is one-way only.

        One-way (0) is the mode in force: 110025 not modified. Hedge (3): 110029, as Bybit answers
        for a symbol without hedge mode. `symbol` wins over `coin`; one of them is required.
        """
        self._account(uid)
        linear = [s.spec for s in self._venue.symbols.values() if s.spec.category is Category.LINEAR]
        if symbol:
            if not any(spec.symbol == symbol for spec in linear):
                fail(RetCode.PARAMS_ERROR, SYMBOL_INVALID_MSG)
        elif coin:
            if not any(spec.instrument.settle_coin == coin for spec in linear):
                fail(
                    RetCode.PARAMS_ERROR, f"params error: coin invalid: no linear contract settles in {coin}"
                )
        else:
            fail(RetCode.PARAMS_ERROR, "params error: symbol or coin is required")
        if mode == PositionMode.ONE_WAY:
            fail(RetCode.POSITION_MODE_NOT_MODIFIED, "Position mode is not modified")
        if mode == PositionMode.HEDGE:
            fail(
                RetCode.HEDGE_MODE_NOT_SUPPORTED,
                "Hedge mode is not supported for this symbol: bst sim trades one-way positions only",
            )
        fail(RetCode.PARAMS_ERROR, f"params error: mode invalid: use 0 (one-way) or 3 (hedge), got {mode}")

    def set_margin_mode(self, uid: int, mode: MarginMode) -> tuple[MarginModeReason, ...]:
        """Ask for a margin mode; return why it was refused (empty: done), or 110026 when in force.

        The engine is in cross margin (REGULAR_MARGIN) for good: that mode is not modified (110026);
        isolated and portfolio margin are refused with a reason, as Bybit refuses a switch
        (`retCode` 3400045 with `reasons`).
        """
        self._account(uid)
        if mode is MarginMode.CROSS:
            fail(RetCode.MARGIN_MODE_NOT_MODIFIED, "Cross/isolated margin mode is not modified")
        return (MarginModeReason(str(int(RetCode.SET_MARGIN_MODE_FAILED)), f"{mode.value}: {_NOT_MODELLED}"),)

    def risk_limits(self, symbol: str | None = None) -> list[RiskLimitTier]:
        """Return the risk tier of each linear symbol (or of one; 10001 when not listed)."""
        specs = [s.spec for s in self._venue.symbols.values() if s.spec.category is Category.LINEAR]
        if symbol is not None:
            specs = [spec for spec in specs if spec.symbol == symbol]
            if not specs:
                fail(RetCode.PARAMS_ERROR, SYMBOL_INVALID_MSG)
        return [risk_tier(spec) for spec in specs]


__all__ = ["UTA_2_PRO", "AccountViews", "risk_tier"]
