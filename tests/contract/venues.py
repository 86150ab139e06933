"""The trading venues the contract suite runs against, each behind `OrderGateway` + `AccountFeed`.

A `TradingVenue` is one funded account on one venue, plus what a case needs to know about that
venue's market to predict exact results (top of book, a price that rests now and fills later, the
fee rates) and one way to move the market (`trade_through`). Two venues:

- `sim`: `BybitRestClient` + `PrivateStream` against `bst sim` over loopback (the session sim,
  reset; its clock is frozen, so the book is the generator's book at `NOW`).
- `engine`: `EngineGateway` over an in-process `MatchingEngine` fed a hand-made BTCUSDT market.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bst.bybit.endpoints import UID_LIMITS_PER_S
from bst.domain.account_events import AccountEvent, ResyncEvent
from bst.domain.clock import ManualClock
from bst.domain.events import BookUpdate, TradesUpdate
from bst.domain.instrument import Instrument
from bst.domain.market import Category, Side, Trade
from bst.domain.ports import AccountFeed, OrderGateway
from bst.engine import EngineConfig, MatchingEngine, SymbolSpec
from bst.engine.gateway import EngineHub
from bst.exchange.config import ClientConfig, Credentials, RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.exchange.throttle import RateLimiter
from bst.exchange.ws_private import PrivateStream, PrivateStreamConfig

NOW = 1_717_243_230_500  # the sim fixtures' frozen clock; the engine venue starts there too
SYMBOL = "BTCUSDT"
LINEAR = Category.LINEAR
BALANCE = Decimal(100_000)
TAKER, MAKER = Decimal("0.00055"), Decimal("0.0002")  # Bybit's base tier, both venues' default
WAIT_S = 20.0  # a safety net for events over loopback on a loaded machine; normally milliseconds
KEY, SECRET = "contract-key", "contract-secret"


@dataclass
class TradingVenue:
    """One funded account (`BALANCE` USDT) on a venue, with what the cases need to know of its market."""

    name: str
    gateway: OrderGateway
    feed: AccountFeed
    instrument: Instrument
    best_bid: Decimal
    best_ask: Decimal
    resting_fill_price: Decimal
    """A buy limit at this price rests now and fills completely (as maker) after `trade_through()`."""
    trade_through: Callable[[], Awaitable[None]]
    """Move the market so that it trades below `resting_fill_price`."""

    async def next_event(self) -> AccountEvent:
        """Return the feed's next event (failing the test after `WAIT_S` of real time)."""
        return await asyncio.wait_for(anext(aiter(self.feed)), WAIT_S)

    async def events_until(self, done: Callable[[list[AccountEvent]], bool]) -> list[AccountEvent]:
        """Return the feed's events up to the first point where `done(events so far)` holds."""
        seen: list[AccountEvent] = []
        while not done(seen):
            seen.append(await self.next_event())
        return seen

    async def hand_over(self) -> list[AccountEvent]:
        """Return the events up to and including the next `ResyncEvent`."""
        return await self.events_until(lambda seen: bool(seen) and isinstance(seen[-1], ResyncEvent))


# --- bst sim over loopback -------------------------------------------------------------------------


class _SimTime:
    """A client clock that reads the sim's frozen clock and sleeps for real (retry backoff)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    def now_ms(self) -> int:
        return int(self.sim.clock.now_ms())

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def sim_venue(sim: Any) -> AsyncIterator[TradingVenue]:
    """Yield a venue on the (reset) session sim: a fresh desk with one funded API key."""
    from bst.sim.trading_desk import ApiAccount, desk_of

    desk = desk_of(sim.state)
    desk.reset()
    desk.add_account(ApiAccount(KEY, SECRET, {"USDT": BALANCE}))
    clock = _SimTime(sim)
    config = ClientConfig(
        base_url=sim.base_url,
        credentials=Credentials(KEY, SECRET),
        retry=RetryConfig(
            max_attempts=3, initial_delay_s=0.01, backoff_factor=2.0, max_delay_s=0.2, jitter_s=0
        ),
        timeout_s=10.0,
    )
    client = BybitRestClient(
        config, clock=clock, limiter=RateLimiter(clock, 1_000_000, 5.0, dict(UID_LIMITS_PER_S))
    )
    stream = PrivateStream(
        PrivateStreamConfig(sim.ws_url, Credentials(KEY, SECRET), seed=7), rest=client, clock=ManualClock(NOW)
    )
    gen = sim.generator
    book = gen.book_snapshot(SYMBOL, NOW, 50)
    [instrument] = [i for i in gen.instruments(LINEAR, NOW) if i.symbol == SYMBOL]
    lowest = min(t.price for t in gen.trades(SYMBOL, NOW + 1, NOW + 30 * 60_000))

    async def trade_through() -> None:
        sim.clock.advance(30 * 60)  # the generated market trades below the price within 30 minutes

    try:
        yield TradingVenue(
            name="sim",
            gateway=client,
            feed=stream,
            instrument=instrument,
            best_bid=book.bids[0][0],
            best_ask=book.asks[0][0],
            resting_fill_price=lowest + instrument.tick_size,
            trade_through=trade_through,
        )
    finally:
        await stream.close()
        await client.aclose()


# --- the in-process engine -------------------------------------------------------------------------

BTC_LINEAR = Instrument(
    symbol=SYMBOL,
    category=LINEAR,
    status="Trading",
    base_coin="BTC",
    quote_coin="USDT",
    settle_coin="USDT",
    tick_size=Decimal("0.1"),
    qty_step=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    max_qty=Decimal("1190"),
    max_market_qty=Decimal("500"),
    min_notional=Decimal("5"),
    min_price=Decimal("0.1"),
    max_price=Decimal("1999999.8"),
    min_leverage=Decimal(1),
    max_leverage=Decimal(100),
    leverage_step=Decimal("0.01"),
    contract_type="LinearPerpetual",
    funding_interval_min=480,
)
ENGINE_BID, ENGINE_ASK = Decimal("67000.0"), Decimal("67000.1")


def engine_book(ts_ms: int, levels: int = 50) -> BookUpdate:
    """Return a 50-level snapshot: one tick apart, 0.5 BTC a level, the spread one tick."""
    tick = BTC_LINEAR.tick_size
    bids = [[str(ENGINE_BID - i * tick), "0.5"] for i in range(levels)]
    asks = [[str(ENGINE_ASK + i * tick), "0.5"] for i in range(levels)]
    return BookUpdate(LINEAR, SYMBOL, levels, True, bids, asks, 1, 1, ts_ms, ts_ms, ts_ms)


async def engine_venue() -> AsyncIterator[TradingVenue]:
    """Yield a venue on a fresh engine fed, as a backtest feeds it, a hand-made BTCUSDT market."""
    engine = MatchingEngine(EngineConfig(seed=11))
    engine.add_symbol(SymbolSpec(BTC_LINEAR, market_slippage_ratio=Decimal("0.01")))
    hub = EngineHub(engine)
    hub.apply(engine_book(NOW))
    gateway = hub.open_account({"USDT": BALANCE})
    fill_price = ENGINE_BID - 100 * BTC_LINEAR.tick_size

    async def trade_through() -> None:
        at_ms = engine.now_ms + 1_000
        below = Trade(at_ms, SYMBOL, Side.SELL, fill_price - BTC_LINEAR.tick_size, Decimal(1), "t-1")
        hub.apply(TradesUpdate(LINEAR, SYMBOL, (below,), at_ms, at_ms))

    try:
        yield TradingVenue(
            name="engine",
            gateway=gateway,
            feed=gateway,
            instrument=BTC_LINEAR,
            best_bid=ENGINE_BID,
            best_ask=ENGINE_ASK,
            resting_fill_price=fill_price,
            trade_through=trade_through,
        )
    finally:
        await gateway.close()
