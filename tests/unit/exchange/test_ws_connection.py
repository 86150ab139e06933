"""The connection machinery both stream clients share: settings checks, clock waits, reconnect backoff."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable

import pytest

from bst.domain.clock import ManualClock
from bst.domain.errors import BybitTimeoutError, ConfigError
from bst.domain.market import Category
from bst.exchange.config import Credentials
from bst.exchange.ws_connection import StreamConnectionConfig, wait_clock
from bst.exchange.ws_private import PrivateStream, PrivateStreamConfig
from bst.exchange.ws_public import PublicStream, PublicStreamConfig

SEED = 7


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}"


def public(url: str, clock: ManualClock, **settings: float) -> PublicStream:
    return PublicStream(PublicStreamConfig(url, Category.LINEAR, seed=SEED, **settings), clock=clock)


def private(url: str, clock: ManualClock, **settings: float) -> PrivateStream:
    creds = Credentials("key", "secret")
    return PrivateStream(PrivateStreamConfig(url, creds, seed=SEED, **settings), clock=clock)


MAKERS: list[Callable[..., PublicStream | PrivateStream]] = [public, private]


@pytest.mark.parametrize("make", MAKERS, ids=["public", "private"])
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ping_interval_s": 10.0, "pong_timeout_s": 10.0}, "pong_timeout_s must be positive"),
        ({"pong_timeout_s": 0.0}, "pong_timeout_s must be positive"),
        ({"reconnect_initial_s": 0.0}, "reconnect delays must be positive"),
        ({"reconnect_initial_s": 5.0, "reconnect_max_s": 1.0}, "reconnect delays must be positive"),
    ],
)
def test_both_configs_refuse_the_same_unworkable_settings(
    make: Callable[..., object], settings: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make("ws://127.0.0.1:1", ManualClock(), **settings)


def test_both_stream_configs_are_one_connection_type_with_their_own_path() -> None:
    public_config = PublicStreamConfig(
        "wss://stream.bybit.com/", Category.SPOT, ping_interval_s=15.0, pong_timeout_s=5.0, seed=4
    )
    private_config = PrivateStreamConfig(
        "wss://stream.bybit.com", Credentials("k", "s"), ping_interval_s=15.0, pong_timeout_s=5.0, seed=4
    )
    for config in (public_config, private_config):
        assert isinstance(config, StreamConnectionConfig)
        assert (config.ping_interval_s, config.pong_timeout_s, config.reconnect_max_s, config.seed) == (
            15.0,
            5.0,
            30.0,
            4,
        )
    assert public_config.url == "wss://stream.bybit.com/v5/public/spot"
    assert private_config.url == "wss://stream.bybit.com/v5/private"
    assert (public_config.event_queue_size, private_config.event_queue_size) == (100_000, 0)


def test_the_private_stream_refuses_a_bounded_queue() -> None:
    with pytest.raises(ConfigError, match="never drops events"):
        PrivateStreamConfig("ws://x", Credentials("k", "s"), event_queue_size=10)


async def test_wait_clock_gives_up_after_the_clock_passes_the_timeout() -> None:
    clock = ManualClock()
    never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(wait_clock(clock, never, 2.0, "no reply"))
    for _ in range(3):  # let the wait start its timer on the clock
        await asyncio.sleep(0)
    assert clock.slept_s == [2.0]
    clock.advance(1.999)
    await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(0.001)
    with pytest.raises(BybitTimeoutError, match=r"no reply within 2 s$"):
        await waiting
    assert never.cancelled()


async def test_wait_clock_returns_the_result_and_needs_no_timeout() -> None:
    clock = ManualClock()
    assert await wait_clock(clock, asyncio.sleep(0, result=41), None, "x") == 41
    assert await wait_clock(clock, asyncio.sleep(0, result=42), 1.0, "x") == 42


@pytest.mark.parametrize("make", MAKERS, ids=["public", "private"])
async def test_refused_connects_back_off_exponentially_with_seeded_jitter(
    make: Callable[..., PublicStream | PrivateStream],
) -> None:
    clock = ManualClock()
    stream = make(closed_port_url(), clock)
    rng = random.Random(SEED)
    expected = [min(30.0, 0.5 * 2.0**n) * (1 + 0.2 * (2 * rng.random() - 1)) for n in range(4)]
    await stream.start()
    try:
        for attempt in range(1, len(expected) + 1):
            # A refused connect is counted (and waiters woken) just before the backoff sleep starts.
            await asyncio.wait_for(
                stream.wait_state(lambda n=attempt: stream.stats.connect_failures == n), 5.0
            )
            assert clock.slept_s == pytest.approx(expected[:attempt], abs=1e-12)
            clock.advance(clock.slept_s[-1])
    finally:
        await stream.close()
    assert (stream.connection, stream.stats.connects) == (0, 0)
