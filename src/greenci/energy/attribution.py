"""A node's power series split over the CI jobs that ran on it, by CPU time, with a documented idle rule.

Why: on a shared CI node (several runners, or jobs as cgroups), the node's meter (IPMI, Redfish, a PDU
outlet) is the only real measurement; each job is charged its part of it, and the parts add up to the
meter exactly, so nothing is counted twice and nothing is lost.

**Inputs.** The node: :class:`~greenci.energy.records.EnergyRecord` of component ``total`` (one; several
totals of one node would count it twice and are refused), else ``psu`` (the PSU inputs summed, said so
in :attr:`Attribution.node_method`, since the payload has no total), else ``outlet`` (the node's outlets
summed). Per-component readings (``cpu``, ``ram``, ``gpu``) are not the node and are refused. The jobs:
:class:`~greenci.energy.records.UsageRecord` of one ``metric`` (``cpu`` by default) whose
``resource_id`` is the job, in a time unit (``ns``, ``us``, ``ms``, ``s``): a counter (``start == end``
or aggregation ``cumulative``: differences between consecutive readings, a counter that falls is a
reset and that stretch is left out) or CPU time used over ``[start, end)`` (cgroup ``cpu.stat`` deltas,
Gnocchi ``rate:mean``). A job is on the node over the spans its usage covers (its wall time).

**Grid.** The coarser of the two series' steps (:mod:`greenci.energy.slots`), aligned on the coarser
series, over the whole node series. A slot the node's meters do not cover in full keeps its energy as
``unattributed:partial-interval`` and the jobs' CPU time there is reported as not covered (a flag).

**The rule**, per fully covered slot with node energy ``E`` over ``step`` seconds:

* idle energy ``I = min(idle_w x step, E)``; dynamic energy ``D = E - I``;
* ``I`` is split over the jobs on the node in that slot in proportion to their **wall time** in it
  (jobs that ran share the idle cost); with no job, ``I`` stays ``unattributed:idle``;
* ``D`` is split in proportion to the jobs' **CPU seconds** in it; with no job CPU time, ``D`` stays
  ``unattributed:dynamic`` (something else used the node).

``idle_w`` is given (``idle: 85 W (given)``) or estimated as the ``idle_percentile`` (5th by default) of
the node's mean power over its fully covered slots (``idle: 85 W (5th percentile of the node's power,
estimated)``); a node that never idles in the series gets too high an estimate, so give it when known.
The idle rule is a choice, not a measurement: a job that is on the node 1 s of a slot alone pays the
slot's idle; a finer ``step_s`` narrows that.

Records out (:class:`AttributionRecord`, one per job and slot, plus the unattributed parts) go to
``.csv`` / ``.parquet`` beside the usage (:func:`write_attribution`); :meth:`Attribution.job_kwh` is
each job's IT energy, what the service's ``completed`` call takes as ``measured_kwh``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from greenci.energy.records import EnergyRecord, UsageRecord, to_intervals
from greenci.energy.slots import COVER_TOLERANCE, SlotGrid, coarser_step_s, epoch_seconds, grid_over, spread
from greenci.errors import ConfigError, DataFormatError, InputError

__all__ = ["IDLE", "NODE_COMPONENTS", "PARTIAL", "UNATTRIBUTED", "UNUSED", "Attribution", "AttributionRecord",
           "JobCpu", "attribute", "job_cpu", "job_energy_kwh", "read_attribution", "write_attribution"]

UNATTRIBUTED = "unattributed:"
IDLE = UNATTRIBUTED + "idle"
UNUSED = UNATTRIBUTED + "dynamic"
PARTIAL = UNATTRIBUTED + "partial-interval"
NODE_COMPONENTS = ("total", "psu", "outlet")
_TIME_UNITS = {"ns": 1e-9, "nanoseconds": 1e-9, "us": 1e-6, "usec": 1e-6, "µs": 1e-6, "microseconds": 1e-6,
               "ms": 1e-3, "milliseconds": 1e-3, "s": 1.0, "sec": 1.0, "seconds": 1.0}


@dataclass(frozen=True)
class AttributionRecord:
    """One job's share of a node's energy over ``[start, end)``: idle part + dynamic part = ``energy_kwh``.

    ``job_id`` is the job, or :data:`IDLE`, :data:`UNUSED`, :data:`PARTIAL` for what no job is charged
    (a :data:`PARTIAL` slot is not split into idle and dynamic: both parts are 0 there).
    """

    node: str
    job_id: str
    start: datetime
    end: datetime
    energy_kwh: float
    idle_kwh: float
    dynamic_kwh: float
    cpu_s: float
    wall_s: float
    method: str


@dataclass(frozen=True, eq=False)
class JobCpu:
    """Jobs' CPU seconds over intervals (vectorised form of the usage): job index, start, end, CPU s."""

    jobs: tuple[str, ...]
    job: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    cpu_s: np.ndarray
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Attribution:
    """The split of one node's energy: records, the rule's figures, and what could not be attributed."""

    node: str
    node_method: str
    records: tuple[AttributionRecord, ...]
    grid: SlotGrid
    idle_w: float
    idle_rule: str
    node_kwh: float
    flags: tuple[str, ...]

    def job_kwh(self) -> dict[str, float]:
        """Each job's attributed IT energy, kWh (the service's ``measured_kwh``)."""
        out: dict[str, float] = {}
        for r in self.records:
            if not r.job_id.startswith(UNATTRIBUTED):
                out[r.job_id] = out.get(r.job_id, 0.0) + r.energy_kwh
        return out

    def unattributed_kwh(self) -> dict[str, float]:
        """Energy charged to no job, by reason (:data:`IDLE`, :data:`UNUSED`, :data:`PARTIAL`)."""
        out: dict[str, float] = {}
        for r in self.records:
            if r.job_id.startswith(UNATTRIBUTED):
                out[r.job_id] = out.get(r.job_id, 0.0) + r.energy_kwh
        return out


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(float(epoch_s), UTC).isoformat().replace("+00:00", "Z")


# ====================================================================== inputs
def _node_series(records: Sequence[EnergyRecord], max_gap_s: float | None) -> tuple[str, str, list[EnergyRecord]]:
    """The node's name, how its power is formed, and the interval records that form it (see module doc)."""
    records = list(records)
    if not records:
        raise InputError("node: no power records: give the node's IPMI, Redfish or PDU outlet readings", field="node")
    comps = {r.component for r in records}
    bad = sorted(comps - set(NODE_COMPONENTS))
    if bad:
        raise InputError(f"node: records of component {', '.join(map(repr, bad))} are not the node's power: give "
                         "its total, its PSU inputs or its PDU outlets (a CPU package or DRAM reading leaves out the "
                         "rest of the node)", field="node")
    chosen = next(c for c in NODE_COMPONENTS if c in comps)
    left_out = sorted(comps - {chosen})
    intervals = to_intervals([r for r in records if r.component == chosen], max_gap_s=max_gap_s)
    if not intervals:
        raise InputError(f"node: {len(records)} readings but no energy interval: give two readings of the node "
                         "(within max_gap_s), meter differences, or intervals", field="node")
    meters = sorted({(r.source, r.resource_id) for r in intervals})
    if chosen == "total" and len(meters) > 1:
        names = ", ".join(f"{s}:{r}" for s, r in meters)
        raise InputError(f"node: {len(meters)} total series ({names}) would count the node's energy "
                         f"{len(meters)} times: give one of them", field="node")
    node = _node_name([r for _s, r in meters])
    if chosen == "total":
        how = f"node total ({meters[0][0]}:{meters[0][1]})"
    elif chosen == "psu":
        how = f"sum of {len(meters)} PSU input(s) (the payload has no total)"
    else:
        how = f"sum of {len(meters)} PDU outlet(s)"
    if left_out:
        how += f"; {', '.join(left_out)} records left out (the {chosen} already covers them)"
    return node, how, intervals


def _node_name(resources: list[str]) -> str:
    """``node7`` from ``node7/PSU1`` and ``node7/PSU2``; the names joined with ``+`` when they share no node."""
    if len(set(resources)) == 1:
        return resources[0]
    prefix = os.path.commonprefix(resources)
    if "/" in prefix:
        return prefix[: prefix.rindex("/")]
    return "+".join(sorted(set(resources)))


def job_cpu(usage: Sequence[UsageRecord], *, metric: str = "cpu", max_gap_s: float | None = None) -> JobCpu:
    """Each job's CPU seconds over intervals, from counters or per-interval usage (see module doc)."""
    usage = list(usage)
    chosen = [u for u in usage if u.metric == metric]
    if not chosen:
        present = sorted({u.metric for u in usage})
        raise InputError(f"usage: no {metric!r} records (metrics present: {', '.join(present) or 'none'}): give the "
                         "jobs' CPU time, or name its metric", field="metric")
    factors = np.empty(len(chosen))
    for i, u in enumerate(chosen):
        f = _TIME_UNITS.get(u.unit.strip().lower())
        if f is None:
            raise InputError(f"usage: {u.source}:{u.resource_id} {metric} is in {u.unit!r}, not a CPU time: give ns, "
                             "us, ms or s (a utilisation in % needs the job's CPU count: convert it first)",
                             field="usage")
        if u.resource_id.startswith(UNATTRIBUTED):
            raise InputError(f"usage: job id {u.resource_id!r} is reserved for unattributed energy: rename the job",
                             field="usage")
        factors[i] = f
    jobs = tuple(sorted({u.resource_id for u in chosen}))
    index = {j: i for i, j in enumerate(jobs)}
    job = np.array([index[u.resource_id] for u in chosen], dtype=np.int64)
    start = epoch_seconds([u.start for u in chosen])
    end = epoch_seconds([u.end for u in chosen])
    value = np.array([u.value for u in chosen]) * factors
    counter = np.array([u.aggregation.strip().lower() == "cumulative" or u.end == u.start for u in chosen])
    if np.any(value < 0) or not np.all(np.isfinite(value)):
        raise InputError("usage: a CPU time is negative or not finite: check the usage file", field="usage")
    notes: list[str] = []
    # counters: differences between consecutive readings of one job
    c = np.flatnonzero(counter)
    at = np.where(counter, end, start)[c]
    order = np.lexsort((at, job[c]))
    cj, ct, cv = job[c][order], at[order], value[c][order]
    same = cj[1:] == cj[:-1]
    dt = ct[1:] - ct[:-1]
    dv = cv[1:] - cv[:-1]
    keep = same & (dt > 0) & (dv >= 0)
    resets = int(np.count_nonzero(same & (dt > 0) & (dv < 0)))
    if resets:
        notes.append(f"{resets} counter reset(s): those stretches are left out")
    if max_gap_s is not None:
        gaps = keep & (dt > max_gap_s)
        if np.any(gaps):
            notes.append(f"{int(np.count_nonzero(gaps))} stretch(es) between counter readings longer than "
                         f"{max_gap_s:g} s: left out")
        keep &= ~gaps
    iv = np.flatnonzero(~counter & (end > start))
    j = np.concatenate([cj[1:][keep], job[iv]])
    s = np.concatenate([ct[:-1][keep], start[iv]])
    e = np.concatenate([ct[1:][keep], end[iv]])
    v = np.concatenate([dv[keep], value[iv]])
    if j.size == 0:
        raise InputError(f"usage: no CPU time over an interval: a counter needs two readings of one job, or give CPU "
                         f"time per interval ({len(chosen)} {metric} records)", field="usage")
    order = np.lexsort((s, j))
    j, s, e, v = j[order], s[order], e[order], v[order]
    overlap = (j[1:] == j[:-1]) & (s[1:] < e[:-1] - 1e-9)
    if np.any(overlap):
        k = int(np.flatnonzero(overlap)[0])
        raise InputError(f"usage: job {jobs[j[k]]} has CPU time over overlapping spans ({_iso(s[k])} .. {_iso(e[k])} "
                         f"and {_iso(s[k + 1])} ..): it would be counted twice; give one series per job "
                         "(one granularity, counters or intervals)", field="usage")
    return JobCpu(jobs=jobs, job=j, start_s=s, end_s=e, cpu_s=v, notes=tuple(notes))


# ====================================================================== the split
def attribute(node_power: Sequence[EnergyRecord], usage: Sequence[UsageRecord] | JobCpu, *,
              idle_w: float | None = None, idle_percentile: float = 5.0, step_s: float | None = None,
              metric: str = "cpu", max_gap_s: float | None = None, node: str | None = None) -> Attribution:
    """Split the node's energy over the jobs' slots by the rule of the module doc; the parts sum to the node.

    ``node`` names the node in the records (default: from the power records' resource ids).
    """
    if not (isinstance(idle_percentile, (int, float)) and 0 <= idle_percentile <= 100):
        raise InputError(f"idle_percentile {idle_percentile!r} must be from 0 to 100 (e.g. 5)", field="idle_percentile")
    if idle_w is not None and not (isinstance(idle_w, (int, float)) and math.isfinite(idle_w) and idle_w >= 0):
        raise InputError(f"idle_w {idle_w!r} must be a number of watts >= 0 (the node's power with no job)",
                         field="idle_w")
    found, how, intervals = _node_series(node_power, max_gap_s)
    node = node or found
    cpu = usage if isinstance(usage, JobCpu) else job_cpu(usage, metric=metric, max_gap_s=max_gap_s)
    meters = sorted({(r.source, r.resource_id) for r in intervals})
    mindex = {m: i for i, m in enumerate(meters)}
    meter = np.array([mindex[(r.source, r.resource_id)] for r in intervals], dtype=np.int64)
    ns = epoch_seconds([r.start for r in intervals])
    ne = epoch_seconds([r.end for r in intervals])
    nkwh = np.array([r.energy_kwh or 0.0 for r in intervals])
    step, coarse = coarser_step_s((ns, ne), (cpu.start_s, cpu.end_s), step_s)
    anchor = (ns if coarse == 0 else cpu.start_s).min()
    grid = grid_over(float(ns.min()), float(ne.max()), step, float(anchor))
    n = grid.n
    # the node: energy and coverage per slot
    row, slot, amt = spread(grid, ns, ne, np.stack([nkwh, ne - ns], axis=1), meter)
    energy = np.bincount(slot, weights=amt[:, 0], minlength=n)
    covered = np.zeros((len(meters), n))
    covered[row, slot] = amt[:, 1]
    full = np.all(covered >= step * (1 - COVER_TOLERANCE), axis=0)
    # the idle power
    if idle_w is None:
        if not np.any(full):
            raise InputError(f"node: no interval of {step:g} s is covered in full, so its idle power cannot be "
                             "estimated: give idle_w (--idle-w)", field="idle_w")
        idle = float(np.percentile(energy[full] * 3.6e6 / step, idle_percentile))
        idle_rule = f"idle: {idle:.1f} W ({idle_percentile:g}th percentile of the node's power, estimated)"
    else:
        idle = float(idle_w)
        idle_rule = f"idle: {idle:.1f} W (given)"
    idle_kwh = np.where(full, np.minimum(idle * step / 3.6e6, energy), 0.0)
    dyn_kwh = np.where(full, energy - idle_kwh, 0.0)
    # the jobs: CPU and wall seconds per (job, slot)
    jrow, jslot, jamt = spread(grid, cpu.start_s, cpu.end_s, np.stack([cpu.cpu_s, cpu.end_s - cpu.start_s], axis=1),
                               cpu.job)
    jcpu, jwall = jamt[:, 0], jamt[:, 1]
    in_full = full[jslot]
    wall_sum = np.bincount(jslot[in_full], weights=jwall[in_full], minlength=n)
    cpu_sum = np.bincount(jslot[in_full], weights=jcpu[in_full], minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        j_idle = np.where(in_full & (wall_sum[jslot] > 0), idle_kwh[jslot] * jwall / wall_sum[jslot], 0.0)
        j_dyn = np.where(in_full & (cpu_sum[jslot] > 0), dyn_kwh[jslot] * jcpu / cpu_sum[jslot], 0.0)
    u_idle = np.where(full & (wall_sum <= 0), idle_kwh, 0.0)
    u_dyn = np.where(full & (cpu_sum <= 0), dyn_kwh, 0.0)
    u_part = np.where(~full, energy, 0.0)
    flags = list(cpu.notes) + _uncovered_flags(cpu, grid, jrow, jcpu, in_full, ns.min(), ne.max())
    method = f"{how}; {idle_rule}; idle by wall time, dynamic by CPU time, {step:g} s intervals"
    records = _records(node, grid, method, jrow, jslot, cpu.jobs, j_idle, j_dyn, jcpu, jwall, in_full,
                       u_idle, u_dyn, u_part)
    return Attribution(node=node, node_method=how, records=records, grid=grid, idle_w=idle, idle_rule=idle_rule,
                       node_kwh=float(nkwh.sum()), flags=tuple(flags))


def _uncovered_flags(cpu: JobCpu, grid: SlotGrid, jrow: np.ndarray, jcpu: np.ndarray, in_full: np.ndarray,
                     node_start: float, node_end: float) -> list[str]:
    """A flag per job whose CPU time falls (partly) where the node's power is not covered in full."""
    total = np.bincount(cpu.job, weights=cpu.cpu_s, minlength=len(cpu.jobs))
    counted = np.bincount(jrow[in_full], weights=jcpu[in_full], minlength=len(cpu.jobs))
    first = np.full(len(cpu.jobs), np.inf)
    last = np.full(len(cpu.jobs), -np.inf)
    np.minimum.at(first, cpu.job, cpu.start_s)
    np.maximum.at(last, cpu.job, cpu.end_s)
    out = []
    for k in np.flatnonzero(total - counted > 1e-9 * np.maximum(total, 1.0)):
        if last[k] <= node_start or first[k] >= node_end:
            out.append(f"job {cpu.jobs[k]} ran {_iso(first[k])} .. {_iso(last[k])}, outside the node's power series "
                       f"({_iso(node_start)} .. {_iso(node_end)}): nothing attributed; give the node's power for "
                       "that time")
        else:
            out.append(f"job {cpu.jobs[k]}: {total[k] - counted[k]:.3g} of its {total[k]:.3g} CPU s fall where the "
                       "node's power is not covered in full (outside the series or in a gap): not attributed")
    return out


def _records(node: str, grid: SlotGrid, method: str, jrow: np.ndarray, jslot: np.ndarray, jobs: tuple[str, ...],
             j_idle: np.ndarray, j_dyn: np.ndarray, jcpu: np.ndarray, jwall: np.ndarray, in_full: np.ndarray,
             u_idle: np.ndarray, u_dyn: np.ndarray, u_part: np.ndarray) -> tuple[AttributionRecord, ...]:
    starts = grid.starts_s
    step = grid.step_s
    times = {k: datetime.fromtimestamp(float(starts[k]), UTC) for k in np.unique(np.concatenate(
        [jslot, np.flatnonzero((u_idle > 0) | (u_dyn > 0) | (u_part > 0))])).tolist()}
    ends = {k: datetime.fromtimestamp(float(starts[k] + step), UTC) for k in times}
    out = []
    pick = np.flatnonzero(in_full & (jwall > 0))
    for i, k, ji, jd, c, w in zip(jrow[pick].tolist(), jslot[pick].tolist(), j_idle[pick].tolist(),
                                  j_dyn[pick].tolist(), jcpu[pick].tolist(), jwall[pick].tolist(), strict=True):
        out.append(AttributionRecord(node, jobs[i], times[k], ends[k], ji + jd, ji, jd, c, w, method))
    for name, values, idle_part in ((IDLE, u_idle, True), (UNUSED, u_dyn, False), (PARTIAL, u_part, False)):
        for k in np.flatnonzero(values > 0).tolist():
            x = float(values[k])
            out.append(AttributionRecord(node, name, times[k], ends[k], x, x if idle_part else 0.0,
                                         0.0 if idle_part or name == PARTIAL else x, 0.0, 0.0, method))
    out.sort(key=lambda r: (r.start, r.job_id))
    return tuple(out)


# ====================================================================== files
_FLOATS = ("energy_kwh", "idle_kwh", "dynamic_kwh", "cpu_s", "wall_s")
_NAMES = [f.name for f in fields(AttributionRecord)]


def _rows(records: Sequence[AttributionRecord]) -> list[dict[str, Any]]:
    return [{n: (_iso(getattr(r, n).timestamp()) if n in ("start", "end") else getattr(r, n)) for n in _NAMES}
            for r in records]


def write_attribution(records: Sequence[AttributionRecord], path: str | os.PathLike[str], *,
                      append: bool = True) -> Path:
    """Write attribution records to ``.csv`` (appending under the same header) or ``.parquet`` (rewritten)."""
    from greenci.outputs import atomic_path, check_file

    p = check_file(Path(path), field="output", suffixes=(".csv", ".parquet"))
    if p.suffix.lower() == ".csv":
        from greenci.energy.records import CsvSink

        CsvSink(p, append=append).write(list(records))  # type: ignore[arg-type]  # any dataclass rows
        return p
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("Parquet needs pyarrow: pip install 'greenci[parquet]', or use a .csv file") from None
    schema = pa.schema([(n, pa.float64() if n in _FLOATS else pa.string()) for n in _NAMES])
    rows = _rows(records)
    if append and p.is_file():
        old = pq.read_table(p)
        if old.column_names != _NAMES:
            raise InputError(f"output {p}: has columns {old.column_names}, not attribution records: write to another "
                             "file", field="output")
        rows = old.to_pylist() + rows
    with atomic_path(p) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    return p


def job_energy_kwh(records: Sequence[AttributionRecord], job_id: str) -> float:
    """The IT energy attributed to ``job_id`` (kWh): what ``greenci ci report --attribution`` sends the service
    as the job's ``measured_kwh``. A job with no record is refused, naming the jobs the records hold."""
    mine = [r.energy_kwh for r in records if r.job_id == job_id]
    if not mine:
        held = sorted({r.job_id for r in records if not r.job_id.startswith(UNATTRIBUTED)})
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise InputError(f"the attribution holds no record of job {job_id!r} (it holds {shown or 'no job'}): "
                         "attribute the node's power with this job's usage, or check the job id", field="attribution")
    return float(sum(mine))


def read_attribution(path: str | os.PathLike[str]) -> list[AttributionRecord]:
    """Attribution records back from a file :func:`write_attribution` wrote."""
    import csv

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file: check the path", field="attribution")
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(p).to_pylist()
    else:
        with p.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    out = []
    for i, row in enumerate(rows, start=2):
        missing = [n for n in _NAMES if row.get(n) in (None, "") and n != "method"]
        if missing:
            raise DataFormatError(f"columns {missing} are empty or missing: not a greenci attribution file",
                                  path=str(p), row=i)
        try:
            out.append(AttributionRecord(
                node=str(row["node"]), job_id=str(row["job_id"]),
                start=datetime.fromisoformat(str(row["start"]).replace("Z", "+00:00")),
                end=datetime.fromisoformat(str(row["end"]).replace("Z", "+00:00")),
                **{n: float(row[n]) for n in _FLOATS}, method=str(row.get("method") or "")))
        except ValueError as exc:
            raise DataFormatError(f"is not an attribution record ({exc})", path=str(p), row=i) from None
    return out
