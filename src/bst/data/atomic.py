"""Crash-safe file replacement: write a temp file, fsync it, rename it over the target, fsync the dir.

A reader sees either the old file or the new one, never a half-written file: the rename is atomic
on POSIX and Windows, and the fsyncs make the new content durable before the name points at it.
Temp files carry TEMP_SUFFIX so readers (which only glob final names) never pick them up.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

TEMP_SUFFIX = ".tmp"


def temp_path_for(target: Path) -> Path:
    """Return a unique temp path next to `target` (same directory, so the rename is atomic)."""
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink inside `directory` durable (no-op where dirs cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(target: Path, write: Callable[[Path], None]) -> None:
    """Create or replace `target` atomically; `write(temp_path)` produces the content."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(target)
    try:
        write(temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(target.parent)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Create or replace `target` with `data`, atomically."""

    def produce(temp: Path) -> None:
        temp.write_bytes(data)

    write_atomic(target, produce)


@contextlib.contextmanager
def open_atomic(target: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[str]]:
    """Open a text temp file whose content replaces `target` atomically when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(target)
    try:
        with open(temp, mode, encoding=encoding, newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(target.parent)


def remove_stale_temps(directory: Path) -> int:
    """Delete temp files a crashed writer left in `directory`; return how many were removed."""
    removed = 0
    if not directory.is_dir():
        return 0
    for path in directory.glob(f".*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed
