"""The v5 endpoint table: paths, parameter limits and rate-limit groups, shared by client and sim."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bst.domain.market import Category, Interval

MAINNET_REST = "https://api.bybit.com"
TESTNET_REST = "https://api-testnet.bybit.com"
DEMO_REST = "https://api-demo.bybit.com"
MAINNET_WS = "wss://stream.bybit.com"
TESTNET_WS = "wss://stream-testnet.bybit.com"
DEMO_WS = "wss://stream-demo.bybit.com"
SIM_DEFAULT_PORT = 8765

KLINE_MAX_LIMIT = 1000
KLINE_DEFAULT_LIMIT = 200
INSTRUMENTS_MAX_LIMIT = 1000
INSTRUMENTS_DEFAULT_LIMIT = 500

IP_LIMIT_REQUESTS = 600
IP_LIMIT_WINDOW_S = 5.0

DEFAULT_RECV_WINDOW_MS = 5000
"""How long after its timestamp a signed request stays valid when X-BAPI-RECV-WINDOW is not sent."""
FUTURE_TOLERANCE_MS = 1000
"""How far ahead of the server clock a signed request's timestamp may be (Bybit: 1 s)."""

PUBLIC_WS_PATH = "/v5/public/{category}"
"""The public stream of one category (spot, linear, inverse, option)."""
PRIVATE_WS_PATH = "/v5/private"
"""The authenticated private stream (orders, executions, positions, wallet)."""


def public_ws_url(base_url: str, category: Category) -> str:
    """Return the public stream URL of `category` under a WebSocket base, e.g. wss://stream.bybit.com."""
    return base_url.rstrip("/") + PUBLIC_WS_PATH.format(category=category.value)


def private_ws_url(base_url: str) -> str:
    """Return the private stream URL under a WebSocket base."""
    return base_url.rstrip("/") + PRIVATE_WS_PATH


class RateGroup(StrEnum):
    """Endpoint groups that share one rate budget."""

    PUBLIC = "public"
    ORDER_CREATE = "order_create"
    ORDER_AMEND = "order_amend"
    ORDER_CANCEL = "order_cancel"
    ORDER_CANCEL_ALL = "order_cancel_all"
    ORDER_QUERY = "order_query"
    POSITION_QUERY = "position_query"
    ACCOUNT_QUERY = "account_query"
    POSITION_SET = "position_set"
    ORDER_CREATE_BATCH = "order_create_batch"
    ORDER_AMEND_BATCH = "order_amend_batch"
    ORDER_CANCEL_BATCH = "order_cancel_batch"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST endpoint."""

    method: str
    path: str
    group: RateGroup
    signed: bool


SERVER_TIME = Endpoint("GET", "/v5/market/time", RateGroup.PUBLIC, False)
KLINE = Endpoint("GET", "/v5/market/kline", RateGroup.PUBLIC, False)
MARK_PRICE_KLINE = Endpoint("GET", "/v5/market/mark-price-kline", RateGroup.PUBLIC, False)
INDEX_PRICE_KLINE = Endpoint("GET", "/v5/market/index-price-kline", RateGroup.PUBLIC, False)
INSTRUMENTS_INFO = Endpoint("GET", "/v5/market/instruments-info", RateGroup.PUBLIC, False)
TICKERS = Endpoint("GET", "/v5/market/tickers", RateGroup.PUBLIC, False)
ORDERBOOK = Endpoint("GET", "/v5/market/orderbook", RateGroup.PUBLIC, False)
RECENT_TRADE = Endpoint("GET", "/v5/market/recent-trade", RateGroup.PUBLIC, False)

ORDER_CREATE = Endpoint("POST", "/v5/order/create", RateGroup.ORDER_CREATE, True)
ORDER_AMEND = Endpoint("POST", "/v5/order/amend", RateGroup.ORDER_AMEND, True)
ORDER_CANCEL = Endpoint("POST", "/v5/order/cancel", RateGroup.ORDER_CANCEL, True)
ORDER_CANCEL_ALL = Endpoint("POST", "/v5/order/cancel-all", RateGroup.ORDER_CANCEL_ALL, True)
ORDER_REALTIME = Endpoint("GET", "/v5/order/realtime", RateGroup.ORDER_QUERY, True)
ORDER_HISTORY = Endpoint("GET", "/v5/order/history", RateGroup.ORDER_QUERY, True)
EXECUTION_LIST = Endpoint("GET", "/v5/execution/list", RateGroup.ORDER_QUERY, True)
POSITION_LIST = Endpoint("GET", "/v5/position/list", RateGroup.POSITION_QUERY, True)
SET_LEVERAGE = Endpoint("POST", "/v5/position/set-leverage", RateGroup.POSITION_SET, True)
TRADING_STOP = Endpoint("POST", "/v5/position/trading-stop", RateGroup.POSITION_SET, True)
WALLET_BALANCE = Endpoint("GET", "/v5/account/wallet-balance", RateGroup.ACCOUNT_QUERY, True)
FEE_RATE = Endpoint("GET", "/v5/account/fee-rate", RateGroup.ACCOUNT_QUERY, True)
ORDER_CREATE_BATCH = Endpoint("POST", "/v5/order/create-batch", RateGroup.ORDER_CREATE_BATCH, True)
ORDER_AMEND_BATCH = Endpoint("POST", "/v5/order/amend-batch", RateGroup.ORDER_AMEND_BATCH, True)
ORDER_CANCEL_BATCH = Endpoint("POST", "/v5/order/cancel-batch", RateGroup.ORDER_CANCEL_BATCH, True)
CLOSED_PNL = Endpoint("GET", "/v5/position/closed-pnl", RateGroup.POSITION_QUERY, True)
SWITCH_POSITION_MODE = Endpoint("POST", "/v5/position/switch-mode", RateGroup.POSITION_SET, True)
SET_MARGIN_MODE = Endpoint("POST", "/v5/account/set-margin-mode", RateGroup.POSITION_SET, True)
ACCOUNT_INFO = Endpoint("GET", "/v5/account/info", RateGroup.ACCOUNT_QUERY, True)
TRANSACTION_LOG = Endpoint("GET", "/v5/account/transaction-log", RateGroup.ACCOUNT_QUERY, True)
COINS_BALANCE = Endpoint(
    "GET", "/v5/asset/transfer/query-account-coins-balance", RateGroup.ACCOUNT_QUERY, True
)
API_KEY_INFO = Endpoint("GET", "/v5/user/query-api", RateGroup.ACCOUNT_QUERY, True)
FUNDING_HISTORY = Endpoint("GET", "/v5/market/funding/history", RateGroup.PUBLIC, False)
OPEN_INTEREST = Endpoint("GET", "/v5/market/open-interest", RateGroup.PUBLIC, False)
RISK_LIMIT = Endpoint("GET", "/v5/market/risk-limit", RateGroup.PUBLIC, False)

BATCH_MAX_ITEMS: dict[Category, int] = {
    Category.LINEAR: 20,
    Category.INVERSE: 20,
    Category.OPTION: 20,
    Category.SPOT: 10,
}
"""The most orders one batch create/amend/cancel request may carry."""
FUNDING_HISTORY_MAX_LIMIT = 200
OPEN_INTEREST_MAX_LIMIT = 200
OPEN_INTEREST_DEFAULT_LIMIT = 50
CLOSED_PNL_MAX_LIMIT = 100
CLOSED_PNL_DEFAULT_LIMIT = 50
TRANSACTION_LOG_MAX_LIMIT = 50
TRANSACTION_LOG_DEFAULT_LIMIT = 20
RISK_LIMIT_PAGE = 15
"""Symbols per page of `/v5/market/risk-limit` without a symbol (Bybit pages linear by 15)."""

# Per-UID per-second limits of the default tier for linear/inverse (spot where it differs is
# handled by the caller); public endpoints only have the IP limit.
UID_LIMITS_PER_S: dict[RateGroup, int] = {
    RateGroup.ORDER_CREATE: 10,
    RateGroup.ORDER_AMEND: 10,
    RateGroup.ORDER_CANCEL: 10,
    RateGroup.ORDER_CANCEL_ALL: 10,
    RateGroup.ORDER_QUERY: 50,
    RateGroup.POSITION_QUERY: 50,
    RateGroup.ACCOUNT_QUERY: 50,
    RateGroup.POSITION_SET: 10,
    RateGroup.ORDER_CREATE_BATCH: 10,
    RateGroup.ORDER_AMEND_BATCH: 10,
    RateGroup.ORDER_CANCEL_BATCH: 10,
}
"""Batch groups count each order of a batch (not each request), from their own budget."""

KLINE_CATEGORIES = frozenset({Category.SPOT, Category.LINEAR, Category.INVERSE})
ALL_INTERVALS = tuple(Interval)

_BY_PATH: dict[str, Endpoint] = {
    e.path: e
    for e in (
        SERVER_TIME,
        KLINE,
        MARK_PRICE_KLINE,
        INDEX_PRICE_KLINE,
        INSTRUMENTS_INFO,
        TICKERS,
        ORDERBOOK,
        RECENT_TRADE,
        ORDER_CREATE,
        ORDER_AMEND,
        ORDER_CANCEL,
        ORDER_CANCEL_ALL,
        ORDER_REALTIME,
        ORDER_HISTORY,
        EXECUTION_LIST,
        POSITION_LIST,
        SET_LEVERAGE,
        TRADING_STOP,
        WALLET_BALANCE,
        FEE_RATE,
        ORDER_CREATE_BATCH,
        ORDER_AMEND_BATCH,
        ORDER_CANCEL_BATCH,
        CLOSED_PNL,
        SWITCH_POSITION_MODE,
        SET_MARGIN_MODE,
        ACCOUNT_INFO,
        TRANSACTION_LOG,
        COINS_BALANCE,
        API_KEY_INFO,
        FUNDING_HISTORY,
        OPEN_INTEREST,
        RISK_LIMIT,
    )
}


def endpoint_for_path(path: str) -> Endpoint | None:
    """Return the endpoint served at `path`, or None for a path this table does not know."""
    return _BY_PATH.get(path)
