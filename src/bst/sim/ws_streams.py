"""What each public topic of the sim pushes, as a function of sim time (see `bst.sim.ws_public`).

A stream is told the sim time when subscribed (`start`) and then on every push tick (`advance`); it
returns the raw messages (JSON text) that sim time produced, in its topic's cadence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from bst.bybit.codec.market_stats import encode_all_liquidation_message, encode_liquidation_message
from bst.bybit.codec.ws_public import (
    PUSH_INTERVAL_MS,
    encode_book_message,
    encode_kline_message,
    encode_ticker_message,
    encode_trades_message,
)
from bst.domain.events import LiveBar
from bst.domain.market import Category, Interval, Trade
from bst.sim.generator import MarketGenerator
from bst.sim.liquidations import liquidations
from bst.sim.tape import prints
from bst.sim.tickers import ticker_snapshot

MAX_CATCH_UP_MS = 60_000
"""A clock jump longer than this restarts a book stream with a snapshot instead of replaying it."""
LEVEL1_RESEND_MS = 3_000
KLINE_PUSH_MS = 1_000
MAX_TRADES_PER_MESSAGE = 1024
ALL_LIQUIDATION_PUSH_MS = 500
LIQUIDATION_PUSH_MS = 1_000


class TopicStream(Protocol):
    """One subscribed topic of one connection."""

    def start(self, now_ms: int) -> list[str]:
        """Return the messages sent right after the subscription is acknowledged."""
        ...

    def advance(self, now_ms: int) -> list[str]:
        """Return the messages produced by sim time up to `now_ms`."""
        ...


class BookStream:
    """orderbook.{depth}.{symbol}: a snapshot, then deltas of changed levels, `u` + 1 per message."""

    def __init__(
        self,
        gen: MarketGenerator,
        category: Category,
        symbol: str,
        depth: int,
        take_skip: Callable[[], bool],
    ) -> None:
        self.gen = gen
        self.category = category
        self.symbol = symbol
        self.depth = depth
        self.interval_ms = PUSH_INTERVAL_MS[depth]
        self._take_skip = take_skip
        price, qty, _ = gen.scales(category, symbol)
        self._price = price.fixed
        self._qty = qty.fixed
        self._listing_ms = gen.path(category, symbol).launch_minute_ms
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.update_id = 0
        self.seq = 0
        self.last_ms = 0
        self.last_sent_ms = 0

    def _levels(self, ts_ms: int) -> tuple[dict[int, int], dict[int, int]]:
        levels = self.gen.book_levels(self.symbol, ts_ms, self.depth, category=self.category)
        bids = dict(zip(levels.bid_price.tolist(), levels.bid_size.tolist(), strict=True))
        asks = dict(zip(levels.ask_price.tolist(), levels.ask_size.tolist(), strict=True))
        return bids, asks

    def _message(self, ts_ms: int, snapshot: bool, bids: dict[int, int], asks: dict[int, int]) -> str:
        self.seq = max(self.seq + 1, ts_ms - self._listing_ms + 1)
        self.last_sent_ms = ts_ms
        price, qty = self._price, self._qty
        return encode_book_message(
            self.symbol,
            self.depth,
            snapshot=snapshot,
            bids=[[price(p), qty(q)] for p, q in sorted(bids.items(), reverse=True)],
            asks=[[price(p), qty(q)] for p, q in sorted(asks.items())],
            update_id=self.update_id,
            seq=self.seq,
            ts_ms=ts_ms,
            cts_ms=ts_ms - 2,
        ).decode()

    def start(self, now_ms: int) -> list[str]:
        """Return the first snapshot; `u` starts from the stream's step count since listing."""
        self.update_id = max(1, (now_ms - self._listing_ms) // self.interval_ms)
        return self.snapshot_now(now_ms, restart=False, bump=False)

    def snapshot_now(self, now_ms: int, *, restart: bool = False, bump: bool = True) -> list[str]:
        """Return a fresh snapshot at `now_ms` (`u == 1` after a simulated service restart)."""
        self.bids, self.asks = self._levels(now_ms)
        self.last_ms = now_ms
        if restart:
            self.update_id = 1
        elif bump:
            self.update_id += 1
        return [self._message(now_ms, True, self.bids, self.asks)]

    def advance(self, now_ms: int) -> list[str]:
        """Return the messages of every push step in (last step, now_ms]."""
        if now_ms - self.last_ms > MAX_CATCH_UP_MS:
            return self.snapshot_now(now_ms)
        out: list[str] = []
        step = self.last_ms + self.interval_ms
        while step <= now_ms:
            message = self._step(step)
            if message is not None:
                out.append(message)
            step += self.interval_ms
        return out

    def _step(self, ts_ms: int) -> str | None:
        self.last_ms = ts_ms
        bids, asks = self._levels(ts_ms)
        if self.depth == 1:
            if bids != self.bids or asks != self.asks:
                self.update_id += 1
            elif ts_ms - self.last_sent_ms < LEVEL1_RESEND_MS:
                return None
            self.bids, self.asks = bids, asks
            return self._message(ts_ms, True, bids, asks)
        bid_changes = {p: q for p, q in bids.items() if self.bids.get(p) != q}
        bid_changes.update({p: 0 for p in self.bids if p not in bids})
        ask_changes = {p: q for p, q in asks.items() if self.asks.get(p) != q}
        ask_changes.update({p: 0 for p in self.asks if p not in asks})
        if not bid_changes and not ask_changes:
            return None
        self.bids, self.asks = bids, asks
        self.update_id += 1
        if self._take_skip():
            self.seq += 1
            return None
        return self._message(ts_ms, False, bid_changes, ask_changes)


class TradeStream:
    """publicTrade.{symbol}: the public tape's prints (`bst.sim.tape`), pushed as they print.

    Prints are computed a second ahead and handed out as sim time reaches them: each push tick sends
    the prints of (last push, now] in one message (at most 1024 a message).
    """

    LOOKAHEAD_MS = 1_000

    def __init__(self, gen: MarketGenerator, category: Category, symbol: str) -> None:
        self.gen = gen
        self.category = category
        self.symbol = symbol
        self.last_ms = 0
        self.computed_ms = 0
        self.pending: deque[Trade] = deque()

    def start(self, now_ms: int) -> list[str]:
        """Return nothing: trades are pushed as they happen."""
        self.last_ms = self.computed_ms = now_ms
        self.pending.clear()
        return []

    def advance(self, now_ms: int) -> list[str]:
        """Return the prints printed in (last push, now_ms]."""
        if now_ms <= self.last_ms:
            return []
        if now_ms - self.last_ms > MAX_CATCH_UP_MS:  # a clock jump: only the last minute is replayed
            self.pending.clear()
            self.last_ms = self.computed_ms = now_ms - MAX_CATCH_UP_MS
        if now_ms > self.computed_ms:
            upto = now_ms + self.LOOKAHEAD_MS
            self.pending.extend(
                prints(self.gen, self.symbol, self.computed_ms + 1, upto, category=self.category)
            )
            self.computed_ms = upto
        due: list[Trade] = []
        while self.pending and self.pending[0].ts_ms <= now_ms:
            due.append(self.pending.popleft())
        self.last_ms = now_ms
        linear = self.category is not Category.SPOT
        return [
            encode_trades_message(self.symbol, chunk, chunk[-1].ts_ms, linear=linear).decode()
            for chunk in (
                due[i : i + MAX_TRADES_PER_MESSAGE] for i in range(0, len(due), MAX_TRADES_PER_MESSAGE)
            )
        ]


class LiquidationStream:
    """allLiquidation.{symbol} (every 500 ms, all liquidations since) or liquidation.{symbol} (one a
    second at most, one liquidation a message), from the seeded liquidations (`bst.sim.liquidations`).
    """

    def __init__(self, gen: MarketGenerator, category: Category, symbol: str, *, every_one: bool) -> None:
        self.gen = gen
        self.category = category
        self.symbol = symbol
        self.every_one = every_one
        self.interval_ms = ALL_LIQUIDATION_PUSH_MS if every_one else LIQUIDATION_PUSH_MS
        self.last_ms = 0

    def start(self, now_ms: int) -> list[str]:
        """Return nothing: liquidations are pushed as they happen."""
        self.last_ms = now_ms
        return []

    def advance(self, now_ms: int) -> list[str]:
        """Return the messages of every push step in (last step, now_ms] that saw a liquidation."""
        if now_ms - self.last_ms < self.interval_ms:
            return []
        start = max(self.last_ms + 1, now_ms - MAX_CATCH_UP_MS)
        steps = (now_ms - self.last_ms) // self.interval_ms
        end = self.last_ms + steps * self.interval_ms
        found = liquidations(self.gen, self.symbol, start, end, category=self.category)
        self.last_ms = end
        if self.every_one:
            return [encode_all_liquidation_message(self.symbol, found, end).decode()] if found else []
        return [encode_liquidation_message(item).decode() for item in found]


class KlineStream:
    """kline.{interval}.{symbol}: the live bar every second, and each bar once more when it closes."""

    def __init__(self, gen: MarketGenerator, category: Category, symbol: str, interval: Interval) -> None:
        self.gen = gen
        self.category = category
        self.symbol = symbol
        self.interval = interval
        self.bar_open_ms = 0
        self.last_push_ms = 0

    def _bar(self, open_ms: int, now_ms: int, confirmed: bool) -> LiveBar | None:
        bars = self.gen.bars(
            self.symbol, self.interval, open_ms, open_ms, category=self.category, now_ms=now_ms
        )
        if not bars:
            return None
        end_ms = self.interval.next_open_ms(open_ms) - 1
        last_match = self.gen.last_trade(self.symbol, min(now_ms, end_ms), category=self.category).ts_ms
        return LiveBar(bars[0], end_ms, confirmed, last_match)

    def start(self, now_ms: int) -> list[str]:
        """Return the live bar at once."""
        self.bar_open_ms = self.interval.open_time_ms(now_ms)
        self.last_push_ms = now_ms
        return self._push(now_ms)

    def _push(self, now_ms: int) -> list[str]:
        bar = self._bar(self.bar_open_ms, now_ms, False)
        if bar is None:
            return []
        return [encode_kline_message(self.symbol, self.interval, [bar], now_ms).decode()]

    def advance(self, now_ms: int) -> list[str]:
        """Return the closed bar (confirm=true) when one closed, then the live bar, once a second."""
        if now_ms - self.last_push_ms < KLINE_PUSH_MS:
            return []
        self.last_push_ms = now_ms
        out: list[str] = []
        open_now = self.interval.open_time_ms(now_ms)
        if open_now != self.bar_open_ms:
            closed = self._bar(self.bar_open_ms, self.interval.next_open_ms(self.bar_open_ms) - 1, True)
            if closed is not None:
                out.append(encode_kline_message(self.symbol, self.interval, [closed], now_ms).decode())
            self.bar_open_ms = open_now
        out.extend(self._push(now_ms))
        return out


class TickerStream:
    """tickers.{symbol}: a snapshot, then (derivatives) deltas of changed fields, (spot) snapshots."""

    def __init__(self, gen: MarketGenerator, category: Category, symbol: str) -> None:
        self.gen = gen
        self.category = category
        self.symbol = symbol
        self.interval_ms = 50 if category is Category.SPOT else 100
        self._listing_ms = gen.path(category, symbol).launch_minute_ms
        self.fields: dict[str, Any] = {}
        self.last_ms = 0
        self.cross_seq = 0

    def _fields(self, now_ms: int) -> dict[str, Any]:
        wire = ticker_snapshot(self.gen, self.category, self.symbol, now_ms).to_wire()
        wire.pop("symbol", None)
        return wire

    def _message(self, fields: dict[str, Any], snapshot: bool, now_ms: int) -> str:
        self.cross_seq = max(self.cross_seq + 1, now_ms - self._listing_ms)
        return encode_ticker_message(
            self.symbol, fields, snapshot=snapshot, cross_seq=self.cross_seq, ts_ms=now_ms
        ).decode()

    def start(self, now_ms: int) -> list[str]:
        """Return the full ticker."""
        self.fields = self._fields(now_ms)
        self.last_ms = now_ms
        return [self._message(self.fields, True, now_ms)]

    def advance(self, now_ms: int) -> list[str]:
        """Return the ticker's change since the last push (at most one message per push interval)."""
        if now_ms - self.last_ms < self.interval_ms:
            return []
        self.last_ms = now_ms
        fields = self._fields(now_ms)
        changed = {k: v for k, v in fields.items() if self.fields.get(k) != v}
        self.fields = fields
        if not changed:
            return []
        if self.category is Category.SPOT:
            return [self._message(fields, True, now_ms)]
        return [self._message(changed, False, now_ms)]
