"""A local copy of the exchange's instruments, so backtests know tick and lot steps offline.

    instruments/<category>.json     {SYMBOL: {field: value, ...}, ...}

Each `Instrument` field is written as JSON (decimals as text, exact); an entry is replaced when the
same symbol is saved again. The file is replaced atomically. Methods block (file I/O).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from bst.data.atomic import write_bytes_atomic
from bst.domain.errors import ConfigError
from bst.domain.instrument import Instrument
from bst.domain.market import Category

__all__ = ["INSTRUMENTS_DIR", "InstrumentCache"]

INSTRUMENTS_DIR = "instruments"
_HINTS = typing.get_type_hints(Instrument)


def _encode(instrument: Instrument) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(instrument):
        value = getattr(instrument, f.name)
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, Enum):
            value = value.value
        out[f.name] = value
    return out


def _decode(data: dict[str, Any]) -> Instrument:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Instrument):
        if f.name not in data:
            continue
        hint, raw = _HINTS[f.name], data[f.name]
        if hint is Decimal:
            values[f.name] = Decimal(str(raw))
        elif hint is Category:
            values[f.name] = Category(raw)
        else:
            values[f.name] = raw
    return Instrument(**values)


class InstrumentCache:
    """Instruments saved under `data_dir/instruments`, per category."""

    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / INSTRUMENTS_DIR

    def path(self, category: Category) -> Path:
        """Return the file of one category."""
        return self.root / f"{category.value}.json"

    def _read(self, category: Category) -> dict[str, dict[str, Any]]:
        path = self.path(category)
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read the instrument cache {path}: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path} is not an instrument cache (delete it to rebuild)")
        return data

    def get(self, category: Category, symbol: str) -> Instrument | None:
        """Return the saved instrument of `symbol`, or None."""
        entry = self._read(category).get(symbol)
        if entry is None:
            return None
        try:
            return _decode(entry)
        except (TypeError, ValueError, ArithmeticError) as e:
            raise ConfigError(
                f"the cached instrument {symbol} in {self.path(category)} is unreadable: {e}"
            ) from e

    def put(self, instruments: Iterable[Instrument]) -> None:
        """Save instruments (replacing entries of the same symbols)."""
        by_category: dict[Category, list[Instrument]] = {}
        for instrument in instruments:
            by_category.setdefault(instrument.category, []).append(instrument)
        for category, items in by_category.items():
            data = self._read(category)
            for instrument in items:
                data[instrument.symbol] = _encode(instrument)
            text = json.dumps(data, indent=1, sort_keys=True)
            write_bytes_atomic(self.path(category), (text + "\n").encode())
