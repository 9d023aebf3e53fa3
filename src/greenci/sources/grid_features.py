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
from greenci.sources.formats import detect_header_format

if TYPE_CHECKING:
    import pandas as pd

_RENEWABLE = ("biomass", "geothermal", "hydro run-of-river and poundage", "hydro water reservoir", "marine",
              "other renewable", "solar", "wind offshore", "wind onshore")
_GENERATION = (*_RENEWABLE, "fossil brown coal/lignite", "fossil coal-derived gas", "fossil gas", "fossil hard coal",
               "fossil oil", "fossil oil shale", "fossil peat", "nuclear", "other", "waste")
_LWA_ALIASES = {"ger": ("de", "de-lu"), "gb": ("gb",), "fr": ("fr",)}


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


def _read_em(path: Path) -> pd.DataFrame:
    import pandas as pd

    frame = pd.read_csv(path, encoding="utf-8-sig")
    tcol = _find(frame.columns, "datetime (utc)")
    if tcol is None:
        raise DataFormatError("has no 'Datetime (UTC)' column", path=str(path))
    data = pd.DataFrame({"time": pd.to_datetime(frame[tcol], utc=True, format="ISO8601").dt.tz_convert(None)
                         .astype("datetime64[ns]")})
    for col, names in (("intensity_g_per_kwh", ("carbon intensity gco2eq/kwh (direct)",)),
                       ("renewable_pct", ("renewable percentage",)), ("low_carbon_pct", ("low carbon percentage",))):
        src = _find(frame.columns, *names)
        if src is not None:
            data[col] = pd.to_numeric(frame[src], errors="coerce").to_numpy()
    return data.sort_values("time").reset_index(drop=True)


def _read_production(path: Path) -> pd.DataFrame:
    import pandas as pd

    frame = pd.read_csv(path, encoding="utf-8-sig")
    tcol = frame.columns[0]
    by = {normalize(c): c for c in frame.columns[1:]}
    gen = [by[n] for n in _GENERATION if n in by]
    ren = [by[n] for n in _RENEWABLE if n in by]
    nuclear = [by["nuclear"]] if "nuclear" in by else []
    values = frame[gen].apply(pd.to_numeric, errors="coerce").clip(lower=0)
    total = values.sum(axis=1, min_count=1).replace(0, np.nan)
    renewable = values[ren].sum(axis=1)
    return pd.DataFrame({
        "time": pd.to_datetime(frame[tcol], utc=True, format="ISO8601").dt.tz_convert(None).astype("datetime64[ns]"),
        "renewable_pct": (100 * renewable / total).to_numpy(),
        "low_carbon_pct": (100 * (renewable + values[nuclear].sum(axis=1)) / total).to_numpy(),
    }).sort_values("time").reset_index(drop=True)


def _read_lwa_ci(path: Path) -> pd.DataFrame:
    import pandas as pd

    frame = pd.read_csv(path, encoding="utf-8-sig")
    tcol = _find(frame.columns, "time") or frame.columns[0]
    vcol = _find(frame.columns, "carbon intensity")
    if vcol is None:
        raise DataFormatError("has no 'Carbon Intensity' column", path=str(path))
    return pd.DataFrame({
        "time": pd.to_datetime(frame[tcol], utc=True, format="ISO8601").dt.tz_convert(None).astype("datetime64[ns]"),
        "intensity_g_per_kwh": pd.to_numeric(frame[vcol], errors="coerce").to_numpy(),
    }).sort_values("time").reset_index(drop=True)


def _step_s(data: pd.DataFrame) -> int:
    diffs = np.diff(data["time"].to_numpy().astype("datetime64[s]").astype(np.int64))
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        return 3600
    uniq, counts = np.unique(diffs, return_counts=True)
    return int(uniq[np.argmax(counts)])


