"""Replay: Bybit's historical ob500 files (plain, gzip, zip) and bst recordings, exactly."""

from __future__ import annotations

import gzip
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bst.data.recording import (
    RecordingFormatError,
    decode_header,
    decode_record,
    encode_header,
    encode_mark,
    encode_record,
    file_name,
    hour_start_ms,
    parse_file_name,
)
from bst.data.replay import ReplayStats, read_messages, recording_files, replay
from bst.domain.bookset import BookSet
from bst.domain.errors import ConfigError
from bst.domain.events import BookUpdate
from bst.domain.market import Category
from bst.domain.orderbook import ApplyResult

D = Decimal
OB500_MEMBER = "2024-12-01_XRPUSDT_ob500.data"


def _final_book(source: Path, **kwargs: object) -> BookSet:
    books = BookSet()
    results = [books.apply(e) for e in replay(source, **kwargs) if isinstance(e, BookUpdate)]  # type: ignore[arg-type]
    assert results == [ApplyResult.SNAPSHOT] + [ApplyResult.APPLIED] * 49
    return books


def test_bybit_zip_replays_to_the_known_book(shared_dir: Path) -> None:
    stats = ReplayStats()
    zipped = shared_dir / "data" / "nautilus_bybit_xrpusdt-ob500_2024-12-01.data.zip"
    events = list(replay(zipped, stats=stats))
    assert (stats.files, stats.messages, stats.events, stats.unhandled) == (1, 50, 50, 0)
    first = events[0]
    assert isinstance(first, BookUpdate)
    assert (first.category, first.symbol, first.depth, first.recv_ms) == (
        Category.LINEAR,
        "XRPUSDT",
        500,
        1733011200691,
    )
    book = _final_book(zipped).get(Category.LINEAR, "XRPUSDT", 500)
    assert book is not None
    assert (book.best_bid(), book.best_ask(), book.update_id) == (
        (D("1.9537"), D("10605")),
        (D("1.9538"), D("6702")),
        20254918,
    )


def test_plain_gzip_and_zip_of_gzip_give_the_same_messages(fixtures_dir: Path, tmp_path: Path) -> None:
    plain = fixtures_dir / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl"
    gz = tmp_path / f"{OB500_MEMBER}.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    zipped = tmp_path / "history.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(gz, gz.name)
    expected = plain.read_text().splitlines()
    for source in (plain, gz, zipped):
        assert [m.raw for m in read_messages(source)] == expected
    assert [m.category for m in read_messages(plain, category=Category.SPOT)][:1] == [Category.SPOT]


def _write_recording(path: Path, category: Category, records: list[tuple[int, str]], marks: int = 0) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="\n") as out:
        out.write(encode_header(category, ["orderbook.50.BTCUSDT"], records[0][0] if records else 0))
        for i, (recv_ms, raw) in enumerate(records):
            if i < marks:
                out.write(encode_mark(recv_ms, "reconnect", attempt=i))
            out.write(encode_record(recv_ms, raw))


def test_recordings_directory_merges_categories_by_receive_time(tmp_path: Path) -> None:
    t0 = 1_733_011_200_000
    linear_a = [(t0 + 1, '{"topic":"publicTrade.A","ts":1,"data":[]}'), (t0 + 5, '{"x":\n 1}')]
    linear_b = [(t0 + 3_600_000, '{"op":"pong"}')]
    spot = [(t0 + 2, '{"topic":"tickers.A"}'), (t0 + 4, "\tweird\r text")]
    _write_recording(tmp_path / file_name(Category.LINEAR, t0), Category.LINEAR, linear_a, marks=1)
    _write_recording(tmp_path / file_name(Category.LINEAR, t0 + 3_600_000), Category.LINEAR, linear_b)
    _write_recording(tmp_path / file_name(Category.SPOT, t0), Category.SPOT, spot)
    (tmp_path / "notes.txt").write_text("ignored")
    assert [p.name for p in recording_files(tmp_path)] == [
        "linear-20241201-00.bstrec.gz",
        "spot-20241201-00.bstrec.gz",
        "linear-20241201-01.bstrec.gz",
    ]
    stats = ReplayStats()
    marks: list[object] = []
    got = [(m.category, m.recv_ms, m.raw) for m in read_messages(tmp_path, stats=stats, marks=marks)]  # type: ignore[arg-type]
    assert got == [
        (Category.LINEAR, t0 + 1, linear_a[0][1]),
        (Category.SPOT, t0 + 2, spot[0][1]),
        (Category.SPOT, t0 + 4, spot[1][1]),
        (Category.LINEAR, t0 + 5, linear_a[1][1]),
        (Category.LINEAR, t0 + 3_600_000, linear_b[0][1]),
    ]
    assert (stats.files, stats.messages, stats.marks) == (3, 5, 1)
    assert len(marks) == 1
    only_spot = [m.raw for m in read_messages(tmp_path, category=Category.SPOT)]
    assert only_spot == [spot[0][1], spot[1][1]]


def test_missing_or_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \.bstrec\.gz recordings"):
        list(read_messages(tmp_path))
    with pytest.raises(ConfigError, match="no such recording"):
        list(read_messages(tmp_path / "absent.gz"))


@given(st.integers(0, 2**62), st.text())
def test_record_lines_round_trip_exactly(recv_ms: int, raw: str) -> None:
    line = encode_record(recv_ms, raw)
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert decode_record(line) == (recv_ms, raw)


@pytest.mark.parametrize("line", ["no tab here", "abc\t{}", '12\t!"unterminated', "12\t!123", "\t{}"])
def test_bad_record_lines(line: str) -> None:
    with pytest.raises(RecordingFormatError):
        decode_record(line)


def test_headers_and_names() -> None:
    header = encode_header(Category.INVERSE, ["orderbook.1.BTCUSD"], 5)
    assert decode_header(header) == {
        "version": 1,
        "category": "inverse",
        "topics": ["orderbook.1.BTCUSD"],
        "started_ms": 5,
    }
    with pytest.raises(RecordingFormatError, match="unsupported recording version"):
        decode_header('#bst-recording {"version": 99}')
    with pytest.raises(RecordingFormatError, match="missing"):
        decode_header("{}")
    assert file_name(Category.SPOT, 1_733_014_799_999) == "spot-20241201-00.bstrec.gz"
    assert parse_file_name("spot-20241201-00.bstrec.gz") == (Category.SPOT, 1_733_011_200_000)
    assert parse_file_name("spot-2024121-00.bstrec.gz") is None
    assert hour_start_ms(1_733_014_799_999) == 1_733_011_200_000


def test_recorded_bybit_file_copied_into_a_recording_replays_identically(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    source = fixtures_dir / "ws" / "public_orderbook500_xrpusdt_stream_2024-12-01.jsonl"
    lines = source.read_text().splitlines()
    target = tmp_path / file_name(Category.LINEAR, 1_733_011_200_691)
    _write_recording(target, Category.LINEAR, [(1_733_011_200_691 + i, line) for i, line in enumerate(lines)])
    assert [m.raw for m in read_messages(tmp_path)] == lines
    assert _final_book(tmp_path).get(Category.LINEAR, "XRPUSDT", 500) is not None
