"""The trading desk feeds the engine through the feeder exactly what its direct calls used to feed.

`reference_sync` below is the desk's former feeding loop, written against the engine's direct calls
(trades merged across symbols, then mark price and funding rate just before each funding boundary
and at now, then a book every 100 ms). The desk now turns the generator's output into domain market
events (`bst.sim.desk_feed`) merged by the engine's `Feeder`; over syncs that cross a funding
boundary and a pause longer than the 6 h catch-up limit, both engines end in the same state, to the
last id, fill, fee and queue place.
"""

from __future__ import annotations

from decimal import Decimal

from bst.domain.clock import ManualClock
from bst.domain.market import Category, Side, Trade
from bst.domain.orders import OrderRequest, OrderType, TimeInForce
from bst.engine import EngineConfig, MatchingEngine
from bst.sim.columns import PriceKind
from bst.sim.desk_feed import BOOK_DEPTH, BOOK_REFRESH_MS, CATCH_UP_LIMIT_MS, sync_sources
from bst.sim.generator import MarketGenerator
from bst.sim.state import SimConfig, SimState
from bst.sim.tickers import FUNDING_PERIOD_MS, funding_rate
from bst.sim.trading_commands import PlaceOrder
from bst.sim.trading_desk import ApiAccount, TradingConfig, TradingDesk, spec_for

D = Decimal
NOW = 1_717_243_230_500  # 2024-06-01 12:00:30.500 UTC
SEED = 20240601
L, S = Category.LINEAR, Category.SPOT
Key = tuple[Category, str]


class ReferenceFeed:
    """The desk's former feeding, by direct engine calls."""

    def __init__(self, gen: MarketGenerator, engine: MatchingEngine) -> None:
        self.gen, self.engine = gen, engine
        self.fed: dict[Key, int] = {}
        self.book_ms: dict[Key, int] = {}

    def start(self, key: Key, now_ms: int) -> None:
        if key in self.fed:
            return
        category, symbol = key
        self.engine.advance_time(now_ms)
        self.prices(key, now_ms)
        last = self.gen.last_trade(symbol, now_ms, category=category)
        price = self.gen.last_price(symbol, now_ms, category=category)
        side = Side.BUY if last.is_buy else Side.SELL
        self.engine.on_trade(symbol, price, D(0), side, now_ms, category=category)
        self.book(key, now_ms)
        self.fed[key] = now_ms

    def sync(self, now_ms: int) -> None:
        fed = self.fed
        if not fed or all(ms >= now_ms for ms in fed.values()):
            self.engine.advance_time(max(now_ms, self.engine.now_ms))
            return
        period = FUNDING_PERIOD_MS
        boundaries = range((min(fed.values()) // period + 1) * period, now_ms + 1, period)
        keys = sorted(fed)
        for end in (*(b - 1 for b in boundaries), now_ms):
            behind = [k for k in keys if fed[k] < end]
            merged: list[tuple[int, int, Trade]] = []
            for index, (category, symbol) in enumerate(behind):
                lo = max(fed[(category, symbol)] + 1, now_ms - CATCH_UP_LIMIT_MS)
                if lo <= end:
                    found = self.gen.trades(symbol, lo, end, category=category)
                    merged.extend((t.ts_ms, index, t) for t in found)
            merged.sort(key=lambda item: (item[0], item[1]))
            for _, index, t in merged:
                category, symbol = behind[index]
                self.engine.on_trade(symbol, t.price, t.size, t.side, t.ts_ms, category=category)
            for key in behind:
                self.prices(key, end)
                fed[key] = end
        for key in keys:
            if now_ms - self.book_ms.get(key, 0) >= BOOK_REFRESH_MS:
                self.book(key, now_ms)
        self.engine.advance_time(max(now_ms, self.engine.now_ms))

    def prices(self, key: Key, at_ms: int) -> None:
        category, symbol = key
        if category is not L:
            return
        mark = self.gen.mark_price(symbol, at_ms, category=category)
        index = self.gen.mark_price(symbol, at_ms, category=category, kind=PriceKind.INDEX)
        self.engine.on_mark_price(symbol, mark, at_ms, index_price=index, category=category)
        rate = funding_rate(self.gen.seed, self.gen.path(category, symbol).spec.key, at_ms)
        self.engine.on_funding_rate(symbol, rate, at_ms)

    def book(self, key: Key, at_ms: int) -> None:
        category, symbol = key
        snapshot = self.gen.book_snapshot(symbol, at_ms, BOOK_DEPTH, category=category)
        self.engine.on_book_snapshot(symbol, snapshot.bids, snapshot.asks, at_ms, category=category)
        self.book_ms[key] = at_ms


def _desk(clock: ManualClock) -> TradingDesk:
    state = SimState(SimConfig(seed=SEED), clock)
    account = ApiAccount("key", "secret", {"USDT": D(100_000)})
    return TradingDesk(state, TradingConfig(accounts=(account,), tick_s=0))


def _place(desk: TradingDesk, uid: int, request: OrderRequest, touched: list[Key]) -> None:
    desk.execute(uid, PlaceOrder(request), touched)


def _requests(gen: MarketGenerator) -> list[OrderRequest]:
    btc = gen.last_price("BTCUSDT", NOW, category=L)
    eth = gen.last_price("ETHUSDT", NOW, category=L)
    spot = gen.last_price("BTCUSDT", NOW, category=S)
    gtc = TimeInForce.GTC
    return [
        OrderRequest(L, "BTCUSDT", Side.BUY, OrderType.MARKET, D("0.002")),
        OrderRequest(L, "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.01"), btc - 30, gtc),
        OrderRequest(L, "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.001"), btc + 25, gtc),
        OrderRequest(S, "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.001"), spot - 20, gtc),
        OrderRequest(L, "ETHUSDT", Side.SELL, OrderType.LIMIT, D("0.5"), eth + 2, gtc),
    ]


SYNCS_MS = (250, 7_000, 60_000, 1_800_000, 3 * 3_600_000, 4 * 3_600_000, 4 * 3_600_000 + 100, 15 * 3_600_000)
"""Sync times after NOW: across the 16:00 funding boundary, then a pause longer than 6 h."""


def test_the_desk_feeds_through_the_feeder_what_its_direct_calls_fed() -> None:
    clock = ManualClock(NOW)
    desk = _desk(clock)
    gen = desk.generator
    uid = desk.keys["key"][1]
    reference = MatchingEngine(EngineConfig(seed=SEED))
    for category in (L, S):
        for instrument in gen.instruments(category, NOW):
            reference.add_symbol(spec_for(instrument))
    reference.advance_time(NOW)
    assert reference.open_account({"USDT": D(100_000)}) == uid
    feed = ReferenceFeed(gen, reference)
    touched = [(L, "BTCUSDT"), (S, "BTCUSDT"), (L, "ETHUSDT")]

    for request in _requests(gen):
        _place(desk, uid, request, touched)
        for key in touched:
            feed.start(key, NOW)
        feed.sync(NOW)
        reference.place_order(uid, request)
    for after_ms in SYNCS_MS:
        clock.advance((NOW + after_ms - clock.now_ms()) / 1000)
        desk.sync()
        feed.sync(clock.now_ms())

    engine = desk.engine
    fills = engine.executions(uid, L) + engine.executions(uid, S)
    assert {f.exec_type.value for f in fills} == {"Trade", "Funding"}  # the run filled and settled
    assert len(fills) == 9  # five orders filled; two positions paid at 16:00 and 00:00
    assert fills == reference.executions(uid, L) + reference.executions(uid, S)
    assert engine.wallet(uid) == reference.wallet(uid)
    assert engine.to_state() == reference.to_state()
    assert (desk.fed_ms, desk.book_ms) == (feed.fed, feed.book_ms)


def test_two_desks_synced_at_the_same_times_agree_to_the_last_id() -> None:
    states = []
    for _ in range(2):
        clock = ManualClock(NOW)
        desk = _desk(clock)
        uid = desk.keys["key"][1]
        for request in _requests(desk.generator):
            _place(desk, uid, request, [(L, "BTCUSDT"), (S, "BTCUSDT")])
        for after_ms in SYNCS_MS[:5]:
            clock.advance((NOW + after_ms - clock.now_ms()) / 1000)
            desk.sync()
        states.append(desk.engine.to_state())
    assert states[0] == states[1]


def test_sources_put_trades_then_tickers_then_books_at_one_instant() -> None:
    gen = MarketGenerator(SEED)
    boundary = (NOW // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS
    now_ms = boundary + 1_000
    fed = {(L, "BTCUSDT"): boundary - 2_000, (S, "BTCUSDT"): boundary - 500, (L, "ETHUSDT"): now_ms}

    sources = [list(source) for source in sync_sources(gen, fed, [(L, "ETHUSDT")], now_ms)]

    kinds = [{type(e).__name__ for e in source} for source in sources]
    assert kinds == [{"TradesUpdate"}, {"TradesUpdate"}, {"TickerUpdate"}, {"BookUpdate"}]
    assert [e.ts_ms for e in sources[2]] == [boundary - 1, now_ms]  # before the boundary, and now
    assert sources[0][0].ts_ms > boundary - 2_000
    assert sources[1][0].ts_ms > boundary - 500
    assert all(e.ts_ms <= now_ms for source in sources for e in source)
