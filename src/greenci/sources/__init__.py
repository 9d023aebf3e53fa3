"""Readers for carbon-intensity files: the format is told by the header, the result is IntensitySeries.

Supported file formats (``detect_format`` returns the name on the left):

``electricitymaps_csv``
    Electricity Maps yearly/monthly exports (``Datetime (UTC)``, ``Zone Id``,
    ``Carbon Intensity gCO₂eq/kWh (direct)`` / ``(LCA)``, ``Data Estimated``); average signal.
``electricitymaps_history``
    Electricity Maps history export (``datetime``, ``zone_name``, ``carbon_intensity_avg``, ...); average.
``entsoe_csv``
    lets-wait-awhile ENTSO-E derived files (``Time``, ``Carbon Intensity``); average.
``watttime_csv``
    WattTime MOER, wide (``time`` + one column per region, as in vessim) or long (``point_time``,
    ``value``); marginal.

Every reader is strict, so a wrong file fails loudly instead of feeding the planner bad numbers:
times are UTC (naive times are taken as UTC) and must strictly increase; an empty intensity cell is a
gap (NaN, kept); a negative or non-numeric intensity, a missing column or an unknown header raises
:class:`~greenci.errors.DataFormatError` and nothing of that file is returned. Row numbers in messages
count lines of the file as an editor shows them: the header is row 1, the first data row is row 2.

This module imports no pandas at import time; the readers load it when they run.
"""

from __future__ import annotations

import csv
import importlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from greenci.accounting import Signal, check_signal
from greenci.errors import DataFormatError, InputError, SignalMismatchError
from greenci.grid import IntensitySeries, iso

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "FORMAT_SIGNALS", "detect_format", "intensity_files", "read_file", "read_intensity"]

PathLike = str | os.PathLike[str]

#: format name -> (module, reader function)
FORMATS: dict[str, tuple[str, str]] = {
    "electricitymaps_csv": ("greenci.sources.electricitymaps_csv", "read_electricitymaps_csv"),
    "electricitymaps_history": ("greenci.sources.electricitymaps_history", "read_electricitymaps_history"),
    "entsoe_csv": ("greenci.sources.entsoe_csv", "read_entsoe_csv"),
    "watttime_csv": ("greenci.sources.watttime_csv", "read_watttime_csv"),
}
#: the kind of signal each format carries
FORMAT_SIGNALS: dict[str, Signal] = {
    "electricitymaps_csv": "average",
    "electricitymaps_history": "average",
    "entsoe_csv": "average",
    "watttime_csv": "marginal",
}
#: recognised files that hold no carbon intensity: skipped inside directories, refused when named
NON_INTENSITY_FORMATS: dict[str, str] = {
    "entsoe_production": "an ENTSO-E production file (MW per source), not carbon intensity: "
                         "pass the matching *_ci.csv file instead",
}
_FORMAT_HELP = (
    "electricitymaps_csv (Datetime (UTC), Carbon Intensity gCO₂eq/kWh (direct)), "
    "electricitymaps_history (datetime, zone_name, carbon_intensity_avg), "
    "entsoe_csv (Time, Carbon Intensity), "
    "watttime_csv (time + one column per region, or point_time, value)"
)
ROWS_NOTE = "rows count lines of the file, the header is row 1"
_PRODUCTION_NAMES = frozenset({
    "biomass", "fossil gas", "fossil hard coal", "fossil brown coal/lignite", "fossil oil", "nuclear",
    "solar", "wind onshore", "wind offshore", "hydro run-of-river and poundage", "hydro water reservoir",
    "hydro pumped storage",
})
_TIME_NAMES = frozenset({"time", "timestamp", "datetime", "date", "point_time"})
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


# ---------------------------------------------------------------------------------------- public API
def read_intensity(paths: PathLike | Iterable[PathLike], *, region: str | None = None,
                   column: str | None = None, signal: str | None = None) -> list[IntensitySeries]:
    """Read every carbon-intensity file in ``paths`` (files, or directories searched for ``*.csv``).

    Directories are walked recursively in sorted order; files that are recognised but hold no
    intensity (ENTSO-E production tables) are skipped there, as is any file of another ``signal``
    kind when ``signal`` is given. A file named explicitly must be readable and of that kind.
    ``region`` renames the region of each file (for files holding one region); ``column`` picks the
    value column (e.g. ``"lca"`` for Electricity Maps life-cycle intensity).
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise InputError("no intensity files given: pass CSV files or a directory holding them")
    if signal is not None:
        check_signal(signal)
    files: list[tuple[str, bool]] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            files += [(str(f), False) for f in intensity_files(p)]
        elif p.is_file():
            files.append((os.fspath(given), True))
        else:
            raise InputError(f"{os.fspath(given)}: no such file or directory: check the path")
    seen: set[Path] = set()
    out: list[IntensitySeries] = []
    for name, explicit in files:
        key = Path(name).resolve()
        if key in seen:
            continue
        seen.add(key)
        fmt = detect_format(name)
        if fmt in NON_INTENSITY_FORMATS:
            if explicit:
                raise DataFormatError(f"this is {NON_INTENSITY_FORMATS[fmt]}", path=name)
            continue
        if signal is not None and FORMAT_SIGNALS[fmt] != signal:
            if explicit:
                raise SignalMismatchError(
                    f"{name}: holds {FORMAT_SIGNALS[fmt]} intensity ({fmt}) but signal={signal!r} was asked: "
                    f"drop the file or ask for signal={FORMAT_SIGNALS[fmt]!r}"
                )
            continue
        out += read_file(name, fmt, region=region, column=column)
    if not out:
        where = ", ".join(os.fspath(p) for p in paths)
        kind = f" with {signal} intensity" if signal else ""
        raise InputError(f"no carbon-intensity CSV{kind} found in {where}: supported formats are {_FORMAT_HELP}")
    return out


def intensity_files(directory: PathLike) -> list[Path]:
    """The carbon-intensity CSV files under ``directory``, recursively, in sorted order.

    Only ``*.csv`` files are looked at (so LICENSE, SOURCE, README stay out); recognised tables that
    hold no intensity (ENTSO-E production files) are left out too. CSV files of unknown format stay
    in, so that reading them says what is wrong instead of silently ignoring them.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{os.fspath(directory)}: not a directory: check the path")
    out = []
    for f in sorted(root.rglob("*.csv")):
        if not f.is_file():
            continue
        try:
            if detect_format(f) in NON_INTENSITY_FORMATS:
                continue
        except DataFormatError:
            pass
        out.append(f)
    return out


def read_file(path: PathLike, fmt: str | None = None, *, region: str | None = None,
              column: str | None = None) -> list[IntensitySeries]:
    """Read one file with the reader of ``fmt`` (detected from the header when None)."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(f"format {fmt!r} is unknown: use one of {', '.join(FORMATS)}")
    module, func = FORMATS[fmt]
    reader = getattr(importlib.import_module(module), func)
    return reader(path, region=region, column=column)


def detect_format(path: PathLike) -> str:
    """The format of a file, told from its header line (see the module docstring for the names)."""
    return detect_header_format(os.fspath(path), read_header(path))


def detect_header_format(path: str, header: Sequence[str]) -> str:
    """The format a header belongs to; raises :class:`DataFormatError` naming the supported ones."""
    names = [normalize(h) for h in header]
    have = set(names)
    first = names[0] if names else ""
    stem = Path(path).stem.lower()
    if (have & {"datetime (utc)", "zone id", "data estimated"}
            or any(n.startswith("carbon intensity gco2eq/kwh") for n in names)):
        return "electricitymaps_csv"
    if have & {"carbon_intensity_avg", "zone_name"}:
        return "electricitymaps_history"
    if "carbon intensity" in have or (header and header[0].strip() == "Time") or stem.endswith("_ci"):
        return "entsoe_csv"
    if len(have & _PRODUCTION_NAMES) >= 2:
        return "entsoe_production"
    if "point_time" in have or (len(names) >= 2 and (first in _TIME_NAMES or first.endswith("time"))):
        return "watttime_csv"
    shown = ", ".join(repr(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
    raise DataFormatError(
        f"the header [{shown}] matches no known carbon-intensity format: supported formats are "
        f"{_FORMAT_HELP}; convert the file to one of them",
        path=path,
    )


# ---------------------------------------------------------------------------------------- shared helpers
def normalize(name: str) -> str:
    """A column name as matched: case, surrounding/double spaces, BOM and ₂ vs 2 do not matter."""
    return " ".join(name.replace("\ufeff", "").replace("₂", "2").casefold().split())


def read_header(path: PathLike) -> list[str]:
    """The column names of a CSV file (first line), without a byte-order mark."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file: check the path") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory: use read_intensity to read a directory") from None
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


def missing_columns(path: str, fmt: str, header: Sequence[str], expected: Sequence[str]) -> DataFormatError:
    """The error for a file that lacks required columns: what was found and what was expected."""
    index = column_index(header)
    missing = [e for e in expected if normalize(e) not in index]
    return DataFormatError(
        f"{fmt} file lacks column(s) {', '.join(repr(m) for m in missing)}: found "
        f"{', '.join(repr(h) for h in header)}; expected {', '.join(repr(e) for e in expected)} "
        "(names match ignoring case, extra spaces and ₂ vs 2): rename the column or pick another with column=",
        path=path,
    )


def region_column_error(path: str, regions: Sequence[str]) -> InputError:
    """``region=`` can rename one series only."""
    return InputError(
        f"{path}: region= renames one series, but the file holds {len(regions)} ({', '.join(regions)}): "
        "leave region= out or pick one series with column="
    )


def load_table(path: str, header: Sequence[str], *, time_column: str, value_columns: Sequence[str],
               text_columns: Sequence[str] = ()) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                           dict[str, pd.Series], np.ndarray]:
    """Read the named columns of a CSV: UTC times, float values, text, and each row's line number.

    ``header`` is :func:`read_header` of the file; column names are as written there. Returns
    ``(times datetime64[s], {value column: float64}, {text column: Series}, rows)``. Blank lines are
    dropped; every other problem raises :class:`DataFormatError` with the row (file line, header = 1)
    and the column.
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
    frame.columns = [header[i] for i in frame.columns]
    rows = np.arange(len(frame), dtype=np.int64) + 2
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame, rows = frame.loc[~blank], rows[~blank]
    if len(frame) == 0:
        raise DataFormatError("has a header but no data rows: it holds no intensity", path=path)
    times = parse_times(path, frame[time_column], rows, time_column)
    values = {c: parse_values(path, frame[c], rows, c) for c in value_columns}
    text = {c: frame[c] for c in text_columns}
    return times, values, text, rows


def _has_data(path: str) -> bool:
    """Whether any non-blank line follows the header (read line by line: stops at the first one)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        fh.readline()
        return any(line.strip() for line in fh)


def _read_csv(path: str, width: int, columns: list[int], dtypes: dict[int, object]) -> pd.DataFrame:
    """Columns by position (robust to odd header spellings); cells beyond the header are ignored."""
    import pandas as pd

    return pd.read_csv(path, header=None, skiprows=1, names=list(range(width)), index_col=False,
                       usecols=columns, dtype=dtypes, encoding="utf-8-sig",  # type: ignore[arg-type]
                       skip_blank_lines=False, skipinitialspace=True)


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


def parse_values(path: str, raw: pd.Series, rows: np.ndarray, column: str) -> np.ndarray:
    """Float intensities; empty cells are NaN gaps, text and infinities are refused with their row."""
    import pandas as pd

    if raw.dtype.kind == "f":
        values = raw.to_numpy(dtype=np.float64)
        bad = np.isinf(values)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = (np.isnan(values) & raw.notna().to_numpy()) | np.isinf(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{raw.iloc[i]!r} is not a number: write the intensity in gCO2eq/kWh, or leave the cell empty "
            f"to mark a gap ({ROWS_NOTE})",
            path=path, row=int(rows[i]), column=column,
        )
    negative = values < 0
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise DataFormatError(
            f"intensity {values[i]:g} is negative: carbon intensity cannot be below 0; correct it or leave "
            f"the cell empty to mark a gap ({ROWS_NOTE})",
            path=path, row=int(rows[i]), column=column,
        )
    return values


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
                signal: Signal, time_column: str, estimated: np.ndarray | None = None) -> IntensitySeries:
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
                           estimated=estimated)


def split_by_region(path: str, zones: pd.Series, rows: np.ndarray,
                    column: str) -> list[tuple[str, np.ndarray]]:
    """(region, row positions) for each distinct non-empty value of a zone column, in file order."""
    import pandas as pd

    empty = zones.isna().to_numpy() | (zones.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise DataFormatError(f"zone is empty: fill it in or pass region= ({ROWS_NOTE})",
                              path=path, row=int(rows[i]), column=column)
    codes, uniques = pd.factorize(zones.astype(str).str.strip(), sort=False)
    return [(str(u), np.flatnonzero(codes == k)) for k, u in enumerate(uniques)]
