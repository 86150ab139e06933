"""JSON rows of decimal strings built from integer columns in numpy, without a Python object per value.

A kline page is 1000 rows of 7 decimal strings. Formatting them one `str` at a time cost the sim
about 2 ms of CPU per page. Here every value of a page is cut into 4-digit chunks looked up in a
table of ASCII digits, all fields at once; each row becomes a fixed-width byte matrix row (quotes,
commas and the widest value of each field) with a mask of the characters really printed, and the
page is one boolean selection of that matrix. The text is exactly `DecimalScale.plain`'s: no
leading zeros, no trailing fractional zeros, no exponent, "0" for zero, so the output equals
`orjson.dumps` of the same rows of strings byte for byte.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from bst.sim.scale import DecimalScale

I64 = npt.NDArray[np.int64]

_CHUNK = 4
_CHUNK_BASE = 10**_CHUNK
# Values at or above this take the exact Python path (int64 holds 18 full digits).
_FAST_LIMIT = 10**18
_POWERS = 10 ** np.arange(1, 19, dtype=np.int64)  # 10 .. 10**18
_POSITIONS = np.arange(64, dtype=np.int64)
INTEGER = DecimalScale(Decimal(1))
"""The scale of plain integers (open times)."""


def _digit_table() -> npt.NDArray[np.uint32]:
    """Return, for every v < 10**4, its 4 ASCII digits packed so that the bytes read in order."""
    values = np.arange(_CHUNK_BASE, dtype=np.uint32)
    packed = np.zeros(_CHUNK_BASE, dtype=np.uint32)
    for position in range(_CHUNK):
        digit = (values // 10 ** (_CHUNK - 1 - position)) % 10 + ord("0")
        packed |= digit.astype(np.uint32) << np.uint32(8 * position)
    if np.little_endian:
        return packed
    return packed.byteswap()


_DIGITS = _digit_table()
# Trailing zero digits of each 4-digit chunk (4 for 0000).
_TRAILING_ZEROS = sum(
    (np.arange(_CHUNK_BASE, dtype=np.int64) % 10**k == 0).astype(np.int64) for k in range(1, _CHUNK + 1)
)


def _chunks(values: I64, chunks: int) -> list[I64]:
    """Return the 4-digit chunks of each value (< 10**(4*chunks)), most significant first."""
    result: list[I64] = []
    rest = values
    for _ in range(chunks - 1):
        rest, low = np.divmod(rest, _CHUNK_BASE)
        result.append(low)
    result.append(rest)
    result.reverse()
    return result


@functools.lru_cache(maxsize=64)
def _keep_patterns(fields: int, whole_chunks: int, fraction_chunks: int) -> npt.NDArray[np.uint32]:
    """Return which bytes of a slot print, for every (whole digits, fraction digits, last field) code.

    Slot layout in 4-byte units (see `rows_json`): [sep " . .] [whole digits]... [. x x x]
    [fraction digits]... [" ] , x]. Row `(L * (4 * fraction_chunks + 1) + F) * 2 + last` is the
    pattern of a value printing L whole digits and F fraction digits (the dot only when F > 0).
    """
    digits, fraction_digits = _CHUNK * whole_chunks, _CHUNK * fraction_chunks
    width = _CHUNK * (whole_chunks + fraction_chunks + 3)
    codes = (digits + 1) * (fraction_digits + 1) * 2
    patterns = np.zeros((codes, width), dtype=np.bool_)
    close = width - _CHUNK
    for whole_len in range(1, digits + 1):
        for fraction_len in range(fraction_digits + 1):
            for last in (0, 1):
                row = patterns[(whole_len * (fraction_digits + 1) + fraction_len) * 2 + last]
                row[[0, 1, close]] = True
                row[_CHUNK + digits - whole_len : _CHUNK + digits] = True
                if fraction_len:
                    row[_CHUNK + digits] = True
                    row[2 * _CHUNK + digits : 2 * _CHUNK + digits + fraction_len] = True
                if last:
                    row[close + 1 : close + 3] = True
    del fields  # part of the cache key only: callers build one table per page shape
    return patterns.view(np.uint32)


def _word(text: bytes) -> int:
    """Return 4 bytes (padded with spaces) as the native uint32 whose memory reads `text`."""
    return int(np.frombuffer(text.ljust(_CHUNK), dtype=np.uint32)[0])


def rows_json(fields: Sequence[tuple[I64, DecimalScale]], *, newest_first: bool = True) -> bytes:
    """Return `[["v11","v12",...],...]`: each row's counts x unit as plain decimal text, rows reversed
    when `newest_first` (the columns come oldest first). Equal to orjson.dumps of those strings.
    """
    rows = int(fields[0][0].size) if fields else 0
    if rows == 0:
        return b"[]"
    n_fields = len(fields)
    places = np.array([scale.places for _, scale in fields], dtype=np.int64)
    multipliers = np.array([scale.multiplier for _, scale in fields], dtype=np.int64)
    counts = np.stack([c for c, _ in fields], axis=1)  # (rows, fields)
    if newest_first:
        counts = counts[::-1]
    highs = counts.max(axis=0).tolist()
    if int(counts.min()) < 0 or max(h * m for h, m in zip(highs, multipliers.tolist(), strict=True)) >= (
        _FAST_LIMIT
    ):
        return _rows_json_exact(fields, newest_first=newest_first)
    whole, fraction = np.divmod(counts * multipliers, 10**places)
    whole_len = np.searchsorted(_POWERS, whole, side="right") + 1
    whole_chunks = -(-int(whole_len.max()) // _CHUNK)
    fraction_chunks = -(-int(places.max()) // _CHUNK)
    padded = fraction * 10 ** (_CHUNK * fraction_chunks - places)
    fraction_len = _significant_fraction_digits(padded, fraction_chunks)

    # Every field of every row is one slot of the same width, in 4-byte units: separator ("[" for
    # the first field, else ",") and quote; the whole part right-aligned; the dot; the fraction
    # left-aligned; quote, and "]," after the last field. A table says which bytes print.
    units = whole_chunks + fraction_chunks + 3
    slots = np.empty((rows, n_fields, units), dtype=np.uint32)
    slots[:, :, 0] = [_word(b'["')] + [_word(b',"')] * (n_fields - 1)
    for c, chunk in enumerate(_chunks(whole, whole_chunks)):
        slots[:, :, 1 + c] = _DIGITS.take(chunk)
    slots[:, :, 1 + whole_chunks] = _word(b".")
    for c, chunk in enumerate(_chunks(padded, fraction_chunks)):
        slots[:, :, 2 + whole_chunks + c] = _DIGITS.take(chunk)
    slots[:, :, units - 1] = _word(b'"],')
    last = np.zeros(n_fields, dtype=np.int64)
    last[-1] = 1
    code = (whole_len * (_CHUNK * fraction_chunks + 1) + fraction_len) * 2 + last
    keep = _keep_patterns(n_fields, whole_chunks, fraction_chunks).take(code, axis=0).view(np.bool_)
    keep[-1, -1, -2] = False  # no comma after the last row
    body: bytes = slots.view(np.uint8)[keep].tobytes()
    return b"[" + body + b"]"


def _significant_fraction_digits(padded: I64, chunks: int) -> I64:
    """Return how many leading digits of each left-aligned `4 * chunks`-digit fraction are printed."""
    zeros = np.zeros(padded.shape, dtype=np.int64)
    found = np.zeros(padded.shape, dtype=np.bool_)
    rest = padded
    for _ in range(chunks):
        rest, low = np.divmod(rest, _CHUNK_BASE)
        zeros += np.where(found, 0, _TRAILING_ZEROS.take(low))
        found |= low != 0
    result: I64 = _CHUNK * chunks - zeros
    return result


def _rows_json_exact(fields: Sequence[tuple[I64, DecimalScale]], *, newest_first: bool) -> bytes:
    """Return what `rows_json` returns, one Python string per value (negative or huge counts)."""
    columns = [[scale.plain(c) for c in counts.tolist()] for counts, scale in fields]
    rows = ['["' + '","'.join(row) + '"]' for row in zip(*columns, strict=True)]
    if newest_first:
        rows.reverse()
    return ("[" + ",".join(rows) + "]").encode("ascii")
