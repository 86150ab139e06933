"""retCode and HTTP status mapping follows the real v5 API, not the seed notes."""

import pytest

from bst.bybit.codec.envelope import decode_envelope
from bst.bybit.errors import error_for_code, error_for_http_status
from bst.domain import errors as e


@pytest.mark.parametrize(
    ("code", "msg", "cls", "retryable"),
    [
        (10006, "Too many visits!", e.BybitRateLimitError, True),
        (10004, "error sign!", e.BybitSignatureError, False),
        (10003, "API key is invalid.", e.BybitAuthError, False),
        (33004, "api key expired", e.BybitAuthError, False),
        (10002, "invalid request, please check your server timestamp", e.BybitTimestampError, True),
        (10001, "params error: symbol invalid", e.BybitSymbolNotFoundError, False),
        (10001, "params error: interval invalid", e.BybitInvalidIntervalError, False),
        (10001, "params error: limit out of range", e.BybitInvalidParameterError, False),
        (10016, "Internal server error", e.BybitServerError, True),
        (10000, "Server Timeout", e.BybitServerError, True),
        (110007, "ab not enough for new order", e.BybitOrderError, False),
        (99999, "something new", e.BybitAPIError, False),
    ],
)
def test_error_for_code(code: int, msg: str, cls: type[e.BybitAPIError], retryable: bool) -> None:
    err = error_for_code(code, msg)
    assert type(err) is cls
    assert err.ret_code == code
    assert err.ret_msg == msg
    assert err.retryable is retryable


def test_seed_codes_are_not_given_the_seed_meanings() -> None:
    assert not isinstance(error_for_code(10004, "x"), e.BybitRateLimitError)
    assert not isinstance(error_for_code(10016, "x"), e.BybitSymbolNotFoundError)
    assert not isinstance(error_for_code(33004, "x"), e.BybitInvalidIntervalError)


def test_str_reads_like_the_seed_example() -> None:
    assert str(error_for_code(10006, "Too many visits!")) == "BybitRateLimitError [10006]: Too many visits!"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (403, e.BybitRateLimitError),
        (429, e.BybitRateLimitError),
        (401, e.BybitAuthError),
        (500, e.BybitServerError),
        (502, e.BybitServerError),
        (404, e.BybitInvalidParameterError),
        (400, e.BybitInvalidParameterError),
    ],
)
def test_error_for_http_status(status: int, cls: type[e.BybitAPIError]) -> None:
    err = error_for_http_status(status, "body")
    assert type(err) is cls
    assert err.http_status == status


def test_envelope_accepts_the_lenient_success_shapes() -> None:
    env = decode_envelope({"retCode": "0", "retMsg": "", "result": {"a": 1}, "time": "17"})
    assert (env.ret_code, env.result, env.time_ms, env.ret_ext_info) == (0, {"a": 1}, 17, {})
    assert decode_envelope({"retCode": 0, "retMsg": "success", "result": None}).result == {}


def test_envelope_raises_the_mapped_error() -> None:
    with pytest.raises(e.BybitRateLimitError, match=r"\[10006\]"):
        decode_envelope({"retCode": 10006, "retMsg": "Too many visits!", "result": {}})


def test_envelope_rejects_non_envelopes() -> None:
    with pytest.raises(e.BybitAPIError, match="not a Bybit v5 envelope"):
        decode_envelope(["nope"])
