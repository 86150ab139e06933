"""Public WebSocket codec: Bybit's recorded messages -> typed events, op replies, topics, encoders."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bst.bybit.codec.ws_public import (
    OpReply,
    PublicDecoder,
    Topic,
    TopicKind,
    Unhandled,
    args_chars,
    batch_args,
    check_topic,
    decode_op_reply,
    encode_book_message,
    encode_kline_message,
    encode_op_reply,
    encode_request,
    encode_ticker_message,
    encode_trades_message,
    kline_topic,
    orderbook_topic,
    parse_topic,
)
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate, KlineUpdate, LiveBar, TickerUpdate, TradesUpdate
from bst.domain.market import Bar, Category, Interval, Side, Trade

D = Decimal


def _raw(fixtures_dir: Path, name: str) -> bytes:
    return (fixtures_dir / "ws" / name).read_bytes()


def test_orderbook_snapshot_and_delta(fixtures_dir: Path) -> None:
    decoder = PublicDecoder(Category.LINEAR)
    snap = decoder.decode(
        _raw(fixtures_dir, "public_orderbook50_snapshot_btcusdt.json"), recv_ms=1672304485000
    )
    assert isinstance(snap, BookUpdate)
    assert (snap.category, snap.symbol, snap.depth, snap.snapshot) == (Category.LINEAR, "BTCUSDT", 50, True)
    assert snap.bids == [["16493.50", "0.006"], ["16493.00", "0.100"]]
    assert (snap.update_id, snap.seq, snap.ts_ms, snap.cts_ms) == (18521288, 7961638724, 1672304484978, None)
    assert snap.latency_ms == 22
    delta = decoder.decode(_raw(fixtures_dir, "public_orderbook50_delta_btcusdt.json"), recv_ms=1687940967470)
    assert isinstance(delta, BookUpdate)
    assert (delta.snapshot, delta.update_id, delta.seq, delta.latency_ms) == (
        False,
        177400507,
        66544703342,
        4,
    )
    assert delta.asks[0] == ["30248.70", "0"]


def test_ob500_stream_lines_carry_cts(fixtures_dir: Path) -> None:
    decoder = PublicDecoder(Category.LINEAR)
    lines = _raw(fixtures_dir, "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl").splitlines()
    events = [decoder.decode(line, 0) for line in lines]
    assert all(isinstance(e, BookUpdate) for e in events)
    first, last = events[0], events[-1]
    assert isinstance(first, BookUpdate)
    assert isinstance(last, BookUpdate)
    assert (first.depth, first.snapshot, len(first.bids), first.cts_ms) == (500, True, 500, 1733011200589)
    assert (last.snapshot, last.update_id, last.ts_ms, last.cts_ms) == (
        False,
        20254918,
        1733011205490,
        1733011205488,
    )


def test_u_equal_1_is_a_snapshot_whatever_the_type() -> None:
    raw = encode_book_message(
        "BTCUSDT", 50, snapshot=False, bids=[["1", "1"]], asks=[], update_id=1, seq=5, ts_ms=10, cts_ms=9
    )
    event = PublicDecoder(Category.LINEAR).decode(raw, 11)
    assert isinstance(event, BookUpdate)
    assert event.snapshot


def test_trades(fixtures_dir: Path) -> None:
    event = PublicDecoder(Category.LINEAR).decode(
        _raw(fixtures_dir, "public_trade_btcusdt.json"), 1672304486900
    )
    assert isinstance(event, TradesUpdate)
    assert event.trades == (
        Trade(
            1672304486865,
            "BTCUSDT",
            Side.BUY,
            D("16578.50"),
            D("0.001"),
            "20f43950-d8dd-5b31-9112-a178eb6023af",
        ),
    )
    assert (event.symbol, event.ts_ms, event.latency_ms) == ("BTCUSDT", 1672304486868, 32)


def test_kline(fixtures_dir: Path) -> None:
    event = PublicDecoder(Category.LINEAR).decode(
        _raw(fixtures_dir, "public_kline5_btcusdt.json"), 1672324988882
    )
    assert isinstance(event, KlineUpdate)
    assert event.interval is Interval.M5
    bar = Bar(1672324800000, D("16649.5"), D("16677"), D("16608"), D("16677"), D("2.081"), D("34666.4005"))
    assert event.bars == (LiveBar(bar, 1672325099999, False, 1672324988882),)


def test_tickers_snapshot_then_delta_merge(fixtures_dir: Path) -> None:
    decoder = PublicDecoder(Category.LINEAR)
    lines = _raw(fixtures_dir, "public_tickers_snapshot_delta_stream.jsonl").splitlines()
    snap = decoder.decode(lines[2], 1715748762500)
    delta = decoder.decode(lines[3], 1715748763100)
    assert isinstance(snap, TickerUpdate)
    assert isinstance(delta, TickerUpdate)
    assert snap.snapshot
    assert not delta.snapshot
    assert (snap.ticker.bid1_price, snap.ticker.bid1_size, snap.ticker.mark_price) == (
        D("61873.90"),
        D("3.783"),
        D("61875.25"),
    )
    # changed fields replaced, the rest carried over from the snapshot
    assert (delta.ticker.bid1_size, delta.ticker.mark_price, delta.ticker.last_price) == (
        D("3.543"),
        D("61875.06"),
        D("61874.00"),
    )
    assert delta.ticker.ask1_size == D("16.278")
    assert (delta.cross_seq, delta.ts_ms) == (176530004279, 1715748763063)


def test_ticker_delta_before_snapshot_is_unhandled(fixtures_dir: Path) -> None:
    lines = _raw(fixtures_dir, "public_tickers_snapshot_delta_stream.jsonl").splitlines()
    out = PublicDecoder(Category.LINEAR).decode(lines[3], 0)
    assert isinstance(out, Unhandled)
    assert out.reason == "ticker delta before any snapshot for BTCUSDT"


def test_spot_and_linear_ticker_snapshots(fixtures_dir: Path) -> None:
    spot = PublicDecoder(Category.SPOT).decode(_raw(fixtures_dir, "public_tickers_spot_btcusdt.json"), 0)
    assert isinstance(spot, TickerUpdate)
    assert (spot.ticker.last_price, spot.ticker.bid1_price, spot.cross_seq) == (
        D("21109.77"),
        None,
        2588407389,
    )
    linear = PublicDecoder(Category.LINEAR).decode(
        _raw(fixtures_dir, "public_tickers_linear_btcusdt.json"), 0
    )
    assert isinstance(linear, TickerUpdate)
    assert (linear.ticker.funding_rate, linear.ticker.next_funding_time_ms) == (D("-0.000212"), 1673280000000)


def test_subscribe_replies(fixtures_dir: Path) -> None:
    decoder = PublicDecoder(Category.LINEAR)
    ack = decoder.decode(_raw(fixtures_dir, "op_subscribe_ack.json"), 0)
    assert ack == OpReply("subscribe", True, "", "sub-orderbook-1", "cejreaspqfm9se7usbrg-2xh")
    fail = decoder.decode(_raw(fixtures_dir, "op_subscribe_failure.json"), 0)
    assert isinstance(fail, OpReply)
    assert (fail.success, fail.ret_msg, fail.req_id) == (False, "Invalid topic: invalid.topic.BTCUSDT", "")


@pytest.mark.parametrize(
    "reply",
    [
        {"success": True, "ret_msg": "pong", "conn_id": "0970e817", "op": "ping"},
        {"success": True, "ret_msg": "pong", "conn_id": "465772b1", "req_id": "", "op": "ping"},
        {"args": ["1672916271846"], "op": "pong"},
    ],
)
def test_pong_shapes(reply: dict[str, object]) -> None:
    out = decode_op_reply(reply)
    assert out.is_pong
    assert out.success


def test_option_command_resp() -> None:
    reply = {
        "success": True,
        "conn_id": "x",
        "data": {"failTopics": ["a.b"], "successTopics": ["c.d"]},
        "type": "COMMAND_RESP",
    }
    out = PublicDecoder(Category.LINEAR).decode(orjson.dumps(reply), 0)
    assert out == OpReply("subscribe", True, "", "", "x", ("a.b",), ("c.d",))


def test_encode_op_reply_shapes() -> None:
    assert encode_op_reply(Category.SPOT, "ping", success=True, conn_id="c") == {
        "success": True,
        "ret_msg": "pong",
        "conn_id": "c",
        "op": "ping",
    }
    assert encode_op_reply(Category.LINEAR, "ping", success=True, conn_id="c") == {
        "success": True,
        "ret_msg": "pong",
        "conn_id": "c",
        "req_id": "",
        "op": "ping",
    }
    assert encode_op_reply(Category.SPOT, "subscribe", success=True, conn_id="c", req_id="7")["ret_msg"] == (
        "subscribe"
    )
    assert encode_op_reply(Category.LINEAR, "subscribe", success=True, conn_id="c", req_id="7") == {
        "success": True,
        "ret_msg": "",
        "conn_id": "c",
        "req_id": "7",
        "op": "subscribe",
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"hello": 1}', "message without topic or op"),
        (b'{"topic": "insurance.USDT", "data": {}}', "unsupported topic 'insurance.USDT'"),
        (
            b'{"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1}',
            "malformed orderbook.50.BTCUSDT message",
        ),
        (b'{"topic": "publicTrade.X", "ts": 1, "data": [{"T": 1}]}', "malformed publicTrade.X message"),
    ],
)
def test_bad_messages_are_unhandled_not_raised(raw: bytes, reason: str) -> None:
    out = PublicDecoder(Category.LINEAR).decode(raw, 0)
    assert isinstance(out, Unhandled)
    assert out.reason.startswith(reason)


def test_topics() -> None:
    assert parse_topic("orderbook.50.BTCUSDT") == Topic(TopicKind.ORDERBOOK, "BTCUSDT", depth=50)
    assert parse_topic("kline.D.ETHUSDT") == Topic(TopicKind.KLINE, "ETHUSDT", interval=Interval.D1)
    assert parse_topic("publicTrade.BTCUSDT").name == "publicTrade.BTCUSDT"
    assert parse_topic(kline_topic(Interval.M1, "X")).name == "kline.1.X"
    with pytest.raises(ConfigError, match="unsupported topic"):
        parse_topic("orderbook.x.BTCUSDT")
    assert check_topic(orderbook_topic(200, "BTCUSDT"), Category.SPOT) is None
    assert check_topic("orderbook.500.BTCUSDT", Category.SPOT) == (
        "order-book depth 500 is not offered on spot (use 1, 50, 200, 1000)"
    )
    assert check_topic("kline.7.BTCUSDT", Category.LINEAR) == "invalid kline interval in 'kline.7.BTCUSDT'"
    assert check_topic("tickers.btcusdt", Category.LINEAR) == "symbol must be upper case in 'tickers.btcusdt'"


def test_requests_and_limits() -> None:
    assert encode_request("ping") == '{"op":"ping"}'
    assert (
        encode_request("subscribe", ["a", "b"], "r1") == '{"req_id":"r1","op":"subscribe","args":["a","b"]}'
    )
    topics = [f"publicTrade.S{i}" for i in range(23)]
    assert [len(b) for b in batch_args(topics, Category.SPOT)] == [10, 10, 3]
    assert [len(b) for b in batch_args(topics, Category.LINEAR)] == [23]
    assert args_chars(["ab", "cde"]) == 5


def test_encoded_trade_kline_ticker_decode_back() -> None:
    trade = Trade(5, "BTCUSDT", Side.SELL, D("100.5"), D("0.25"), "t-1", seq=42)
    event = PublicDecoder(Category.LINEAR).decode(encode_trades_message("BTCUSDT", [trade], 6), 7)
    assert isinstance(event, TradesUpdate)
    assert event.trades == (trade,)
    live = LiveBar(Bar(0, D(1), D(2), D("0.5"), D("1.5"), D(10), D(15)), 59_999, True, 59_000)
    kline = PublicDecoder(Category.SPOT).decode(
        encode_kline_message("BTCUSDT", Interval.M1, [live], 60_000), 0
    )
    assert isinstance(kline, KlineUpdate)
    assert kline.bars == (live,)
    raw = encode_ticker_message("ETHUSDT", {"lastPrice": "3000.5"}, snapshot=True, cross_seq=9, ts_ms=3)
    ticker = PublicDecoder(Category.LINEAR).decode(raw, 4)
    assert isinstance(ticker, TickerUpdate)
    assert ticker.ticker.last_price == D("3000.5")


_level = st.tuples(
    st.decimals(min_value=D("0.01"), max_value=D(10**6), places=2).map(str),
    st.decimals(min_value=D(0), max_value=D(10**4), places=3).map(str),
).map(list)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_level, max_size=20),
    st.lists(_level, max_size=20),
    st.booleans(),
    st.integers(2, 2**40),
    st.integers(0, 2**50),
    st.integers(0, 2**45),
)
def test_book_message_round_trip(
    bids: list[list[str]], asks: list[list[str]], snapshot: bool, u: int, seq: int, ts: int
) -> None:
    raw = encode_book_message(
        "SOLUSDT", 200, snapshot=snapshot, bids=bids, asks=asks, update_id=u, seq=seq, ts_ms=ts, cts_ms=ts - 1
    )
    event = PublicDecoder(Category.INVERSE).decode(raw, ts + 3)
    assert event == BookUpdate(
        Category.INVERSE, "SOLUSDT", 200, snapshot, bids, asks, u, seq, ts, ts - 1, ts + 3
    )
    assert event.latency_ms == 3
