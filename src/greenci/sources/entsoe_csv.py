"""ENTSO-E derived intensity as published by lets-wait-awhile (``fr_ci.csv``, ``gb_ci.csv``, ``ger_ci.csv``).

Columns ``Time`` (UTC, naive) and ``Carbon Intensity`` (gCO2/kWh, average intensity computed from
ENTSO-E production with IPCC per-source factors). Steps differ by file: 30 min for FR and
GB, 15 min for DE; gb_ci.csv switches from 30 to 15 min on 2020-10-31, so its timestamps are not on a
single step.

The files carry no region column, so the region comes from the file name: ``fr_ci.csv`` -> ``FR``,
``gb_ci.csv`` -> ``GB``, ``ger_ci.csv`` -> ``DE`` (lets-wait-awhile's name for Germany), ``de_ci.csv``
-> ``DE``, any other two-letter prefix ``xx_ci.csv`` -> ``XX``. Anything else needs ``region=``, which
also overrides the mapping.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from greenci.csvutil import column_index, normalize, read_header
from greenci.errors import DataFormatError
from greenci.grid import IntensitySeries
from greenci.sources.formats import FileFormat
from greenci.sources.tables import load_table, make_series, missing_columns

FORMAT = "entsoe_csv"
TIME = "Time"
VALUE = "Carbon Intensity"
REGION_BY_PREFIX: dict[str, str] = {"fr": "FR", "gb": "GB", "ger": "DE", "de": "DE"}
_PREFIX = re.compile(r"^([a-z]+)_ci$")


def region_from_filename(path: str | os.PathLike[str]) -> str | None:
    """``fr_ci.csv`` -> FR, ``gb_ci.csv`` -> GB, ``ger_ci.csv`` -> DE; None when the name says nothing."""
    match = _PREFIX.match(Path(path).stem.lower())
    if not match:
        return None
    prefix = match.group(1)
    return REGION_BY_PREFIX.get(prefix) or (prefix.upper() if len(prefix) == 2 else None)


def read_entsoe_csv(path: str | os.PathLike[str], *, region: str | None = None,
                    column: str | None = None) -> list[IntensitySeries]:
    """Read one lets-wait-awhile ``*_ci.csv`` file into one average-intensity series."""
    name = os.fspath(path)
    header = read_header(name)
    index = column_index(header)
    wanted = column or VALUE
    value, time = index.get(normalize(wanted)), index.get(normalize(TIME))
    if value is None or time is None:
        raise missing_columns(name, FORMAT, header, [TIME, wanted])
    zone = region or region_from_filename(name)
    if zone is None:
        raise DataFormatError(
            "names no region: call the file fr_ci.csv, gb_ci.csv, ger_ci.csv (or XX_ci.csv with a "
            "two-letter country code)", path=name)
    times, values, _, rows = load_table(name, header, time_column=time, value_columns=[value])
    return [make_series(name, zone, times, values[value], rows, signal="average", time_column=time,
                        kind=f"{FORMAT} {normalize(value)}")]


def _sniff(stem: str, header: Sequence[str], names: Sequence[str]) -> bool:
    return "carbon intensity" in names or bool(header and header[0].strip() == "Time") or stem.endswith("_ci")


_PRODUCTION_NAMES = frozenset({
    "biomass", "fossil gas", "fossil hard coal", "fossil brown coal/lignite", "fossil oil", "nuclear",
    "solar", "wind onshore", "wind offshore", "hydro run-of-river and poundage", "hydro water reservoir",
    "hydro pumped storage",
})


def _sniff_production(stem: str, header: Sequence[str], names: Sequence[str]) -> bool:
    return len(set(names) & _PRODUCTION_NAMES) >= 2


FILE_FORMAT = FileFormat(FORMAT, "average", _sniff, read_entsoe_csv, "Time, Carbon Intensity")
#: ENTSO-E production tables (MW per source) sit beside the *_ci.csv files: recognised, never intensity
PRODUCTION_FORMAT = FileFormat(
    "entsoe_production", None, _sniff_production, None, "Time, Biomass, Fossil Gas, ...",
    refusal="an ENTSO-E production file (MW per source), not carbon intensity: pass the matching *_ci.csv file instead")
