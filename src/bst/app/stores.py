"""Candle stores, the SQL database and the kline cache, built from `Settings`."""

from __future__ import annotations

from pathlib import Path

from bst.data.cache import KlineCache
from bst.data.market_snapshots import MarketSnapshotStore
from bst.data.sql import KlineDatabase
from bst.data.store import KlineStore
from bst.settings import Settings

__all__ = [
    "KlineCache",
    "KlineDatabase",
    "KlineStore",
    "MarketSnapshotStore",
    "data_dir",
    "kline_cache",
    "kline_database",
    "kline_store",
    "persisting_database",
    "snapshot_store",
]


def data_dir(settings: Settings, override: Path | None = None) -> Path:
    """Return the store directory: `override` (a --data-dir), else BYBIT_DATA_DIR."""
    return override if override is not None else settings.data_dir


def kline_store(settings: Settings, override: Path | None = None) -> KlineStore:
    """Return the Parquet candle store under `data_dir(settings, override)`."""
    return KlineStore(data_dir(settings, override))


def kline_database(settings: Settings) -> KlineDatabase:
    """Return the SQL database at BYBIT_DATABASE_URL (opened on first use; close it when done)."""
    return KlineDatabase(settings.database.url)


def persisting_database(settings: Settings, *, wanted: bool = True) -> KlineDatabase | None:
    """Return the database downloads also write to, or None when BYBIT_DB_PERSIST_ENABLED is off."""
    return kline_database(settings) if wanted and settings.database.persist_enabled else None


def kline_cache(settings: Settings, *, wanted: bool = True) -> KlineCache | None:
    """Return the kline cache (Redis at BYBIT_REDIS_URL, else in-process), or None when disabled."""
    cache = settings.cache
    if not (wanted and cache.enabled):
        return None
    return KlineCache(cache.redis_url, ttl_s=cache.ttl_s, max_candles=cache.max_candles)


def snapshot_store(settings: Settings) -> MarketSnapshotStore:
    """Return the SQL table recorded stream messages go to (market_data_snapshots)."""
    return MarketSnapshotStore(settings.database.url)
