"""One error tree for the whole product, ordered by what the caller should do.

`BybitAPIError` and its subclasses describe a failed exchange call. Each carries the v5 `retCode`
(None when no envelope arrived, e.g. a timeout), `retMsg`, the HTTP status, and `retryable`:
whether repeating the same request later can succeed (rate limits, transient server faults,
timeouts, broken connections) or must not be repeated (bad parameters, bad credentials).
"""

from __future__ import annotations


class BstError(Exception):
    """Root of every error bst raises on purpose."""


class ConfigError(BstError):
    """A setting or an argument is invalid; the message says which and what is allowed."""


class InvalidInputError(ConfigError):
    """A typed-in value cannot be read (a usage error: the CLI exits 2); the message says what is allowed."""


class OrderValidationError(BstError):
    """An order breaks the instrument's rules and was refused locally, before anything was sent."""


class InvalidNumberError(BstError):
    """A number from outside is not one bst accepts (not numeric, not finite, too large, too precise).

    `reason` is the short cause ("not a finite number"); the message may add which input it was.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason)
        self.reason = reason


class BybitAPIError(BstError):
    """A Bybit v5 call failed."""

    retryable: bool = False
    # True when the request may have reached the exchange and taken effect although no reply came
    # (a timeout, a connection dropped after sending): such a call is never repeated blindly.
    outcome_unknown: bool = False

    def __init__(
        self,
        ret_msg: str,
        *,
        ret_code: int | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
        outcome_unknown: bool | None = None,
    ) -> None:
        super().__init__(ret_msg)
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.http_status = http_status
        if retryable is not None:
            self.retryable = retryable
        if outcome_unknown is not None:
            self.outcome_unknown = outcome_unknown

    def __str__(self) -> str:
        code = self.ret_code if self.ret_code is not None else self.http_status
        label = f" [{code}]" if code is not None else ""
        return f"{type(self).__name__}{label}: {self.ret_msg}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(ret_code={self.ret_code!r}, ret_msg={self.ret_msg!r}, "
            f"http_status={self.http_status!r}, retryable={self.retryable!r})"
        )


class BybitRateLimitError(BybitAPIError):
    """Too many requests (retCode 10006, HTTP 403/429): back off, then retry."""

    retryable = True

    def __init__(
        self,
        ret_msg: str,
        *,
        ret_code: int | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
        reset_at_ms: int | None = None,
    ) -> None:
        super().__init__(ret_msg, ret_code=ret_code, http_status=http_status, retryable=retryable)
        self.reset_at_ms = reset_at_ms


class BybitAuthError(BybitAPIError):
    """Credentials are wrong, expired or lack permission (10003, 10004, 10005, 33004, ...): stop."""


class BybitSignatureError(BybitAuthError):
    """The request signature did not verify (10004)."""


class BybitTimestampError(BybitAPIError):
    """The request timestamp fell outside recv_window (10002): resync the clock, then retry."""

    retryable = True


class BybitInvalidParameterError(BybitAPIError):
    """The request was malformed (10001 and similar): fix the input; never retried."""


class BybitSymbolNotFoundError(BybitInvalidParameterError):
    """The symbol does not exist in this category (10001 `symbol invalid`)."""


class BybitInvalidIntervalError(BybitInvalidParameterError):
    """The kline interval is not one Bybit offers (10001 `interval invalid`)."""


class BybitOrderError(BybitAPIError):
    """The exchange refused an order operation for a business reason (110xxx, 170xxx)."""


class BybitOrderNotFoundError(BybitOrderError):
    """The order does not exist, or is already filled or cancelled (110001, 110008, 170213)."""


class BybitDuplicateOrderError(BybitOrderError):
    """The orderLinkId was used before (110072, 170141): the earlier order exists or existed."""


class BybitServerError(BybitAPIError):
    """The exchange failed on its side (10000, 10016, HTTP 5xx, retCode 429): retry with backoff."""

    retryable = True


class BybitTimeoutError(BybitAPIError):
    """No reply arrived in time; the request may or may not have taken effect."""

    retryable = True
    outcome_unknown = True


class BybitConnectionError(BybitAPIError):
    """The host could not be reached or the connection broke."""

    retryable = True
