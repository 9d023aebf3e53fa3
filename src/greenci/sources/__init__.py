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
gap (NaN, kept); an intensity that is not a number (``nan``, ``NA`` and ``inf`` written out included),
negative, or above the plausibility bound (2,500 gCO2eq/kWh by default: ``GREENCI_MAX_INTENSITY_G_PER_KWH``
or ``max_g_per_kwh`` under ``[intensity]`` in the config file), a row with fewer cells than the header
(a row or a last line cut short), a missing column, an unknown header or a binary file raises
:class:`~greenci.errors.DataFormatError` and nothing of that file is returned. The API clients apply
the same bound to their answers. Row numbers in messages count lines of the file as an editor shows
them: the header is row 1, the first data row is row 2.

Series of one region from several files are joined into one grid row only when they come from one
source (successive years of one export); two sources, steps or signals for one region are refused by
:meth:`greenci.grid.IntensityGrid.from_series`, naming both files.

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
