"""Energy and emissions arithmetic.

Units travel in names: ``_w`` watts, ``_kwh`` kilowatt-hours, ``_g`` grams CO2-equivalent,
``_g_per_kwh`` carbon intensity. Intensity values are piecewise constant: a value covers its whole
slot ``[t, t + step)``. Power samples are joined by straight lines (trapezoid rule), so the energy of a
profile over a time-varying intensity is integrated exactly on every piece where both are simple.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from greenci.bounds import MAX_PUE
from greenci.errors import InputError, SignalMismatchError

Signal = Literal["average", "marginal"]
SIGNALS: tuple[str, ...] = ("average", "marginal")
_SECONDS_PER_HOUR = 3600.0


def check_signal(signal: str) -> Signal:
    """Return ``signal`` if it is a known kind of intensity signal, else raise a clear error."""
    if signal not in SIGNALS:
        raise InputError(f"signal {signal!r} is unknown: use 'average' or 'marginal'")
    return signal  # type: ignore[return-value]


def same_signal(*signals: str) -> Signal:
    """The one signal kind shared by all arguments; mixing average and marginal is refused."""
    kinds = {check_signal(s) for s in signals}
    if len(kinds) > 1:
        raise SignalMismatchError(
            "average and marginal intensity signals cannot be combined: "
            "use series of one kind (files of one format, or one API)"
        )
    return kinds.pop()


def _as_seconds(times: np.ndarray) -> np.ndarray:
    """Times (datetime64 or numbers of seconds) as float seconds."""
    t = np.asarray(times)
    if np.issubdtype(t.dtype, np.datetime64):
        return t.astype("datetime64[ns]").astype(np.int64) / 1e9
    return t.astype(np.float64)


def energy_kwh(times: np.ndarray, power_w: np.ndarray) -> float:
    """Energy of power samples over their timestamps, by the trapezoid rule, in kWh.

    ``times`` are datetime64 or seconds, strictly increasing; ``power_w`` is non-negative watts.
    """
    t = _as_seconds(times)
    p = np.asarray(power_w, dtype=np.float64)
    _check_profile(t, p)
    if t.size < 2:
        return 0.0
    joules = float(np.sum((p[1:] + p[:-1]) * 0.5 * np.diff(t)))
    return joules / 3.6e6


def _check_profile(t: np.ndarray, p: np.ndarray) -> None:
    if t.shape != p.shape or t.ndim != 1:
        raise InputError(
            f"times and power_w must be 1-D of the same length, got {t.shape} and {p.shape}"
        )
    if t.size and not np.all(np.isfinite(p)):
        bad = int(np.flatnonzero(~np.isfinite(p))[0])
        raise InputError(f"power_w sample {bad} is {p[bad]}: give a finite number of watts")
    if t.size and np.any(p < 0):
        bad = int(np.flatnonzero(p < 0)[0])
        raise InputError(f"power_w sample {bad} is {p[bad]} W: power cannot be negative")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        bad = int(np.flatnonzero(np.diff(t) <= 0)[0]) + 1
        raise InputError(f"times sample {bad} is not after sample {bad - 1}: times must strictly increase")


def pue(facility_power_w: float, it_power_w: float) -> float:
    """Power usage effectiveness = facility power / IT power; at least 1.0 by definition."""
    if it_power_w <= 0:
        raise InputError(f"it_power_w {it_power_w} must be > 0 to compute a PUE")
    value = facility_power_w / it_power_w
    return check_pue(value)


def check_pue(value: float) -> float:
    """Return ``value`` if it is a valid PUE (finite, >= 1.0)."""
    if not np.isfinite(value) or value < 1.0 or value > MAX_PUE:
        raise InputError(
            f"pue {value:g} is not a PUE: PUE is facility power / IT power, at least 1.0 and at most {MAX_PUE:g} "
            "(typical data centres are 1.1 .. 1.6)", field="pue",
        )
    return float(value)


def facility_energy_kwh(it_energy_kwh: float, pue_value: float = 1.0) -> float:
    """Facility energy: IT energy times PUE."""
    _check_non_negative("it_energy_kwh", it_energy_kwh)
    return float(it_energy_kwh) * check_pue(pue_value)


def emissions_g(energy_kwh_value: float, intensity_g_per_kwh: float) -> float:
    """Emissions in gCO2eq = energy (kWh) x grid carbon intensity (gCO2eq/kWh)."""
    _check_non_negative("energy_kwh", energy_kwh_value)
    _check_non_negative("intensity_g_per_kwh", intensity_g_per_kwh)
    return float(energy_kwh_value) * float(intensity_g_per_kwh)


def _check_non_negative(name: str, value: float) -> None:
    if not np.isfinite(value) or value < 0:
        raise InputError(f"{name} {value} must be a finite number >= 0")


@dataclass(frozen=True)
class Footprint:
    """Energy and emissions of one piece of work, with the signal kind it was computed on."""

    energy_kwh: float
    facility_energy_kwh: float
    emissions_g: float
    signal: Signal
    pue: float = 1.0

    def __add__(self, other: Footprint) -> Footprint:
        signal = same_signal(self.signal, other.signal)
        energy = self.energy_kwh + other.energy_kwh
        facility = self.facility_energy_kwh + other.facility_energy_kwh
        return Footprint(
            energy_kwh=self.energy_kwh + other.energy_kwh,
            facility_energy_kwh=self.facility_energy_kwh + other.facility_energy_kwh,
            emissions_g=self.emissions_g + other.emissions_g,
            signal=signal,
            pue=facility / energy if energy > 0 else max(self.pue, other.pue),  # no energy: keep a valid PUE
        )


def footprint(energy_kwh_value: float, intensity_g_per_kwh: float, *, pue_value: float = 1.0,
              signal: Signal = "average") -> Footprint:
    """Footprint of a fixed amount of IT energy at one intensity, PUE applied."""
    facility = facility_energy_kwh(energy_kwh_value, pue_value)
    return Footprint(
        energy_kwh=float(energy_kwh_value),
        facility_energy_kwh=facility,
        emissions_g=emissions_g(facility, intensity_g_per_kwh),
        signal=check_signal(signal),
        pue=float(pue_value),
    )


def profile_emissions_g(times: np.ndarray, power_w: np.ndarray, slot_starts: np.ndarray,
                        step_s: float, intensity_g_per_kwh: np.ndarray) -> float:
    """Emissions of a power profile over a piecewise-constant intensity series, exactly.

    Power is linear between its samples; intensity is constant on each slot
    ``[slot_starts[i], slot_starts[i] + step_s)``. Breakpoints of both are merged, and on each piece
    the energy (trapezoid) is multiplied by that piece's intensity. A piece that falls in a gap (NaN)
    or outside the series raises, because a partial answer would look whole.
    """
    t = _as_seconds(times)
    p = np.asarray(power_w, dtype=np.float64)
    _check_profile(t, p)
    if t.size < 2:
        return 0.0
    starts = _as_seconds(slot_starts)
    values = np.asarray(intensity_g_per_kwh, dtype=np.float64)
    edges = np.union1d(starts, starts + step_s)  # slot ends too: a hole between slots is cut out
    inner = edges[(edges > t[0]) & (edges < t[-1])]
    cuts = np.union1d(t, inner)
    pw = np.interp(cuts, t, p)
    piece_j = (pw[1:] + pw[:-1]) * 0.5 * np.diff(cuts)
    mids = (cuts[1:] + cuts[:-1]) * 0.5
    slot = np.searchsorted(starts, mids, side="right") - 1
    outside = (slot < 0) | (mids >= starts[np.maximum(slot, 0)] + step_s)
    if np.any(outside):
        raise InputError(
            "the run reaches outside the intensity series: choose a start time and duration inside it, or "
            "intensity that covers the whole run", field=("at", "duration"),
        )
    ci = values[slot]
    if np.any(np.isnan(ci)):
        from greenci.errors import GapError
        from greenci.timeutil import iso

        first = int(starts[slot][np.isnan(ci)][0])
        raise GapError(
            f"the intensity series has no value at {iso(first)}, inside the run: choose a start time whose run "
            "avoids the gap, or an intensity source (files, an API) that covers it", field="at",
        )
    return float(np.sum(piece_j * ci) / 3.6e6)
