"""Where a persistent trading desk keeps its state: a snapshot, an id-epoch file and a journal.

For `--state-file F`:

- `F`             the snapshot: the whole desk as JSON, stamped with the journal LSN it includes;
                  replaced atomically (write, fsync, rename, fsync of the directory).
- `F.journal-N`   journal segments (see `bst.sim.journal`): every state change after the snapshot.
- `F.epoch`       the id epoch, bumped and synced at every start before any id is handed out. It
                  lives apart from the snapshot so that ids stay unique even if the snapshot and the
                  journal are lost or replaced by an older copy.

Recovery is the snapshot plus the journal records after its LSN; the desk replays them. A
checkpoint writes a new snapshot and deletes the segments it covers (the journal is rotated at the
snapshot's LSN first, so segments are deleted whole). Every step is crash-safe: until the new
snapshot is durable the old snapshot and all segments are still there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bst.domain.errors import ConfigError
from bst.sim.journal import Journal, JournalContents, read_journal, remove_segments, write_durably

SNAPSHOT_FORMAT = 2
"""1: engine, keys, fed (no journal). 2: adds the journal LSN, the market identity, book times."""


class DeskStore:
    """The files of one state file; not thread-safe (the desk serialises its calls)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.epoch_path = path.with_name(path.name + ".epoch")
        self.journal_prefix = path.with_name(path.name + ".journal-")
        self.journal: Journal | None = None

    def read_snapshot(self) -> dict[str, Any] | None:
        """Return the snapshot, or None when there is none yet; ConfigError when it is unreadable."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigError(f"cannot read the sim's state file {self.path}: {e.strerror or e}") from e
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ConfigError(f"the sim's state file {self.path} is not valid JSON: {e}") from e
        if not isinstance(data, dict) or int(data.get("format", 1)) > SNAPSHOT_FORMAT:
            raise ConfigError(
                f"the sim's state file {self.path} was written by a newer bst (or is not a state file)"
            )
        return data

    def read_journal(self, after_lsn: int) -> JournalContents:
        """Return the journal records after the snapshot's LSN (ConfigError when damaged)."""
        try:
            return read_journal(self.journal_prefix, after_lsn)
        except OSError as e:
            raise ConfigError(f"cannot read the sim's journal next to {self.path}: {e.strerror or e}") from e

    def next_epoch(self, floor: int) -> int:
        """Return a new id epoch above `floor` and every epoch started before; durable on return."""
        try:
            text = self.epoch_path.read_text().strip()
        except FileNotFoundError:
            text = "0"
        except OSError as e:
            raise ConfigError(f"cannot read {self.epoch_path}: {e.strerror or e}") from e
        if not text.isdigit():
            raise ConfigError(f"{self.epoch_path} must hold one whole number (the sim's id epoch)")
        epoch = max(int(text), floor) + 1
        self._write(self.epoch_path, f"{epoch}\n".encode())
        return epoch

    def write_snapshot(self, snapshot: bytes) -> None:
        """Replace the snapshot (serialised JSON) atomically and durably."""
        self._write(self.path, snapshot)

    def start(self, snapshot: bytes, last_lsn: int) -> Journal:
        """Write the start-up snapshot (it holds all replayed), drop every old segment, open the journal."""
        self.write_snapshot(snapshot)
        try:
            remove_segments(self.journal_prefix)
        except OSError as e:
            raise ConfigError(f"cannot clean the sim's journal next to {self.path}: {e.strerror or e}") from e
        self.journal = Journal(self.journal_prefix, last_lsn + 1)
        return self.journal

    def compact(self, snapshot: bytes, lsn: int) -> None:
        """Write a snapshot that includes every record up to `lsn`, then drop the segments it covers."""
        self.write_snapshot(snapshot)
        remove_segments(self.journal_prefix, lsn + 1)

    def remove_journal(self) -> None:
        """Delete every journal segment (after a final snapshot that holds them all)."""
        remove_segments(self.journal_prefix)

    def _write(self, path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(path, data)
        except OSError as e:
            raise ConfigError(f"cannot write {path}: {e.strerror or e}") from e
