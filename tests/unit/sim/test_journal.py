"""The sim's write-ahead journal: framing, group commit, torn tails, damage, failure, rotation."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bst.domain.errors import BybitServerError, ConfigError
from bst.sim.journal import Journal, frame, read_journal, remove_segments, segments, write_durably

PAYLOADS = [b'{"k":"step","t":%d}' % n for n in range(1, 6)]


def journal_at(tmp_path: Path) -> Path:
    return tmp_path / "state.json.journal-"


def fill(prefix: Path, payloads: list[bytes], first_lsn: int = 1) -> Journal:
    journal = Journal(prefix, first_lsn)
    for payload in payloads:
        journal.append(payload)
    journal.wait()
    return journal


def test_records_come_back_in_order_with_contiguous_lsns(tmp_path: Path) -> None:
    prefix = journal_at(tmp_path)
    journal = fill(prefix, PAYLOADS)
    journal.close()

    contents = read_journal(prefix, 0)

    assert contents.records == list(enumerate(PAYLOADS, start=1))
    assert contents.torn is None
    assert read_journal(prefix, 3).records == [(4, PAYLOADS[3]), (5, PAYLOADS[4])]
    assert journal.durable_lsn == journal.last_lsn == 5


def test_records_queued_while_a_sync_runs_share_the_next_sync(tmp_path: Path) -> None:
    gate, entered = threading.Event(), threading.Event()

    def gated_sync(fd: int) -> None:
        entered.set()
        gate.wait(10)
        os.fsync(fd)

    journal = Journal(journal_at(tmp_path), 1, sync_data=gated_sync)
    journal.append(b"first")
    assert entered.wait(10)  # the committer is inside its first sync
    for n in range(99):
        journal.append(b"queued %d" % n)
    gate.set()
    journal.wait()
    journal.close()

    assert journal.syncs == 2
    assert len(read_journal(journal_at(tmp_path), 0).records) == 100


def test_async_waiters_and_callbacks_see_only_durable_records(tmp_path: Path) -> None:
    gate, entered = threading.Event(), threading.Event()

    def gated_sync(fd: int) -> None:
        entered.set()
        gate.wait(10)

    journal = Journal(journal_at(tmp_path), 1, sync_data=gated_sync)
    seen: list[tuple[str, int]] = []

    async def scenario() -> None:
        first = journal.append(b"a")
        journal.when_durable(first, lambda: seen.append(("callback", journal.durable_lsn)))
        waiter = asyncio.create_task(journal.synced(first))
        await asyncio.sleep(0)
        assert entered.wait(10)
        assert not waiter.done()
        assert seen == []
        gate.set()
        await asyncio.wait_for(waiter, 10)
        seen.append(("waiter", journal.durable_lsn))

    asyncio.run(scenario())
    journal.close()

    assert sorted(seen) == [("callback", 1), ("waiter", 1)]


def test_a_torn_last_record_ends_the_journal_there(tmp_path: Path) -> None:
    prefix = journal_at(tmp_path)
    fill(prefix, PAYLOADS).close()
    (_, path), *_ = segments(prefix)
    whole = path.read_bytes()
    cut = len(whole) - 7  # a crash in the middle of appending the fifth record

    path.write_bytes(whole[:cut])
    contents = read_journal(prefix, 0)

    assert contents.records == list(enumerate(PAYLOADS[:4], start=1))
    assert contents.torn == (path, whole.rindex(b"5 "), cut - whole.rindex(b"5 "))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payloads=st.lists(
        st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b), min_size=1, max_size=12
    ),
    cut_at=st.floats(min_value=0.0, max_value=1.0),
    flip=st.one_of(st.none(), st.tuples(st.floats(min_value=0.0, max_value=0.999), st.integers(1, 255))),
)
def test_any_crash_or_corruption_of_the_last_segment_reads_as_a_prefix(
    tmp_path_factory: pytest.TempPathFactory,
    payloads: list[bytes],
    cut_at: float,
    flip: tuple[float, int] | None,
) -> None:
    prefix = tmp_path_factory.mktemp("journal") / "j-"
    data = bytearray(b"".join(frame(n, p) for n, p in enumerate(payloads, start=1)))
    del data[int(len(data) * cut_at) :]
    if flip is not None and data:
        position, mask = flip
        data[int(len(data) * position)] ^= mask
    prefix.with_name("j-000000000001").write_bytes(bytes(data))

    records = read_journal(prefix, 0).records

    assert records == list(enumerate(payloads, start=1))[: len(records)]


def test_damage_before_the_last_segment_or_a_gap_is_refused(tmp_path: Path) -> None:
    prefix = journal_at(tmp_path)
    journal = fill(prefix, PAYLOADS[:2])
    journal.rotate()
    journal.append(PAYLOADS[2])
    journal.wait()
    journal.close()
    (_, older), (_, newer) = segments(prefix)

    older.write_bytes(older.read_bytes().replace(b"step", b"stop"))
    with pytest.raises(ConfigError, match="is damaged at byte"):
        read_journal(prefix, 0)
    older.unlink()
    with pytest.raises(ConfigError, match="skips from record 0 to 3"):
        read_journal(prefix, 0)
    assert read_journal(prefix, 2).records == [(3, PAYLOADS[2])]
    assert newer.exists()


def test_rotation_splits_segments_and_covered_ones_are_removed(tmp_path: Path) -> None:
    prefix = journal_at(tmp_path)
    journal = fill(prefix, PAYLOADS[:2])
    assert journal.rotate() == 2
    assert journal.rotate() == 2  # nothing since: no empty segment
    journal.append(PAYLOADS[2])
    journal.wait()

    assert [first for first, _ in segments(prefix)] == [1, 3]
    remove_segments(prefix, 3)
    assert [first for first, _ in segments(prefix)] == [3]
    journal.append(PAYLOADS[3])
    journal.close()
    assert read_journal(prefix, 2).records == [(3, PAYLOADS[2]), (4, PAYLOADS[3])]
    remove_segments(prefix)
    assert segments(prefix) == []


def test_a_failed_sync_fails_every_later_call_and_runs_no_callback(tmp_path: Path) -> None:
    def broken_sync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    journal = Journal(journal_at(tmp_path), 1, sync_data=broken_sync)
    ran: list[int] = []
    journal.when_durable(journal.append(b"x"), lambda: ran.append(1))

    with pytest.raises(BybitServerError) as failed:
        journal.wait(timeout_s=10)
    assert failed.value.ret_code == 10016
    assert "No space left on device" in failed.value.ret_msg
    with pytest.raises(BybitServerError):
        journal.append(b"y")
    with pytest.raises(BybitServerError):
        asyncio.run(journal.synced())
    journal.close()
    assert ran == []
    assert journal.durable_lsn == 0


def test_appends_after_close_are_refused(tmp_path: Path) -> None:
    journal = fill(journal_at(tmp_path), PAYLOADS[:1])
    journal.close()

    with pytest.raises(BybitServerError, match="stopping"):
        journal.append(b"late")
    assert journal.closed


def test_write_durably_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")

    write_durably(path, b"new contents")

    assert path.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
