"""Shared test fixtures: paths to ../shared, and real PostgreSQL / Redis with per-run isolation.

Services: tests that need PostgreSQL or Redis use the `postgres_url` / `redis_url` fixtures. Where a
service is unreachable they skip with the reason, unless BST_REQUIRE_SERVICES=1 (CI), where they
fail. Each test session gets its own PostgreSQL database and Redis key prefix and removes them.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

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
