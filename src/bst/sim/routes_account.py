"""Private account endpoints of the simulator beyond orders: books, settings, balances, the key.

`/v5/position/closed-pnl` and `/v5/account/transaction-log` read the engine's books
(`bst.engine.ledger`); `/v5/account/info`, `/v5/position/switch-mode` and
`/v5/account/set-margin-mode` its settings (one-way positions, cross margin: asking for those is
"not modified", asking for hedge mode or another margin mode is refused with Bybit's codes and, for
the margin mode, its `reasons`); `/v5/asset/transfer/query-account-coins-balance` the wallet
(UNIFIED; the sim has no funding account, so FUND holds nothing); `/v5/user/query-api` describes the
calling key (never its secret). Every request is authenticated and rate-limited as the order routes
are (`TradingRoutes`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bst.bybit import endpoints
from bst.bybit.codec import params
from bst.bybit.codec.account_info import (
    encode_account_info,
    encode_api_key_info,
    encode_coin_balances,
)
from bst.bybit.codec.envelope import encode_envelope
from bst.bybit.codec.ledger import encode_closed_pnl, encode_transaction
from bst.bybit.codec.orders import page
from bst.bybit.retcodes import SET_MARGIN_MODE_FAILED_MSG, RetCode
from bst.domain.account_info import (
    AccountCoinBalances,
    ApiKeyInfo,
    CoinTransferBalance,
    MarginMode,
)
from bst.domain.errors import BybitAPIError
from bst.domain.ledger import TransactionType
from bst.domain.market import Category
from bst.engine import MatchingEngine
from bst.sim.limits import LimitDecision
from bst.sim.replies import (
    ParamError,
    category_param,
    error,
    int_param,
    json_response,
    ok,
    page_of,
    params_error,
    rate_limited,
    text_param,
)
from bst.sim.state import SimState
from bst.sim.trading_commands import SetMarginMode, SwitchPositionMode
from bst.sim.trading_routes import (
    GENERIC_PARAMS_MSG,
    JSON,
    Action,
    TradingRoutes,
    Work,
    _body_category,
    _RefusedError,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
FUND, UNIFIED = "FUND", "UNIFIED"
KEY_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "ContractTrade": ("Order", "Position"),
    "Spot": ("SpotTrade",),
    "Wallet": ("AccountTransfer",),
    "Options": (),
    "Derivatives": ("DerivativesTrade",),
    "CopyTrading": (),
    "BlockTrade": (),
    "Exchange": (),
    "NFT": (),
    "Affiliate": (),
    "Earn": (),
}
"""What every sim key may do: trade derivatives and spot, read the wallet (nothing else exists)."""
NEVER_EXPIRES_DAYS = -2
"""`deadlineDay` of a key that does not expire (Bybit's recorded sample of such a key)."""
NEVER_EXPIRES_AT = "1970-01-01T00:00:00Z"


def time_window(request: Request, now_ms: int, default_ms: int) -> tuple[int, int]:
    """Return [startTime, endTime] (ms): the last `default_ms` by default, at most 7 days, or 10001."""
    start = int_param(request, "startTime", low=0, high=None, default=None)
    end = int_param(request, "endTime", low=0, high=None, default=None)
    if start is None and end is None:
        return now_ms - default_ms, now_ms
    if start is None:
        start = end - default_ms if end is not None else now_ms - default_ms
    if end is None:
        end = start + default_ms
    if end < start:
        raise ParamError("params error: endTime must not be before startTime")
    if end - start > WEEK_MS:
        raise ParamError("The time range between startTime and endTime cannot exceed 7 days")
    return start, end


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AccountRoutes(TradingRoutes):
    """Handlers of the account endpoints, on the trading desk and its authentication."""

    # --- a private request answered by its own reply (per-item limits, refusal results) -----------

    async def _admitted(self, request: Request, decode: Callable[[str], T]) -> tuple[int, int, T] | Response:
        """Authenticate and decode a private request as `_private` does; return (now, uid, decoded)."""
        now_ms = self.state.now_ms()
        payload = (await request.body()).decode("utf-8", errors="replace")
        try:
            uid = self._authenticate(request, payload, now_ms)
            return now_ms, uid, decode(payload)
        except _RefusedError as e:
            return error(e.code, str(e), now_ms)
        except ParamError as e:
            return params_error(str(e), now_ms)
        except BybitAPIError as e:
            return error(e.ret_code or RetCode.PARAMS_ERROR, e.ret_msg, now_ms)
        except (KeyError, ValueError, TypeError, ArithmeticError):
            log.warning("request not decoded", path=request.url.path, exc_info=True)
            return params_error(GENERIC_PARAMS_MSG, now_ms)

    # --- books -------------------------------------------------------------------------------------

    async def closed_pnl(self, request: Request) -> Response:
        now_ms = self.state.now_ms()

        def prepare(_: str) -> tuple[Category, list[tuple[Category, str]], Work]:
            category = category_param(request, (Category.LINEAR, Category.INVERSE))
            symbol = text_param(request, "symbol")
            start, end = time_window(request, now_ms, WEEK_MS)

            def work(engine: MatchingEngine, uid: int) -> JSON:
                if category is not Category.LINEAR:  # the sim trades no inverse contract
                    return page([], category)
                records = engine.closed_pnl(uid, symbol=symbol, start_ms=start, end_ms=end)
                items = [encode_closed_pnl(r) for r in records]
                high, default = endpoints.CLOSED_PNL_MAX_LIMIT, endpoints.CLOSED_PNL_DEFAULT_LIMIT
                chunk, cursor = page_of(items, request, high=high, default=default)
                return page(chunk, category, cursor)

            return category, [], work

        return await self._private(request, endpoints.CLOSED_PNL, prepare)

    async def transaction_log(self, request: Request) -> Response:
        now_ms = self.state.now_ms()

        def prepare(_: str) -> tuple[None, list[tuple[Category, str]], Work]:
            account_type = text_param(request, "accountType")
            if account_type not in (None, UNIFIED):
                raise ParamError(
                    f"params error: accountType {account_type} has no transaction log (use UNIFIED)"
                )
            category = category_param(request, tuple(Category)) if text_param(request, "category") else None
            currency, base = text_param(request, "currency"), text_param(request, "baseCoin")
            kind_text = text_param(request, "type")
            try:
                kind = TransactionType(kind_text) if kind_text else None
            except ValueError:
                raise ParamError(f"params error: type invalid: {kind_text}") from None
            start, end = time_window(request, now_ms, DAY_MS)

            def work(engine: MatchingEngine, uid: int) -> JSON:
                rows = engine.transaction_log(
                    uid, category=category, currency=currency, kind=kind, start_ms=start, end_ms=end
                )
                if base is not None:
                    listed = {s.symbol: s.instrument.base_coin for s in engine.symbols()}
                    rows = [r for r in rows if listed.get(r.symbol) == base]
                high, default = endpoints.TRANSACTION_LOG_MAX_LIMIT, endpoints.TRANSACTION_LOG_DEFAULT_LIMIT
                chunk, cursor = page_of(
                    [encode_transaction(r) for r in rows], request, high=high, default=default
                )
                return {"list": chunk, "nextPageCursor": cursor}

            return None, [], work

        return await self._private(request, endpoints.TRANSACTION_LOG, prepare)

    # --- settings ----------------------------------------------------------------------------------

    async def account_info(self, request: Request) -> Response:
        def prepare(_: str) -> tuple[None, list[tuple[Category, str]], Work]:
            return None, [], lambda engine, uid: encode_account_info(engine.account_info(uid))

        return await self._private(request, endpoints.ACCOUNT_INFO, prepare)

    async def switch_mode(self, request: Request) -> Response:
        def prepare(payload: str) -> tuple[Category, list[tuple[Category, str]], Action]:
            body = params.decode_body(payload.encode())
            category = _body_category(body, (Category.LINEAR,))
            symbol, coin = params.text(body, "symbol"), params.text(body, "coin")
            mode = params.integer(body.get("mode"), "mode")
            return category, [], SwitchPositionMode(mode, symbol, coin)

        return await self._private(request, endpoints.SWITCH_POSITION_MODE, prepare)

    async def set_margin_mode(self, request: Request) -> Response:
        """POST /v5/account/set-margin-mode: refusals carry `result.reasons`, as Bybit's do."""

        def decode(payload: str) -> MarginMode:
            body = params.decode_body(payload.encode())
            return params.required_choice(body, "setMarginMode", MarginMode)

        admitted = await self._admitted(request, decode)
        if isinstance(admitted, Response):
            return admitted
        now_ms, uid, mode = admitted
        decision = self.state.check_uid_limit(str(uid), endpoints.SET_MARGIN_MODE.group)
        if not decision.allowed:
            return rate_limited(decision, now_ms)
        try:
            try:
                result, lsn = await run_in_threadpool(self.desk.execute, uid, SetMarginMode(mode))
            except BybitAPIError:
                await self.desk.durable()  # a refusal reflects the state too: say it once that is safe
                raise
            await self.desk.durable(lsn)
        except BybitAPIError as e:
            headers = decision.header_dict()
            return error(e.ret_code or RetCode.PARAMS_ERROR, e.ret_msg, now_ms, headers=headers)
        if not result["reasons"]:
            return ok(result, now_ms, headers=decision.header_dict())
        return refusal_with_result(
            RetCode.SET_MARGIN_MODE_FAILED, SET_MARGIN_MODE_FAILED_MSG, result, now_ms, decision
        )

    # --- balances and the key ------------------------------------------------------------------------

    async def coins_balance(self, request: Request) -> Response:
        def prepare(_: str) -> tuple[None, list[tuple[Category, str]], Work]:
            account_type = text_param(request, "accountType", required=True)
            if account_type not in (UNIFIED, FUND):
                raise ParamError(
                    f"params error: accountType {account_type} is not supported by the simulator "
                    "(use UNIFIED or FUND)"
                )
            coins = [c for c in (text_param(request, "coin") or "").split(",") if c]
            if account_type == UNIFIED and not coins:
                raise ParamError("params error: coin is required for accountType UNIFIED")
            if len(coins) > 10:
                raise ParamError("params error: coin takes at most 10 coins")

            def work(engine: MatchingEngine, uid: int) -> JSON:
                rows: list[CoinTransferBalance] = []
                wallet = engine.wallet(uid, coins) if account_type == UNIFIED else None
                for coin in coins:
                    held = wallet.coin(coin) if wallet is not None else None
                    if held is None:
                        rows.append(CoinTransferBalance(coin, Decimal(0), Decimal(0)))
                    else:
                        rows.append(
                            CoinTransferBalance(coin, held.wallet_balance, held.available_to_withdraw)
                        )
                return encode_coin_balances(AccountCoinBalances(str(uid), str(account_type), tuple(rows)))

            return None, [], work

        return await self._private(request, endpoints.COINS_BALANCE, prepare)

    async def api_key_info(self, request: Request) -> Response:
        api_key = request.headers.get("x-bapi-api-key", "")

        def prepare(_: str) -> tuple[None, list[tuple[Category, str]], Work]:
            def work(engine: MatchingEngine, uid: int) -> JSON:
                created = _iso(engine.account_info(uid).updated_time_ms)
                info = ApiKeyInfo(
                    key_id=str(zlib.crc32(api_key.encode())),
                    note="bst sim",
                    api_key=api_key,
                    read_only=False,
                    permissions=dict(KEY_PERMISSIONS),
                    ips=("*",),
                    key_type=1,
                    deadline_day=NEVER_EXPIRES_DAYS,
                    expired_at=NEVER_EXPIRES_AT,
                    created_at=created,
                    user_id=uid,
                    is_master=True,
                    vip_level="No VIP",
                )
                return encode_api_key_info(info)

            return None, [], work

        return await self._private(request, endpoints.API_KEY_INFO, prepare)


def refusal_with_result(
    code: int, message: str, result: JSON, now_ms: int, decision: LimitDecision
) -> Response:
    """Return a refusal that still carries a `result` (set-margin-mode's `reasons`), in HTTP 200."""
    body = encode_envelope(result, now_ms, ret_code=code, ret_msg=message)
    return json_response(body, headers=decision.header_dict())


def routes(state: SimState) -> Sequence[BaseRoute]:
    """Return the account routes."""
    handlers = AccountRoutes(state)
    table: list[tuple[endpoints.Endpoint, Callable[[Request], Any]]] = [
        (endpoints.CLOSED_PNL, handlers.closed_pnl),
        (endpoints.TRANSACTION_LOG, handlers.transaction_log),
        (endpoints.ACCOUNT_INFO, handlers.account_info),
        (endpoints.SWITCH_POSITION_MODE, handlers.switch_mode),
        (endpoints.SET_MARGIN_MODE, handlers.set_margin_mode),
        (endpoints.COINS_BALANCE, handlers.coins_balance),
        (endpoints.API_KEY_INFO, handlers.api_key_info),
    ]
    return [Route(e.path, endpoint, methods=[e.method]) for e, endpoint in table]
