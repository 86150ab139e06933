"""HMAC-SHA256 request signing exactly as Bybit v5 specifies.

REST: hex(HMAC(secret, timestamp + api_key + recv_window + payload)), where payload is the query
string exactly as sent (GET) or the raw JSON body bytes exactly as sent (POST).
WebSocket auth: hex(HMAC(secret, "GET/realtime" + expires_ms)).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode


def sign(secret: str, message: str) -> str:
    """Return the lowercase hex HMAC-SHA256 of `message` keyed by `secret`."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def rest_signature(secret: str, timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str) -> str:
    """Return the X-BAPI-SIGN value for one REST request."""
    return sign(secret, f"{timestamp_ms}{api_key}{recv_window_ms}{payload}")


def ws_auth_signature(secret: str, expires_ms: int) -> str:
    """Return the signature for the private WebSocket `auth` op."""
    return sign(secret, f"GET/realtime{expires_ms}")


def query_string(params: dict[str, str]) -> str:
    """Return the query string to both sign and send: keys sorted, values URL-encoded."""
    return urlencode(sorted(params.items()))


def verify_rest_signature(
    secret: str, timestamp_ms: int, api_key: str, recv_window_ms: int, payload: str, signature: str
) -> bool:
    """Return True when `signature` is the valid signature of the request (constant time)."""
    expected = rest_signature(secret, timestamp_ms, api_key, recv_window_ms, payload)
    return hmac.compare_digest(expected, signature.lower())
