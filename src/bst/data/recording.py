"""The on-disk format of recorded WebSocket streams (written by the recorder, read by the replay).

A recording is a set of gzip-compressed text files, one per category per UTC hour, named
`{category}-{YYYYmmdd}-{HH}.bstrec.gz`. Each file is lines of:

- a header: `#bst-recording {json}` (format version, category, topics, start time);
- records: `{recv_ms}\t{raw}` where `raw` is the message text exactly as received; a message that
  contains a line break or starts with "!" (Bybit sends neither) is stored as `{recv_ms}\t!{json string}`;
- marks: `#mark {json}` for stream events worth keeping (connect, reconnect, gap), which are not
  messages and never change what a replay yields as messages.

Keeping the raw text makes a replay byte-for-byte identical in content to what arrived, whatever a
later codec version would make of it.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from bst.domain.errors import BstError
from bst.domain.market import Category

FORMAT_VERSION = 1
SUFFIX = ".bstrec.gz"
HEADER_PREFIX = "#bst-recording "
MARK_PREFIX = "#mark "
HOUR_MS = 3_600_000
_NAME = re.compile(r"^(spot|linear|inverse|option)-(\d{8})-(\d{2})\.bstrec\.gz$")


class RecordingFormatError(BstError):
    """A recording file is not in the format bst writes."""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One stream message as it arrived: its local receive time and its exact text."""

    category: Category
    recv_ms: int
    raw: str


@dataclass(frozen=True, slots=True)
class RecordingMark:
    """A non-message event kept in a recording (connect, reconnect, gap...)."""

    category: Category
    recv_ms: int
    kind: str
    detail: dict[str, Any]


def encode_record(recv_ms: int, raw: str) -> str:
    """Return the line (with its newline) that stores one message."""
    if "\n" in raw or "\r" in raw or raw.startswith("!"):
        return f"{recv_ms}\t!{json.dumps(raw)}\n"
    return f"{recv_ms}\t{raw}\n"


def decode_record(line: str) -> tuple[int, str]:
    """Return (recv_ms, raw) of a record line (without or with its newline)."""
    tab = line.find("\t")
    if tab <= 0:
        raise RecordingFormatError(f"not a record line: {line[:80]!r}")
    try:
        recv_ms = int(line[:tab])
    except ValueError:
        raise RecordingFormatError(f"bad receive time in record line: {line[:80]!r}") from None
    raw = line[tab + 1 :]
    if raw.endswith("\n"):
        raw = raw[:-1]
    if raw.startswith("!"):
        try:
            decoded = json.loads(raw[1:])
        except json.JSONDecodeError as e:
            raise RecordingFormatError(f"bad escaped record: {e}") from None
        if not isinstance(decoded, str):
            raise RecordingFormatError("escaped record is not a string")
        raw = decoded
    return recv_ms, raw


def encode_header(category: Category, topics: list[str], started_ms: int) -> str:
    """Return the header line of a recording file."""
    body = {"version": FORMAT_VERSION, "category": category.value, "topics": topics, "started_ms": started_ms}
    return HEADER_PREFIX + json.dumps(body, separators=(",", ":")) + "\n"


def decode_header(line: str) -> dict[str, Any]:
    """Return the header fields of a recording file's first line."""
    if not line.startswith(HEADER_PREFIX):
        raise RecordingFormatError("missing #bst-recording header")
    try:
        header = json.loads(line[len(HEADER_PREFIX) :])
    except json.JSONDecodeError as e:
        raise RecordingFormatError(f"bad header: {e}") from None
    if not isinstance(header, dict) or header.get("version") != FORMAT_VERSION:
        raise RecordingFormatError(f"unsupported recording version: {line[:80]!r}")
    return header


def encode_mark(recv_ms: int, kind: str, **detail: Any) -> str:
    """Return a mark line."""
    return (
        MARK_PREFIX + json.dumps({"recv_ms": recv_ms, "kind": kind, **detail}, separators=(",", ":")) + "\n"
    )


def decode_mark(line: str, category: Category) -> RecordingMark:
    """Return the mark stored in a `#mark` line."""
    try:
        body = json.loads(line[len(MARK_PREFIX) :])
        recv_ms = int(body.pop("recv_ms"))
        kind = str(body.pop("kind"))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise RecordingFormatError(f"bad mark line: {e}") from None
    return RecordingMark(category, recv_ms, kind, body)


def hour_start_ms(ts_ms: int) -> int:
    """Return the start of the UTC hour containing `ts_ms`."""
    return ts_ms - ts_ms % HOUR_MS


def file_name(category: Category, ts_ms: int) -> str:
    """Return the name of the file holding `category` messages received in the hour of `ts_ms`."""
    return f"{category.value}-{time.strftime('%Y%m%d-%H', time.gmtime(ts_ms / 1000))}{SUFFIX}"


def parse_file_name(name: str) -> tuple[Category, int] | None:
    """Return (category, hour start ms) of a recording file name, or None if it is not one."""
    match = _NAME.match(name)
    if match is None:
        return None
    day, hour = match.group(2), match.group(3)
    stamp = time.strptime(f"{day}{hour}", "%Y%m%d%H")
    return Category(match.group(1)), calendar.timegm(stamp) * 1000
