"""Electricity Maps history exports (``datetime``, ``zone_name``, ``carbon_intensity_avg``, ...).

This is the wide, snake_case export of the Electricity Maps history API (one row per hour with the
production mix, imports and forecast fields beside the intensity). Only the time, the zone and one
intensity column are read. The signal is average intensity; ``carbon_intensity_avg`` is the default
column, any other numeric column (e.g. ``carbon_intensity_production_avg``) can be picked with
``column=``. Rows need not be regular (the CarbonScaler sample skips days); they must increase.
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
from greenci.sources.tables import load_table, make_series, missing_columns, region_column_error, split_by_region

FORMAT = "electricitymaps_history"
TIME = "datetime"
ZONE = "zone_name"
DEFAULT_COLUMN = "carbon_intensity_avg"
# us-cal-ciso_2020_hourly_sample.csv -> US-CAL-CISO (used only when there is no zone_name column)
_FILE_ZONE = re.compile(r"^([A-Za-z]{2}(?:-[A-Za-z0-9]+)*)_(?:19|20)\d\d(?:[_\-.].*)?$")


def read_electricitymaps_history(path: str | os.PathLike[str], *, region: str | None = None,
                                 column: str | None = None) -> list[IntensitySeries]:
    """Read an Electricity Maps history export into one series per ``zone_name``.

    ``region`` renames the zone of a one-zone file; without a ``zone_name`` column the zone comes
    from the file name (``us-cal-ciso_2020_...csv`` -> ``US-CAL-CISO``).
    """
    name = os.fspath(path)
    header = read_header(name)
    index = column_index(header)
    wanted = column or DEFAULT_COLUMN
    value = index.get(normalize(wanted))
    time = index.get(TIME)
    if value is None or time is None:
        raise missing_columns(name, FORMAT, header, [TIME, wanted])
    zone_col = index.get(ZONE)
    text = [zone_col] if zone_col is not None else []
    times, values, cells, rows = load_table(name, header, time_column=time, value_columns=[value],
                                            text_columns=text)
    if zone_col is not None:
        groups = split_by_region(name, cells[zone_col], rows, zone_col)
        if region is not None:
            if len(groups) > 1:
                raise region_column_error(name, [g for g, _ in groups])
            groups = [(region, groups[0][1])]
    else:
        match = _FILE_ZONE.match(Path(name).stem)
        zone = region or (match.group(1).upper() if match else None)
        if zone is None:
            raise DataFormatError(
                f"has no {ZONE!r} column and its name holds no zone: add the column, or name the file "
                "zone_YEAR_....csv (e.g. us-cal-ciso_2020_hourly.csv)", path=name)
        groups = [(zone, np.arange(rows.size))]
    return [make_series(name, zone, times[pos], values[value][pos], rows[pos], signal="average",
                        time_column=time, kind=f"{FORMAT} {normalize(value)}") for zone, pos in groups]


def _sniff(stem: str, header: object, names: list[str]) -> bool:
    return bool(set(names) & {"carbon_intensity_avg", "zone_name"})


FILE_FORMAT = FileFormat(FORMAT, "average", _sniff, read_electricitymaps_history,
                         "datetime, zone_name, carbon_intensity_avg")
