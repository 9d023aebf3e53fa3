"""CSV plumbing with no domain knowledge: header lines and column names as people spell them.

Why one module: the intensity readers, the trace readers and the insights all match column names that
real exports spell with odd case, spaces, a byte-order mark or a subscript ``₂``; they must agree.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

from greenci.errors import DataFormatError, InputError

PathLike = str | os.PathLike[str]


def normalize(name: str) -> str:
    """A column name as matched: case, surrounding/double spaces, BOM and ₂ vs 2 do not matter."""
    return " ".join(name.replace("\ufeff", "").replace("₂", "2").casefold().split())


def read_header(path: PathLike) -> list[str]:
    """The column names of a CSV file (first line), without a byte-order mark."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as fh:
            line = fh.readline(65536)  # a header longer than this is no header: never read a whole binary
    except FileNotFoundError:
        raise InputError(f"{name}: no such file: check the path") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory: give a CSV file") from None
    except UnicodeDecodeError:
        raise DataFormatError("is not UTF-8 text: save it as UTF-8 CSV", path=name) from None
    header = next(csv.reader([line]), [])
    if not [h for h in header if h.strip()]:
        raise DataFormatError("has no header line: the first line must name the columns", path=name)
    return [h.strip() for h in header]


def column_index(header: Sequence[str]) -> dict[str, str]:
    """Normalised name -> name as written in the header (first one wins)."""
    index: dict[str, str] = {}
    for h in header:
        index.setdefault(normalize(h), h)
    return index


def first_csv_record(text: str) -> list[str]:
    """The first record of CSV text (the header), or an empty list."""
    for record in csv.reader(text.splitlines()[:1]):
        return record
    return []
