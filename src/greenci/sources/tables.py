"""What every intensity file reader shares: read named columns, parse times and values with row numbers.

Row numbers in messages count lines of the file as an editor shows them: the header is row 1, the
first data row is row 2. Nothing here imports pandas at import time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from greenci.accounting import Signal
from greenci.config import bound_hint, max_intensity_g_per_kwh
from greenci.csvutil import column_index, normalize
from greenci.errors import DataFormatError, InputError
from greenci.grid import IntensitySeries
from greenci.timeutil import iso

if TYPE_CHECKING:
    import pandas as pd

ROWS_NOTE = "rows count lines of the file, the header is row 1"
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


def missing_columns(path: str, fmt: str, header: Sequence[str], expected: Sequence[str]) -> DataFormatError:
    """The error for a file that lacks required columns: what was found and what was expected."""
    index = column_index(header)
    missing = [e for e in expected if normalize(e) not in index]
    return DataFormatError(
        f"{fmt} file lacks column(s) {', '.join(repr(m) for m in missing)}: found "
        f"{', '.join(repr(h) for h in header)}; expected {', '.join(repr(e) for e in expected)} "
        "(names match ignoring case, extra spaces and ₂ vs 2): rename the column in the file, or check that "
        "the file is of this format",
        path=path,
    )


def region_column_error(path: str, regions: Sequence[str]) -> InputError:
    """A region name given for the file can rename one series only."""
    return InputError(
        f"{path}: the region given renames one series, but the file holds {len(regions)} "
        f"({', '.join(regions)}): leave the region out, or pick one series (column)",
        field=("region", "column"),
    )


def load_table(path: str, header: Sequence[str], *, time_column: str, value_columns: Sequence[str],
               text_columns: Sequence[str] = (), scale: float = 1.0,
               unit: str = "gCO2eq/kWh") -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, pd.Series], np.ndarray]:
    """Read the named columns of a CSV: UTC times, float values, text, and each row's line number.

    ``header`` is :func:`read_header` of the file; column names are as written there. Returns
    ``(times datetime64[s], {value column: float64 in g/kWh}, {text column: Series}, rows)``. Values are
    multiplied by ``scale`` (the file's ``unit`` to g/kWh) and checked against the plausibility bound.
    Blank lines are dropped; a row with fewer cells than the header (a row cut short, a last line cut
    mid-way) is refused; every other problem raises :class:`DataFormatError` with the row (file line,
    header = 1) and the column.
    """
    import pandas as pd

    if not _has_data(path):
        raise DataFormatError("has a header but no data rows: it holds no intensity", path=path)
    wanted = list(dict.fromkeys([time_column, *value_columns, *text_columns]))
    position = {name: i for i, name in reversed(list(enumerate(header)))}
    index = [position[c] for c in wanted]
    numeric = {position[c] for c in value_columns}
    try:
        try:
            frame = _read_csv(path, len(header), index, {i: np.float64 if i in numeric else str for i in index})
        except ValueError as exc:
            if isinstance(exc, pd.errors.ParserError):
                raise
            frame = _read_csv(path, len(header), index, {i: str for i in index})  # parse_values finds the cell
    except pd.errors.ParserError as exc:
        raise DataFormatError(f"is not well-formed CSV ({exc}): every line needs one cell per column",
                              path=path) from None
    except pd.errors.EmptyDataError:
        raise DataFormatError("has a header but no data rows: it holds no intensity", path=path) from None
    except UnicodeDecodeError:
        raise DataFormatError("is not UTF-8 text: save it as UTF-8 CSV", path=path) from None
    check_cells(path, len(header))
    frame.columns = [header[i] for i in frame.columns]
    rows = np.arange(len(frame), dtype=np.int64) + 2
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame, rows = frame.loc[~blank], rows[~blank]
    if len(frame) == 0:
        raise DataFormatError("has a header but no data rows: it holds no intensity", path=path)
    times = parse_times(path, frame[time_column], rows, time_column)
    values = {c: parse_values(path, frame[c], rows, c, scale=scale, unit=unit) for c in value_columns}
    text = {c: frame[c] for c in text_columns}
    return times, values, text, rows


def _has_data(path: str) -> bool:
    """Whether any non-blank line follows the header (read line by line: stops at the first one)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        fh.readline()
        return any(line.strip() for line in fh)


def _read_csv(path: str, width: int, columns: list[int], dtypes: dict[int, object]) -> pd.DataFrame:
    """Columns by position (robust to odd header spellings); cells beyond the header are ignored.

    Only an empty cell is missing (NaN): ``nan``, ``NA`` or ``null`` written in a cell are text, so a
    value cell holding them is refused rather than taken for a gap (and a zone called ``NA`` stays NA).
    """
    import pandas as pd

    return pd.read_csv(path, header=None, skiprows=1, names=list(range(width)), index_col=False,
                       usecols=columns, dtype=dtypes, encoding="utf-8-sig",  # type: ignore[arg-type]
                       skip_blank_lines=False, skipinitialspace=True, keep_default_na=False, na_values=[""])


def _short_lines(data: bytes, width: int) -> bool:
    """Whether a non-blank line after the header has fewer than ``width - 1`` commas.

    Vectorised (the positions of newlines and commas, then a count per line), so that the check costs
    about a millisecond on a year of hourly rows; only the few short lines are looked at one by one.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    bounds = np.concatenate(([0], np.flatnonzero(buf == 10) + 1, [buf.size]))
    counts = np.diff(np.searchsorted(np.flatnonzero(buf == 44), bounds))
    short = np.flatnonzero(counts[1:] < width - 1) + 1
    return any(data[bounds[i]:bounds[i + 1]].strip() for i in short)


def check_cells(path: str, width: int) -> None:
    """Refuse a row with fewer cells than the header: a row cut short, or a last line cut mid-way.

    Such a row would otherwise be read with its missing cells as gaps, or, cut inside a number, as a
    smaller number. Blank lines are fine (they are skipped).
    """
    with open(path, "rb") as fh:
        data = fh.read()
    lone_cr = b"\r" in data and data.count(b"\r") != data.count(b"\r\n")
    if b'"' not in data and not lone_cr and not _short_lines(data, width):
        return  # no quoting (cells are commas apart) and every non-blank line has its cells
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for i, record in enumerate(reader):
                if len(record) >= width or not record or (len(record) == 1 and not record[0].strip()):
                    continue
                raise DataFormatError(
                    f"has {len(record)} of the header's {width} cells: the row is cut short (a file copied or "
                    f"downloaded only in part?); complete or delete the row ({ROWS_NOTE})",
                    path=path, row=i + 2)
    except csv.Error as exc:
        raise DataFormatError(f"is not well-formed CSV ({exc})", path=path) from None
    except UnicodeDecodeError:
        raise DataFormatError("is not UTF-8 text: save it as UTF-8 CSV", path=path) from None


def parse_times(path: str, raw: pd.Series, rows: np.ndarray, column: str) -> np.ndarray:
    """UTC ``datetime64[s]`` from ISO 8601 text; naive times are taken as UTC."""
    import pandas as pd

    empty = raw.isna().to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise DataFormatError(f"time is empty: every data row needs its slot start ({ROWS_NOTE})",
                              path=path, row=int(rows[i]), column=column)
    parsed = pd.to_datetime(raw, format="ISO8601", utc=True, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{raw.iloc[i]!r} is not a date-time: write ISO 8601 in UTC, e.g. 2022-01-01 00:00:00 or "
            f"2022-01-01T00:00:00+00:00 ({ROWS_NOTE})",
            path=path, row=int(rows[i]), column=column,
        )
    return parsed.dt.tz_convert(None).to_numpy().astype("datetime64[s]")


def parse_values(path: str, raw: pd.Series, rows: np.ndarray, column: str, *, scale: float = 1.0,
                 unit: str = "gCO2eq/kWh") -> np.ndarray:
    """Intensities in g/kWh (the file's values x ``scale``); empty cells are NaN gaps.

    Text, infinities, negative values and values above the plausibility bound are refused with their row.
    """
    import pandas as pd

    if raw.dtype.kind == "f":
        values = raw.to_numpy(dtype=np.float64)
        bad = np.isinf(values)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = (np.isnan(values) & raw.notna().to_numpy()) | np.isinf(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "is not a finite number" if np.isinf(values[i]) else "is not a number"
        raise DataFormatError(
            f"'{raw.iloc[i]}' {what}: write the intensity in {unit}, or leave the cell empty to mark a gap "
            f"({ROWS_NOTE})",
            path=path, row=int(rows[i]), column=column,
        )
    written = values
    if scale != 1.0:
        values = values * scale
    check_plausible(values, lambda message, i: DataFormatError(f"{message} ({ROWS_NOTE})", path=path,
                                                               row=int(rows[i]), column=column),
                    (lambda i: f"{written[i]:g} {unit}") if scale != 1.0 else (lambda i: None))
    return values


def check_plausible(values: np.ndarray, error: Callable[[str, int], Exception],
                    written: Callable[[int], str | None] = lambda i: None) -> None:
    """Refuse a negative value or one above the plausibility bound (NaN gaps pass).

    ``error(message, i)`` builds the exception for position ``i`` (the caller knows the file, row and
    column, or the API item and field); ``written(i)`` may give the value as the source wrote it (e.g.
    in lbs/MWh) when it was converted.
    """
    with np.errstate(invalid="ignore"):
        negative = values < 0
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise error(f"intensity {values[i]:g} is negative: carbon intensity cannot be below 0; "
                    "correct it, or leave it empty to mark a gap", i)
    bound = max_intensity_g_per_kwh()
    with np.errstate(invalid="ignore"):
        above = values > bound
    if above.any():
        i = int(np.flatnonzero(above)[0])
        shown = written(i)
        was = f" (written as {shown})" if shown else ""
        raise error(f"intensity {values[i]:g} gCO2eq/kWh{was} is above the plausible maximum of {bound:g}: "
                    "a wrong unit or a corrupted value; correct it, leave it empty to mark a gap, or "
                    f"{bound_hint()} if such values are real", i)


def parse_flags(path: str, raw: pd.Series, rows: np.ndarray, column: str) -> np.ndarray:
    """Booleans from true/false (also yes/no, 1/0) text; empty cells are False."""
    text = raw.fillna("false").astype(str).str.strip().str.lower()
    true = text.isin(_TRUE).to_numpy()
    bad = ~(true | text.isin(_FALSE).to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"{raw.iloc[i]!r} is not a flag: write true or false ({ROWS_NOTE})",
                              path=path, row=int(rows[i]), column=column)
    return true


def make_series(path: str, region: str, times: np.ndarray, values: np.ndarray, rows: np.ndarray, *,
                signal: Signal, time_column: str, estimated: np.ndarray | None = None,
                kind: str = "") -> IntensitySeries:
    """One region's series, after checking its times strictly increase (row and fix in the error)."""
    secs = times.astype(np.int64)
    step = np.diff(secs)
    wrong = np.flatnonzero(step <= 0)
    if wrong.size:
        k = int(wrong[0])
        here, before = iso(times[k + 1]), iso(times[k])
        if step[k] == 0:
            msg = (f"time {here} repeats row {rows[k]}: each slot may appear once; delete the duplicate row "
                   f"({ROWS_NOTE})")
        else:
            msg = (f"time {here} comes before {before} of row {rows[k]}: times must strictly increase; "
                   f"sort the file by time ({ROWS_NOTE})")
        raise DataFormatError(msg, path=path, row=int(rows[k + 1]), column=time_column)
    return IntensitySeries(region=region, times=times, values_g_per_kwh=values, signal=signal, source=path,
                           estimated=estimated, kind=kind)


def split_by_region(path: str, zones: pd.Series, rows: np.ndarray,
                    column: str) -> list[tuple[str, np.ndarray]]:
    """(region, row positions) for each distinct non-empty value of a zone column, in file order."""
    import pandas as pd

    empty = zones.isna().to_numpy() | (zones.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise DataFormatError(f"zone is empty: fill it in ({ROWS_NOTE})",
                              path=path, row=int(rows[i]), column=column)
    codes, uniques = pd.factorize(zones.astype(str).str.strip(), sort=False)
    return [(str(u), np.flatnonzero(codes == k)) for k, u in enumerate(uniques)]
