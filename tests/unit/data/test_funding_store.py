"""The funding-rate store: exact rates, merged downloads, and paging backwards through the history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bst.data.funding import FUNDING_PAGE, FundingStore, download_funding
from bst.domain.errors import ConfigError
from bst.domain.market import Category

LINEAR = Category.LINEAR
H8 = 8 * 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def test_rates_are_stored_exactly_and_a_later_write_merges_and_replaces(tmp_path: Path) -> None:
    store = FundingStore(tmp_path)
    assert store.read(LINEAR, "BTCUSDT") == []
    assert store.write(LINEAR, "BTCUSDT", [(T0 + H8, "0.00012345"), (T0, "0.0001")]) == 2
    assert store.write(LINEAR, "BTCUSDT", [(T0 + H8, "-0.0002"), (T0 + 2 * H8, "0.00007")]) == 1
    assert store.read(LINEAR, "BTCUSDT") == [
        (T0, Decimal("0.0001")),
        (T0 + H8, Decimal("-0.0002")),
        (T0 + 2 * H8, Decimal("0.00007")),
    ]
    assert store.read(LINEAR, "BTCUSDT", T0 + 1, T0 + 2 * H8) == [(T0 + H8, Decimal("-0.0002"))]
    with pytest.raises(ConfigError, match="is not a decimal"):
        store.write(LINEAR, "BTCUSDT", [(T0, "abc")])
    assert len(store.read(LINEAR, "BTCUSDT")) == 3  # a refused write changed nothing


@dataclass(frozen=True)
class Record:
    funding_time_ms: int
    funding_rate: Decimal


class History:
    """Bybit's answer as the reference describes it: the latest `limit` settlements up to `end_ms`."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = sorted(records, key=lambda r: r.funding_time_ms)
        self.calls: list[tuple[int | None, int | None]] = []

    async def get_funding_history(
        self,
        category: Category,
        symbol: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = FUNDING_PAGE,
    ) -> list[Record]:
        self.calls.append((start_ms, end_ms))
        found = [
            r
            for r in self.records
            if (start_ms is None or r.funding_time_ms >= start_ms)
            and (end_ms is None or r.funding_time_ms <= end_ms)
        ]
        return found[-limit:]


async def test_a_long_history_is_read_backwards_page_by_page(tmp_path: Path) -> None:
    history = History([Record(T0 + i * H8, Decimal(i) / 100_000) for i in range(450)])
    store = FundingStore(tmp_path)
    new = await download_funding(history, store, LINEAR, "BTCUSDT", T0 + 10 * H8, T0 + 440 * H8)
    assert new == 431
    stored = store.read(LINEAR, "BTCUSDT")
    assert [t for t, _ in stored] == [T0 + i * H8 for i in range(10, 441)]
    assert stored[0][1] == Decimal("0.0001")
    assert len(history.calls) == 3  # 200 + 200 + 31
    assert await download_funding(history, store, LINEAR, "BTCUSDT", T0, T0 + 5 * H8) == 6
