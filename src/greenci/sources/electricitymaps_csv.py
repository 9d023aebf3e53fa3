"""Electricity Maps exports (``ZONE/ZONE_YEAR_hourly.csv``), as downloaded from the data portal.

Columns used: ``Datetime (UTC)``, ``Carbon Intensity gCO₂eq/kWh (direct)`` or ``(LCA)`` (also spelled
with an ASCII ``CO2``, or ``(Life cycle)`` as newer exports write it), ``Zone Id`` and ``Data Estimated``.
The signal is average (consumption-based) intensity.

The region is the zone in the file name (``DE-LU_2022_hourly.csv`` -> ``DE-LU``) because the
``Zone Id`` column can name a different, coarser zone (it says ``DE`` in the DE-LU files and ``BR-CS``
in the BR-SP files); only when the file name carries no zone does ``Zone Id`` decide.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from greenci.csvutil import column_index, normalize, read_header
from greenci.errors import DataFormatError
from greenci.grid import IntensitySeries
from greenci.sources.formats import FileFormat
from greenci.sources.tables import load_table, make_series, missing_columns, parse_flags, split_by_region

FORMAT = "electricitymaps_csv"
TIME = "Datetime (UTC)"
DIRECT = "Carbon Intensity gCO₂eq/kWh (direct)"
LCA = "Carbon Intensity gCO₂eq/kWh (LCA)"
ZONE = "Zone Id"
ESTIMATED = "Data Estimated"
_LCA_NAMES = ("carbon intensity gco2eq/kwh (lca)", "carbon intensity gco2eq/kwh (life cycle)")
_DIRECT_NAMES = ("carbon intensity gco2eq/kwh (direct)",)
_ALIASES = {"direct": _DIRECT_NAMES, "operational": _DIRECT_NAMES,
            "lca": _LCA_NAMES, "life cycle": _LCA_NAMES, "lifecycle": _LCA_NAMES, "life-cycle": _LCA_NAMES}
# A zone id is an ISO 3166 country code and optional -parts (DE-LU, US-CAL-CISO); then _YEAR.
_FILE_ZONE = re.compile(r"^([A-Z]{2}(?:-[A-Z0-9]+)*)_(?:19|20)\d\d(?:[_\-.].*)?$")


def zone_from_filename(path: str | os.PathLike[str]) -> str | None:
    """The zone of ``ZONE_YEAR_...csv`` (``DE-LU_2022_hourly.csv`` -> ``DE-LU``), or None."""
    match = _FILE_ZONE.match(Path(path).stem)
    return match.group(1) if match else None


def read_electricitymaps_csv(path: str | os.PathLike[str], *, region: str | None = None,
                             column: str | None = None) -> list[IntensitySeries]:
    """Read one Electricity Maps export into one series per zone (normally exactly one).

    ``column``: None or ``"direct"`` for direct (operational) intensity, ``"lca"`` for life-cycle
    intensity, or a column name. ``region`` overrides the zone. ``Data Estimated`` becomes the
    series' ``estimated`` mask when the column is there.
    """
    name = os.fspath(path)
    header = read_header(name)
    index = column_index(header)
    wanted = (column or "direct").strip()
    candidates = _ALIASES.get(normalize(wanted), (normalize(wanted),))
    value = next((index[c] for c in candidates if c in index), None)
    time = index.get("datetime (utc)")
    if value is None or time is None:
        shown = LCA if candidates == _LCA_NAMES else DIRECT if normalize(wanted) in _ALIASES else wanted
        raise missing_columns(name, FORMAT, header, [TIME, shown])
    zone_col = index.get("zone id")
    flag_col = index.get("data estimated")
    zone = region or zone_from_filename(name)
    if zone is None and zone_col is None:
        raise DataFormatError(
            f"has no zone: name the file ZONE_YEAR_hourly.csv (e.g. DE-LU_2022_hourly.csv) or keep its "
            f"{ZONE!r} column", path=name)
    text = [c for c in (flag_col, zone_col if zone is None else None) if c is not None]
    times, values, cells, rows = load_table(name, header, time_column=time, value_columns=[value],
                                            text_columns=text)
    estimated = None if flag_col is None else parse_flags(name, cells[flag_col], rows, flag_col)
    if zone is not None:
        groups = [(zone, np.arange(rows.size))]
    else:
        assert zone_col is not None
        groups = split_by_region(name, cells[zone_col], rows, zone_col)
    norm = normalize(value)
    role = "lca" if norm in _LCA_NAMES else "direct" if norm in _DIRECT_NAMES else norm
    return [
        make_series(name, zone_name, times[pos], values[value][pos], rows[pos], signal="average",
                    time_column=time, estimated=None if estimated is None else estimated[pos],
                    kind=f"{FORMAT} {role}")
        for zone_name, pos in groups
    ]


def _sniff(stem: str, header: object, names: list[str]) -> bool:
    have = set(names)
    return bool(have & {"datetime (utc)", "zone id", "data estimated"}
                or any(n.startswith("carbon intensity gco2eq/kwh") for n in names))


FILE_FORMAT = FileFormat(FORMAT, "average", _sniff, read_electricitymaps_csv,
                         "Datetime (UTC), Carbon Intensity gCO₂eq/kWh (direct)")
