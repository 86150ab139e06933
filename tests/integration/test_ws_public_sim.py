"""The public WebSocket client against `bst sim` over loopback: exact books, acks, faults, healing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bst.domain.clock import ManualClock
from bst.domain.events import BookUpdate, KlineUpdate, MarketEvent, TickerUpdate, TradesUpdate
from bst.domain.market import Category, Interval
from bst.domain.orderbook import OrderBook
from bst.exchange.ws_public import PublicStream, PublicStreamConfig, SubscriptionError
from bst.sim.tape import prints
from bst.sim.ws_public import PublicStreams, streams_of

SYMBOL = "BTCUSDT"
BOOK = f"orderbook.50.{SYMBOL}"
TIMEOUT_S = 20


@pytest.fixture
def hub(sim: Any) -> PublicStreams:
    hub = streams_of(sim.state)
    hub.reset()
    return hub


@pytest.fixture
async def stream(sim: Any, hub: PublicStreams) -> AsyncIterator[PublicStream]:
    config = PublicStreamConfig(sim.ws_url, Category.LINEAR, seed=1)
    client = PublicStream(config, clock=ManualClock(sim.clock.now_ms()))
    await client.start()
    async with asyncio.timeout(TIMEOUT_S):
        await client.wait_connected()
    yield client
    await client.close()


async def until_event(stream: PublicStream, done: Callable[[MarketEvent], bool]) -> list[MarketEvent]:
    """Consume events until `done(event)`; the timeout is only a safety net."""
    seen: list[MarketEvent] = []
    async with asyncio.timeout(TIMEOUT_S):
        async for event in stream:
            seen.append(event)
            if done(event):
                return seen
    raise AssertionError("the stream ended")


async def settle() -> None:
    """Let woken tasks run (no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


def book_equals_generator(sim: Any, book: OrderBook, ts_ms: int) -> bool:
    truth = sim.generator.book_snapshot(SYMBOL, ts_ms, 50)
    return book.is_valid and book.bids() == list(truth.bids) and book.asks() == list(truth.asks)


async def test_subscribe_and_follow_the_generators_market(sim: Any, stream: PublicStream) -> None:
    start = sim.clock.now_ms()
    await stream.subscribe([BOOK, f"publicTrade.{SYMBOL}", f"tickers.{SYMBOL}", f"kline.1.{SYMBOL}"])
    first = await until_event(stream, lambda e: isinstance(e, BookUpdate))
    book = stream.book(SYMBOL, 50)
    assert book is not None
    assert book_equals_generator(sim, book, start)
    sim.clock.advance(20.0)
    target = start + 20_000
    trades = prints(sim.generator, SYMBOL, start + 1, target)
    assert len(trades) >= 2
    seen = await until_event(
        stream,
        lambda e: isinstance(e, TradesUpdate) and e.trades[-1] == trades[-1],
    )
    seen += await until_event(stream, lambda e: book_equals_generator(sim, book, target))
    events = first + seen
    assert [t for e in events if isinstance(e, TradesUpdate) for t in e.trades] == trades
    tickers = [e for e in events if isinstance(e, TickerUpdate)]
    assert tickers[0].snapshot
    assert tickers[-1].ticker.last_price == sim.generator.last_price(SYMBOL, tickers[-1].ts_ms)
    klines = [e for e in events if isinstance(e, KlineUpdate)]
    assert klines
    last = klines[-1]
    open_ms = last.bars[-1].bar.open_time_ms
    assert (
        last.bars[-1].bar == sim.generator.bars(SYMBOL, Interval.M1, open_ms, open_ms, now_ms=last.ts_ms)[0]
    )
    assert stream.stats.gaps == stream.stats.resyncs == 0
    assert book.update_id > first[-1].update_id  # type: ignore[union-attr]


async def test_refused_topics_are_reported_per_topic(stream: PublicStream) -> None:
    with pytest.raises(SubscriptionError) as refused:
        await stream.subscribe(["orderbook.50.NOPEUSDT", f"publicTrade.{SYMBOL}", "orderbook.7.BTCUSDT"])
    assert refused.value.failures == {
        "orderbook.50.NOPEUSDT": "Invalid topic: orderbook.50.NOPEUSDT",
        "orderbook.7.BTCUSDT": "order-book depth 7 is not offered on linear (use 1, 50, 200, 500, 1000)",
    }
    assert stream.topics == [f"publicTrade.{SYMBOL}"]
    assert stream.failures == {"orderbook.50.NOPEUSDT": "Invalid topic: orderbook.50.NOPEUSDT"}
    await stream.unsubscribe([f"publicTrade.{SYMBOL}"])
    assert stream.topics == []


async def test_spot_requests_are_batched_by_ten(sim: Any, hub: PublicStreams) -> None:
    config = PublicStreamConfig(sim.ws_url, Category.SPOT, seed=1)
    topics = [
        f"{kind}.{symbol}"
        for symbol in ("BTCUSDT", "ETHUSDT")
        for kind in (
            "orderbook.1",
            "orderbook.50",
            "orderbook.200",
            "orderbook.1000",
            "publicTrade",
            "tickers",
            "kline.1",
        )
    ]
    async with PublicStream(config, clock=ManualClock(sim.clock.now_ms())) as spot:
        async with asyncio.timeout(TIMEOUT_S):
            await spot.wait_connected()
            await spot.subscribe(topics)  # 14 topics: the sim refuses more than 10 in one spot request
        assert sorted(spot.topics) == sorted(topics)
        assert spot.stats.subscribe_failures == 0


async def test_skipped_delta_is_detected_and_healed(
    sim: Any, stream: PublicStream, hub: PublicStreams
) -> None:
    start = sim.clock.now_ms()
    await stream.subscribe([BOOK])
    await until_event(stream, lambda e: isinstance(e, BookUpdate))
    hub.skip_deltas(1)
    sim.clock.advance(1.0)
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.resyncs == 1)
    book = stream.book(SYMBOL, 50)
    assert book is not None
    assert stream.stats.gaps == 1
    assert book.stats.gaps == 1
    await until_event(stream, lambda e: isinstance(e, BookUpdate) and e.snapshot)
    sim.clock.advance(1.0)
    await until_event(stream, lambda e: book_equals_generator(sim, book, start + 2000))
    assert book.stats.snapshots == 2
    assert hub.deltas_skipped == 1


async def test_snapshot_mid_stream_and_service_restart(
    sim: Any, stream: PublicStream, hub: PublicStreams
) -> None:
    await stream.subscribe([BOOK])
    await until_event(stream, lambda e: isinstance(e, BookUpdate))
    hub.send_snapshots()
    await until_event(stream, lambda e: isinstance(e, BookUpdate) and e.snapshot)
    hub.restart()
    restarted = await until_event(stream, lambda e: isinstance(e, BookUpdate) and e.snapshot)
    assert restarted[-1].update_id == 1  # type: ignore[union-attr]
    sim.clock.advance(0.5)
    book = stream.book(SYMBOL, 50)
    assert book is not None
    await until_event(stream, lambda e: isinstance(e, BookUpdate) and not e.snapshot)
    assert (book.stats.snapshots, book.stats.restarts, book.stats.gaps) == (3, 1, 0)
    assert book.is_valid
    assert stream.stats.resyncs == 0


async def test_dropped_connection_reconnects_and_resubscribes(
    sim: Any, stream: PublicStream, hub: PublicStreams
) -> None:
    await stream.subscribe([BOOK, f"tickers.{SYMBOL}"])
    await until_event(stream, lambda e: isinstance(e, BookUpdate))
    hub.drop_connections()
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.disconnects == 1)
    book = stream.book(SYMBOL, 50)
    assert book is not None
    assert not book.is_valid
    assert book.invalid_reason == "disconnected; waiting for a fresh snapshot"
    assert isinstance(stream.clock, ManualClock)
    stream.clock.advance(1.0)  # past the first backoff (0.5 s +- 20 %)
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.reconnects == 1 and book.is_valid)
    assert sorted(stream.topics) == sorted([BOOK, f"tickers.{SYMBOL}"])
    start = sim.clock.now_ms()
    sim.clock.advance(1.0)
    await until_event(stream, lambda e: book_equals_generator(sim, book, start + 1000))


async def test_dead_connection_is_detected_by_ping(
    sim: Any, stream: PublicStream, hub: PublicStreams
) -> None:
    await stream.subscribe([BOOK])
    await until_event(stream, lambda e: isinstance(e, BookUpdate))
    clock = stream.clock
    assert isinstance(clock, ManualClock)
    clock.advance(20.0)  # ping; the sim answers
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.pongs == 1)
    hub.set_muted(True)
    for _ in range(3):  # t=30 the pong check passes; t=40 a second ping, unanswered; t=50 dead
        clock.advance(10.0)
        await settle()
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.dead_connections == 1)
    hub.set_muted(False)
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.disconnects == 1)
    clock.advance(1.0)
    book = stream.book(SYMBOL, 50)
    assert book is not None
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.reconnects == 1 and book.is_valid)
    assert stream.stats.pings_sent == 2


async def test_delayed_messages_show_as_latency(sim: Any, hub: PublicStreams) -> None:
    clock = ManualClock(sim.clock.now_ms())
    async with PublicStream(PublicStreamConfig(sim.ws_url, Category.LINEAR), clock=clock) as stream:
        async with asyncio.timeout(TIMEOUT_S):
            await stream.wait_connected()
        await stream.subscribe([f"tickers.{SYMBOL}"])
        first = await until_event(stream, lambda e: isinstance(e, TickerUpdate))
        assert first[-1].latency_ms == 0
        clock.advance(0.25)  # the client's clock runs ahead of the exchange's: a latency of 250 ms
        sim.clock.advance(0.1)
        later = await until_event(stream, lambda e: isinstance(e, TickerUpdate))
        assert later[-1].latency_ms == 150
        assert stream.stats.max_latency_ms == 150


async def test_connect_failure_keeps_retrying_with_backoff() -> None:
    clock = ManualClock(1_700_000_000_000)
    config = PublicStreamConfig("ws://127.0.0.1:9", Category.LINEAR, seed=3, reconnect_jitter=0.0)
    stream = PublicStream(config, clock=clock)
    await stream.start()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await stream.wait_state(lambda: stream.stats.connect_failures == 1)
            assert clock.slept_s == [0.5]
            clock.advance(0.5)
            await stream.wait_state(lambda: stream.stats.connect_failures == 2)
        assert clock.slept_s == [0.5, 1.0]
        assert not stream.connected
    finally:
        await stream.close()


def test_config_checks() -> None:
    from bst.domain.errors import ConfigError

    with pytest.raises(ConfigError):
        PublicStreamConfig("ws://x", Category.OPTION)
    with pytest.raises(ConfigError):
        PublicStreamConfig("ws://x", Category.LINEAR, ping_interval_s=5, pong_timeout_s=5)
    assert (
        PublicStreamConfig("wss://stream.bybit.com/", Category.SPOT).url
        == "wss://stream.bybit.com/v5/public/spot"
    )


async def test_subscribe_while_unreachable_fails_when_closed() -> None:
    clock = ManualClock(1_700_000_000_000)
    stream = PublicStream(PublicStreamConfig("ws://127.0.0.1:9", Category.LINEAR), clock=clock)
    await stream.start()
    pending = asyncio.create_task(stream.subscribe([BOOK]))
    async with asyncio.timeout(TIMEOUT_S):
        await stream.wait_state(lambda: stream.stats.connect_failures >= 1)
        assert stream.topics == [BOOK]  # wanted: it would be sent on connecting
        await stream.close()
        with pytest.raises(SubscriptionError) as closed:
            await pending
    assert closed.value.failures == {BOOK: "the stream was closed"}
