"""Plausibility bounds of the numbers people type: a value outside is a typo or a unit mix-up, not a request.

Files and API answers are bounded by their readers (intensity: ``[intensity] max_g_per_kwh`` in the
configuration, see :mod:`greenci.config`); this module bounds the values given as options or request
fields, so that ``1e308`` never turns into ``inf`` in an answer and a year-long "job" is not planned.
"""

from __future__ import annotations

import math

from greenci.errors import InputError

#: the longest piece of work greenci plans or accounts in one go (a year and a day)
MAX_DURATION_S = 366 * 86400.0
#: one job or one footprint: a terawatt-hour is far beyond any CI run
MAX_ENERGY_KWH = 1e9
#: the average power of one job, kW (a large GPU node draws about 10 kW)
MAX_POWER_KW = 1000.0
#: facility overhead: the worst data centres are below 3
MAX_PUE = 5.0
#: how far ahead a search or a replay may reach, hours
MAX_HORIZON_H = 366 * 24.0


def check_range(value: float, *, field: str, low: float, high: float, unit: str = "", low_open: bool = False) -> float:
    """``value`` as a float when it is finite and within ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    ok = math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        lower = f"> {low:g}" if low_open else f">= {low:g}"
        raise InputError(f"{field} {value:g}{' ' + unit if unit else ''} must be a number {lower} and at most "
                         f"{high:g}{' ' + unit if unit else ''}", field=field)
    return float(value)


def check_intensity(value: float, *, field: str) -> float:
    """A carbon intensity typed in, gCO2eq/kWh: finite, >= 0 and at most the configured bound."""
    from greenci.config import bound_hint, max_intensity_g_per_kwh

    high = max_intensity_g_per_kwh()
    if not (math.isfinite(value) and 0 <= value <= high):
        raise InputError(f"{field} {value:g} gCO2eq/kWh is not a plausible intensity: it must be between 0 and "
                         f"{high:g}; {bound_hint()}", field=field)
    return float(value)
