"""Replay recorded streams: bst recordings and Bybit's published historical order-book files.

`read_messages(path)` yields the messages of one file, a directory of recordings, or a Bybit
history file, whatever the container: bst `.bstrec.gz` recordings, Bybit `*_ob500.data` (or any
JSON-lines file of raw stream messages), the same gzip-compressed, or a `.zip` holding such files.
`replay_events(...)` decodes them into the same market events the live client produces.

Bybit's files carry no receive time; the message's push time (`ts`) stands in for it.
"""

from __future__ import annotations

import gzip
import heapq
import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import structlog

from bst.bybit.codec.ws_public import OpReply, PublicDecoder, Unhandled
from bst.data.recording import (
    HEADER_PREFIX,
    MARK_PREFIX,
    SUFFIX,
    RecordedMessage,
    RecordingFormatError,
    RecordingMark,
    decode_header,
    decode_mark,
    decode_record,
    parse_file_name,
)
from bst.domain.errors import ConfigError
from bst.domain.events import MarketEvent
from bst.domain.market import Category

log = structlog.get_logger(__name__)
_TS = re.compile(r'"ts"\s*:\s*(\d+)')


@dataclass(slots=True)
class ReplayStats:
    """What a replay read and decoded."""

    files: int = 0
    messages: int = 0
    events: int = 0
    replies: int = 0
    unhandled: int = 0
    marks: int = 0
    truncated: int = 0
    unhandled_reasons: dict[str, int] = field(default_factory=dict)


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="\n")
    return path.open("r", encoding="utf-8", newline="\n")


def _lines(handle: IO[str], stats: ReplayStats | None = None, name: str = "") -> Iterator[str]:
    try:
        for line in handle:
            if line.endswith("\n"):
                yield line[:-1]
            else:
                yield line
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        # A recorder killed mid-write leaves a gzip stream without its end; everything flushed
        # before that is intact, and a replay keeps it.
        if stats is not None:
            stats.truncated += 1
        log.warning(
            "recording ends abruptly; replayed up to the last complete record", file=name, error=str(e)
        )


def _bybit_lines(
    lines: Iterable[str], category: Category, stats: ReplayStats | None
) -> Iterator[RecordedMessage]:
    for line in lines:
        text = line.rstrip("\r")
        if not text.strip():
            continue
        match = _TS.search(text)
        if stats is not None:
            stats.messages += 1
        yield RecordedMessage(category, int(match.group(1)) if match else 0, text)


def _recording_lines(
    lines: Iterator[str],
    category: Category | None,
    stats: ReplayStats | None,
    marks: list[RecordingMark] | None,
) -> Iterator[RecordedMessage]:
    first = next(lines, None)
    if first is None:
        return
    header = decode_header(first)
    cat = Category(header["category"]) if category is None else category
    for line in lines:
        if line.startswith("#"):
            if line.startswith(MARK_PREFIX):
                if stats is not None:
                    stats.marks += 1
                if marks is not None:
                    marks.append(decode_mark(line, cat))
            continue
        if not line:
            continue
        recv_ms, raw = decode_record(line)
        if stats is not None:
            stats.messages += 1
        yield RecordedMessage(cat, recv_ms, raw)


def read_file(
    path: Path,
    *,
    category: Category | None = None,
    stats: ReplayStats | None = None,
    marks: list[RecordingMark] | None = None,
) -> Iterator[RecordedMessage]:
    """Yield the messages of one file: a bst recording, a Bybit history file, or a .zip of them.

    `category` is required for Bybit files (their content does not say it; default linear).
    """
    if stats is not None:
        stats.files += 1
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            for member in sorted(n for n in archive.namelist() if not n.endswith("/")):
                with archive.open(member) as raw_member:
                    data: IO[bytes] = raw_member
                    if member.endswith(".gz"):
                        data = cast(IO[bytes], gzip.GzipFile(fileobj=raw_member))
                    text = io.TextIOWrapper(data, encoding="utf-8", newline="\n")
                    yield from _dispatch(_lines(text, stats, member), category, stats, marks)
        return
    with _open_text(path) as handle:
        yield from _dispatch(_lines(handle, stats, path.name), category, stats, marks)


def _dispatch(
    lines: Iterator[str],
    category: Category | None,
    stats: ReplayStats | None,
    marks: list[RecordingMark] | None,
) -> Iterator[RecordedMessage]:
    first = next(lines, None)
    if first is None:
        return
    if first.startswith(HEADER_PREFIX):
        yield from _recording_lines(_chain(first, lines), category, stats, marks)
    else:
        yield from _bybit_lines(_chain(first, lines), category or Category.LINEAR, stats)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def recording_files(directory: Path, category: Category | None = None) -> list[Path]:
    """Return the recording files in `directory`, oldest hour first (optionally one category)."""
    found = []
    for path in directory.iterdir():
        parsed = parse_file_name(path.name)
        if parsed is not None and (category is None or parsed[0] is category):
            found.append((parsed[1], parsed[0].value, path))
    return [p for _, _, p in sorted(found)]


def read_messages(
    source: Path,
    *,
    category: Category | None = None,
    stats: ReplayStats | None = None,
    marks: list[RecordingMark] | None = None,
) -> Iterator[RecordedMessage]:
    """Yield the messages of a file or of every recording in a directory, in receive-time order."""
    if source.is_dir():
        files = recording_files(source, category)
        if not files:
            raise ConfigError(f"no {SUFFIX} recordings in {source}")
        by_category: dict[Category, list[Path]] = {}
        for path in files:
            parsed = parse_file_name(path.name)
            assert parsed is not None  # recording_files only returns parseable names
            by_category.setdefault(parsed[0], []).append(path)
        streams = [_concat(paths, stats, marks) for paths in by_category.values()]
        # Each category's files are in order; merge categories by receive time (stable on ties).
        yield from heapq.merge(*streams, key=lambda m: m.recv_ms)
        return
    if not source.is_file():
        raise ConfigError(f"no such recording: {source}")
    yield from read_file(source, category=category, stats=stats, marks=marks)


def _concat(
    paths: list[Path], stats: ReplayStats | None, marks: list[RecordingMark] | None
) -> Iterator[RecordedMessage]:
    for path in paths:
        yield from read_file(path, stats=stats, marks=marks)


def replay_events(
    messages: Iterable[RecordedMessage], stats: ReplayStats | None = None
) -> Iterator[MarketEvent]:
    """Decode recorded messages into market events; op replies and unknown messages are counted."""
    decoders: dict[Category, PublicDecoder] = {}
    for message in messages:
        decoder = decoders.get(message.category)
        if decoder is None:
            decoder = decoders[message.category] = PublicDecoder(message.category)
        out = decoder.decode(message.raw, message.recv_ms)
        if isinstance(out, OpReply):
            if stats is not None:
                stats.replies += 1
            continue
        if isinstance(out, Unhandled):
            if stats is not None:
                stats.unhandled += 1
                key = out.reason.split(":")[0][:80]
                stats.unhandled_reasons[key] = stats.unhandled_reasons.get(key, 0) + 1
            continue
        if stats is not None:
            stats.events += 1
        yield out


def replay(
    source: Path, *, category: Category | None = None, stats: ReplayStats | None = None
) -> Iterator[MarketEvent]:
    """Yield the market events stored in `source` (file, .zip, or directory of recordings)."""
    return replay_events(read_messages(source, category=category, stats=stats), stats)


__all__ = [
    "RecordedMessage",
    "RecordingFormatError",
    "RecordingMark",
    "ReplayStats",
    "read_file",
    "read_messages",
    "recording_files",
    "replay",
    "replay_events",
]
