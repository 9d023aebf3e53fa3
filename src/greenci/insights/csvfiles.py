"""The small CSV files of the insights (labels, messages, aliases, run tables): read strictly, row by row.

Why strict: a row cut short or a file saved in another encoding must not become missing values that
quietly change a score. Every file is UTF-8 text (a byte-order mark is allowed) without NUL bytes; blank
lines are skipped; a row has as many cells as the header (empty cells at the end of a longer row aside).
Rows are numbered as in the file: the header is row 1, a record that spans lines has the number of its
first line.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from greenci.errors import DataFormatError, InputError

__all__ = ["as_wide_as_header", "has_control", "read_records", "read_table"]


def read_records(path: str | os.PathLike[str], *, field: str, what: str) -> list[tuple[int, list[str]]]:
    """(row number, cells) of every record with a non-blank cell; ``field`` names the input in messages."""
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{field} {name}: no such file: check the path", field=field) from None
    except IsADirectoryError:
        raise InputError(f"{field} {name} is a folder: give {what}", field=field) from None
    except OSError as exc:
        raise InputError(f"{field} {name}: cannot be read ({exc.strerror}): check the path and its permissions",
                         field=field) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"is not UTF-8 text (byte {exc.start}): save {what} as UTF-8", path=name) from None
    if "\x00" in text:
        raise DataFormatError(f"holds NUL bytes: it is not a text file; save {what} as UTF-8 CSV", path=name)
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[tuple[int, list[str]]] = []
    line = 0
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if any(c.strip() for c in record):
                out.append((start, record))
    except csv.Error as exc:
        raise DataFormatError(f"is not valid CSV ({exc})", path=name, row=line + 1) from None
    return out


def read_table(path: str | os.PathLike[str], *, field: str, what: str, required: Sequence[str],
               optional: Sequence[str] = ()) -> tuple[dict[str, int], list[tuple[int, list[str]]]]:
    """Column name (lower case) -> index, and the data rows, each as wide as the header.

    The header must name every column of ``required``; names are matched without case or surrounding
    spaces. An empty file, a missing column or a row with too few cells is refused, naming the row.
    """
    name = os.fspath(path)
    records = read_records(name, field=field, what=what)
    columns = ", ".join((*required, *(f"{c} (optional)" for c in optional)))
    if not records:
        raise DataFormatError(f"is empty: {what} needs a header line ({columns}) and one row per entry", path=name)
    _, header = records[0]
    index: dict[str, int] = {}
    for j, c in enumerate(header):
        index.setdefault(c.strip().lower(), j)
    missing = [c for c in required if c not in index]
    if missing:
        raise DataFormatError(f"lacks column(s) {', '.join(missing)}: {what} needs the header {columns}", path=name,
                              row=records[0][0])
    return index, as_wide_as_header(records[1:], len(header), name)


def as_wide_as_header(records: Sequence[tuple[int, list[str]]], width: int,
                      name: str) -> list[tuple[int, list[str]]]:
    """The records cut to ``width`` cells; one with fewer cells, or extra cells that hold text, is refused."""
    rows = []
    for row, cells in records:
        if len(cells) < width:
            raise DataFormatError(f"has {len(cells)} cells but the header names {width} columns: write every cell "
                                  "(an empty cell where there is nothing)", path=name, row=row)
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            raise DataFormatError(f"has {len(cells)} cells but the header names {width} columns: remove the extra "
                                  "cells, name their column in the header, or quote a cell that holds a comma",
                                  path=name, row=row)
        rows.append((row, cells[:width]))
    return rows


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (a line break, a tab, an escape...): not a name or address."""
    return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text)
