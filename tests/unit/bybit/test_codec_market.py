"""Market parsers against the real recorded payloads in ../shared/fixtures/bybit/rest/.

ccxt-extracted files have every number turned into a string (SOURCES.md); the parsers accept both.
"""

import dataclasses
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.bybit.codec import market as codec
from bst.bybit.codec.envelope import decode_envelope
from bst.domain.market import Bar, Category, Side


def load(fixtures_dir: Path, name: str) -> dict[str, Any]:
    body = json.loads((fixtures_dir / "rest" / name).read_text())
    return decode_envelope(body).result


def test_linear_klines_come_back_oldest_first_with_exact_values(fixtures_dir: Path) -> None:
    bars = codec.parse_klines(load(fixtures_dir, "ccxt_market_kline_linear_btcusdt_60.json"))
    assert [b.open_time_ms for b in bars] == [1706630400000, 1706634000000, 1706637600000]
    assert bars[-1] == Bar(
        1706637600000,
        Decimal("43376.1"),
        Decimal("43474.1"),
        Decimal("43264.8"),
        Decimal("43352.8"),
        Decimal("1575.305"),
        Decimal("68345898.1407"),
    )


def test_spot_daily_klines_without_ret_ext_info(fixtures_dir: Path) -> None:
    bars = codec.parse_klines(load(fixtures_dir, "market_kline_spot_btcusdt_D_testnet.json"))
    assert bars[0].open_time_ms == 1694476800000
    assert bars[1].high == Decimal("25000")
    assert bars[2].turnover == Decimal("7981068.41994112")


def test_kline_columns_match_the_decimal_parse(fixtures_dir: Path) -> None:
    result = load(fixtures_dir, "ccxt_market_kline_linear_btcusdt_60.json")
    cols = codec.parse_klines_columns(result)
    bars = codec.parse_klines(result)
    assert cols["open_time_ms"].dtype == np.int64
    assert cols["open_time_ms"].tolist() == [b.open_time_ms for b in bars]
    assert cols["close"].tolist() == [float(b.close) for b in bars]
    assert cols["turnover"].dtype == np.float64


def test_empty_kline_list_gives_empty_columns() -> None:
    cols = codec.parse_klines_columns({"list": []})
    assert set(cols) == set(codec.KLINE_COLUMNS)
    assert all(len(v) == 0 for v in cols.values())


def test_linear_instruments(fixtures_dir: Path) -> None:
    instruments, cursor = codec.parse_instruments(
        load(fixtures_dir, "market_instruments_info_linear.json"), Category.LINEAR
    )
    assert cursor == ""
    btc = instruments[0]
    assert btc.symbol == "BTCUSDT"
    assert (btc.tick_size, btc.qty_step, btc.min_qty) == (Decimal("0.10"), Decimal("0.001"), Decimal("0.001"))
    assert (btc.max_qty, btc.max_market_qty, btc.min_notional) == (
        Decimal("100.000"),
        Decimal("500.000"),
        Decimal("5"),
    )
    assert btc.max_leverage == Decimal("100.00")
    assert btc.funding_interval_min == 480
    assert btc.settle_coin == "USDT"


def test_spot_instruments_use_base_precision_as_the_lot_step(fixtures_dir: Path) -> None:
    instruments, _ = codec.parse_instruments(
        load(fixtures_dir, "market_instruments_info_spot.json"), Category.SPOT
    )
    btc = instruments[0]
    assert (btc.qty_step, btc.tick_size, btc.min_notional) == (
        Decimal("0.000001"),
        Decimal("0.01"),
        Decimal("1"),
    )


def test_instrument_encoding_round_trips(fixtures_dir: Path) -> None:
    for name, category in [
        ("market_instruments_info_linear.json", Category.LINEAR),
        ("market_instruments_info_spot.json", Category.SPOT),
    ]:
        instruments, _ = codec.parse_instruments(load(fixtures_dir, name), category)
        for inst in instruments:
            assert codec.parse_instrument(codec.encode_instrument(inst), category) == inst


def test_linear_ticker(fixtures_dir: Path) -> None:
    (ticker,) = codec.parse_tickers(load(fixtures_dir, "ccxt_market_tickers_linear_btcusdt.json"))
    assert ticker.last_price == Decimal("51444.40")
    assert (ticker.bid1_price, ticker.ask1_price) == (Decimal("51444.30"), Decimal("51444.40"))
    assert ticker.funding_rate == Decimal("-0.00046295")
    assert ticker.next_funding_time_ms == 1707926400000


def test_spot_ticker_has_no_derivative_fields(fixtures_dir: Path) -> None:
    (ticker,) = codec.parse_tickers(load(fixtures_dir, "market_tickers_spot_btcusdt.json"))
    assert ticker.symbol == "BTCUSDT"
    assert ticker.mark_price is None
    assert ticker.funding_rate is None


def test_orderbook_linear(fixtures_dir: Path) -> None:
    book = codec.parse_orderbook(load(fixtures_dir, "ccxt_market_orderbook_linear_btcusdt.json"))
    assert book.bids[0] == (Decimal("42544.7"), Decimal("172.404"))
    assert book.asks[0] == (Decimal("42548"), Decimal("108.998"))
    assert (book.ts_ms, book.update_id, book.seq) == (1706803948569, 342690, 429272667)


def test_orderbook_spot_sorts_sides_even_when_asks_come_first(fixtures_dir: Path) -> None:
    book = codec.parse_orderbook(load(fixtures_dir, "ccxt_market_orderbook_spot_btcusdt.json"))
    assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert book.seq is None


def test_recent_trades(fixtures_dir: Path) -> None:
    (trade,) = codec.parse_recent_trades(load(fixtures_dir, "ccxt_market_recent_trade_linear_btcusdt.json"))
    assert trade.side is Side.BUY
    assert (trade.price, trade.size, trade.ts_ms) == (Decimal("51444.40"), Decimal("0.972"), 1707905515968)
    assert trade.trade_id == "9afd1288-b444-53f8-8e40-c2f99368ad22"


def test_server_time(fixtures_dir: Path) -> None:
    body = json.loads((fixtures_dir / "rest" / "market_time.json").read_text())
    env = decode_envelope(body)
    t = codec.parse_server_time(env.result, env.time_ms)
    assert (t.time_ms, t.time_ns) == (1694667737126, 1694667737126471019)


decimals = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1e9"), places=8, allow_nan=False)
bar_strategy = st.builds(
    Bar,
    st.integers(min_value=0, max_value=4_102_444_800_000),
    decimals,
    decimals,
    decimals,
    decimals,
    decimals,
    decimals,
)


@given(st.lists(bar_strategy, max_size=30, unique_by=lambda b: b.open_time_ms))
def test_kline_encode_parse_round_trip(bars: list[Bar]) -> None:
    ordered = sorted(bars, key=lambda b: b.open_time_ms)
    wire = codec.encode_klines(Category.LINEAR, "BTCUSDT", ordered)
    assert [int(r[0]) for r in wire["list"]] == sorted((b.open_time_ms for b in bars), reverse=True)
    assert codec.parse_klines(wire) == ordered
    cols = codec.parse_klines_columns(wire)
    assert cols["open_time_ms"].tolist() == [b.open_time_ms for b in ordered]


@pytest.mark.parametrize("name", ["ccxt_market_orderbook_linear_btcusdt.json"])
def test_orderbook_encode_round_trip(fixtures_dir: Path, name: str) -> None:
    book = codec.parse_orderbook(load(fixtures_dir, name))
    # The encoder fills a missing matching-engine time with the snapshot time, as Bybit always sends one.
    assert codec.parse_orderbook(codec.encode_orderbook(book)) == dataclasses.replace(book, cts_ms=book.ts_ms)
