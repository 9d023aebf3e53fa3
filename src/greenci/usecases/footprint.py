"""The footprint of one piece of work at a place and time, and its best start: what ``greenci footprint`` shows.

The intensity comes from a fixed number or from a provider the caller injects (files, a remote API or
the synthetic model, each an :class:`IntensityOver`); the arithmetic is :mod:`greenci.accounting` on an
:class:`~greenci.grid.IntensityGrid` (exact on partial slots).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np

from greenci.accounting import check_pue, facility_energy_kwh, footprint, profile_emissions_g
from greenci.bounds import MAX_ENERGY_KWH, MAX_HORIZON_H, check_intensity, check_range
from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.timeutil import iso, to_datetime64
from greenci.units import parse_duration_s


@runtime_checkable
class IntensityOver(Protocol):
    """One region's intensity over a span: actuals when it is past, a forecast when it is ahead."""

    def intensity_over(self, region: str, start_s: int, end_s: int) -> IntensityGrid: ...


def footprint_report(*, energy_kwh: float, intensity_g_per_kwh: float | None, region: str | None,
                     at: str | None, duration: str | float, pue_value: float, best_within_h: float,
                     intensity: IntensityOver | None = None) -> dict[str, Any]:
    """The footprint document: kWh, facility kWh, gCO2eq, and the best start when a series is known."""
    check_range(energy_kwh, field="energy_kwh", low=0, high=MAX_ENERGY_KWH, unit="kWh")
    check_pue(pue_value)
    if intensity_g_per_kwh is not None:
        check_intensity(intensity_g_per_kwh, field="intensity_g_per_kwh")
        if intensity is not None or region:
            raise InputError("give either a fixed intensity_g_per_kwh or a region with its intensity source, not both",
                             field=("intensity_g_per_kwh", "region"))
        fp = footprint(energy_kwh, intensity_g_per_kwh, pue_value=pue_value)
        return {"energy_kwh": fp.energy_kwh, "facility_energy_kwh": fp.facility_energy_kwh,
                "emissions_g": fp.emissions_g, "intensity_g_per_kwh": float(intensity_g_per_kwh),
                "pue": fp.pue, "signal": fp.signal, "synthetic": False}
    if not region:
        raise InputError("give a fixed intensity_g_per_kwh, or a region (with an intensity source, or the "
                         "synthetic model)", field="intensity_g_per_kwh")
    duration_s = parse_duration_s(duration, field="duration")
    check_range(best_within_h, field="best_within_h", low=0, high=MAX_HORIZON_H, unit="h")
    start = to_datetime64(at, field="at") if at is not None else \
        np.datetime64(datetime.now(UTC).replace(tzinfo=None), "s")
    horizon_end = start + np.timedelta64(int(np.ceil(best_within_h * 3600 + duration_s)) + 1, "s")
    if intensity is None:
        raise InputError(f"region {region}: no intensity source given: pass files, an API or the synthetic model",
                         field=("region", "source"))
    t_start = int(start.astype(np.int64))
    grid = intensity.intensity_over(region, t_start, int(horizon_end.astype(np.int64)))
    if t_start < grid.start.astype(np.int64) or t_start + duration_s > grid.end.astype(np.int64):
        raise InputError(
            f"at {iso(start)} + {duration_s:g} s is outside the intensity series for {region} "
            f"({iso(grid.start)} .. {iso(grid.end)}): choose a time inside it", field=("at", "duration"),
        )
    power_kw = energy_kwh / (duration_s / 3600.0)
    times = np.array([t_start, t_start + duration_s], dtype=np.float64)
    grams_it = profile_emissions_g(times, np.full(2, power_kw * 1000.0), grid.times, grid.step_s, grid.values[0])
    facility = facility_energy_kwh(energy_kwh, pue_value)
    emissions = grams_it * pue_value
    doc: dict[str, Any] = {
        "energy_kwh": float(energy_kwh), "facility_energy_kwh": facility, "emissions_g": float(emissions),
        "intensity_g_per_kwh": float(emissions / facility) if facility > 0 else float(np.nan),
        "pue": float(pue_value), "signal": grid.signal, "region": region, "at": iso(start),
        "duration_s": duration_s, "sources": list(grid.sources), "synthetic": grid.synthetic,
    }
    if facility == 0:
        doc["intensity_g_per_kwh"] = _mean_intensity(grid, t_start, duration_s)
    latest = start + np.timedelta64(int(best_within_h * 3600), "s")
    if best_within_h > 0 and latest.astype(np.int64) + duration_s <= grid.end.astype(np.int64):
        best = grid.best_window(duration_s, earliest=start, latest_start=latest, power_kw=power_kw)
        best_g = best.emissions_g_per_kw * power_kw * pue_value
        if best_g > emissions:  # a mid-slot 'now' can beat every slot-boundary start
            best_g, best_at = emissions, start
        else:
            best_at = best.start
        doc["best_start"] = {"at": iso(best_at), "emissions_g": float(best_g),
                             "saving_g": float(emissions - best_g),
                             "saving_share": float((emissions - best_g) / emissions) if emissions > 0 else 0.0,
                             "within_h": float(best_within_h)}
    return doc


def _mean_intensity(grid: IntensityGrid, t_start: int, duration_s: float) -> float:
    times = np.array([t_start, t_start + duration_s], dtype=np.float64)
    grams = profile_emissions_g(times, np.full(2, 1000.0), grid.times, grid.step_s, grid.values[0])
    return grams / (duration_s / 3600.0)
