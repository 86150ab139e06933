"""Public WebSocket streams: topics, op requests and replies, and messages <-> domain events.

Shared by the client (decoding) and the simulator (encoding). Message shapes follow the v5 docs:
`{"topic", "type", "ts", "data", ...}` for data, `{"op", "success", "ret_msg", "conn_id", ...}` for
replies; the reply shapes differ per channel (spot, linear/inverse), see `encode_op_reply`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from bst.bybit.codec.market import parse_ticker
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate, KlineUpdate, LiveBar, MarketEvent, TickerUpdate, TradesUpdate
from bst.domain.market import Bar, Category, Interval, Side, Trade
from bst.domain.ports import MarketChannel, MarketSubscription

JSON = dict[str, Any]

ORDERBOOK_DEPTHS: dict[Category, tuple[int, ...]] = {
    Category.SPOT: (1, 50, 200, 1000),
    # 500 was removed for futures on 2025-09-11 but is kept readable for recorded/historical data.
    Category.LINEAR: (1, 50, 200, 500, 1000),
    Category.INVERSE: (1, 50, 200, 500, 1000),
}
"""Order-book depths each public category offers."""

PUSH_INTERVAL_MS: dict[int, int] = {1: 10, 50: 20, 200: 100, 500: 100, 1000: 200}
"""How often Bybit pushes each order-book depth, in ms."""

SPOT_MAX_ARGS_PER_REQUEST = 10
MAX_ARGS_CHARS_PER_CONNECTION = 21_000


class TopicKind(StrEnum):
    """The public topics bst understands."""

    ORDERBOOK = "orderbook"
    TRADE = "publicTrade"
    KLINE = "kline"
    TICKER = "tickers"
    ALL_LIQUIDATION = "allLiquidation"
    LIQUIDATION = "liquidation"
    """The older one-liquidation-per-second topic (deprecated by Bybit in 2025, still served by the sim)."""


LIQUIDATION_KINDS = frozenset({TopicKind.ALL_LIQUIDATION, TopicKind.LIQUIDATION})
"""Topics of derivatives only (linear, inverse), not followed by bst's stream (see `market_stats`)."""


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed public topic name."""

    kind: TopicKind
    symbol: str
    depth: int | None = None
    interval: Interval | None = None

    @property
    def name(self) -> str:
        """Return the wire name, e.g. `orderbook.50.BTCUSDT`."""
        if self.kind is TopicKind.ORDERBOOK:
            return f"orderbook.{self.depth}.{self.symbol}"
        if self.kind is TopicKind.KLINE:
            assert self.interval is not None  # set by every constructor of a kline topic
            return f"kline.{self.interval.value}.{self.symbol}"
        return f"{self.kind.value}.{self.symbol}"


def orderbook_topic(depth: int, symbol: str) -> str:
    """Return `orderbook.{depth}.{symbol}`."""
    return f"orderbook.{depth}.{symbol}"


def trade_topic(symbol: str) -> str:
    """Return `publicTrade.{symbol}`."""
    return f"publicTrade.{symbol}"


def kline_topic(interval: Interval, symbol: str) -> str:
    """Return `kline.{interval}.{symbol}`."""
    return f"kline.{interval.value}.{symbol}"


def ticker_topic(symbol: str) -> str:
    """Return `tickers.{symbol}`."""
    return f"tickers.{symbol}"


def subscription_topic(subscription: MarketSubscription) -> str:
    """Return the public topic of a venue-neutral subscription, e.g. `orderbook.50.BTCUSDT`.

    Funding comes with the ticker (the same topic). Raise ConfigError for what Bybit does not
    publish: bars without an interval, a book depth the category does not offer, a lower-case
    symbol, funding of a spot pair.
    """
    channel, symbol = subscription.channel, subscription.symbol
    if channel is MarketChannel.BOOK:
        topic = orderbook_topic(subscription.depth, symbol)
    elif channel is MarketChannel.TRADES:
        topic = trade_topic(symbol)
    elif channel is MarketChannel.BARS:
        if subscription.interval is None:
            raise ConfigError(f"a bars subscription of {symbol} needs an interval, e.g. Interval.M1")
        topic = kline_topic(subscription.interval, symbol)
    else:  # the ticker, and funding: Bybit publishes the rate and next settlement in the ticker only
        if channel is MarketChannel.FUNDING and subscription.category is Category.SPOT:
            raise ConfigError(f"spot {symbol} pays no funding; subscribe to a linear or inverse contract")
        topic = ticker_topic(symbol)
    reason = check_topic(topic, subscription.category)
    if reason is not None:
        raise ConfigError(f"cannot subscribe to {topic} on {subscription.category.value}: {reason}")
    return topic


def parse_topic(topic: str) -> Topic:
    """Return the parsed topic, or raise ConfigError naming what is wrong with it."""
    parts = topic.split(".")
    head = parts[0]
    if head == "orderbook" and len(parts) == 3 and parts[1].isdigit() and parts[2]:
        return Topic(TopicKind.ORDERBOOK, parts[2], depth=int(parts[1]))
    if head == "kline" and len(parts) == 3 and parts[2]:
        return Topic(
            TopicKind.KLINE, parts[2], interval=Interval(parts[1]) if _is_interval(parts[1]) else None
        )
    if head in ("publicTrade", "tickers", "liquidation", "allLiquidation") and len(parts) == 2 and parts[1]:
        return Topic(TopicKind(head), parts[1])
    raise ConfigError(f"unsupported topic {topic!r}")


def _is_interval(text: str) -> bool:
    return text in Interval._value2member_map_


def check_topic(topic: str, category: Category) -> str | None:
    """Return why `topic` cannot be subscribed on the `category` public stream, or None if it can."""
    try:
        spec = parse_topic(topic)
    except ConfigError as e:
        return str(e)
    if spec.symbol != spec.symbol.upper():
        return f"symbol must be upper case in {topic!r}"
    if spec.kind is TopicKind.ORDERBOOK:
        depths = ORDERBOOK_DEPTHS.get(category, ())
        if spec.depth not in depths:
            allowed = ", ".join(str(d) for d in depths)
            return f"order-book depth {spec.depth} is not offered on {category.value} (use {allowed})"
    if spec.kind is TopicKind.KLINE and spec.interval is None:
        return f"invalid kline interval in {topic!r}"
    if spec.kind in LIQUIDATION_KINDS and category not in (Category.LINEAR, Category.INVERSE):
        return f"{spec.kind.value} topics exist for linear and inverse contracts, not {category.value}"
    return None


# --- requests and replies ------------------------------------------------------------------------


def encode_request(op: str, args: Sequence[str | int] = (), req_id: str | None = None) -> str:
    """Return an op request: `{"req_id", "op", "args"}` (ping/subscribe/unsubscribe)."""
    body: JSON = {}
    if req_id is not None:
        body["req_id"] = req_id
    body["op"] = op
    if args or op != "ping":
        body["args"] = list(args)
    return orjson.dumps(body).decode()


def batch_args(topics: Sequence[str], category: Category) -> list[list[str]]:
    """Split topics into subscribe requests Bybit accepts (spot: at most 10 args per request)."""
    size = SPOT_MAX_ARGS_PER_REQUEST if category is Category.SPOT else max(1, len(topics))
    return [list(topics[i : i + size]) for i in range(0, len(topics), size)]


def args_chars(topics: Iterable[str]) -> int:
    """Return the length Bybit counts against its 21,000-character per-connection args limit."""
    return sum(len(t) for t in topics)


@dataclass(frozen=True, slots=True)
class OpReply:
    """The server's reply to an op (subscribe, unsubscribe, ping, auth)."""

    op: str
    success: bool
    ret_msg: str
    req_id: str
    conn_id: str
    fail_topics: tuple[str, ...] = ()
    success_topics: tuple[str, ...] = ()

    @property
    def is_pong(self) -> bool:
        """Return whether this answers a ping."""
        return self.op == "pong" or (self.op == "ping" and self.ret_msg == "pong")


@dataclass(frozen=True, slots=True)
class Unhandled:
    """A message bst does not turn into an event, with the reason (unknown topic, malformed...)."""

    reason: str
    message: JSON | None = field(default=None, repr=False)


PublicMessage = MarketEvent | OpReply | Unhandled


def decode_op_reply(msg: JSON) -> OpReply:
    """Return an op reply (any channel's shape, including option's COMMAND_RESP)."""
    raw_data = msg.get("data")
    data: JSON = raw_data if isinstance(raw_data, dict) else {}
    op = str(msg.get("op") or ("subscribe" if msg.get("type") == "COMMAND_RESP" else ""))
    success = msg.get("success")
    if success is None:
        success = msg.get("retCode", 0) == 0
    return OpReply(
        op=op,
        success=bool(success),
        ret_msg=str(msg.get("ret_msg") or msg.get("retMsg") or ""),
        req_id=str(msg.get("req_id") or msg.get("reqId") or ""),
        conn_id=str(msg.get("conn_id") or msg.get("connId") or ""),
        fail_topics=tuple(data.get("failTopics") or ()),
        success_topics=tuple(data.get("successTopics") or ()),
    )


def encode_op_reply(
    category: Category,
    op: str,
    *,
    success: bool,
    conn_id: str,
    ret_msg: str | None = None,
    req_id: str | None = None,
) -> JSON:
    """Return the reply Bybit sends on the `category` public stream to `op` (ping, subscribe...).

    Spot puts the op name (or "pong") in `ret_msg` on success and omits `req_id` unless given;
    linear/inverse always carry `req_id` and an empty `ret_msg` on success (pong: "pong").
    """
    if ret_msg is None:
        if op == "ping":
            ret_msg = "pong"
        elif category is Category.SPOT and success:
            ret_msg = op
        else:
            ret_msg = ""
    reply: JSON = {"success": success, "ret_msg": ret_msg, "conn_id": conn_id}
    if category is not Category.SPOT or req_id:
        reply["req_id"] = req_id or ""
    reply["op"] = op
    return reply


# --- data messages -------------------------------------------------------------------------------


def encode_book_message(
    symbol: str,
    depth: int,
    *,
    snapshot: bool,
    bids: Sequence[Sequence[str]],
    asks: Sequence[Sequence[str]],
    update_id: int,
    seq: int,
    ts_ms: int,
    cts_ms: int,
) -> bytes:
    """Return an order-book message as Bybit prints it."""
    return orjson.dumps(
        {
            "topic": orderbook_topic(depth, symbol),
            "type": "snapshot" if snapshot else "delta",
            "ts": ts_ms,
            "data": {"s": symbol, "b": bids, "a": asks, "u": update_id, "seq": seq},
            "cts": cts_ms,
        }
    )


def encode_trades_message(symbol: str, trades: Sequence[Trade], ts_ms: int, *, linear: bool = True) -> bytes:
    """Return a publicTrade message; `L` (tick direction) is only sent for derivatives."""
    rows = []
    for t in trades:
        row: JSON = {"T": t.ts_ms, "s": t.symbol, "S": t.side.value, "v": str(t.size), "p": str(t.price)}
        if linear:
            row["L"] = "PlusTick" if t.side is Side.BUY else "MinusTick"
        row["i"] = t.trade_id
        row["BT"] = t.is_block_trade
        row["RPI"] = False
        if t.seq is not None:
            row["seq"] = t.seq
        rows.append(row)
    return orjson.dumps({"topic": trade_topic(symbol), "type": "snapshot", "ts": ts_ms, "data": rows})


def encode_kline_message(symbol: str, interval: Interval, bars: Sequence[LiveBar], ts_ms: int) -> bytes:
    """Return a kline message."""
    rows = [
        {
            "start": b.bar.open_time_ms,
            "end": b.end_ms,
            "interval": interval.value,
            "open": str(b.bar.open),
            "close": str(b.bar.close),
            "high": str(b.bar.high),
            "low": str(b.bar.low),
            "volume": str(b.bar.volume),
            "turnover": str(b.bar.turnover),
            "confirm": b.confirmed,
            "timestamp": b.last_match_ms,
        }
        for b in bars
    ]
    return orjson.dumps(
        {"topic": kline_topic(interval, symbol), "data": rows, "ts": ts_ms, "type": "snapshot"}
    )


def encode_ticker_message(symbol: str, fields: JSON, *, snapshot: bool, cross_seq: int, ts_ms: int) -> bytes:
    """Return a tickers message with `fields` (all for a snapshot, the changed ones for a delta)."""
    return orjson.dumps(
        {
            "topic": ticker_topic(symbol),
            "type": "snapshot" if snapshot else "delta",
            "data": {"symbol": symbol, **fields},
            "cs": cross_seq,
            "ts": ts_ms,
        }
    )


class PublicDecoder:
    """Decode the messages of one public stream (one category) into events and replies.

    Stateful only where Bybit is: ticker deltas carry changed fields only and are merged into the
    last full state per symbol. Topic names are parsed once and cached.
    """

    def __init__(self, category: Category) -> None:
        self.category = category
        self._topics: dict[str, Topic | None] = {}
        self._tickers: dict[str, JSON] = {}

    def reset(self) -> None:
        """Forget merged ticker state (after a reconnect, the next ticker message is a snapshot)."""
        self._tickers.clear()

    def decode(self, raw: str | bytes, recv_ms: int) -> PublicMessage:
        """Return the event or reply in one raw message; never raises on bad input."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            return Unhandled(f"not JSON: {e}")
        if not isinstance(msg, dict):
            return Unhandled("not a JSON object")
        return self.decode_message(msg, recv_ms)

    def decode_message(self, msg: JSON, recv_ms: int) -> PublicMessage:
        """Return the event or reply in one parsed message."""
        topic = msg.get("topic")
        if topic is None:
            if "op" in msg or msg.get("type") == "COMMAND_RESP":
                return decode_op_reply(msg)
            return Unhandled("message without topic or op", msg)
        spec = self._topics.get(topic, _UNSEEN)
        if spec is _UNSEEN:
            spec = self._learn(topic)
        if spec is None:
            return Unhandled(f"unsupported topic {topic!r}", msg)
        try:
            kind = spec.kind
            if kind is _ORDERBOOK:
                data = msg["data"]
                update_id = data["u"]
                # tuple.__new__ skips the NamedTuple's Python-level __new__: a third of the cost.
                return _new_tuple(
                    BookUpdate,
                    (
                        self.category,
                        spec.symbol,
                        spec.depth,
                        update_id == 1 or msg["type"] == "snapshot",
                        data["b"],
                        data["a"],
                        update_id,
                        data.get("seq"),
                        msg["ts"],
                        msg.get("cts"),
                        recv_ms,
                    ),
                )
            if kind is TopicKind.TRADE:
                return self._trades(spec, msg, recv_ms)
            if kind in LIQUIDATION_KINDS:
                return Unhandled(f"topic {topic!r} is not followed (codec.market_stats reads it)", msg)
            if kind is TopicKind.KLINE:
                return self._klines(spec, msg, recv_ms)
            return self._ticker(spec, msg, recv_ms)
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            return Unhandled(f"malformed {topic} message: {type(e).__name__}: {e}", msg)

    def _learn(self, topic: str) -> Topic | None:
        spec = _parse_or_none(topic)
        if spec is not None and spec.kind is TopicKind.ORDERBOOK and not spec.depth:
            spec = None
        self._topics[topic] = spec
        return spec

    def _trades(self, spec: Topic, msg: JSON, recv_ms: int) -> TradesUpdate:
        trades = tuple(
            Trade(
                ts_ms=int(row["T"]),
                symbol=str(row.get("s") or spec.symbol),
                side=Side(row["S"]),
                price=Decimal(row["p"]),
                size=Decimal(row["v"]),
                trade_id=str(row["i"]),
                is_block_trade=bool(row.get("BT", False)),
                seq=int(row["seq"]) if row.get("seq") is not None else None,
            )
            for row in msg["data"]
        )
        return TradesUpdate(self.category, spec.symbol, trades, int(msg["ts"]), recv_ms)

    def _klines(self, spec: Topic, msg: JSON, recv_ms: int) -> KlineUpdate | Unhandled:
        if spec.interval is None:
            return Unhandled(f"invalid kline interval in {spec.name}", msg)
        bars = tuple(
            LiveBar(
                bar=Bar(
                    int(row["start"]),
                    Decimal(row["open"]),
                    Decimal(row["high"]),
                    Decimal(row["low"]),
                    Decimal(row["close"]),
                    Decimal(row["volume"]),
                    Decimal(row["turnover"]),
                ),
                end_ms=int(row["end"]),
                confirmed=bool(row["confirm"]),
                last_match_ms=int(row.get("timestamp") or msg["ts"]),
            )
            for row in msg["data"]
        )
        return KlineUpdate(self.category, spec.symbol, spec.interval, bars, int(msg["ts"]), recv_ms)

    def _ticker(self, spec: Topic, msg: JSON, recv_ms: int) -> TickerUpdate | Unhandled:
        data = msg["data"]
        snapshot = msg.get("type", "snapshot") == "snapshot"
        if snapshot:
            state = self._tickers[spec.symbol] = dict(data)
        else:
            known = self._tickers.get(spec.symbol)
            if known is None:
                return Unhandled(f"ticker delta before any snapshot for {spec.symbol}", msg)
            known.update(data)
            state = known
        cross_seq = msg.get("cs")
        return TickerUpdate(
            self.category,
            spec.symbol,
            parse_ticker(state),
            snapshot,
            int(cross_seq) if cross_seq is not None else None,
            int(msg["ts"]),
            recv_ms,
        )


_UNSEEN: Any = object()
_ORDERBOOK = TopicKind.ORDERBOOK
_new_tuple = tuple.__new__


def _parse_or_none(topic: str) -> Topic | None:
    try:
        return parse_topic(topic)
    except (ConfigError, ValueError):
        return None
