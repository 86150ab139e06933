"""The REST client against a real `bst sim` over loopback: exact data, errors, retries, rate limits."""

from __future__ import annotations

import socket
from decimal import Decimal
from typing import Any

import pytest

from bst.bybit import endpoints as ep
from bst.domain import errors as e
from bst.domain.clock import SystemClock
from bst.domain.market import Category, Interval
from bst.exchange.config import ClientConfig, RateLimitConfig, RetryConfig
from bst.exchange.rest import BybitRestClient
from bst.exchange.throttle import RateLimiter
from bst.sim.faults import FaultConfig

FAST_RETRY = RetryConfig(
    max_attempts=3, initial_delay_s=0.01, backoff_factor=2.0, max_delay_s=0.2, jitter_s=0.01
)
HOUR = 3_600_000


def client_for(sim: Any, **overrides: Any) -> BybitRestClient:
    """Return a client with its own rate budget (tests must not share the process-wide one)."""
    config = ClientConfig(base_url=sim.base_url, **{"retry": FAST_RETRY, "timeout_s": 2.0, **overrides})
    limiter = RateLimiter(SystemClock(), config.rate.requests_per_window, config.rate.window_s)
    return BybitRestClient(config, limiter=limiter)


async def test_server_time_is_the_sim_clock(sim: Any) -> None:
    async with client_for(sim) as client:
        t = await client.get_server_time()
    assert t.time_ms == sim.clock.now_ms()


async def test_klines_equal_the_generator_ground_truth(sim: Any) -> None:
    now = sim.clock.now_ms()
    end = Interval.H1.open_time_ms(now) - HOUR
    start = end - 99 * HOUR
    async with client_for(sim) as client:
        bars = await client.get_klines(
            Category.LINEAR, "BTCUSDT", Interval.H1, start_ms=start, end_ms=end, limit=1000
        )
    truth = sim.generator.bars("BTCUSDT", Interval.H1, start, end, now_ms=now)
    assert len(bars) == 100
    assert bars == truth
    assert all(isinstance(b.close, Decimal) for b in bars)


async def test_kline_columns_and_rows_agree_with_bars(sim: Any) -> None:
    now = sim.clock.now_ms()
    end = Interval.M1.open_time_ms(now) - 60_000
    start = end - 999 * 60_000
    async with client_for(sim) as client:
        bars = await client.fetch_klines(Category.LINEAR, "ETHUSDT", Interval.M1, start, end)
        cols = await client.fetch_kline_columns(Category.LINEAR, "ETHUSDT", Interval.M1, start, end)
        rows = await client.fetch_kline_rows(Category.LINEAR, "ETHUSDT", Interval.M1, start, end)
    assert cols["open_time_ms"].tolist() == [b.open_time_ms for b in bars]
    assert cols["close"].tolist() == [float(b.close) for b in bars]
    assert sorted(int(r[0]) for r in rows) == [b.open_time_ms for b in bars]


async def test_instruments_follow_the_cursor_through_every_page(sim: Any) -> None:
    async with client_for(sim) as client:
        one_page = await client.get_instruments(Category.LINEAR)
        paged = await client.get_instruments(Category.LINEAR, page_limit=1)
        btc = await client.get_instrument(Category.LINEAR, "BTCUSDT")
        with pytest.raises(e.BybitSymbolNotFoundError):  # sent as given: Bybit wants upper case
            await client.get_instrument(Category.LINEAR, "btcusdt")
    assert len(one_page) >= 3
    assert paged == one_page
    assert btc == sim.generator.instrument(Category.LINEAR, "BTCUSDT")


async def test_ticker_orderbook_and_trades_are_consistent(sim: Any) -> None:
    async with client_for(sim) as client:
        (ticker,) = await client.get_tickers(Category.LINEAR, "BTCUSDT")
        book = await client.get_orderbook(Category.LINEAR, "BTCUSDT", 50)
        trades = await client.get_recent_trades(Category.LINEAR, "BTCUSDT", 100)
    assert ticker.last_price == sim.generator.last_price("BTCUSDT", sim.clock.now_ms())
    assert len(book.bids) == 50
    assert len(book.asks) == 50
    assert book.bids[0][0] < book.asks[0][0]
    assert ticker.bid1_price == book.bids[0][0]
    assert ticker.ask1_price == book.asks[0][0]
    assert trades
    assert [t.ts_ms for t in trades] == sorted(t.ts_ms for t in trades)
    assert trades[-1].price == ticker.last_price


async def test_unknown_symbol_fails_at_once_without_retries(sim: Any) -> None:
    async with client_for(sim) as client:
        with pytest.raises(e.BybitSymbolNotFoundError, match=r"\[10001\]"):
            await client.get_klines(Category.LINEAR, "NOPEUSDT", Interval.H1)
        assert client.http.requests_sent == 1


async def test_bad_interval_from_the_server_maps_to_its_own_error(sim: Any) -> None:
    async with client_for(sim) as client:
        params = {"category": "linear", "symbol": "BTCUSDT", "interval": "7"}
        with pytest.raises(e.BybitInvalidIntervalError):
            await client.http.call(ep.KLINE, params)
        assert client.http.requests_sent == 1


async def test_out_of_range_limit_is_refused_locally(sim: Any) -> None:
    async with client_for(sim) as client:
        with pytest.raises(e.BybitInvalidParameterError, match="between 1 and 1000"):
            await client.get_klines(Category.LINEAR, "BTCUSDT", Interval.H1, limit=1001)
        assert client.http.requests_sent == 0


async def test_faulty_server_calls_still_succeed_within_the_retry_budget(sim_factory: Any) -> None:
    sim = sim_factory(
        ip_limit_requests=100_000,
        faults=FaultConfig(
            http_5xx_rate=0.15, timeout_rate=0.05, timeout_hold_s=5.0, error_rate=0.05, seed=11
        ),
    )
    now = sim.clock.now_ms()
    end = Interval.H1.open_time_ms(now) - HOUR
    retry = RetryConfig(
        max_attempts=8, initial_delay_s=0.01, backoff_factor=1.5, max_delay_s=0.1, jitter_s=0.01
    )
    async with client_for(sim, retry=retry, timeout_s=0.3) as client:
        results = [
            await client.get_klines(
                Category.LINEAR, "SOLUSDT", Interval.H1, start_ms=end - (i + 9) * HOUR, end_ms=end - i * HOUR
            )
            for i in range(40)
        ]
        sent = client.http.requests_sent
    for i, bars in enumerate(results):
        start = end - (i + 9) * HOUR
        assert bars == sim.generator.bars("SOLUSDT", Interval.H1, start, end - i * HOUR, now_ms=now)
    assert sent > 40  # faults happened and were retried


async def test_dropped_connections_are_retried(sim_factory: Any) -> None:
    sim = sim_factory(ip_limit_requests=100_000, faults=FaultConfig(drop_rate=0.3, seed=5))
    async with client_for(
        sim, retry=FAST_RETRY.__class__(max_attempts=10, initial_delay_s=0.0, jitter_s=0.0)
    ) as c:
        times = [await c.get_server_time() for _ in range(10)]
        assert c.http.requests_sent > 10
    assert all(t.time_ms == sim.clock.now_ms() for t in times)


async def test_ip_limit_breach_backs_off_and_completes(sim_factory: Any) -> None:
    # The sim allows 10 requests per rolling second; the client believes it may send 100.
    sim = sim_factory(clock=SystemClock(), ip_limit_requests=10, ip_limit_window_s=1.0)
    retry = RetryConfig(
        max_attempts=6, initial_delay_s=0.05, backoff_factor=2.0, max_delay_s=2.0, jitter_s=0.01
    )
    rate = RateLimitConfig(requests_per_window=100, window_s=1.0, penalty_s=0.2)
    async with client_for(sim, retry=retry, rate=rate) as client:
        times = [await client.get_server_time() for _ in range(25)]
        assert client.http.requests_sent > 25  # some were refused with 403 and repeated
        assert client.http.limiter.waited_s > 0
    assert len(times) == 25


async def test_a_client_within_its_budget_never_trips_the_limit(sim_factory: Any) -> None:
    sim = sim_factory(clock=SystemClock(), ip_limit_requests=10, ip_limit_window_s=0.5)
    rate = RateLimitConfig(requests_per_window=10, window_s=0.5)
    async with client_for(sim, rate=rate, retry=RetryConfig(max_attempts=1)) as client:
        for _ in range(30):
            await client.get_server_time()  # max_attempts=1: any 403 would raise here
        assert client.http.requests_sent == 30
        assert client.http.limiter.waited_s > 0


async def test_forced_rate_limit_replies_raise_after_the_retry_budget(sim_factory: Any) -> None:
    sim = sim_factory(ip_limit_requests=100_000, faults=FaultConfig(rate_limit_rate=1.0, seed=1))
    # Each reply says "0 remaining": the client then waits a whole (here short) window before retrying.
    rate = RateLimitConfig(penalty_s=0.01, window_s=0.3)
    async with client_for(sim, rate=rate) as client:
        with pytest.raises(e.BybitRateLimitError):
            await client.get_server_time()
        assert client.http.requests_sent == FAST_RETRY.max_attempts


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_host_is_a_connection_error() -> None:
    config = ClientConfig(base_url=f"http://127.0.0.1:{_closed_port()}", retry=FAST_RETRY)
    async with BybitRestClient(config) as client:
        with pytest.raises(e.BybitConnectionError, match="cannot connect"):
            await client.get_server_time()
        assert client.http.requests_sent == FAST_RETRY.max_attempts


async def test_time_sync_tracks_a_skewed_exchange_clock(sim: Any) -> None:
    # The sim's clock sits in 2024 while ours says 2026: the offset bridges the skew.
    async with client_for(sim) as client:
        offset = await client.sync_time()
        assert abs(client.http.exchange_now_ms() - sim.clock.now_ms()) < 2_000
    assert offset < -(10**9)
