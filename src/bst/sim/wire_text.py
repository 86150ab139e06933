"""JSON rows of decimal strings built from integer columns in numpy, without a Python object per value.

A kline page is 1000 rows of 7 decimal strings. Formatting them one `str` at a time cost the sim
about 2 ms of CPU per page. Here each value is cut into 4-digit chunks, each chunk becomes one
4-byte word by a table lookup (the tables also turn leading zeros of the whole part and trailing
zeros of the fraction into NUL bytes), the words of a page are laid out row by row with the quotes
and commas, and one `bytes.translate` pass (C) deletes the NULs. The text is exactly
`DecimalScale.plain`'s: no leading zeros, no trailing fractional zeros, no exponent, "0" for zero,
so the output equals `orjson.dumps` of the same rows of strings byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from bst.sim.scale import DecimalScale

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

_CHUNK = 4
_BASE = 10**_CHUNK
# Values at or above this take the exact Python path (int64 holds 18 full digits).
_FAST_LIMIT = 10**18
_NUL = 0
INTEGER = DecimalScale(Decimal(1))
"""The scale of plain integers (open times)."""


def _words(table: npt.NDArray[np.uint8]) -> U32:
    """Return rows of 4 bytes as native words whose memory reads the bytes in order."""
    return np.ascontiguousarray(table).view(np.uint32).reshape(-1)


@dataclass(frozen=True, slots=True)
class _Tables:
    """4-byte words for every 4-digit chunk v (3-digit for the `dot_*` ones), indexed by v.

    `*_or_*` tables are two tables back to back: index v, or v + 10**4 (10**3 for dots) for the
    second one, so a boolean condition picks the table in the same lookup.
    """

    digits: U32  # the 4 digits
    lead: U32  # leading zeros as NUL (0 is all NUL)
    lead_last: U32  # the same, but 0 prints "0" (the last word of a whole part)
    digits_or_lead: U32
    digits_or_lead_last: U32
    strip: U32  # trailing zeros as NUL (0 is all NUL)
    digits_or_strip: U32
    dot_strip: U32  # "." and 3 digits, trailing zeros as NUL, 0 as nothing at all
    dot_or_dot_strip: U32


def _tables() -> _Tables:
    """Return the word tables (built once, at import: 10,000 entries each)."""
    values = np.arange(_BASE)
    powers = 10 ** np.arange(_CHUNK - 1, -1, -1)
    digits = (values[:, None] // powers[None, :]) % 10
    text = (digits + ord("0")).astype(np.uint8)
    # Leading zeros: positions before the first non-zero digit; trailing: after the last one.
    nonzero = digits != 0
    leading = ~np.logical_or.accumulate(nonzero, axis=1)
    trailing = ~np.logical_or.accumulate(nonzero[:, ::-1], axis=1)[:, ::-1]
    lead = np.where(leading, _NUL, text)
    lead_last = lead.copy()
    lead_last[0, -1] = ord("0")  # a whole part of 0 prints "0"
    strip = np.where(trailing, _NUL, text)
    dot = text[:1000].copy()
    dot[:, 0] = ord(".")
    dot_strip = np.where(trailing[:1000], _NUL, dot)
    dot_strip[0, 0] = _NUL  # no fraction digit printed: no dot either
    return _Tables(
        digits=_words(text),
        lead=_words(lead),
        lead_last=_words(lead_last),
        digits_or_lead=_words(np.concatenate((text, lead))),
        digits_or_lead_last=_words(np.concatenate((text, lead_last))),
        strip=_words(strip),
        digits_or_strip=_words(np.concatenate((text, strip))),
        dot_strip=_words(dot_strip),
        dot_or_dot_strip=_words(np.concatenate((dot, dot_strip))),
    )


_WORDS = _tables()


def _word(text: bytes) -> int:
    """Return 4 bytes (NUL-padded: NULs are deleted) as the native word that reads `text`."""
    return int(np.frombuffer(text.ljust(_CHUNK, b"\0"), dtype=np.uint32)[0])


@dataclass(frozen=True, slots=True)
class _Group:
    """Consecutive fields sharing a scale, as a (rows, fields) matrix of counts (rows as printed)."""

    first_field: int
    counts: I64
    scale: DecimalScale


def rows_json(fields: Sequence[tuple[I64, DecimalScale]], *, newest_first: bool = True) -> bytes:
    """Return `[["v11","v12",...],...]`: each row's counts x unit as plain decimal text, rows reversed
    when `newest_first` (the columns come oldest first). Equal to orjson.dumps of those strings.
    """
    rows = int(fields[0][0].size) if fields else 0
    if rows == 0:
        return b"[]"
    groups: list[_Group] = []
    start = 0
    for i in range(1, len(fields) + 1):
        if i == len(fields) or fields[i][1] is not fields[start][1]:
            columns = [counts[::-1] if newest_first else counts for counts, _ in fields[start:i]]
            matrix = columns[0][:, None] if len(columns) == 1 else np.stack(columns, axis=1)
            scale = fields[start][1]
            if int(matrix.min()) < 0 or int(matrix.max()) * scale.multiplier >= _FAST_LIMIT:
                return _rows_json_exact(fields, newest_first=newest_first)
            groups.append(_Group(start, matrix, scale))
            start = i

    # Each row is a run of 4-byte words: per field a separator ('["' first, else '","'), the whole
    # part's words, the fraction's words ('.ddd', then 'dddd'...); then '"],'. NUL bytes (leading
    # and trailing zeros, padding) are deleted at the end by one bytes.translate pass. The words
    # sit between a '[' and a ']' word, so the page is one buffer, copied once.
    layouts = [_layout(group) for group in groups]
    width = sum(group.counts.shape[1] * units for group, (_, _, units) in zip(groups, layouts, strict=True))
    buffer = np.empty(rows * (width + 1) + 2, dtype=np.uint32)
    buffer[0], buffer[-1] = _word(b"["), _word(b"]")
    words = buffer[1:-1].reshape(rows, width + 1)
    offset = 0
    for group, (whole_chunks, fraction_chunks, units) in zip(groups, layouts, strict=True):
        n = group.counts.shape[1]
        slots = words[:, offset : offset + n * units].reshape(rows, n, units)
        offset += n * units
        separators = [_word(b'","')] * n
        if group.first_field == 0:
            separators[0] = _word(b'["')
        slots[:, :, 0] = separators
        scale = group.scale
        scaled = group.counts * scale.multiplier if scale.multiplier != 1 else group.counts
        if scale.places:
            whole, fraction = np.divmod(scaled, 10**scale.places)
            _fill_fraction(slots[:, :, 1 + whole_chunks :], fraction, scale.places, fraction_chunks)
        else:
            whole = scaled
        _fill_whole(slots[:, :, 1 : 1 + whole_chunks], whole, whole_chunks)
    words[:, -1] = _word(b'"],')
    words[-1, -1] = _word(b'"]')  # no comma after the last row
    return buffer.tobytes().translate(None, b"\0")


def _layout(group: _Group) -> tuple[int, int, int]:
    """Return the whole-part words, fraction words and words per field of a group."""
    scale = group.scale
    widest = int(group.counts.max()) * scale.multiplier // 10**scale.places
    whole_chunks = max(1, -(-len(str(widest)) // _CHUNK))
    fraction_chunks = -(-(scale.places + 1) // _CHUNK) if scale.places else 0
    return whole_chunks, fraction_chunks, 1 + whole_chunks + fraction_chunks


def _chunks(values: I64, sizes: list[int]) -> list[I64]:
    """Return the chunks of each value, most significant first, chunk i holding `sizes[i]` digits."""
    result: list[I64] = []
    rest = values
    for size in reversed(sizes[1:]):
        rest, low = np.divmod(rest, 10**size)
        result.append(low)
    result.append(rest)
    result.reverse()
    return result


def _fill_whole(out: U32, whole: I64, chunks: int) -> None:
    """Write the words of whole parts (< 10**(4*chunks)): digits, leading zeros as NUL, 0 as "0"."""
    low = int(whole.min())
    for c, chunk in enumerate(_chunks(whole, [_CHUNK] * chunks)):
        last = c == chunks - 1
        if c == 0:
            # Zeros at the top of the top word are always leading zeros.
            out[..., c] = (_WORDS.lead_last if last else _WORDS.lead).take(chunk)
            continue
        # Below the top word, zeros are leading only where every word above is zero.
        bound = 10 ** (_CHUNK * (chunks - c))
        if low >= bound:
            out[..., c] = _WORDS.digits.take(chunk)
        else:
            table = _WORDS.digits_or_lead_last if last else _WORDS.digits_or_lead
            out[..., c] = table.take(chunk + _BASE * (whole < bound))


def _fill_fraction(out: U32, fraction: I64, places: int, chunks: int) -> None:
    """Write the words of fractions of `places` digits: '.ddd' then 'dddd'..., trailing zeros as NUL
    (and no dot at all for a zero fraction)."""
    digits = _CHUNK * chunks - 1
    padded = fraction * 10 ** (digits - places) if digits != places else fraction
    parts = _chunks(padded, [_CHUNK - 1] + [_CHUNK] * (chunks - 1))
    # A word's trailing zeros are dropped only where every word after it is zero.
    later_zero: npt.NDArray[np.bool_] | None = None
    for k in range(chunks - 1, -1, -1):
        part = parts[k]
        if k == 0:
            table, plain = _WORDS.dot_strip, _WORDS.dot_or_dot_strip
        else:
            table, plain = _WORDS.strip, _WORDS.digits_or_strip
        if later_zero is None:
            out[..., k] = table.take(part)
            later_zero = part == 0
        else:
            out[..., k] = plain.take(part + (1000 if k == 0 else _BASE) * later_zero)
            later_zero &= part == 0


def _rows_json_exact(fields: Sequence[tuple[I64, DecimalScale]], *, newest_first: bool) -> bytes:
    """Return what `rows_json` returns, one Python string per value (negative or huge counts)."""
    columns = [[scale.plain(c) for c in counts.tolist()] for counts, scale in fields]
    rows = ['["' + '","'.join(row) + '"]' for row in zip(*columns, strict=True)]
    if newest_first:
        rows.reverse()
    return ("[" + ",".join(rows) + "]").encode("ascii")
