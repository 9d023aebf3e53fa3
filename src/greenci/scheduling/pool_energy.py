"""The energy and emissions of runner pools under a placement: busy nodes, and the idle ones too.

Why: a replay that counts only the jobs' own energy says nothing of the nodes that wait for work, and a
fleet sized for the cleanest zone idles there around the clock. With fixed pools every node is on for the
whole span: per region and slot, busy node-seconds come from the jobs' actual runs (a run spanning slots
split pro rata), idle node-seconds are the pool's size x the slot's length minus the busy ones, and energy is
``busy x busy_w + idle x idle_w``, accounted on the actual intensity of each slot. A placement that runs
more jobs at once than a pool has runners is overbooked: the excess is counted as busy (idle never goes
negative) and the result says so. Starts (``start_kwh``) do not occur in a fixed fleet and are not counted
here; no PUE is applied (the jobs' own emissions in a replay carry none either).

Pure NumPy over arrays: the scale-plan side reuses it on its own placements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.scheduling.pools import PoolSet
from greenci.timeutil import iso

__all__ = ["PoolEnergy", "job_intervals", "max_concurrent", "pool_energy", "slot_busy_s"]

_J_PER_KWH = 3.6e6


@dataclass(frozen=True, eq=False)
class PoolEnergy:
    """Per pooled region (rows) and slot (columns ``first_slot ..``) of the grid: node-seconds, kWh, gCO2eq.

    ``regions`` are the regions that have both a pool and intensity; ``capacity`` their runners.
    """

    regions: tuple[str, ...]
    capacity: np.ndarray  # int64 runners per region
    first_slot: int  # the grid slot of column 0
    step_s: int
    busy_node_s: np.ndarray  # regions x slots, including any overbooked excess
    idle_node_s: np.ndarray  # regions x slots, never negative
    energy_kwh: np.ndarray  # regions x slots
    emissions_g: np.ndarray  # regions x slots (NaN where the intensity has a gap)
    max_concurrent: np.ndarray  # int64 most jobs running at one instant, per region
    overbooked_node_s: np.ndarray  # per region: busy node-seconds beyond size x slot length, summed over slots
    notes: tuple[str, ...] = ()

    @property
    def busy_node_h(self) -> float:
        return float(self.busy_node_s.sum() / 3600.0)

    @property
    def idle_node_h(self) -> float:
        return float(self.idle_node_s.sum() / 3600.0)

    @property
    def total_kwh(self) -> float:
        return float(self.energy_kwh.sum())

    @property
    def total_g(self) -> float:
        """gCO2eq of all pools; slots without intensity are left out (a note says how many)."""
        return float(np.nansum(self.emissions_g))

    @property
    def overbooked(self) -> dict[str, bool]:
        """Per region: did the placement run more jobs at once than the pool has runners?"""
        return {r: bool(m > c) for r, m, c in zip(self.regions, self.max_concurrent, self.capacity, strict=True)}

    def by_region(self) -> dict[str, dict[str, float | int | bool]]:
        """Totals per region, for a table or JSON."""
        busy, idle = self.busy_node_s.sum(axis=1), self.idle_node_s.sum(axis=1)
        kwh, grams = self.energy_kwh.sum(axis=1), np.nansum(self.emissions_g, axis=1)
        return {r: {"runners": int(self.capacity[i]), "busy_node_h": float(busy[i] / 3600.0),
                    "idle_node_h": float(idle[i] / 3600.0), "energy_kwh": float(kwh[i]),
                    "emissions_g": float(grams[i]), "max_concurrent": int(self.max_concurrent[i]),
                    "overbooked": bool(self.max_concurrent[i] > self.capacity[i])}
                for i, r in enumerate(self.regions)}


def job_intervals(region: np.ndarray, start_s: np.ndarray, duration_s: np.ndarray, step_s: int,
                  segments: Mapping[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(region, begin_s, end_s) of every stretch a job runs: one per job, several for an interruptible job.

    An interruptible job (``segments``: job -> slot starts) runs a full slot in each but the last, which it
    runs pro rata, and continues after its last slot if it ran longer than its slots hold (as accounting does).
    """
    region = np.asarray(region, dtype=np.int64)
    begin = np.asarray(start_s, dtype=np.float64)
    end = begin + np.asarray(duration_s, dtype=np.float64)
    if not segments:
        return region, begin, end
    split = np.fromiter(segments.keys(), dtype=np.int64, count=len(segments))
    keep = np.ones(region.size, dtype=bool)
    keep[split] = False
    parts_r, parts_b, parts_e = [region[keep]], [begin[keep]], [end[keep]]
    for j, seg in segments.items():  # interruptible jobs only: each is one slot list, not a loop over slots
        s = np.asarray(seg, dtype=np.float64)
        remaining = float(duration_s[j])
        lengths = np.clip(remaining - step_s * np.arange(s.size), 0.0, float(step_s))
        extra = max(remaining - step_s * s.size, 0.0)
        b = np.r_[s, s[-1] + step_s] if extra > 0 else s
        e = np.r_[s + lengths, s[-1] + step_s + extra] if extra > 0 else s + lengths
        parts_r.append(np.full(b.size, region[j], dtype=np.int64))
        parts_b.append(b)
        parts_e.append(e)
    return np.concatenate(parts_r), np.concatenate(parts_b), np.concatenate(parts_e)


def slot_busy_s(row: np.ndarray, begin_s: np.ndarray, end_s: np.ndarray, n_rows: int, t0_s: float, step_s: int,
                n_slots: int) -> np.ndarray:
    """Busy seconds per row and slot of ``[t0 + k*step, t0 + (k+1)*step)``: each interval split pro rata.

    Vectorised: the partial first and last slots by ``np.bincount``, the full slots between by a difference
    array and a cumulative sum. Intervals must lie inside ``[t0, t0 + n_slots*step]``.
    """
    width = n_slots + 1
    size = n_rows * width
    if row.size == 0:
        return np.zeros((n_rows, n_slots), dtype=np.float64)
    b = (begin_s - t0_s) / step_s  # in slots
    e = (end_s - t0_s) / step_s
    a = np.floor(b).astype(np.int64)
    z = np.maximum(np.ceil(e).astype(np.int64) - 1, a)  # the last slot touched
    one = a == z
    base = row * width
    # the first slot's part (all of the run when it stays in one slot) and the last slot's part
    first_part = np.where(one, e - b, a + 1 - b) * step_s
    last_part = np.where(one, 0.0, e - z) * step_s
    out = np.bincount(base + a, weights=first_part, minlength=size)
    out += np.bincount(base + z, weights=last_part, minlength=size)
    many = ~one  # full slots a+1 .. z-1: +step from a+1, -step from z (a difference array)
    diff = np.bincount(base[many] + a[many] + 1, minlength=size).astype(np.float64)
    diff -= np.bincount(base[many] + z[many], minlength=size)
    out += np.cumsum(diff.reshape(n_rows, width), axis=1).reshape(-1) * step_s
    return out.reshape(n_rows, width)[:, :n_slots]


def max_concurrent(row: np.ndarray, begin_s: np.ndarray, end_s: np.ndarray, n_rows: int) -> np.ndarray:
    """The most intervals open at one instant, per row (an end at t and a start at t do not overlap).

    At each start: starts so far minus ends so far in its row, from two sorts on (row, time) keys.
    """
    out = np.zeros(n_rows, dtype=np.int64)
    live = end_s > begin_s
    if not live.any():
        return out
    row, begin_s, end_s = row[live], begin_s[live], end_s[live]
    lo = float(begin_s.min())
    gap = float(end_s.max()) - lo + 1.0  # rows apart by more than any time: one sorted key per (row, time)
    starts = np.sort(row * gap + (begin_s - lo))
    ends = np.sort(row * gap + (end_s - lo))
    open_ = np.searchsorted(starts, starts, side="right") - np.searchsorted(ends, starts, side="right")
    rows_sorted = np.floor(starts / gap).astype(np.int64)
    firsts = np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1]])
    out[rows_sorted[firsts]] = np.maximum.reduceat(open_, firsts)
    return out


def pool_energy(region: np.ndarray, start_s: np.ndarray, duration_s: np.ndarray, pools: PoolSet,
                grid: IntensityGrid, *, segments: Mapping[int, np.ndarray] | None = None,
                span_s: tuple[float, float] | None = None) -> PoolEnergy:
    """The pools' busy and idle node-seconds, kWh and gCO2eq while ``pools`` run the placed jobs.

    ``region`` indexes ``grid.regions``; ``start_s`` and ``duration_s`` are the jobs' actual starts and runtimes
    (s, UTC). The pools are on over whole grid slots from ``span_s`` (default: the jobs' first start to last
    end), widened to cover every job; give the same span to compare placements fairly.
    """
    region = np.asarray(region, dtype=np.int64)
    start_s = np.asarray(start_s, dtype=np.float64)
    duration_s = np.asarray(duration_s, dtype=np.float64)
    if not (region.shape == start_s.shape == duration_s.shape) or region.ndim != 1:
        raise InputError(f"region, start_s and duration_s must be 1-D of one length (got {region.shape}, "
                         f"{start_s.shape}, {duration_s.shape})", field="placement")
    if region.size and (region.min() < 0 or region.max() >= len(grid.regions)):
        raise InputError(f"region codes must index the grid's {len(grid.regions)} regions", field="placement")
    if np.any(~np.isfinite(duration_s)) or np.any(duration_s < 0) or np.any(~np.isfinite(start_s)):
        raise InputError("start_s and duration_s must be finite, durations >= 0", field="placement")
    step = grid.step_s
    notes: list[str] = []
    pooled = [i for i, r in enumerate(grid.regions) if pools.get(r) is not None]
    absent = [p.region for p in pools.pools if p.region not in grid.regions]
    if absent:
        notes.append(f"pools of {', '.join(absent)} are not counted: the replay has no intensity there "
                     "(add those regions to count their idle energy)")
    unpooled = sorted({grid.regions[i] for i in np.unique(region)} - {grid.regions[i] for i in pooled})
    if unpooled:
        notes.append(f"jobs in {', '.join(unpooled)} ran without a pool (unlimited): not in the pool energy")
    r_all, b_all, e_all = job_intervals(region, start_s, duration_s, step, segments)
    if span_s is None and not b_all.size:
        raise InputError("no job and no span: give span_s to count idle pools without jobs", field="span_s")
    ends = [float(b_all.min()), float(e_all.max())] if b_all.size else []
    spans = [float(span_s[0]), float(span_s[1])] if span_s is not None else []
    lo, hi = min(ends[:1] + spans[:1]), max(ends[1:] + spans[1:])
    g0 = grid.start_s
    g1 = g0 + grid.n_slots * step
    if lo >= g1 or hi <= g0:
        raise InputError(f"the jobs' runs ({iso(int(lo))} .. {iso(int(hi))}) are outside the intensity data "
                         f"({iso(grid.start)} .. {iso(grid.end)}): give intensity covering them", field="intensity")
    if lo < g0 or hi > g1:  # runs past the data's end (a long delay): their part outside is not counted
        cut = float(np.sum(np.clip(e_all, None, g0) - np.clip(b_all, None, g0))
                    + np.sum(np.clip(e_all, g1, None) - np.clip(b_all, g1, None)))
        notes.append(f"{cut / 3600.0:,.2f} node-hours of runs outside the intensity data ({iso(grid.start)} .. "
                     f"{iso(grid.end)}) are not in the pool energy: give intensity covering every run")
        b_all, e_all = np.clip(b_all, g0, g1), np.clip(e_all, g0, g1)
        lo, hi = max(lo, float(g0)), min(hi, float(g1))
    first = int(np.floor((lo - g0) / step))
    last = min(max(int(np.ceil((hi - g0) / step)), first + 1), grid.n_slots)
    n_slots = last - first
    code = np.full(len(grid.regions), -1, dtype=np.int64)
    code[pooled] = np.arange(len(pooled))
    sel = code[r_all] >= 0
    rows, b, e = code[r_all[sel]], b_all[sel], e_all[sel]
    t0 = g0 + first * step
    busy = slot_busy_s(rows, b, e, len(pooled), t0, step, n_slots)
    names = tuple(grid.regions[i] for i in pooled)
    caps = np.array([pools.get(n).runners for n in names], dtype=np.int64)  # type: ignore[union-attr]
    idle_w = np.array([pools.get(n).idle_w for n in names], dtype=np.float64)  # type: ignore[union-attr]
    busy_w = np.array([pools.get(n).busy_w for n in names], dtype=np.float64)  # type: ignore[union-attr]
    room = caps[:, None].astype(np.float64) * step
    over = np.maximum(busy - room, 0.0)
    idle = np.maximum(room - busy, 0.0)
    energy = (busy * busy_w[:, None] + idle * idle_w[:, None]) / _J_PER_KWH
    intensity = np.asarray(grid.values[pooled, first:last], dtype=np.float64).reshape(len(pooled), n_slots)
    grams = energy * intensity
    peak = max_concurrent(rows, b, e, len(pooled))
    hot = [f"{n} ({int(m)} jobs at once, {int(c)} runners)" for n, m, c in zip(names, peak, caps, strict=True)
           if m > c]
    if hot:
        notes.append(f"the placement overbooks the pool of {', '.join(hot)}: busy node-hours above the runners' "
                     f"hours in a slot ({over.sum() / 3600.0:,.2f} in all) are counted as busy, idle never below zero")
    gaps = int(np.sum(np.isnan(intensity) & (energy > 0)))
    if gaps:
        notes.append(f"{gaps:,} pool slots fall in intensity gaps: their energy is counted, their gCO2eq is not")
    return PoolEnergy(regions=names, capacity=caps, first_slot=first, step_s=step, busy_node_s=busy,
                      idle_node_s=idle, energy_kwh=energy, emissions_g=grams, max_concurrent=peak,
                      overbooked_node_s=over.sum(axis=1), notes=tuple(notes))
