"""Per-symbol market analytics, computed as a pure fold over the market-event stream.

Everything is a function of the events alone: time is the events' exchange time (`ts_ms`), never a
clock, so a backtest replaying recorded events computes exactly the numbers the live bot saw.
Money and volumes are exact Decimals (sums kept in an explicit wide context); only volatility, a
statistical estimate built on logarithms, is a float.

Metrics per symbol:
- the book: best bid/ask, mid, spread (absolute and bps), microprice, order-book imbalance (bid share
  of the size over the best N levels, 0.5 = balanced) at several depths, and its mean over recent
  samples; the book's validity is reported so nobody trades on a stale one;
- trade flow over `trade_window_ms`: buy/sell taker volume, trade-flow imbalance (buy share), VWAP;
- volume clusters over `cluster_window_ms`: price buckets where traded volume concentrates, those at
  or above `min_cluster_volume` (the seed's MIN_CLUSTER_VOLUME, in quote currency by default), plus
  the point of control (the bucket with the most volume);
- volatility: the standard deviation of log returns of the mid sampled every `sample_ms`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Context, Decimal
from enum import StrEnum
from itertools import pairwise

from bst.domain.bookset import BookSet
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate, MarketEvent, TradesUpdate
from bst.domain.market import Category, Side
from bst.domain.orderbook import OrderBook

_EXACT = Context(prec=80)
_DIV = Context(prec=28)
_ZERO = Decimal(0)
_YEAR_MS = 365 * 24 * 3600 * 1000


class VolumeUnit(StrEnum):
    """What a cluster's volume counts: quote notional (price x size) or base size."""

    QUOTE = "quote"
    BASE = "base"


@dataclass(frozen=True, slots=True)
class AnalyzerConfig:
    """Windows and thresholds of the analyzer (times in ms of exchange time)."""

    imbalance_depths: tuple[int, ...] = (1, 5, 10, 20)
    trade_window_ms: int = 60_000
    cluster_window_ms: int = 15 * 60_000
    cluster_price_step: Decimal | None = None
    min_cluster_volume: Decimal = Decimal(10_000)
    cluster_volume_unit: VolumeUnit = VolumeUnit.QUOTE
    max_clusters: int = 10
    sample_ms: int = 1_000
    sample_window: int = 60
    book_depth: int | None = None

    def __post_init__(self) -> None:
        if not self.imbalance_depths or min(self.imbalance_depths) < 1:
            raise ConfigError("imbalance_depths must be a non-empty list of depths >= 1")
        if min(self.trade_window_ms, self.cluster_window_ms, self.sample_ms) <= 0:
            raise ConfigError("trade_window_ms, cluster_window_ms and sample_ms must be positive")
        if self.sample_window < 2:
            raise ConfigError("sample_window must be at least 2 samples")
        if self.cluster_price_step is not None and self.cluster_price_step <= 0:
            raise ConfigError("cluster_price_step must be positive")
        if self.min_cluster_volume < 0 or self.max_clusters < 1:
            raise ConfigError("min_cluster_volume must be >= 0 and max_clusters >= 1")


@dataclass(frozen=True, slots=True)
class VolumeCluster:
    """Traded volume at one price bucket (bucket = [price, price + step))."""

    price: Decimal
    volume: Decimal
    buy_volume: Decimal
    sell_volume: Decimal
    trades: int

    @property
    def delta(self) -> Decimal:
        """Return buy volume minus sell volume."""
        return self.buy_volume - self.sell_volume


@dataclass(frozen=True, slots=True)
class MarketMetrics:
    """A symbol's analytics at `ts_ms` (None where there is not enough data)."""

    category: Category
    symbol: str
    ts_ms: int
    book_valid: bool
    book_invalid_reason: str | None
    best_bid: Decimal | None
    best_ask: Decimal | None
    mid: Decimal | None
    spread: Decimal | None
    spread_bps: Decimal | None
    microprice: Decimal | None
    imbalance: Mapping[int, Decimal | None]
    imbalance_mean: Mapping[int, Decimal | None]
    trade_count: int
    buy_volume: Decimal
    sell_volume: Decimal
    trade_flow_imbalance: Decimal | None
    vwap: Decimal | None
    last_price: Decimal | None
    clusters: tuple[VolumeCluster, ...]
    point_of_control: Decimal | None
    volatility: float | None
    volatility_annualized: float | None
    book_latency_ms: int | None = None
    trade_latency_ms: int | None = None


@dataclass(slots=True)
class _Bucket:
    volume: Decimal = _ZERO
    buy: Decimal = _ZERO
    sell: Decimal = _ZERO
    trades: int = 0


@dataclass(slots=True)
class _SymbolState:
    category: Category
    symbol: str
    ts_ms: int = 0
    flow: deque[tuple[int, bool, Decimal, Decimal]] = field(default_factory=deque)
    buy_volume: Decimal = _ZERO
    sell_volume: Decimal = _ZERO
    flow_notional: Decimal = _ZERO
    cluster_trades: deque[tuple[int, Decimal, bool, Decimal]] = field(default_factory=deque)
    buckets: dict[Decimal, _Bucket] = field(default_factory=dict)
    last_price: Decimal | None = None
    next_sample_ms: int = 0
    log_mids: deque[float] = field(default_factory=deque)
    imbalance_samples: deque[dict[int, Decimal | None]] = field(default_factory=deque)
    book_latency_ms: int | None = None
    trade_latency_ms: int | None = None


class MarketAnalyzer:
    """Fold market events into per-symbol metrics.

    Give it `books` to share the order books a stream client already maintains (the client applies
    each book update before handing the event on); without, it keeps its own and applies them.
    """

    def __init__(self, config: AnalyzerConfig | None = None, books: BookSet | None = None) -> None:
        self.config = config or AnalyzerConfig()
        self._owns_books = books is None
        self.books = books if books is not None else BookSet()
        self._states: dict[tuple[Category, str], _SymbolState] = {}

    def on_events(self, events: Iterable[MarketEvent]) -> None:
        """Fold many events, in order."""
        for event in events:
            self.on_event(event)

    def on_event(self, event: MarketEvent) -> None:
        """Fold one event."""
        state = self._state(event.category, event.symbol)
        if event.ts_ms > state.ts_ms:
            state.ts_ms = event.ts_ms
        if isinstance(event, BookUpdate):
            if self._owns_books:
                self.books.apply(event)
            state.book_latency_ms = event.latency_ms
            self._sample(state)
        elif isinstance(event, TradesUpdate):
            state.trade_latency_ms = event.latency_ms
            for trade in event.trades:
                self._add_trade(state, trade.ts_ms, trade.side is Side.BUY, trade.price, trade.size)
        self._expire(state)

    def symbols(self) -> list[tuple[Category, str]]:
        """Return the (category, symbol) pairs seen so far."""
        return list(self._states)

    def book(self, symbol: str, category: Category = Category.LINEAR) -> OrderBook | None:
        """Return the book the metrics of `symbol` are read from."""
        if self.config.book_depth is not None:
            return self.books.get(category, symbol, self.config.book_depth)
        return self.books.deepest(category, symbol)

    def metrics(self, symbol: str, category: Category = Category.LINEAR) -> MarketMetrics | None:
        """Return the current metrics of a symbol, or None if no event of it was seen."""
        state = self._states.get((category, symbol))
        if state is None:
            return None
        cfg = self.config
        book = self.book(symbol, category)
        best_bid = book.best_bid() if book is not None else None
        best_ask = book.best_ask() if book is not None else None
        if book is not None:
            imbalance = book.imbalances(cfg.imbalance_depths)
        else:
            imbalance = dict.fromkeys(cfg.imbalance_depths)
        flow_total = _EXACT.add(state.buy_volume, state.sell_volume)
        clusters, poc = self._clusters(state)
        vol = _stdev_of_returns(state.log_mids)
        return MarketMetrics(
            category=category,
            symbol=symbol,
            ts_ms=state.ts_ms,
            book_valid=book is not None and book.is_valid,
            book_invalid_reason=book.invalid_reason if book is not None else "no order book",
            best_bid=best_bid[0] if best_bid else None,
            best_ask=best_ask[0] if best_ask else None,
            mid=book.mid() if book is not None else None,
            spread=book.spread() if book is not None else None,
            spread_bps=book.spread_bps() if book is not None else None,
            microprice=book.microprice() if book is not None else None,
            imbalance=imbalance,
            imbalance_mean=self._imbalance_mean(state),
            trade_count=len(state.flow),
            buy_volume=state.buy_volume,
            sell_volume=state.sell_volume,
            trade_flow_imbalance=_DIV.divide(state.buy_volume, flow_total) if flow_total else None,
            vwap=_DIV.divide(state.flow_notional, flow_total) if flow_total else None,
            last_price=state.last_price,
            clusters=clusters,
            point_of_control=poc,
            volatility=vol,
            volatility_annualized=vol * math.sqrt(_YEAR_MS / cfg.sample_ms) if vol is not None else None,
            book_latency_ms=state.book_latency_ms,
            trade_latency_ms=state.trade_latency_ms,
        )

    # --- internals ---------------------------------------------------------------------------------

    def _state(self, category: Category, symbol: str) -> _SymbolState:
        key = (category, symbol)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _SymbolState(category, symbol)
        return state

    def _add_trade(
        self, state: _SymbolState, ts_ms: int, is_buy: bool, price: Decimal, size: Decimal
    ) -> None:
        notional = _EXACT.multiply(price, size)
        state.flow.append((ts_ms, is_buy, size, notional))
        if is_buy:
            state.buy_volume = _EXACT.add(state.buy_volume, size)
        else:
            state.sell_volume = _EXACT.add(state.sell_volume, size)
        state.flow_notional = _EXACT.add(state.flow_notional, notional)
        state.last_price = price
        cfg = self.config
        volume = notional if cfg.cluster_volume_unit is VolumeUnit.QUOTE else size
        bucket_price = _bucket(price, cfg.cluster_price_step)
        state.cluster_trades.append((ts_ms, bucket_price, is_buy, volume))
        bucket = state.buckets.get(bucket_price)
        if bucket is None:
            bucket = state.buckets[bucket_price] = _Bucket()
        bucket.volume = _EXACT.add(bucket.volume, volume)
        if is_buy:
            bucket.buy = _EXACT.add(bucket.buy, volume)
        else:
            bucket.sell = _EXACT.add(bucket.sell, volume)
        bucket.trades += 1

    def _expire(self, state: _SymbolState) -> None:
        cfg = self.config
        flow_start = state.ts_ms - cfg.trade_window_ms
        flow = state.flow
        while flow and flow[0][0] <= flow_start:
            _, is_buy, size, notional = flow.popleft()
            if is_buy:
                state.buy_volume = _EXACT.subtract(state.buy_volume, size)
            else:
                state.sell_volume = _EXACT.subtract(state.sell_volume, size)
            state.flow_notional = _EXACT.subtract(state.flow_notional, notional)
        cluster_start = state.ts_ms - cfg.cluster_window_ms
        trades = state.cluster_trades
        while trades and trades[0][0] <= cluster_start:
            _, bucket_price, is_buy, volume = trades.popleft()
            bucket = state.buckets[bucket_price]
            bucket.trades -= 1
            if not bucket.trades:
                del state.buckets[bucket_price]
                continue
            bucket.volume = _EXACT.subtract(bucket.volume, volume)
            if is_buy:
                bucket.buy = _EXACT.subtract(bucket.buy, volume)
            else:
                bucket.sell = _EXACT.subtract(bucket.sell, volume)

    def _sample(self, state: _SymbolState) -> None:
        """Sample the mid and imbalances at the first book event at or after each `sample_ms` boundary.

        Boundaries passed without any book event (so without any book change) repeat the previous
        sample: zero returns, as the book did not move. Samples are skipped while the book is invalid.
        """
        cfg = self.config
        if state.ts_ms < state.next_sample_ms:
            return
        crossed = (state.ts_ms - state.next_sample_ms) // cfg.sample_ms + 1
        state.next_sample_ms = (state.ts_ms // cfg.sample_ms + 1) * cfg.sample_ms
        book = self.book(state.symbol, state.category)
        if book is None or not book.is_valid:
            return
        mid = book.mid()
        if mid is None or mid <= 0:
            return
        if state.log_mids and state.next_sample_ms > cfg.sample_ms:
            for _ in range(min(crossed - 1, cfg.sample_window)):
                state.log_mids.append(state.log_mids[-1])
                state.imbalance_samples.append(state.imbalance_samples[-1])
        state.log_mids.append(math.log(mid))
        state.imbalance_samples.append(book.imbalances(cfg.imbalance_depths))
        while len(state.log_mids) > cfg.sample_window + 1:
            state.log_mids.popleft()
        while len(state.imbalance_samples) > cfg.sample_window:
            state.imbalance_samples.popleft()

    def _imbalance_mean(self, state: _SymbolState) -> dict[int, Decimal | None]:
        out: dict[int, Decimal | None] = {}
        for depth in self.config.imbalance_depths:
            values = [v for s in state.imbalance_samples if (v := s.get(depth)) is not None]
            total = sum(values, _ZERO)
            out[depth] = _DIV.divide(total, len(values)) if values else None
        return out

    def _clusters(self, state: _SymbolState) -> tuple[tuple[VolumeCluster, ...], Decimal | None]:
        cfg = self.config
        if not state.buckets:
            return (), None
        ranked = sorted(state.buckets.items(), key=lambda kv: (-kv[1].volume, kv[0]))
        poc = ranked[0][0]
        clusters = tuple(
            VolumeCluster(price, b.volume, b.buy, b.sell, b.trades)
            for price, b in ranked[: cfg.max_clusters]
            if b.volume >= cfg.min_cluster_volume
        )
        return clusters, poc


def _bucket(price: Decimal, step: Decimal | None) -> Decimal:
    if step is None:
        return price
    return _EXACT.multiply(_EXACT.divide(price, step).to_integral_value(rounding=ROUND_FLOOR), step)


def _stdev_of_returns(log_mids: deque[float]) -> float | None:
    if len(log_mids) < 3:
        return None
    returns = [b - a for a, b in pairwise(log_mids)]
    mean = math.fsum(returns) / len(returns)
    return math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
