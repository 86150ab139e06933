"""Shared test fixtures: paths to ../shared, and real PostgreSQL / Redis with per-run isolation.

Services: tests that need PostgreSQL or Redis use the `postgres_url` / `redis_url` fixtures. Where a
service is unreachable they skip with the reason, unless BST_REQUIRE_SERVICES=1 (CI), where they
fail. Each test session gets its own PostgreSQL database and Redis key prefix and removes them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge behaviour, never speed: on a loaded 2-core machine example generation and single
# examples can be slow, so the time-based health check and per-example deadline are off for every test.
settings.register_profile("bst", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bst")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BST_SHARED_DIR", REPO_ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "bybit"
SHARED_DATA = SHARED / "data"

PG_ADMIN_URL = os.environ.get("BST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]


def _services_required() -> bool:
    return os.environ.get("BST_REQUIRE_SERVICES", "") == "1"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), 1.0):
            return True
    except OSError:
        return False


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable; set BST_TEST_POSTGRES_URL/BST_TEST_REDIS_URL or start it"
    if _services_required():
        pytest.fail(f"{message} (BST_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """Return ../shared (fixtures and data); skip when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared material not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir(shared_dir: Path) -> Path:
    """Return ../shared/fixtures/bybit."""
    return shared_dir / "fixtures" / "bybit"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Yield an asyncpg SQLAlchemy URL of a fresh database that is dropped afterwards."""
    if not _reachable(PG_ADMIN_URL, 5432):
        _unavailable(f"PostgreSQL at {PG_ADMIN_URL}")
    import asyncio

    import asyncpg

    name = f"bst_test_{RUN_ID}"
    parsed = urlparse(PG_ADMIN_URL)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    netloc = parsed.netloc
    try:
        yield f"postgresql+asyncpg://{netloc}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return the Redis URL; skip (or fail under BST_REQUIRE_SERVICES=1) when unreachable."""
    if not _reachable(REDIS_URL, 6379):
        _unavailable(f"Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """Yield a key prefix unique to this test; every key under it is deleted afterwards."""
    import redis

    prefix = f"bsttest:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


# ==============================================================================================
# sim fixtures (owned by the simulator, src/bst/sim): a running `bst sim` for any test.
# `sim`: the shared session server, reset before each test. `sim_factory`: extra servers with their
# own config (limits, faults, clock); all are stopped at the end of the test.
# ==============================================================================================

SIM_SEED = 20240601
SIM_NOW_MS = 1_717_243_230_500  # 2024-06-01 12:00:30.500 UTC: mid-minute, so the live bar is partial
SIM_TEST_IP_LIMIT = 1_000_000  # effectively off; tests of the IP limit configure their own


@pytest.fixture(scope="session")
def _sim_session_server() -> Iterator[Any]:
    from bst.domain.clock import ManualClock
    from bst.sim.server import SimServer
    from bst.sim.state import SimConfig

    server = SimServer(
        SimConfig(port=0, seed=SIM_SEED, ip_limit_requests=SIM_TEST_IP_LIMIT), clock=ManualClock(SIM_NOW_MS)
    )
    server.start_in_thread()
    yield server
    server.stop_thread()


@pytest.fixture
def sim(_sim_session_server: Any) -> Any:
    """Return a running SimServer: port 0, seed SIM_SEED, ManualClock at SIM_NOW_MS, IP limit off, no faults.

    Shared by the session and reset for each test (clock, faults, counters). Use `sim.base_url`,
    `sim.ws_url`, `sim.generator` (ground truth), `sim.clock.advance(s)`, `sim.set_faults(...)`.
    """
    from bst.domain.clock import ManualClock

    _sim_session_server.set_clock(ManualClock(SIM_NOW_MS))
    _sim_session_server.reset()
    return _sim_session_server


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., Any]]:
    """Yield `make(clock=None, modules=None, **SimConfig fields)` starting extra sims in threads.

    Defaults: port 0, seed SIM_SEED, ManualClock at SIM_NOW_MS, Bybit's IP limit (600 / 5 s).
    Pass `clock=SystemClock()` for a live clock. Every sim made is stopped after the test.
    """
    from bst.domain.clock import ManualClock
    from bst.sim.server import SimServer
    from bst.sim.state import SimConfig

    started: list[Any] = []

    def make(*, clock: Any = None, modules: Any = None, **overrides: Any) -> Any:
        config = SimConfig(**{"port": 0, "seed": SIM_SEED, **overrides})
        server = SimServer(
            config, clock=clock if clock is not None else ManualClock(SIM_NOW_MS), modules=modules
        )
        server.start_in_thread()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop_thread()
