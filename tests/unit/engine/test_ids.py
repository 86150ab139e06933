"""Order and execution ids: stable for a seed in epoch 0, disjoint across epochs, Bybit-shaped."""

from __future__ import annotations

import re

import pytest

from bst.engine.ids import IdFactory

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_epoch_zero_ids_are_the_ones_an_unpersisted_engine_always_gave() -> None:
    ids = IdFactory(seed=0)

    assert [ids.next_uuid(), ids.next_numeric()] == [
        "7dd394d3-8316-45a4-a545-f4914f6cdd1d",
        "1600000000000000002",
    ]


def test_ids_of_different_epochs_never_meet_even_when_the_counter_restarts() -> None:
    seen: dict[str, int] = {}
    for epoch in range(6):
        ids = IdFactory(seed=7, counter=0, epoch=epoch)
        for _ in range(200):
            for new in (ids.next_uuid(), ids.next_numeric()):
                assert seen.setdefault(new, epoch) == epoch, f"{new} reused in epoch {epoch}"

    assert len(seen) == 6 * 400


def test_ids_keep_bybit_shapes_in_every_epoch() -> None:
    for epoch in (0, 1, 5_999_999, 6_000_001):
        ids = IdFactory(seed=123, counter=10**12 - 2, epoch=epoch)
        uuid, numeric = ids.next_uuid(), ids.next_numeric()
        assert UUID.match(uuid), uuid
        assert numeric.isdigit()
        assert len(numeric) == 19


def test_a_negative_epoch_is_refused() -> None:
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        IdFactory(epoch=-1)
