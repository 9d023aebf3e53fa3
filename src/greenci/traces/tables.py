"""What the trace readers share: read CSV/JSON as text, parse times and numbers, report bad rows, sort.

Rows count as an editor shows them (CSV: header is row 1); JSON rows are 1-based positions.
Nothing here imports pandas at import time.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from greenci.errors import DataFormatError, InputError
from greenci.jobs import JobTable
from greenci.traces.records import RowProblem, TraceReadResult

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]

#: a run or job longer than this is no run at all (a broken time or number): left out and reported. It is
#: far above anything real (the longest GHAminer "run" in the shared data is 401 days of late updates,
#: which the implausible-runtime rule of :mod:`greenci.traces.cleaning` handles), so it never overrides it.
ABSURD_DURATION_S = 2 * 365 * 86400


def read_csv_text(path: PathLike, *, as_text: bool = True, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A CSV file as strings (nothing guessed), or a DataFormatError saying why it cannot be read.

    ``as_text=False`` lets pandas parse numbers (fast path for large numeric traces); a column
    with a stray text then stays text and :func:`numbers` reports its rows. ``columns`` reads only
    those (the others are skipped unparsed; absent ones are simply not there, callers check).
    """
    import pandas as pd

    name = os.fspath(path)
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False} if as_text else {}
    if columns is not None:
        wanted = frozenset(columns)
        options["usecols"] = lambda name: name in wanted
    try:
        return pd.read_csv(name, encoding="utf-8-sig", **options)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file: check the path") from None
    except pd.errors.EmptyDataError:
        raise DataFormatError("is empty: a trace needs a header row", path=name) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"is not a readable CSV table ({str(exc).strip()[:200]})", path=name) from None


def csv_layout(path: PathLike, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per data row of :func:`read_csv_text`'s frame: its line in the file (header = 1) and its cell count;
    and the header's cell count.

    pandas skips blank lines and pads rows with fewer cells than the header, so a row cut short would be
    read as a row with empty cells; this scan (the csv module, one pass) tells which rows they are and
    numbers rows as an editor shows them even when blank lines come between. ``n`` is the frame's length;
    a file the two parsers split differently is refused.
    """
    name = os.fspath(path)
    rows: list[int] = []
    cells: list[int] = []
    try:
        with open(name, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            width = len(next(reader, []))
            before = reader.line_num
            for record in reader:
                if record and not (len(record) == 1 and not record[0].strip()):
                    rows.append(before + 1)
                    cells.append(len(record))
                before = reader.line_num
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DataFormatError(f"is not a readable CSV table ({str(exc)[:200]})", path=name) from None
    if len(rows) != n:
        raise DataFormatError(f"is not a well-formed CSV table: its rows cannot be told apart ({len(rows)} records "
                              f"by one reading, {n} by another; a stray quote or line break?)", path=name)
    return np.asarray(rows, dtype=np.int64), np.asarray(cells, dtype=np.int64), width


def short_reason(cells: np.ndarray, width: np.ndarray | int) -> tuple[np.ndarray, Any]:
    """The (mask, reason) check for rows with fewer cells than the header: cut short, never trusted."""
    widths = np.broadcast_to(np.asarray(width, dtype=np.int64), cells.shape)
    return cells < widths, lambda idx: [f"the row has {cells[i]} of the header's {widths[i]} cells: it is cut "
                                        "short (a file copied or downloaded only in part?)" for i in idx]


def duration_reason(duration: np.ndarray, what: str) -> list[tuple[np.ndarray, Any]]:
    """Checks for a duration in seconds that cannot be a run: not finite, negative, absurdly long."""
    with np.errstate(invalid="ignore"):
        return [
            (~np.isfinite(duration) & ~np.isnan(duration),
             lambda idx: [f"{what} {duration[i]:g} s is not a finite number" for i in idx]),
            (duration < 0,
             lambda idx: [f"{what} {duration[i]:g} s is negative: it ends before it starts" for i in idx]),
            (duration > ABSURD_DURATION_S,
             lambda idx: [f"{what} {duration[i]:g} s ({duration[i] / 86400 / 365:.3g} years) is absurd: no run lasts "
                          "over 2 years; the row holds a wrong time or number" for i in idx]),
        ]


def require_columns(df: pd.DataFrame, required: Iterable[str], path: PathLike, fmt: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns[:12]))
        raise DataFormatError(
            f"lacks column(s) {', '.join(missing)} needed by the {fmt} format (columns present: {have})",
            path=os.fspath(path), column=missing[0],
        )


def utc_seconds(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 texts (``Z``, an offset, or none = UTC; ``T`` or a space) as epoch seconds + ok mask."""
    import pandas as pd

    text = values.astype(str).str.strip()
    parsed = pd.to_datetime(text.where(text != "", None), utc=True, format="ISO8601", errors="coerce")
    ok = parsed.notna().to_numpy()
    secs = np.zeros(len(values), dtype=np.int64)
    if ok.any():
        naive = parsed[ok].dt.tz_localize(None).to_numpy().astype("datetime64[s]")
        secs[ok] = naive.astype(np.int64)
    return secs, ok


def numbers(values: pd.Series) -> np.ndarray:
    """Texts as floats; empty or non-numeric text becomes NaN (callers report it)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return np.array(values, dtype=np.float64)
    return np.array(pd.to_numeric(values.astype(str).str.strip(), errors="coerce"), dtype=np.float64)


def row_problems(path: PathLike, rows: np.ndarray, reasons: np.ndarray) -> list[RowProblem]:
    name = os.fspath(path)
    return [RowProblem(name, int(r), str(why)) for r, why in zip(rows, reasons, strict=True)]


def first_reason(n: int, checks: Sequence[tuple[np.ndarray, Any]]) -> np.ndarray:
    """Per row, the reason of the first failed check (``""`` when all pass), vectorised.

    ``checks`` are (failed mask, reason) pairs in priority order; a reason is a string, or a
    callable that gets the failing row positions and returns one text per row (so per-row texts
    are only built for the few rows that fail).
    """
    out = np.full(n, "", dtype=object)
    for failed, reason in reversed(checks):
        idx = np.flatnonzero(np.asarray(failed, dtype=bool))
        if idx.size == 0:
            continue
        out[idx] = np.asarray(list(reason(idx)), dtype=object) if callable(reason) else reason
    return out


def sorted_result(columns: dict[str, Any], *, conclusion: np.ndarray, problems: list[RowProblem],
                   formats: dict[str, str]) -> TraceReadResult:
    """Build the JobTable in arrival order with ``conclusion`` kept aligned to it."""
    sub = np.asarray(columns["submitted_s"], dtype=np.int64)
    order = np.argsort(sub, kind="stable")
    built: dict[str, Any] = {}
    for key, value in columns.items():
        if isinstance(value, np.ndarray) and value.shape == sub.shape:
            built[key] = value[order]
        elif key == "allowed_regions" and value is not None:
            built[key] = tuple(value[i] for i in order)
        else:
            built[key] = value
    jobs = JobTable.build(**built)
    return TraceReadResult(jobs=jobs, problems=problems, conclusion=np.asarray(conclusion, dtype=object)[order],
                           formats=formats)


def json_documents(path: PathLike) -> list[Any]:
    """Every top-level JSON value of a file: one value, a JSON array, or values written back to back
    (``gh api --paginate`` writes one object a page with nothing between them)."""
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}): check the path") from None
    except UnicodeDecodeError:
        raise DataFormatError("is not UTF-8 text: expected JSON", path=name) from None
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"is not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                  path=name) from None
        docs.append(value)
    if not docs:
        raise DataFormatError("is empty: expected JSON pages of GitHub runs or jobs", path=name)
    return docs
