"""Signing against the v5 test vectors in ../shared/reference/bybit-v5.md."""

import json

import pytest

from bst.bybit import signing

TS = 1700000000000
KEY = "test_api_key"
SECRET = "test_secret"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            "category=linear&symbol=BTCUSDT",
            "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7",
        ),
        (
            "symbol=BTCUSDT&category=linear",
            "aec43a91b184bc4c5466b1c4badb2742d2dc790885d0b22079f0015acca40073",
        ),
        (
            '{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}',
            "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1",
        ),
        (
            '{"category":"linear","symbol":"BTCUSDT","orderLinkId":"test-order-1"}',
            "ac0533668112246c285a42b95f4a57c6f147e34a15723b88fa356f7687c7c87e",
        ),
        ("", "cfffd774219bfa1d400476f699f830daaedcd3c41faa1dbdda95a8f4dd8170cc"),
    ],
)
def test_rest_signature_matches_reference_vectors(payload: str, expected: str) -> None:
    assert signing.rest_signature(SECRET, TS, KEY, 5000, payload) == expected


def test_ws_auth_signature_matches_reference_vector() -> None:
    assert (
        signing.ws_auth_signature(SECRET, TS)
        == "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
    )


def test_json_dumps_default_separators_reproduce_the_post_vector() -> None:
    body = json.dumps({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"})
    assert signing.rest_signature(SECRET, TS, KEY, 5000, body).startswith("2df4a060")


def test_query_string_is_sorted_and_encoded() -> None:
    assert (
        signing.query_string({"symbol": "BTCUSDT", "category": "linear"}) == "category=linear&symbol=BTCUSDT"
    )
    assert signing.query_string({"cursor": "a=b&c"}) == "cursor=a%3Db%26c"


def test_verify_accepts_valid_and_rejects_tampered_signatures() -> None:
    good = signing.rest_signature(SECRET, TS, KEY, 5000, "a=1")
    assert signing.verify_rest_signature(SECRET, TS, KEY, 5000, "a=1", good)
    assert signing.verify_rest_signature(SECRET, TS, KEY, 5000, "a=1", good.upper())
    assert not signing.verify_rest_signature(SECRET, TS, KEY, 5000, "a=2", good)
    assert not signing.verify_rest_signature("other", TS, KEY, 5000, "a=1", good)
