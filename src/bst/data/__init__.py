"""Market data: candle download, the Parquet store, SQL persistence, the Redis cache, recording/replay.

The one-liners most people want are importable from here (loaded lazily, so `import bst.data` is
cheap):

    from bst.data import load_klines
    frame = load_klines("BTCUSDT", "60", "2024-01-01", "2025-01-01")

    from bst.data import KlineStore, download_klines
    store = KlineStore("data")
    await download_klines(client, store, Category.LINEAR, "BTCUSDT", Interval.M1, start_ms, end_ms)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bst.data.arrays import KlineArrays
    from bst.data.cache import KlineCache
    from bst.data.download import (
        DownloadError,
        DownloadReport,
        DownloadRequest,
        download_klines,
        download_many,
    )
    from bst.data.klines_api import KlineFetcher
    from bst.data.loader import DataNotFoundError, load_klines
    from bst.data.manifest import SeriesKey
    from bst.data.sql import KlineDatabase
    from bst.data.store import KlineStore

_EXPORTS = {
    "KlineArrays": "bst.data.arrays",
    "KlineCache": "bst.data.cache",
    "DownloadError": "bst.data.download",
    "DownloadReport": "bst.data.download",
    "DownloadRequest": "bst.data.download",
    "download_klines": "bst.data.download",
    "download_many": "bst.data.download",
    "KlineFetcher": "bst.data.klines_api",
    "DataNotFoundError": "bst.data.loader",
    "load_klines": "bst.data.loader",
    "SeriesKey": "bst.data.manifest",
    "KlineDatabase": "bst.data.sql",
    "KlineStore": "bst.data.store",
}

__all__ = [
    "DataNotFoundError",
    "DownloadError",
    "DownloadReport",
    "DownloadRequest",
    "KlineArrays",
    "KlineCache",
    "KlineDatabase",
    "KlineFetcher",
    "KlineStore",
    "SeriesKey",
    "download_klines",
    "download_many",
    "load_klines",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bst.data' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
