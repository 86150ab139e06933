"""The manifest of one stored series: which ranges the exchange was asked about, and its known gaps.

`covered` is the source of truth for "already downloaded": a range enters it only after the bars in
it are durably written, so a crash leaves at worst data that the manifest does not yet claim
(re-fetched and merged on the next run, never duplicated). `gaps` (a subset of `covered`) are the
ranges where the exchange answered with no bar; they are not requested again unless refreshed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bst.data.atomic import write_bytes_atomic
from bst.data.ranges import RangeSet
from bst.domain.errors import BstError
from bst.domain.market import Category, Interval

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class StoreCorruptError(BstError):
    """A stored file cannot be read as what it claims to be; the message names the file."""


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """One stored series: a category, a symbol and an interval."""

    category: Category
    symbol: str
    interval: Interval

    def __str__(self) -> str:
        return f"{self.category.value}/{self.symbol}/{self.interval.value}"


@dataclass(frozen=True, slots=True)
class Manifest:
    """Covered ranges and known gaps of one series (half-open epoch-ms spans)."""

    key: SeriesKey
    covered: RangeSet = field(default_factory=RangeSet)
    gaps: RangeSet = field(default_factory=RangeSet)
    listing_ms: int | None = None
    updated_ms: int = 0

    def with_fetched(self, fetched: RangeSet, gaps: RangeSet, now_ms: int) -> Manifest:
        """Return the manifest after `fetched` was (re)downloaded and `gaps` found inside it."""
        kept_gaps = self.gaps.subtract(fetched)
        return replace(
            self,
            covered=self.covered.union(fetched),
            gaps=kept_gaps.union(gaps.intersect(fetched)),
            updated_ms=now_ms,
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON document written to disk."""
        return {
            "format": FORMAT_VERSION,
            "category": self.key.category.value,
            "symbol": self.key.symbol,
            "interval": self.key.interval.value,
            "ranges": "half-open [start_ms, end_ms) of bar open times",
            "covered": self.covered.to_json(),
            "gaps": self.gaps.to_json(),
            "listing_ms": self.listing_ms,
            "updated_ms": self.updated_ms,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], key: SeriesKey) -> Manifest:
        """Parse a manifest document; raise StoreCorruptError when it is not one."""
        try:
            if int(doc["format"]) > FORMAT_VERSION:
                raise StoreCorruptError(
                    f"manifest format {doc['format']} is newer than this bst understands; upgrade bst"
                )
            listing = doc.get("listing_ms")
            return cls(
                key=key,
                covered=RangeSet.of(doc.get("covered") or []),
                gaps=RangeSet.of(doc.get("gaps") or []),
                listing_ms=int(listing) if listing is not None else None,
                updated_ms=int(doc.get("updated_ms") or 0),
            )
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise StoreCorruptError(f"manifest of {key} is malformed: {e}") from e


def read_manifest(directory: Path, key: SeriesKey) -> Manifest:
    """Return the series manifest, or an empty one when none exists yet."""
    path = directory / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Manifest(key)
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise StoreCorruptError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise StoreCorruptError(f"{path} is not a manifest object")
    return Manifest.from_json(doc, key)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace the series manifest atomically."""
    data = json.dumps(manifest.to_json(), indent=1).encode()
    write_bytes_atomic(directory / MANIFEST_NAME, data)
