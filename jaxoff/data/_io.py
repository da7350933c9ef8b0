"""Strict CSV reading with file/line diagnostics.

Statistical downloads are read record by record with the `csv` module so that every problem can be
reported as `file:line: problem`, and so that no row is ever dropped without the user seeing it.
"""
from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator

__all__ = ["DataError", "DataWarning", "Record", "read_records", "parse_number", "parse_code", "open_text",
           "check_duplicates"]

# Cells that statistical offices use for "no value". They become NaN (the row is kept).
MISSING_MARKERS = frozenset({"", "..", ".", "NaN", "nan", "NA", "n/a", ":"})


class DataError(ValueError):
    """A malformed data file. The message names the file, the line and the problem."""

    def __init__(self, path, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


class DataWarning(UserWarning):
    """Something in a data file was changed on reading (e.g. exact duplicate rows dropped)."""


class Record(list):
    """A CSV row (list of str) that remembers its physical line number."""

    line: int = 0


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return line, col


def open_text(path) -> str:
    """The file's text, decoded as strict UTF-8 (with or without a byte-order mark).

    There is no silent fallback to another encoding: invalid UTF-8 bytes and NUL bytes raise
    `DataError` naming the file, the line and the byte, so that a mis-encoded download is noticed
    instead of yielding wrong country names or codes. Re-save such a file as UTF-8 (e.g.
    `iconv -f latin1 -t utf-8 in.csv > out.csv`).

    **Arguments:** `path` of the file.

    **Returns:** the decoded text. Raises `DataError` for a missing path, a directory, an unreadable
    file, NUL bytes or invalid UTF-8.
    """
    if os.path.isdir(path):
        raise DataError(path, None, "is a directory, not a data file")
    if not os.path.exists(path):
        raise DataError(path, None, "file not found")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(path, None, f"cannot read the file ({e.strerror or e})") from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, col = _line_col(raw, nul)
        hint = " (UTF-16 text? re-save it as UTF-8)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or nul < 4 else ""
        raise DataError(path, line, f"NUL byte at column {col}: not a UTF-8 text file{hint}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = _line_col(raw, e.start)
        bad = raw[e.start:e.end].hex(" ")
        raise DataError(path, line, f"invalid UTF-8 byte(s) {bad} at column {col}; the file must be UTF-8 "
                                    "(re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8)") from None


def read_records(path, text: str | None = None) -> Iterator[Record]:
    """Yield the CSV records of `path` with their line numbers (blank lines are skipped)."""
    text = open_text(path) if text is None else text
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for row in reader:
            rec = Record(row)
            rec.line = start
            start = reader.line_num + 1
            if not row or all(c.strip() == "" for c in row):
                continue
            yield rec
    except csv.Error as e:
        raise DataError(path, reader.line_num, f"CSV syntax error: {e}") from e


def parse_number(path, line: int, column: str, cell: str) -> float:
    """A numeric cell as a finite float; missing markers give NaN; anything else raises `DataError`.

    `inf`, `-Infinity`, `1e999` (overflow) and NaN spellings other than the missing markers are
    refused: a statistic is never infinite, and such cells are corrupt.
    """
    s = cell.strip()
    if s in MISSING_MARKERS:
        return math.nan
    try:
        v = float(s.replace("\u2212", "-"))
    except ValueError:
        raise DataError(path, line, f"non-numeric value {cell!r} in column '{column}'") from None
    if not math.isfinite(v):
        raise DataError(path, line, f"non-finite value {cell!r} in column '{column}' "
                                    "(leave the cell empty or '..' for a missing value)")
    return v


def parse_code(path, line: int, column: str, cell: str) -> str:
    """A code cell (country, indicator) stripped of blanks; an empty code raises `DataError`."""
    s = cell.strip()
    if not s:
        raise DataError(path, line, f"empty code in column '{column}'")
    return s


def _isna(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ == "NAType"


def _same(a, b) -> bool:
    if _isna(a) or _isna(b):
        return _isna(a) and _isna(b)
    return bool(a == b)


def check_duplicates(path, rows: list[dict], key: list[str]) -> tuple[list[dict], list[int]]:
    """Refuse conflicting duplicate observations; drop exact duplicates.

    Two rows with the same `key` (e.g. iso3, year, indicator, unit and the layout's dimensions)
    are the same observation. If any other field differs (the value, a flag, ...), the file is
    contradictory and `DataError` names both lines. If they are identical, the later row is dropped
    and its line number returned (the caller warns).

    **Arguments:** `path` (for messages); `rows`: dicts with a `_line` entry; `key`: the columns
    identifying an observation (absent columns are ignored).

    **Returns:** `(kept rows, dropped line numbers)`.
    """
    seen: dict = {}
    kept, dropped = [], []
    for row in rows:
        k = tuple(_hashable(row.get(c)) for c in key)
        first = seen.get(k)
        if first is None:
            seen[k] = row
            kept.append(row)
            continue
        fields = set(first) | set(row)
        fields.discard("_line")
        diff = [f for f in sorted(fields) if not _same(first.get(f), row.get(f))]
        if diff:
            what = ", ".join(f"{c}={row.get(c)!r}" for c in key if c in row and row.get(c) is not None)
            vals = "; ".join(f"{f}: {first.get(f)!r} vs {row.get(f)!r}" for f in diff[:3])
            raise DataError(path, row["_line"], f"conflicting duplicate of line {first['_line']} ({what}): {vals}")
        dropped.append(row["_line"])
    return kept, dropped


def _hashable(v):
    if _isna(v):
        return None
    try:
        hash(v)
    except TypeError:
        return str(v)
    return v


def check_width(path, rec: Record, width: int) -> None:
    """Raise `DataError` if a record does not have the header's number of fields."""
    if len(rec) != width:
        raise DataError(path, rec.line, f"wrong number of columns: {len(rec)} fields, the header has {width}")
