"""Record raw stream messages losslessly: hourly gzip files and a continuity report.

`StreamRecorder.write(text, recv_ms)` is the `on_raw` hook of a stream client: it appends the
message, exactly as received, to `{category}-{YYYYmmdd}-{HH}.bstrec.gz` for the hour of `recv_ms`
(see `bst.data.recording` for the format), flushes the compressed stream every `flush_interval_ms`
(a crash loses at most that much), and tracks per-topic continuity: order-book `u` gaps,
duplicates, snapshots (and `u == 1` restarts), message counts, the longest silence. `close()` ends
the gzip members and writes `report-{category}-{start}.json` beside the files.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from bst.data.recording import encode_header, encode_mark, encode_record, file_name, hour_start_ms
from bst.domain.errors import ConfigError
from bst.domain.market import Category

MAX_LISTED_GAPS = 1000


@dataclass(slots=True)
class TopicContinuity:
    """What arrived for one topic, and where its `u` sequence broke."""

    topic: str
    messages: int = 0
    snapshots: int = 0
    deltas: int = 0
    restarts: int = 0
    gaps: int = 0
    duplicates: int = 0
    first_recv_ms: int | None = None
    last_recv_ms: int | None = None
    max_silence_ms: int = 0
    last_update_id: int | None = None
    gap_list: list[dict[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class FileSummary:
    """One recording file written in this session."""

    name: str
    messages: int = 0


@dataclass(slots=True)
class ContinuityReport:
    """A recording session's summary: files, topics, gaps, marks."""

    category: str
    started_ms: int
    ended_ms: int | None = None
    messages: int = 0
    replies: int = 0
    unparsed: int = 0
    files: list[FileSummary] = field(default_factory=list)
    topics: dict[str, TopicContinuity] = field(default_factory=dict)
    marks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gaps(self) -> int:
        """Return the number of `u` gaps over every topic."""
        return sum(t.gaps for t in self.topics.values())

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self) | {"gaps": self.gaps}


class StreamRecorder:
    """Writes one category's raw messages to hourly files (not thread-safe: one event loop)."""

    def __init__(
        self,
        out_dir: Path,
        category: Category,
        topics: list[str],
        *,
        started_ms: int | None = None,
        compresslevel: int = 6,
        flush_interval_ms: int = 1_000,
    ) -> None:
        if not 1 <= compresslevel <= 9:
            raise ConfigError("compresslevel must be 1..9")
        self.out_dir = out_dir
        self.category = category
        self.topics = list(topics)
        self.compresslevel = compresslevel
        self.flush_interval_ms = flush_interval_ms
        start = started_ms if started_ms is not None else time.time_ns() // 1_000_000
        self.report = ContinuityReport(category.value, start)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the output directory {out_dir}: {e.strerror or e}") from None
        self._file: IO[str] | None = None
        self._summary: FileSummary | None = None
        self._hour_ms: int | None = None
        self._last_flush_ms = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        """Return whether `close()` was called."""
        return self._closed

    def write(self, raw: str, recv_ms: int) -> None:
        """Append one message as received (rotating to a new file when the UTC hour changes)."""
        if self._closed:
            return
        hour = hour_start_ms(recv_ms)
        if hour != self._hour_ms:
            self._open(hour, recv_ms)
        assert self._file is not None  # opened just above
        assert self._summary is not None
        self._file.write(encode_record(recv_ms, raw))
        self._summary.messages += 1
        self.report.messages += 1
        self._track(raw, recv_ms)
        if recv_ms - self._last_flush_ms >= self.flush_interval_ms:
            self._file.flush()
            self._last_flush_ms = recv_ms

    def mark(self, recv_ms: int, kind: str, **detail: Any) -> None:
        """Keep a stream event (connect, reconnect, resync...) in the recording and the report."""
        if self._closed:
            return
        hour = hour_start_ms(recv_ms)
        if hour != self._hour_ms:
            self._open(hour, recv_ms)
        assert self._file is not None
        self._file.write(encode_mark(recv_ms, kind, **detail))
        self.report.marks.append({"recv_ms": recv_ms, "kind": kind, **detail})

    def close(self, ended_ms: int | None = None) -> ContinuityReport:
        """Finish the current file and write the continuity report; return it."""
        if not self._closed:
            self._closed = True
            self._close_file()
            self.report.ended_ms = ended_ms if ended_ms is not None else time.time_ns() // 1_000_000
            name = f"report-{self.category.value}-{self.report.started_ms}.json"
            (self.out_dir / name).write_text(json.dumps(self.report.to_json(), indent=2) + "\n")
        return self.report

    def _open(self, hour_ms: int, recv_ms: int) -> None:
        self._close_file()
        name = file_name(self.category, hour_ms)
        path = self.out_dir / name
        # Append: a restart within the hour adds a gzip member (with its own header) to the file.
        self._file = gzip.open(  # noqa: SIM115 - open for the hour, closed on rotation or close()
            path, "at", encoding="utf-8", newline="\n", compresslevel=self.compresslevel
        )
        self._file.write(encode_header(self.category, self.topics, recv_ms))
        self._hour_ms = hour_ms
        self._summary = FileSummary(name)
        self.report.files.append(self._summary)
        self._last_flush_ms = recv_ms

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _track(self, raw: str, recv_ms: int) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.report.unparsed += 1
            return
        if not isinstance(msg, dict):
            self.report.unparsed += 1
            return
        topic = msg.get("topic")
        if not isinstance(topic, str):
            self.report.replies += 1
            return
        state = self.report.topics.get(topic)
        if state is None:
            state = self.report.topics[topic] = TopicContinuity(topic)
        state.messages += 1
        if state.last_recv_ms is not None:
            state.max_silence_ms = max(state.max_silence_ms, recv_ms - state.last_recv_ms)
        else:
            state.first_recv_ms = recv_ms
        state.last_recv_ms = recv_ms
        if not topic.startswith("orderbook."):
            return
        data = msg.get("data")
        update_id = data.get("u") if isinstance(data, dict) else None
        if not isinstance(update_id, int):
            return
        if msg.get("type") == "snapshot" or update_id == 1:
            state.snapshots += 1
            state.restarts += update_id == 1
        else:
            state.deltas += 1
            last = state.last_update_id
            if last is not None and update_id <= last:
                state.duplicates += 1
                return
            if last is not None and update_id != last + 1:
                state.gaps += 1
                if len(state.gap_list) < MAX_LISTED_GAPS:
                    state.gap_list.append({"expected": last + 1, "got": update_id, "recv_ms": recv_ms})
        state.last_update_id = update_id
