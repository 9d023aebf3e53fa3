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

The registry of formats is :mod:`greenci.sources.formats`; the readers' shared column and row
handling is :mod:`greenci.sources.tables`.

Every reader is strict, so a wrong file fails loudly instead of feeding the planner bad numbers:
times are UTC (naive times are taken as UTC) and must strictly increase; an empty intensity cell is a
gap (NaN, kept); a negative or non-numeric intensity, a missing column or an unknown header raises
:class:`~greenci.errors.DataFormatError` and nothing of that file is returned. Row numbers in messages
count lines of the file as an editor shows them: the header is row 1, the first data row is row 2.

This module imports no pandas at import time; the readers load it when they run.
"""

from __future__ import annotations

from greenci.sources.formats import (
    FileFormat,
    detect_format,
    detect_header_format,
    intensity_files,
    read_file,
    read_intensity,
    registered,
)

__all__ = ["FileFormat", "detect_format", "detect_header_format", "intensity_files", "read_file",
           "read_intensity", "registered"]
