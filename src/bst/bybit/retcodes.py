"""Bybit v5 retCodes: every code bst sends, reads or decides on, declared once (reference section 4).

The client maps them to the error tree (`bst.bybit.errors`); the simulator and the matching engine
answer with them; nothing else spells a retCode as a bare number.
"""

from __future__ import annotations

from enum import IntEnum


class RetCode(IntEnum):
    """A Bybit v5 `retCode`."""

    OK = 0
    SERVER_TIMEOUT = 10000
    PARAMS_ERROR = 10001
    TIMESTAMP_OUT_OF_WINDOW = 10002
    API_KEY_INVALID = 10003
    SIGNATURE_ERROR = 10004
    PERMISSION_DENIED = 10005
    RATE_LIMIT = 10006
    AUTH_FAILED = 10007
    ACCOUNT_BANNED = 10008
    REGION_RESTRICTED = 10009
    UNMATCHED_IP = 10010
    DUPLICATE_REQUEST = 10014
    SERVER_ERROR = 10016
    ROUTE_NOT_FOUND = 10017
    IP_RATE_LIMIT_DEPRECATED = 10018
    COMPLIANCE = 10024
    TRANSACTIONS_BANNED = 10027
    UNIFIED_ONLY = 10028
    SYMBOL_NOT_WHITELISTED = 10029
    HIGH_LOAD = 429
    API_KEY_EXPIRED = 33004
    ORDER_NOT_EXISTS = 110001
    PRICE_OUT_OF_RANGE = 110003
    WALLET_BALANCE_INSUFFICIENT = 110004
    AVAILABLE_BALANCE_INSUFFICIENT = 110007
    ORDER_ALREADY_CLOSED = 110008
    TOO_MANY_STOP_ORDERS = 110009
    INSUFFICIENT_AVAILABLE_BALANCE = 110012
    REDUCE_ONLY_NOT_SATISFIED = 110017
    TOO_MANY_ACTIVE_ORDERS = 110020
    POSITION_MODE_NOT_MODIFIED = 110025
    MARGIN_MODE_NOT_MODIFIED = 110026
    HEDGE_MODE_NOT_SUPPORTED = 110029
    LEVERAGE_NOT_MODIFIED = 110043
    MARGIN_INSUFFICIENT = 110044
    DUPLICATE_ORDER_LINK_ID = 110072
    TRIGGER_EXPECT_RISING = 110092
    TRIGGER_EXPECT_FALLING = 110093
    NOTIONAL_BELOW_MIN = 110094
    SPOT_SYMBOL_INVALID = 170121
    SPOT_BALANCE_INSUFFICIENT = 170131
    SPOT_PRICE_TOO_HIGH = 170132
    SPOT_PRICE_TOO_LOW = 170133
    SPOT_PRICE_DECIMALS = 170134
    SPOT_QTY_TOO_HIGH = 170135
    SPOT_QTY_TOO_LOW = 170136
    SPOT_QTY_DECIMALS = 170137
    SPOT_VALUE_BELOW_MIN = 170140
    SPOT_DUPLICATE_ORDER_LINK_ID = 170141
    SPOT_INVALID_ORDER_FILTER = 170201
    SPOT_ORDER_NOT_EXISTS = 170213
    SET_MARGIN_MODE_FAILED = 3400045


RATE_LIMIT_CODES = frozenset({RetCode.RATE_LIMIT, RetCode.IP_RATE_LIMIT_DEPRECATED})
AUTH_CODES = frozenset(
    {
        RetCode.API_KEY_INVALID,
        RetCode.PERMISSION_DENIED,
        RetCode.AUTH_FAILED,
        RetCode.ACCOUNT_BANNED,
        RetCode.REGION_RESTRICTED,
        RetCode.UNMATCHED_IP,
        RetCode.COMPLIANCE,
        RetCode.TRANSACTIONS_BANNED,
        RetCode.UNIFIED_ONLY,
        RetCode.API_KEY_EXPIRED,
    }
)
PARAMETER_CODES = frozenset(
    {
        RetCode.PARAMS_ERROR,
        RetCode.DUPLICATE_REQUEST,
        RetCode.ROUTE_NOT_FOUND,
        RetCode.SYMBOL_NOT_WHITELISTED,
        RetCode.SPOT_SYMBOL_INVALID,
    }
)
SERVER_CODES = frozenset({RetCode.SERVER_TIMEOUT, RetCode.SERVER_ERROR, RetCode.HIGH_LOAD})
ORDER_NOT_FOUND_CODES = frozenset(
    {RetCode.ORDER_NOT_EXISTS, RetCode.ORDER_ALREADY_CLOSED, RetCode.SPOT_ORDER_NOT_EXISTS}
)
"""The order does not exist, or is already filled or cancelled: nothing left to amend or cancel."""
DUPLICATE_ORDER_CODES = frozenset({RetCode.DUPLICATE_ORDER_LINK_ID, RetCode.SPOT_DUPLICATE_ORDER_LINK_ID})
"""The orderLinkId was used before: the earlier order exists (or existed)."""

# Messages the simulator sends, and the gist of what Bybit sends, for the two 10001 cases users care
# about most: they get their own error classes so a CLI can say "unknown symbol" precisely.
SYMBOL_INVALID_MSG = "params error: symbol invalid"
INTERVAL_INVALID_MSG = "params error: interval invalid"
ROUTE_NOT_FOUND_MSG = "Route not found."
SET_MARGIN_MODE_FAILED_MSG = "Set margin mode failed"
