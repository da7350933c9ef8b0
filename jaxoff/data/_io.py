"""Strict CSV reading with file/line diagnostics.

Statistical downloads are read record by record with the `csv` module so that every problem can be
reported as `file:line: problem`, and so that no row is ever dropped without the user seeing it.
"""
from __future__ import annotations

import csv
import io
import math
import os
from typing import Iterator

__all__ = ["DataError", "Record", "read_records", "parse_number", "open_text"]

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


class Record(list):
    """A CSV row (list of str) that remembers its physical line number."""

    line: int = 0


def open_text(path) -> str:
    """The file's text, decoded as UTF-8 with or without a byte-order mark."""
    if not os.path.exists(path):
        raise DataError(path, None, "file not found")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # Old OECD.Stat exports are sometimes Latin-1: accept them rather than refuse a real file.
        try:
            return raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte string
            raise DataError(path, None, f"not a text file ({e})") from e


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
    """A numeric cell as float; missing markers give NaN; anything else raises `DataError`."""
    s = cell.strip()
    if s in MISSING_MARKERS:
        return math.nan
    try:
        return float(s.replace("\u2212", "-"))
    except ValueError:
        raise DataError(path, line, f"non-numeric value {cell!r} in column '{column}'") from None


def check_width(path, rec: Record, width: int) -> None:
    if len(rec) != width:
        raise DataError(path, rec.line, f"wrong number of columns: {len(rec)} fields, the header has {width}")
