"""Grid features per region from files: carbon intensity, renewable and low-carbon shares, as time tables.

What the impact analysis joins to CI runs (:func:`greenci.insights.impact.join_grid`), read here at the
edge: Electricity Maps hourly exports (``Renewable Percentage``, ``Low Carbon Percentage``, ``Carbon
Intensity gCO₂eq/kWh (direct)``; the region is the zone folder, the file prefix or the ``Zone Id``), then
lets-wait-awhile files: ``{fr,gb}_production.csv`` (MW per source: share = biomass + geothermal + hydro
run-of-river + hydro reservoir + marine + other renewable + solar + wind, over all domestic generation
except pumped storage; imports left out) and ``*_ci.csv`` (intensity).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from greenci.csvutil import normalize, read_header
from greenci.errors import DataFormatError, InputError
from greenci.sources.formats import detect_header_format, sniff_file
from greenci.sources.tables import ROWS_NOTE, check_cells, parse_times, parse_values

if TYPE_CHECKING:
    import pandas as pd

_RENEWABLE = ("biomass", "geothermal", "hydro run-of-river and poundage", "hydro water reservoir", "marine",
              "other renewable", "solar", "wind offshore", "wind onshore")
_GENERATION = (*_RENEWABLE, "fossil brown coal/lignite", "fossil coal-derived gas", "fossil gas", "fossil hard coal",
               "fossil oil", "fossil oil shale", "fossil peat", "nuclear", "other", "waste")
_LWA_ALIASES = {"ger": ("de", "de-lu"), "gb": ("gb",), "fr": ("fr",)}
#: a generation figure beyond this (10 TW) is a corrupted cell, not a grid
MAX_MW = 1e7


def read_grid_features(folder: str | os.PathLike[str],
                       wanted: set[str]) -> dict[str, list[tuple[str, pd.DataFrame, int]]]:
    """region (lower case) -> [(file, frame of time + grid columns, step s)], Electricity Maps first."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{os.fspath(folder)}: not a directory: pass the folder holding intensity files")
    return _grid_sources(root, wanted)


def _grid_sources(root: Path, wanted: set[str]) -> dict[str, list[tuple[str, pd.DataFrame, int]]]:
    """region (lower case) -> [(file, frame of time + grid columns, step s)], Electricity Maps first."""
    em: list[tuple[set[str], Path]] = []
    lwa: list[tuple[set[str], Path, str]] = []
    for f in sorted(root.rglob("*.csv")):
        try:
            sniff_file(f)
            fmt = detect_header_format(str(f), read_header(f))
        except (DataFormatError, InputError):
            continue
        prefix = f.stem.split("_")[0].lower()
        if fmt == "electricitymaps_csv":
            em.append(({f.parent.name.lower(), prefix, _first_zone_id(f)}, f))
        elif fmt in ("entsoe_production", "entsoe_csv"):
            lwa.append(({prefix, *_LWA_ALIASES.get(prefix, ())}, f, fmt))
    out: dict[str, list[tuple[str, pd.DataFrame, int]]] = {}
    for keys, f in em:
        for k in keys & wanted:
            out.setdefault(k, []).append((str(f), _read_em(f), 3600))
    for keys, f, fmt in lwa:
        for k in keys & wanted:
            data = _read_production(f) if fmt == "entsoe_production" else _read_lwa_ci(f)
            out.setdefault(k, []).append((str(f), data, _step_s(data)))
    return out


def _first_zone_id(path: Path) -> str:
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        row = next(reader, [])
    if "zone id" in header and len(row) > header.index("zone id"):
        return row[header.index("zone id")].strip().lower()
    return ""


def _find(columns: Sequence[str], *names: str) -> str | None:
    index = {normalize(c): c for c in columns}
    for n in names:
        if n in index:
            return index[n]
    return None


def _load(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """A grid file as text cells (only an empty cell is missing), and each row's line in the file.

    A file that is not CSV text, has no data rows or has a row cut short is refused, naming the file.
    """
    import pandas as pd

    name = str(path)
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False, na_values=[""],
                            skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise DataFormatError("is empty: a grid file needs a header and data rows", path=name) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"is not a readable CSV table ({str(exc).strip()[:200]})", path=name) from None
    check_cells(name, len(frame.columns))
    rows = np.arange(len(frame), dtype=np.int64) + 2
    blank = frame.isna().all(axis=1).to_numpy()
    frame, rows = frame.loc[~blank].reset_index(drop=True), rows[~blank]
    if frame.empty:
        raise DataFormatError("has a header but no data rows", path=name)
    return frame, rows


def _times(path: Path, frame: pd.DataFrame, column: str, rows: np.ndarray) -> np.ndarray:
    shown = "the first column (time)" if column.startswith("Unnamed: ") else column  # a header cell left empty
    return parse_times(str(path), frame[column], rows, shown).astype("datetime64[ns]")


def _numbers(path: Path, raw: pd.Series, rows: np.ndarray, column: str, low: float, high: float,
             what: str) -> np.ndarray:
    """Numbers of a column: empty cells are NaN; a word, an infinity or a value outside [low, high] is refused."""
    import pandas as pd

    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = (np.isnan(values) & raw.notna().to_numpy()) | np.isinf(values) | (values < low) | (values > high)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"'{raw.iloc[i]}' is not {what}: correct it, or leave the cell empty for a gap "
                              f"({ROWS_NOTE})", path=str(path), row=int(rows[i]), column=column)
    return values


def _read_em(path: Path) -> pd.DataFrame:
    import pandas as pd

    frame, rows = _load(path)
    tcol = _find(frame.columns, "datetime (utc)")
    if tcol is None:
        raise DataFormatError("has no 'Datetime (UTC)' column", path=str(path))
    data = pd.DataFrame({"time": _times(path, frame, tcol, rows)})
    src = _find(frame.columns, "carbon intensity gco2eq/kwh (direct)")
    if src is not None:
        data["intensity_g_per_kwh"] = parse_values(str(path), frame[src], rows, src)
    for col, name in (("renewable_pct", "renewable percentage"), ("low_carbon_pct", "low carbon percentage")):
        src = _find(frame.columns, name)
        if src is not None:
            data[col] = _numbers(path, frame[src], rows, src, 0.0, 100.0, "a percentage from 0 to 100")
    return data.sort_values("time").reset_index(drop=True)


def _read_production(path: Path) -> pd.DataFrame:
    import pandas as pd

    frame, rows = _load(path)
    tcol = frame.columns[0]
    by = {normalize(c): c for c in frame.columns[1:]}
    gen = [by[n] for n in _GENERATION if n in by]
    ren = [by[n] for n in _RENEWABLE if n in by]
    nuclear = [by["nuclear"]] if "nuclear" in by else []
    values = pd.DataFrame({c: _numbers(path, frame[c], rows, c, -MAX_MW, MAX_MW, f"a power in MW (at most "
                                       f"{MAX_MW:,.0f})") for c in gen}).clip(lower=0)
    total = values.sum(axis=1, min_count=1).replace(0, np.nan)
    renewable = values[ren].sum(axis=1)
    return pd.DataFrame({
        "time": _times(path, frame, tcol, rows),
        "renewable_pct": (100 * renewable / total).to_numpy(),
        "low_carbon_pct": (100 * (renewable + values[nuclear].sum(axis=1)) / total).to_numpy(),
    }).sort_values("time").reset_index(drop=True)


def _read_lwa_ci(path: Path) -> pd.DataFrame:
    import pandas as pd

    frame, rows = _load(path)
    tcol = _find(frame.columns, "time") or frame.columns[0]
    vcol = _find(frame.columns, "carbon intensity")
    if vcol is None:
        raise DataFormatError("has no 'Carbon Intensity' column", path=str(path))
    return pd.DataFrame({
        "time": _times(path, frame, tcol, rows),
        "intensity_g_per_kwh": parse_values(str(path), frame[vcol], rows, vcol),
    }).sort_values("time").reset_index(drop=True)


def _step_s(data: pd.DataFrame) -> int:
    diffs = np.diff(data["time"].to_numpy().astype("datetime64[s]").astype(np.int64))
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        return 3600
    uniq, counts = np.unique(diffs, return_counts=True)
    return int(uniq[np.argmax(counts)])


