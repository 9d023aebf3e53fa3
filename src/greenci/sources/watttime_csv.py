"""WattTime marginal operating emissions rate (MOER) CSV files; the signal is marginal.

Two shapes are read:

wide (vessim's ``watttime_example.csv``)
    a time column first (``time``; vessim's file literally spells it ``oootime``, so any first column
    whose name ends in ``time`` is accepted) and one column per region (``Caiso_North``). The region is
    the column name upper-cased to WattTime's region code style (``Caiso_North`` -> ``CAISO_NORTH``).
long (WattTime's own downloads)
    ``point_time``, ``value`` and optionally ``region`` or ``ba`` naming the region.

Units. WattTime publishes MOER in lbs CO2/MWh (API v2 ``MOER``, v3 ``co2_moer``:
``lbs_co2_per_mwh``). vessim converted its trace before publishing it: its dataset docs say "The
original data is provided in lbs/MWh, but in the dataset, it is converted to g/kWh" (unit g/kWh,
5 min, 8929 lines, CAISO North 2023-06-08 .. 2023-07-08, i.e. this very file), and its plots label the
axis g/kWh. The values agree: ~425 g/kWh is ~940 lbs/MWh, a gas plant on the margin, whereas 425
lbs/MWh would be ~193 g/kWh, too clean for a gas-marginal CAISO hour. So by default (``unit="auto"``)
the wide shape is taken as gCO2/kWh and kept, and the long shape, which is WattTime's raw output,
is taken as lbs/MWh and converted (1 lb/MWh = 0.45359237 g/kWh). Pass ``unit=`` when a file differs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np

from greenci.csvutil import column_index, normalize, read_header
from greenci.errors import DataFormatError, InputError
from greenci.grid import IntensitySeries
from greenci.sources.formats import FileFormat
from greenci.sources.tables import load_table, make_series, missing_columns, region_column_error, split_by_region

FORMAT = "watttime_csv"
Unit = Literal["auto", "g_per_kwh", "lbs_per_mwh"]
#: grams per kWh in one pound per MWh (1 lb = 453.59237 g exactly; 1 MWh = 1000 kWh)
G_PER_KWH_PER_LB_PER_MWH = 0.45359237


def read_watttime_csv(path: str | os.PathLike[str], *, region: str | None = None, column: str | None = None,
                      unit: Unit = "auto") -> list[IntensitySeries]:
    """Read a WattTime MOER file into one marginal-intensity series per region (gCO2/kWh).

    ``column`` picks one region column of a wide file; ``region`` renames the one series read.
    ``unit``: ``"auto"`` (wide = g/kWh, long = lbs/MWh, see the module docstring), ``"g_per_kwh"``
    or ``"lbs_per_mwh"``.
    """
    if unit not in ("auto", "g_per_kwh", "lbs_per_mwh"):
        raise InputError(f"unit {unit!r} is unknown: use 'auto', 'g_per_kwh' or 'lbs_per_mwh'")
    name = os.fspath(path)
    header = read_header(name)
    index = column_index(header)
    long = "point_time" in index
    native = "lbs_per_mwh" if long else "g_per_kwh"
    in_lbs = (native if unit == "auto" else unit) == "lbs_per_mwh"
    scale = _Scale(G_PER_KWH_PER_LB_PER_MWH, "lbs CO2/MWh") if in_lbs else _Scale(1.0, "gCO2/kWh")
    if long:
        return _read_long(name, header, index, region, column, scale)
    return _read_wide(name, header, index, region, column, scale)


class _Scale(NamedTuple):
    """The file's unit: the factor to g/kWh and the unit's name for messages."""

    factor: float
    unit: str


def _read_wide(name: str, header: list[str], index: dict[str, str], region: str | None,
               column: str | None, scale: _Scale) -> list[IntensitySeries]:
    time = header[0]
    if not (normalize(time) in {"time", "timestamp", "datetime", "date"} or normalize(time).endswith("time")):
        raise missing_columns(name, FORMAT, header, ["time", column or "<one column per region>"])
    if column is not None:
        picked = index.get(normalize(column))
        if picked is None or picked == time:
            raise missing_columns(name, FORMAT, header, [time, column])
        values_cols = [picked]
    else:
        values_cols = [h for h in dict.fromkeys(header[1:]) if h]
    if not values_cols:
        raise missing_columns(name, FORMAT, header, [time, "<one column per region>"])
    if region is not None and len(values_cols) > 1:
        raise region_column_error(name, values_cols)
    times, values, _, rows = load_table(name, header, time_column=time, value_columns=values_cols,
                                        scale=scale.factor, unit=scale.unit)
    return [make_series(name, region or col.strip().upper(), times, values[col], rows, signal="marginal",
                        time_column=time, kind=f"{FORMAT} wide {scale.unit}") for col in values_cols]


def _read_long(name: str, header: list[str], index: dict[str, str], region: str | None,
               column: str | None, scale: _Scale) -> list[IntensitySeries]:
    time = index["point_time"]
    wanted = column or "value"
    value = index.get(normalize(wanted))
    if value is None:
        raise missing_columns(name, FORMAT, header, ["point_time", wanted])
    zone_col = index.get("region") or index.get("ba")
    text = [zone_col] if zone_col is not None and region is None else []
    times, values, cells, rows = load_table(name, header, time_column=time, value_columns=[value],
                                            text_columns=text, scale=scale.factor, unit=scale.unit)
    if text:
        assert zone_col is not None
        groups = split_by_region(name, cells[zone_col], rows, zone_col)
    elif region is not None:
        groups = [(region, np.arange(rows.size))]
    else:
        raise DataFormatError(
            "names no region: add a 'region' (or 'ba') column with the WattTime region code, "
            "e.g. CAISO_NORTH", path=name)
    return [make_series(name, zone, times[pos], values[value][pos], rows[pos], signal="marginal",
                        time_column=time, kind=f"{FORMAT} long {normalize(value)} {scale.unit}")
            for zone, pos in groups]


_TIME_NAMES = frozenset({"time", "timestamp", "datetime", "date", "point_time"})


def _sniff(stem: str, header: Sequence[str], names: Sequence[str]) -> bool:
    first = names[0] if names else ""
    return "point_time" in names or (len(names) >= 2 and (first in _TIME_NAMES or first.endswith("time")))


FILE_FORMAT = FileFormat(FORMAT, "marginal", _sniff, read_watttime_csv,
                         "time + one column per region, or point_time, value")
