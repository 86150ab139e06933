"""The stream recorder: lossless files rotated hourly, continuity report, crash-tolerant replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bst.data.recorder import StreamRecorder
from bst.data.recording import file_name
from bst.data.replay import ReplayStats, read_messages
from bst.domain.errors import ConfigError
from bst.domain.market import Category

HOUR = 3_600_000
T0 = 1_733_011_200_000  # 2024-12-01 00:00 UTC


def _ob500(fixtures_dir: Path) -> list[str]:
    path = fixtures_dir / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl"
    return path.read_text().splitlines()


def test_round_trip_is_exact_across_hourly_files(fixtures_dir: Path, tmp_path: Path) -> None:
    lines = _ob500(fixtures_dir)
    recorder = StreamRecorder(tmp_path, Category.LINEAR, ["orderbook.500.XRPUSDT"], started_ms=T0)
    received = []
    for i, line in enumerate(lines):
        recv_ms = T0 + HOUR - 25 + i  # the hour turns after 25 messages
        recorder.write(line, recv_ms)
        received.append((recv_ms, line))
    recorder.write('{"success":true,"ret_msg":"pong","op":"ping"}', T0 + HOUR + 100)
    received.append((T0 + HOUR + 100, '{"success":true,"ret_msg":"pong","op":"ping"}'))
    report = recorder.close(T0 + HOUR + 200)
    assert [f.name for f in report.files] == [
        file_name(Category.LINEAR, T0),
        file_name(Category.LINEAR, T0 + HOUR),
    ]
    assert [f.messages for f in report.files] == [25, 26]
    stats = ReplayStats()
    replayed = [(m.recv_ms, m.raw) for m in read_messages(tmp_path, stats=stats)]
    assert replayed == received
    assert (stats.files, stats.truncated) == (2, 0)
    topic = report.topics["orderbook.500.XRPUSDT"]
    assert (topic.messages, topic.snapshots, topic.deltas, topic.gaps, topic.last_update_id) == (
        50,
        1,
        49,
        0,
        20254918,
    )
    assert (report.messages, report.replies, report.gaps) == (51, 1, 0)
    saved = json.loads((tmp_path / f"report-linear-{T0}.json").read_text())
    assert saved["messages"] == 51
    assert saved["gaps"] == 0


def test_gaps_duplicates_and_restarts_are_reported(fixtures_dir: Path, tmp_path: Path) -> None:
    lines = _ob500(fixtures_dir)
    stream = lines[:10] + lines[11:20] + [lines[19]] + lines[20:]  # one delta lost, one repeated
    recorder = StreamRecorder(tmp_path, Category.LINEAR, [], started_ms=T0)
    for i, line in enumerate(stream):
        recorder.write(line, T0 + i * 100)
    restart = json.dumps(
        {"topic": "orderbook.500.XRPUSDT", "type": "snapshot", "ts": 1, "data": {"s": "XRPUSDT", "u": 1}}
    )
    recorder.write(restart, T0 + 60_000)
    recorder.mark(T0 + 60_001, "reconnect", count=1)
    report = recorder.close()
    topic = report.topics["orderbook.500.XRPUSDT"]
    assert (topic.gaps, topic.duplicates, topic.snapshots, topic.restarts) == (1, 1, 2, 1)
    assert topic.gap_list == [{"expected": 20254879, "got": 20254880, "recv_ms": T0 + 1000}]
    assert topic.max_silence_ms == 60_000 - 100 * (len(stream) - 1)
    assert report.marks == [{"recv_ms": T0 + 60_001, "kind": "reconnect", "count": 1}]
    marks: list[object] = []
    assert len(list(read_messages(tmp_path, marks=marks))) == len(stream) + 1  # type: ignore[arg-type]
    assert len(marks) == 1


def test_a_crash_keeps_everything_flushed(fixtures_dir: Path, tmp_path: Path) -> None:
    lines = _ob500(fixtures_dir)
    live = tmp_path / "live"
    recorder = StreamRecorder(live, Category.LINEAR, [], started_ms=T0, flush_interval_ms=0)
    for i, line in enumerate(lines[:30]):
        recorder.write(line, T0 + i)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    name = file_name(Category.LINEAR, T0)
    shutil.copy(live / name, crashed / name)  # the file as a kill -9 would leave it: no gzip trailer
    recorder.close()
    stats = ReplayStats()
    assert [m.raw for m in read_messages(crashed, stats=stats)] == lines[:30]
    assert stats.truncated == 1


def test_restart_in_the_same_hour_appends_a_member(tmp_path: Path) -> None:
    for n in range(2):
        recorder = StreamRecorder(tmp_path, Category.SPOT, [], started_ms=T0 + n)
        recorder.write(f'{{"n":{n}}}', T0 + 10 + n)
        recorder.close()
    assert [m.raw for m in read_messages(tmp_path)] == ['{"n":0}', '{"n":1}']


def test_unusable_output_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot create the output directory"):
        StreamRecorder(blocker / "sub", Category.LINEAR, [])
