"""`bst sim` over loopback: Bybit's shapes (against recorded payloads), kline semantics, errors, admin."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bst.bybit.codec.market import parse_klines, parse_orderbook, parse_recent_trades, parse_ticker
from bst.domain.market import MINUTE_MS, Category, Interval
from bst.sim.catalog import utc_ms
from bst.sim.columns import PriceKind
from bst.sim.tape import recent_prints

NOW = 1_717_243_230_500
HOUR = 3_600_000
# ccxt's recorder turns every number into a string; only these envelope/book fields are affected.
CCXT_NORMALISED = {"retCode", "time", "ts", "u", "seq"}


def get(sim: Any, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{sim.base_url}{path}", params=params, timeout=10.0)


def body(sim: Any, path: str, **params: Any) -> dict[str, Any]:
    reply = get(sim, path, **params)
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def result(sim: Any, path: str, **params: Any) -> dict[str, Any]:
    data = body(sim, path, **params)
    assert data["retCode"] == 0, data
    assert data["retMsg"] == "OK"
    assert data["retExtInfo"] == {}
    assert data["time"] == NOW
    out: dict[str, Any] = data["result"]
    return out


def fixture(fixtures_dir: Path, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((fixtures_dir / "rest" / name).read_text())
    return loaded


def assert_same_shape(ours: Any, recorded: Any, where: str = "$", *, ccxt: bool = False) -> None:
    """Every key the recorded payload has, ours has too, with the same JSON type (lists by first item)."""
    if isinstance(recorded, dict):
        assert isinstance(ours, dict), where
        for key, value in recorded.items():
            if ccxt and key == "nextPageCursor" and where.endswith("]"):
                continue  # injected into list items by ccxt's recorder, not on the wire
            assert key in ours, f"{where}.{key} missing"
            if ccxt and key in CCXT_NORMALISED:
                continue
            assert_same_shape(ours[key], value, f"{where}.{key}", ccxt=ccxt)
    elif isinstance(recorded, list):
        assert isinstance(ours, list), where
        if recorded and ours:
            assert_same_shape(ours[0], recorded[0], f"{where}[0]", ccxt=ccxt)
    elif recorded is None:
        return
    else:
        assert type(ours) is type(recorded), f"{where}: {type(ours).__name__} vs {type(recorded).__name__}"


@pytest.mark.parametrize(
    ("name", "path", "params", "ccxt"),
    [
        ("market_time.json", "/v5/market/time", {}, False),
        (
            "market_kline_linear_btcusdt_D_testnet.json",
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "D"},
            False,
        ),
        (
            "market_kline_spot_btcusdt_D_testnet.json",
            "/v5/market/kline",
            {"category": "spot", "symbol": "BTCUSDT", "interval": "D", "limit": 3},
            False,
        ),
        (
            "ccxt_market_kline_linear_btcusdt_60.json",
            "/v5/market/kline",
            {"category": "linear", "symbol": "BTCUSDT", "interval": "60"},
            True,
        ),
        (
            "ccxt_market_orderbook_linear_btcusdt.json",
            "/v5/market/orderbook",
            {"category": "linear", "symbol": "BTCUSDT", "limit": 2},
            True,
        ),
        (
            "ccxt_market_recent_trade_linear_btcusdt.json",
            "/v5/market/recent-trade",
            {"category": "linear", "symbol": "BTCUSDT", "limit": 1},
            True,
        ),
        (
            "ccxt_market_tickers_linear_btcusdt.json",
            "/v5/market/tickers",
            {"category": "linear", "symbol": "BTCUSDT"},
            True,
        ),
        (
            "market_tickers_spot_btcusdt.json",
            "/v5/market/tickers",
            {"category": "spot", "symbol": "BTCUSDT"},
            False,
        ),
        ("market_instruments_info_linear.json", "/v5/market/instruments-info", {"category": "linear"}, False),
        ("market_instruments_info_spot.json", "/v5/market/instruments-info", {"category": "spot"}, False),
    ],
)
def test_replies_have_the_recorded_bybit_shape(
    sim: Any, fixtures_dir: Path, name: str, path: str, params: dict[str, Any], ccxt: bool
) -> None:
    recorded = fixture(fixtures_dir, name)

    ours = body(sim, path, **params)

    assert_same_shape(ours, recorded, ccxt=ccxt)
    assert ours["retCode"] == 0


def test_kline_rows_are_seven_strings_newest_first_and_equal_the_generator(sim: Any) -> None:
    end = NOW - NOW % HOUR - HOUR
    start = end - 23 * HOUR

    got = result(
        sim, "/v5/market/kline", category="linear", symbol="BTCUSDT", interval="60", start=start, end=end
    )

    rows = got["list"]
    assert got["category"] == "linear"
    assert got["symbol"] == "BTCUSDT"
    assert len(rows) == 24
    assert all(len(r) == 7 and all(isinstance(v, str) for v in r) for r in rows)
    assert [int(r[0]) for r in rows] == list(range(end, start - 1, -HOUR))
    assert parse_klines(got) == sim.generator.bars("BTCUSDT", Interval.H1, start, end)


def test_kline_keeps_the_newest_limit_bars_ending_at_end(sim: Any) -> None:
    end = utc_ms("2024-05-20")
    start = end - 1000 * MINUTE_MS

    got = result(sim, "/v5/market/kline", symbol="ETHUSDT", interval="1", start=start, end=end, limit=10)

    assert [int(r[0]) for r in got["list"]] == [end - i * MINUTE_MS for i in range(10)]


def test_kline_end_defaults_to_now_and_the_live_bar_is_partial(sim: Any) -> None:
    got = result(sim, "/v5/market/kline", category="spot", symbol="SOLUSDT", interval="5", limit=3)

    (live, *_) = got["list"]
    minute = NOW - NOW % MINUTE_MS
    assert int(live[0]) == NOW - NOW % (5 * MINUTE_MS)
    assert Decimal(live[4]) == sim.generator.last_price("SOLUSDT", NOW, category=Category.SPOT)
    assert (
        parse_klines(got)[-1]
        == sim.generator.bars(
            "SOLUSDT", Interval.M5, minute - 4 * MINUTE_MS, NOW, category=Category.SPOT, now_ms=NOW
        )[-1]
    )


def test_kline_beyond_now_is_capped_and_before_listing_is_empty(sim: Any) -> None:
    future = result(
        sim,
        "/v5/market/kline",
        symbol="BTCUSDT",
        interval="D",
        start=utc_ms("2024-05-31"),
        end=NOW + 10 * 86_400_000,
    )
    before = result(
        sim,
        "/v5/market/kline",
        symbol="SOLUSDT",
        interval="D",
        start=utc_ms("2020-01-01"),
        end=utc_ms("2021-01-01"),
    )

    assert [int(r[0]) for r in future["list"]] == [utc_ms("2024-06-01"), utc_ms("2024-05-31")]
    assert before["list"] == []


@pytest.mark.parametrize("path", ["/v5/market/mark-price-kline", "/v5/market/index-price-kline"])
def test_price_klines_are_five_strings_from_the_generator(sim: Any, path: str) -> None:
    got = result(sim, path, category="inverse", symbol="BTCUSD", interval="15", limit=4)

    kind = PriceKind.MARK if "mark-price" in path else PriceKind.INDEX
    truth = sim.generator.price_bar_columns(
        kind, "BTCUSD", Interval.M15, NOW - HOUR, NOW, category=Category.INVERSE, now_ms=NOW
    ).tail(4)
    assert [len(r) for r in got["list"]] == [5, 5, 5, 5]
    assert [[Decimal(v) for v in r[1:]] for r in reversed(got["list"])] == [
        [b.open, b.high, b.low, b.close] for b in truth.to_price_bars()
    ]


def test_instruments_page_with_a_cursor(sim: Any) -> None:
    everything = result(sim, "/v5/market/instruments-info", category="linear")["list"]
    pages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = result(sim, "/v5/market/instruments-info", category="linear", limit=2, cursor=cursor)
        pages.extend(page["list"])
        cursor = page["nextPageCursor"]
        if not cursor:
            break

    assert pages == everything
    assert [i["symbol"] for i in everything] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"]
    assert everything[0]["priceScale"] == "2"
    assert everything[0]["launchTime"] == str(utc_ms("2020-03-26"))


def test_tickers_orderbook_and_trades_agree_with_the_generator(sim: Any) -> None:
    gen = sim.generator
    ticker = parse_ticker(result(sim, "/v5/market/tickers", category="linear", symbol="ETHUSDT")["list"][0])
    book = parse_orderbook(result(sim, "/v5/market/orderbook", category="linear", symbol="ETHUSDT", limit=50))
    trades = parse_recent_trades(result(sim, "/v5/market/recent-trade", category="linear", symbol="ETHUSDT"))
    all_linear = result(sim, "/v5/market/tickers", category="linear")["list"]

    assert ticker.last_price == gen.last_price("ETHUSDT", NOW) == trades[-1].price
    assert (ticker.bid1_price, ticker.ask1_price) == (book.bids[0][0], book.asks[0][0])
    assert book == gen.book_snapshot("ETHUSDT", NOW, 50)
    assert len(book.bids) == 50
    assert len(trades) == 500
    assert trades == recent_prints(gen, "ETHUSDT", NOW, 500, category=Category.LINEAR)  # the public tape
    assert ticker.low_price_24h <= ticker.last_price <= ticker.high_price_24h
    assert [t["symbol"] for t in all_linear] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"]


def test_time_reports_the_sim_clock(sim: Any) -> None:
    got = result(sim, "/v5/market/time")

    assert got == {"timeSecond": str(NOW // 1000), "timeNano": str(NOW * 1_000_000)}


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/v5/market/kline", {"symbol": "NOPEUSDT", "interval": "1"}, "params error: symbol invalid"),
        ("/v5/market/kline", {"symbol": "BTCUSDT", "interval": "2"}, "params error: interval invalid"),
        (
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "1", "limit": 1001},
            "params error: limit must be between 1 and 1000, got 1001",
        ),
        (
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "1", "limit": "ten"},
            "params error: limit invalid: not a number",
        ),
        (
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "1", "limit": "1e400"},
            "params error: limit invalid: too large (at most 18 digits before the decimal point)",
        ),
        (
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "1", "limit": "2.5"},
            "params error: limit invalid: not an integer",
        ),
        (
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "1", "start": -2208988800000},
            "params error: start must be at least 0, got -2208988800000",
        ),
        (
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "1", "end": "NaN"},
            "params error: end invalid: not a finite number",
        ),
        ("/v5/market/kline", {"interval": "1"}, "params error: missing required parameter: symbol"),
        ("/v5/market/kline", {"symbol": "BTCUSDT"}, "params error: missing required parameter: interval"),
        (
            "/v5/market/kline",
            {"category": "option", "symbol": "BTCUSDT", "interval": "1"},
            "params error: category option is not supported by this endpoint",
        ),
        (
            "/v5/market/kline",
            {"symbol": "BTCUSDT", "interval": "1", "start": 5, "end": 4},
            "params error: start (5) must not be after end (4)",
        ),
        (
            "/v5/market/mark-price-kline",
            {"category": "spot", "symbol": "BTCUSDT", "interval": "1"},
            "params error: category spot is not supported by this endpoint",
        ),
        ("/v5/market/orderbook", {"symbol": "BTCUSDT"}, "params error: missing required parameter: category"),
        ("/v5/market/orderbook", {"category": "linear", "symbol": "BTCUSD"}, "params error: symbol invalid"),
        (
            "/v5/market/recent-trade",
            {"category": "spot", "symbol": "BTCUSDT", "limit": 61},
            "params error: limit must be between 1 and 60, got 61",
        ),
        ("/v5/market/tickers", {"category": "futures"}, "params error: category invalid: futures"),
        (
            "/v5/market/instruments-info",
            {"category": "linear", "cursor": "%%%"},
            "params error: cursor invalid",
        ),
        (
            "/v5/market/instruments-info",
            {"category": "linear", "cursor": "b2Zmc2V0PS0x"},  # base64 of "offset=-1"
            "params error: cursor invalid",
        ),
    ],
)
def test_bad_input_gets_10001_with_a_clear_message(
    sim: Any, path: str, params: dict[str, Any], message: str
) -> None:
    reply = get(sim, path, **params)

    assert reply.status_code == 200
    assert reply.json() == {"retCode": 10001, "retMsg": message, "result": {}, "retExtInfo": {}, "time": NOW}


def test_unknown_path_is_404_and_a_symbol_listed_later_is_invalid_now(sim: Any) -> None:
    from bst.domain.clock import ManualClock

    sim.set_clock(ManualClock(utc_ms("2021-01-01")))

    assert get(sim, "/v5/market/no-such-thing").status_code == 404
    assert (
        body(sim, "/v5/market/kline", symbol="SOLUSDT", interval="1")["retMsg"]
        == "params error: symbol invalid"
    )
    assert [i["symbol"] for i in result_at(sim, "/v5/market/instruments-info", category="linear")] == [
        "BTCUSDT",
        "ETHUSDT",
    ]


def result_at(sim: Any, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body(sim, path, **params)["result"]["list"]
    return items


def test_advancing_the_manual_clock_moves_the_market(sim: Any) -> None:
    first = result(sim, "/v5/market/kline", symbol="BTCUSDT", interval="1", limit=1)["list"][0]
    sim.clock.advance(45.0)
    moved = body(sim, "/v5/market/kline", symbol="BTCUSDT", interval="1", limit=2)["result"]["list"]

    assert moved[1][:2] == first[:2]
    assert Decimal(moved[1][5]) > Decimal(first[5])
    assert int(moved[0][0]) == int(first[0]) + MINUTE_MS
