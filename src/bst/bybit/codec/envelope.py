"""The v5 response envelope: `{retCode, retMsg, result, retExtInfo, time}`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bst.bybit.errors import error_for_code
from bst.domain.errors import BybitAPIError

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded v5 reply; `result` is the payload of a successful call."""

    ret_code: int
    ret_msg: str
    result: JSON
    time_ms: int | None
    ret_ext_info: JSON = field(default_factory=dict)


def decode_envelope(body: Any, http_status: int | None = 200) -> Envelope:
    """Return the envelope of a v5 reply, raising the mapped error when retCode != 0.

    Lenient where Bybit is inconsistent: `retCode`/`time` may arrive as strings, `retExtInfo` may be
    missing, and a success `retMsg` may be "OK", "success", "SUCCESS" or "".
    """
    if not isinstance(body, dict) or "retCode" not in body:
        raise BybitAPIError(f"reply is not a Bybit v5 envelope: {str(body)[:120]!r}", http_status=http_status)
    try:
        ret_code = int(body["retCode"])
    except (TypeError, ValueError):
        raise BybitAPIError(f"non-numeric retCode {body['retCode']!r}", http_status=http_status) from None
    ret_msg = str(body.get("retMsg", ""))
    if ret_code != 0:
        raise error_for_code(ret_code, ret_msg, http_status)
    result = body.get("result")
    raw_time = body.get("time")
    return Envelope(
        ret_code=0,
        ret_msg=ret_msg,
        result=result if isinstance(result, dict) else {},
        time_ms=int(raw_time) if raw_time not in (None, "") else None,
        ret_ext_info=body.get("retExtInfo") or {},
    )


def encode_envelope(
    result: JSON, time_ms: int, ret_code: int = 0, ret_msg: str = "OK", ret_ext_info: JSON | None = None
) -> JSON:
    """Return a v5 reply body (used by the simulator); `retExtInfo` is {} unless given (batches)."""
    return {
        "retCode": ret_code,
        "retMsg": ret_msg,
        "result": result,
        "retExtInfo": ret_ext_info or {},
        "time": time_ms,
    }
