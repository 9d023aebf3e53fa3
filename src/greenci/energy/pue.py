"""PUE from meters: facility energy / IT energy per interval, and facility energy of work that uses it.

Why per interval: a constant PUE hides that cooling overhead follows the weather and the load (a site at
1.1 on a winter night can be 1.5 on a summer afternoon), so a job moved to a cool hour is charged the
PUE of that hour. A constant stays possible (:class:`ConstantPue`) and every output says which it used:
:data:`METERED_LABEL` or ``pue: constant 1.3 (assumed)``.

The rule (:func:`metered_pue`):

* Both sides are :class:`~greenci.energy.records.EnergyRecord` from any reader; readings become
  intervals with :func:`~greenci.energy.records.to_intervals` (never bridging more than ``max_gap_s``).
  The facility side is ``facility`` or ``mains`` (a site or PDU input) records; the IT side ``it``,
  ``total``, ``psu``, ``outlet``, ``circuit`` or ``mains`` records. Several meters on one side are summed
  (several feeds, several racks); per-component readings (``cpu``, ``ram``, ``gpu``) are refused.
* The grid is that of :mod:`greenci.energy.slots`: the coarser of the two series' steps, aligned on the
  coarser series, over the span either series covers (where only one side reports, the slot is a gap).
* A slot is usable only when **every** meter of both sides covers all of it: anything less is a gap
  (``gap-facility``, ``gap-it``, ``gap``) and its PUE is NaN; nothing is filled. IT energy 0 is refused
  (``no-it-energy``). A PUE below 1 by more than ``noise`` (the two meters' combined accuracy, 2 % by
  default) is flagged ``below-1`` and kept as measured, never clamped; above :data:`~greenci.bounds.MAX_PUE`
  is flagged ``above-max``. Only ``ok`` slots are used for emissions.

:func:`facility_kwh` charges IT energy over ``[start, end)`` spans (attribution records, job runs) with
the PUE of the slots each span overlaps (pro rata to time), or with a constant; a span that meets an
unusable slot is refused unless a constant ``fallback`` is given, and the label then says in how many
slots the fallback was used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from greenci.accounting import check_pue
from greenci.bounds import MAX_PUE
from greenci.energy.records import EnergyRecord, to_intervals
from greenci.energy.slots import COVER_TOLERANCE, SlotGrid, coarser_step_s, epoch_seconds, grid_over, spread
from greenci.errors import GapError, InputError

__all__ = ["FACILITY_COMPONENTS", "IT_COMPONENTS", "METERED_LABEL", "STATUSES", "ConstantPue", "FacilityEnergy",
           "PueSeries", "facility_kwh", "metered_pue"]

METERED_LABEL = "pue: metered per interval"
FACILITY_COMPONENTS = frozenset({"facility", "mains"})
IT_COMPONENTS = frozenset({"it", "total", "psu", "outlet", "circuit", "mains"})
#: what each slot status means
STATUSES = {
    "ok": "both sides cover the whole interval and the PUE is plausible",
    "gap-facility": "a facility meter does not cover the whole interval: no PUE",
    "gap-it": "an IT meter does not cover the whole interval: no PUE",
    "gap": "neither side covers the whole interval: no PUE",
    "no-it-energy": "the IT meters read 0 kWh: a PUE is undefined",
    "below-1": "facility < IT by more than the meters' noise: check which meter covers what (kept, not clamped)",
    "above-max": f"PUE above {MAX_PUE:g}: check the meters (kept, not used)",
}


@dataclass(frozen=True)
class ConstantPue:
    """One PUE for every interval, as assumed (not measured)."""

    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", check_pue(self.value))

    @property
    def label(self) -> str:
        return f"pue: constant {self.value:g} (assumed)"


@dataclass(frozen=True, eq=False)
class PueSeries:
    """PUE per slot of ``grid`` from metered facility and IT energy, each slot with its status."""

    grid: SlotGrid
    facility_kwh: np.ndarray
    it_kwh: np.ndarray
    pue: np.ndarray
    status: np.ndarray
    noise: float
    facility_meters: tuple[str, ...]
    it_meters: tuple[str, ...]

    @property
    def label(self) -> str:
        return METERED_LABEL

    @property
    def usable(self) -> np.ndarray:
        """True for the slots whose PUE is used (status ``ok``)."""
        return self.status == "ok"

    @property
    def overall_pue(self) -> float:
        """Facility kWh / IT kWh over the usable slots (NaN when there is none)."""
        ok = self.usable
        it = float(self.it_kwh[ok].sum())
        return float(self.facility_kwh[ok].sum()) / it if it > 0 else math.nan

    def counts(self) -> dict[str, int]:
        """How many slots have each status (statuses that occur)."""
        names, n = np.unique(self.status, return_counts=True)
        return {str(a): int(b) for a, b in zip(names, n, strict=True)}

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per slot (for CSV / JSON output), each labelled with :data:`METERED_LABEL`."""
        starts = self.grid.starts_s
        out = []
        for i in range(self.grid.n):
            p = float(self.pue[i])
            out.append({"start": _iso(starts[i]), "end": _iso(starts[i] + self.grid.step_s),
                        "facility_kwh": float(self.facility_kwh[i]), "it_kwh": float(self.it_kwh[i]),
                        "pue": p if math.isfinite(p) else None, "status": str(self.status[i]), "label": self.label})
        return out


@dataclass(frozen=True, eq=False)
class FacilityEnergy:
    """IT energy charged with a PUE: facility kWh and the effective PUE per span, and what was used."""

    facility_kwh: np.ndarray
    pue: np.ndarray
    label: str
    fallback_slots: int = 0


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(float(epoch_s), UTC).isoformat().replace("+00:00", "Z")


def _side(records: Sequence[EnergyRecord], allowed: frozenset[str], field: str,
          max_gap_s: float | None) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One side's intervals: meter names, and per interval its meter index, start, end (epoch s), kWh."""
    records = list(records)
    if not records:
        raise InputError(f"{field}: no records: give the {field} meter's readings or intervals", field=field)
    bad = sorted({r.component for r in records} - allowed)
    if bad:
        raise InputError(f"{field}: records of component {', '.join(map(repr, bad))} are not {field} meters: the "
                         f"{field} side takes {', '.join(sorted(allowed))} (a per-component reading is not a "
                         "facility or IT load)", field=field)
    intervals = to_intervals(records, max_gap_s=max_gap_s)
    if not intervals:
        raise InputError(f"{field}: {len(records)} readings but no energy interval: give two readings of one meter "
                         "(within max_gap_s), meter differences, or intervals", field=field)
    names = sorted({f"{r.source}:{r.resource_id}:{r.component}" for r in intervals})
    index = {n: i for i, n in enumerate(names)}
    meter = np.array([index[f"{r.source}:{r.resource_id}:{r.component}"] for r in intervals], dtype=np.int64)
    starts = epoch_seconds([r.start for r in intervals])
    ends = epoch_seconds([r.end for r in intervals])
    kwh = np.array([r.energy_kwh or 0.0 for r in intervals], dtype=np.float64)
    return names, meter, starts, ends, kwh


def _per_slot(grid: SlotGrid, meters: int, meter: np.ndarray, starts: np.ndarray, ends: np.ndarray,
              kwh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy per slot (all meters summed) and whether every meter covers the whole slot."""
    row, slot, amt = spread(grid, starts, ends, np.stack([kwh, ends - starts], axis=1), meter)
    energy = np.bincount(slot, weights=amt[:, 0], minlength=grid.n)
    covered = np.zeros((meters, grid.n))
    covered[row, slot] = amt[:, 1]
    full = np.all(covered >= grid.step_s * (1 - COVER_TOLERANCE), axis=0)
    return energy, full


def metered_pue(facility: Sequence[EnergyRecord], it: Sequence[EnergyRecord], *, step_s: float | None = None,
                noise: float = 0.02, max_gap_s: float | None = None) -> PueSeries:
    """PUE per interval from facility and IT meters (see the module doc for the grid, gaps and flags)."""
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and 0 <= noise < 1):
        raise InputError(f"noise {noise!r} must be a fraction from 0 to 1 (e.g. 0.02 for two 1 % meters)",
                         field="noise")
    f_names, f_meter, f_s, f_e, f_kwh = _side(facility, FACILITY_COMPONENTS, "facility", max_gap_s)
    i_names, i_meter, i_s, i_e, i_kwh = _side(it, IT_COMPONENTS, "it", max_gap_s)
    step, coarse = coarser_step_s((f_s, f_e), (i_s, i_e), step_s)
    if min(f_e.max(), i_e.max()) <= max(f_s.min(), i_s.min()):
        raise InputError(f"the facility series ({_iso(f_s.min())} .. {_iso(f_e.max())}) and the IT series "
                         f"({_iso(i_s.min())} .. {_iso(i_e.max())}) do not overlap: give meters of the same period",
                         field=("facility", "it"))
    anchor = (f_s if coarse == 0 else i_s).min()
    grid = grid_over(min(f_s.min(), i_s.min()), max(f_e.max(), i_e.max()), step, anchor)
    fac, f_full = _per_slot(grid, len(f_names), f_meter, f_s, f_e, f_kwh)
    itk, i_full = _per_slot(grid, len(i_names), i_meter, i_s, i_e, i_kwh)
    both = f_full & i_full
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(both & (itk > 0), fac / np.where(itk > 0, itk, 1.0), np.nan)
    status = np.full(grid.n, "ok", dtype=object)
    status[both & (ratio < 1 - noise)] = "below-1"
    status[both & (ratio > MAX_PUE)] = "above-max"
    status[both & (itk <= 0)] = "no-it-energy"
    status[~f_full & i_full] = "gap-facility"
    status[f_full & ~i_full] = "gap-it"
    status[~f_full & ~i_full] = "gap"
    return PueSeries(grid=grid, facility_kwh=fac, it_kwh=itk, pue=ratio, status=status.astype(str),
                     noise=float(noise), facility_meters=tuple(f_names), it_meters=tuple(i_names))


def facility_kwh(basis: PueSeries | ConstantPue, starts: Sequence[datetime] | np.ndarray,
                 ends: Sequence[datetime] | np.ndarray, it_kwh: Sequence[float] | np.ndarray, *,
                 fallback: ConstantPue | None = None) -> FacilityEnergy:
    """Facility energy of IT energy spent over ``[start, end)`` spans, with a metered or constant PUE.

    With a :class:`PueSeries`, a span's energy is spread evenly over its span, each part charged with its
    slot's PUE. Parts in slots that are not ``ok`` (or outside the series) take ``fallback`` when given,
    else the call is refused with a :class:`~greenci.errors.GapError` naming the first such interval.
    ``starts``/``ends`` are datetimes or epoch seconds; a span with ``start == end`` takes the PUE of its
    instant's slot.
    """
    s = _seconds(starts)
    e = _seconds(ends)
    kwh = np.asarray(it_kwh, dtype=np.float64)
    if not (s.shape == e.shape == kwh.shape and s.ndim == 1):
        raise InputError(f"starts, ends and it_kwh must be 1-D of one length, got {s.shape}, {e.shape}, {kwh.shape}",
                         field="it_kwh")
    if kwh.size and (not np.all(np.isfinite(kwh)) or np.any(kwh < 0) or np.any(e < s)):
        raise InputError("it_kwh must be finite and >= 0 and every end at or after its start", field="it_kwh")
    if isinstance(basis, ConstantPue):
        return FacilityEnergy(facility_kwh=kwh * basis.value, pue=np.full(kwh.size, basis.value), label=basis.label)
    grid = basis.grid
    point = e <= s
    e_eff = np.where(point, s + 1e-6, e)  # an instant: the slot it falls in
    rec, slot, share = spread(grid, s, e_eff, np.ones(s.size), np.arange(s.size))
    covered = np.bincount(rec, weights=share, minlength=s.size)
    pue_slot = np.where(basis.usable, basis.pue, np.nan)[slot]
    unusable = ~np.isfinite(pue_slot)
    outside = covered < 1 - 1e-9
    used = 0
    if np.any(unusable) or np.any(outside):
        if fallback is None:
            if np.any(unusable):
                k = int(slot[unusable][0])
                when, why = _iso(grid.starts_s[k]), f"its status is {basis.status[k]}: {STATUSES[basis.status[k]]}"
            else:
                j = int(np.flatnonzero(outside)[0])
                when, why = _iso(s[j]), "it is outside the metered series"
            raise GapError(f"no metered PUE for the interval at {when} ({why}): give a constant fallback PUE "
                           "(e.g. --pue 1.3, labelled assumed) or meters that cover the span", field="pue")
        pue_slot = np.where(unusable, fallback.value, pue_slot)
        used = int(np.unique(slot[unusable]).size) + int(np.count_nonzero(outside))
    weighted = np.bincount(rec, weights=share * pue_slot, minlength=s.size)
    if fallback is not None:
        weighted = weighted + np.clip(1 - covered, 0, None) * fallback.value
    label = METERED_LABEL if not used else (f"{METERED_LABEL}; {fallback.label} in {used} interval(s) without "  # type: ignore[union-attr]
                                            "a usable metered PUE")
    return FacilityEnergy(facility_kwh=kwh * weighted, pue=weighted, label=label, fallback_slots=used)


def _seconds(values: Sequence[datetime] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]").astype(np.int64) / 1e9
    if arr.dtype == object:
        return epoch_seconds(list(values))
    return arr.astype(np.float64)
