"""Placement under per-region runner capacity: the greedy every strategy shares, exact in arrival order.

Why one greedy: the study's strategies and greenci differ only in which (region, start) candidates a job
has and how they are ranked; under finite runners they all take, in arrival order, their best-ranked
candidate that still has a free runner for the whole estimated run, else queue. Decisions are sequential
by nature (each job sees the runners earlier jobs took), so the ranking is vectorised (the kernel prices
every candidate of a block of jobs at once) and only the walk down each job's ranking runs per job, in a
loop compiled with numba when it is installed (1M jobs x 12 regions in seconds) and in plain Python
otherwise (the same function, same results, about 100x slower).

Rules (the exact capacity oracle, ``capacity_oracle.py``, uses the same occupancy rule):

- A run from slot ``s`` lasting ``d`` slots holds one runner of its region in every whole slot of
  ``[floor(s), ceil(s + d))``; a slot is never shared pro rata.
- A job's candidates are ranked by (cost, start, region) -- ties go to the earlier start, then the lower
  region index, as in :func:`~greenci.scheduling.kernel.choose`. It takes the first with a free runner in
  every slot it holds.
- A job with no priced candidate (no estimate, or unknown intensity: round-robin, a study cold start)
  takes its preferred region at arrival, else the next region (cyclically) with a free runner at arrival.
- When nothing in its window is free, a job queues: the first slot boundary after its last candidate
  (after its arrival when it had none) where an allowed region has a free runner, preferred region first,
  then the others cyclically. A queued job misses its deadline only because every start that met it was
  full when it was decided.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from greenci.errors import InputError
from greenci.scheduling.kernel import candidate_costs

#: runners per region: one number for every region, or by region name (a region not named is unlimited)
Capacity = int | Mapping[str, int | None]

#: how each job's placement came about (``CapacityResult.how``)
FIRST_CHOICE, NEXT_CHOICE, QUEUED = 0, 1, 2

# jobs priced and walked per block: bounds the (jobs x candidates) cost array to a few MiB
_BLOCK_CELLS = 1 << 20


def check_capacity(capacity: Capacity | None) -> None:
    """Refuse a capacity that is not a whole number >= 1, or a mapping of region -> whole number >= 0 / None."""
    if capacity is None:
        return
    if isinstance(capacity, Mapping):
        for region, n in capacity.items():
            if n is None:
                continue
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
                raise InputError(f"capacity {n!r} for region {region!r} must be a whole number of runners >= 0 "
                                 "(or None for unlimited)", field="capacity")
        return
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
        raise InputError(f"capacity {capacity!r} must be a whole number of runners >= 1 per region (or a mapping "
                         "region -> runners, or None for unlimited)", field="capacity")


def capacity_per_region(capacity: Capacity | None, regions: Sequence[str]) -> np.ndarray:
    """Runners per region as floats, ``inf`` where unlimited; a mapping naming an unknown region is refused."""
    check_capacity(capacity)
    out = np.full(len(regions), np.inf)
    if capacity is None:
        return out
    if not isinstance(capacity, Mapping):
        out[:] = float(capacity)
        return out
    index = {r: i for i, r in enumerate(regions)}
    unknown = [str(r) for r in capacity if r not in index]
    if unknown:
        raise InputError(f"capacity names region(s) {', '.join(unknown)} that are not in the intensity data "
                         f"({', '.join(regions)}): use those names or drop the entries", field="capacity")
    for region, n in capacity.items():
        if n is not None:
            out[index[region]] = float(n)
    return out


def held_slots(start_slot: np.ndarray, duration_slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slots ``[first, stop)`` a run holds a runner in: ``[floor(start), ceil(start + duration))``."""
    start = np.asarray(start_slot, dtype=np.float64)
    return np.floor(start).astype(np.int64), np.ceil(start + np.asarray(duration_slots, dtype=np.float64)).astype(
        np.int64)


def occupancy(region: np.ndarray, start_slot: np.ndarray, duration_slots: np.ndarray, n_regions: int,
              n_slots: int | None = None) -> np.ndarray:
    """Runners held per (region, slot) by these runs (difference array, no per-job loop)."""
    first, stop = held_slots(start_slot, duration_slots)
    if first.size and first.min() < 0:
        raise InputError(f"a run starts before the grid (slot {int(first.min())}): place jobs inside the grid",
                         field="start_s")
    width = max(int(stop.max()) if stop.size else 0, n_slots or 0) + 1
    diff = np.zeros(n_regions * width, dtype=np.int64)
    region = np.asarray(region, dtype=np.int64)
    np.add.at(diff, region * width + first, 1)
    np.add.at(diff, region * width + stop, -1)
    return np.cumsum(diff.reshape(n_regions, width), axis=1)[:, : width - 1]


@dataclass(frozen=True, eq=False)
class CapacityResult:
    """Per job: region index, start (slots), expected cost (g per kW, NaN when unpriced) and how it was placed."""

    region: np.ndarray
    start_slot: np.ndarray
    expected_g_per_kw: np.ndarray
    how: np.ndarray  # FIRST_CHOICE, NEXT_CHOICE (capacity moved it) or QUEUED (nothing in its window was free)

    @property
    def moved(self) -> np.ndarray:
        """Jobs capacity moved off their first choice (reason ``capacity``)."""
        return self.how != FIRST_CHOICE


def place_with_capacity(surface: Any, *, arrival: np.ndarray, cost_duration: np.ndarray | None,
                        hold_duration: np.ndarray, max_wait: np.ndarray, allowed: np.ndarray | None,
                        preferred: np.ndarray, capacity: np.ndarray, reserved: np.ndarray | None = None,
                        wait_price_per_slot: float = 0.0, compiled: bool = True) -> CapacityResult:
    """Place jobs (in arrival order) under ``capacity`` runners per region (see the module docstring).

    Times are in slots from the grid start. ``cost_duration`` prices the candidates (NaN, or None for all:
    unpriced, the job takes its ``preferred`` region at arrival); ``hold_duration`` is how long each run
    holds its runner (the decider's estimate, or the true run for a queue that knows when a runner frees).
    ``wait_price_per_slot`` (g per kW per slot waited) is added to a candidate's cost for ranking only.
    ``reserved`` (regions x slots) counts runners already taken by earlier decisions. ``compiled=False``
    walks in plain Python even when numba is installed (the tests compare the two).
    """
    arrival = np.asarray(arrival, dtype=np.float64)
    n = arrival.size
    n_regions = capacity.size
    hold = np.asarray(hold_duration, dtype=np.float64)
    if n and not (np.all(np.isfinite(hold)) and hold.min() >= 0):
        raise InputError("every job needs a finite duration >= 0 to hold a runner: give an estimate or a true "
                         "duration", field="duration_s")
    allowed_mask = np.ones((n, n_regions), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    usable = allowed_mask & (capacity > 0)[None, :]
    if n and not usable.any(axis=1).all():
        j = int(np.flatnonzero(~usable.any(axis=1))[0])
        raise InputError(f"job #{j} may only run in regions with 0 runners: give those regions runners or allow "
                         "another region", field="capacity")
    wait = np.where(np.asarray(max_wait, dtype=np.float64) > 0, max_wait, 0.0)
    region = np.empty(n, dtype=np.int64)
    start = np.empty(n)
    how = np.empty(n, dtype=np.int8)
    expected = np.full(n, np.nan)
    if n == 0:
        return CapacityResult(region, start, expected, how)
    horizon = int(np.ceil(np.max(arrival + wait + hold))) + 2
    occ = np.zeros((n_regions, horizon), dtype=np.int32)
    if reserved is not None:
        res = np.asarray(reserved, dtype=np.int32)
        width = min(res.shape[1], horizon)
        occ[:, :width] += res[:, :width]
    caps = np.ascontiguousarray(capacity, dtype=np.float64)
    walk = _walker() if compiled else _walk
    pref = np.asarray(preferred, dtype=np.int64)
    per_block = max(256, _BLOCK_CELLS // ((2 + int(np.ceil(wait.max()))) * n_regions))
    block = 0
    while block < n:
        stop = min(n, block + per_block)
        sl = slice(block, stop)
        cdur = None if cost_duration is None else np.asarray(cost_duration, dtype=np.float64)[sl]
        if cdur is None or not np.isfinite(cdur).any():
            cand = arrival[sl, None].copy()
            cost = np.full((stop - block, n_regions), np.inf)
        else:
            cand, cost = candidate_costs(surface, arrival=arrival[sl], duration=cdur, max_wait=wait[sl],
                                         allowed=None if allowed is None else allowed_mask[sl],
                                         wait_price_per_slot=wait_price_per_slot)
        after = np.where(np.isfinite(cost).any(axis=1), np.nanmax(cand, axis=1), arrival[sl])
        k = 0
        while k < stop - block:
            k = int(walk(cost, cand, after, hold[sl], pref[sl], usable[sl], caps, occ, region[sl], start[sl],
                         how[sl], k))
            if k < stop - block:  # a queued run ran past the tracked slots: track more and go on from job k
                occ = np.concatenate([occ, np.zeros_like(occ)], axis=1)
        if cdur is not None:
            priced = np.isfinite(cdur)
            if priced.any():
                i = np.flatnonzero(priced)
                issue = np.floor(arrival[sl][i] + 1e-9).astype(np.int64)
                s = start[sl][i]
                expected[block + i] = surface.integral(issue, region[sl][i], s, s + cdur[i])
        block = stop
    return CapacityResult(region, start, expected, how)


def _walk(cost: np.ndarray, cand: np.ndarray, after: np.ndarray, hold: np.ndarray, pref: np.ndarray,
          usable: np.ndarray, caps: np.ndarray, occ: np.ndarray, region: np.ndarray, start: np.ndarray,
          how: np.ndarray, first: int) -> int:
    """Walk each job's candidates from cheapest to dearest until one has a free runner; else queue.

    Returns the number of jobs placed: less than all when a queued run needs slots past ``occ`` (the
    caller widens it and calls again from there). Compiled by numba when available; plain Python otherwise.
    """
    n, k_all = cost.shape
    n_regions, n_slots = occ.shape
    for j in range(first, n):
        done = False
        tries = 0
        best_i = -1
        best_c = np.inf
        for i in range(k_all):  # the first choice: one pass (most jobs stop here)
            if cost[j, i] < best_c:
                best_c = cost[j, i]
                best_i = i
        if best_i >= 0:
            w = best_i // n_regions
            r = best_i - w * n_regions
            a = int(np.floor(cand[j, w]))
            b = int(np.ceil(cand[j, w] + hold[j]))
            if b > n_slots:
                return j
            free = True
            for t in range(a, b):
                if occ[r, t] >= caps[r]:
                    free = False
                    break
            if not free:  # full: the cheapest candidate that is free, in one more pass (ties: first index)
                tries = 1
                best_i = -1
                best_c = np.inf
                for i in range(k_all):
                    if cost[j, i] < best_c:
                        w = i // n_regions
                        r = i - w * n_regions
                        a = int(np.floor(cand[j, w]))
                        b = int(np.ceil(cand[j, w] + hold[j]))
                        if b > n_slots:
                            return j
                        free = True
                        for t in range(a, b):
                            if occ[r, t] >= caps[r]:
                                free = False
                                break
                        if free:
                            best_c = cost[j, i]
                            best_i = i
            if best_i >= 0:
                w = best_i // n_regions
                r = best_i - w * n_regions
                s = cand[j, w]
                for t in range(int(np.floor(s)), int(np.ceil(s + hold[j]))):
                    occ[r, t] += 1
                region[j] = r
                start[j] = s
                how[j] = FIRST_CHOICE if tries == 0 else NEXT_CHOICE
                done = True
        if done:
            continue
        if tries == 0:  # unpriced: preferred region at arrival, else the next free one at arrival
            s = cand[j, 0]
            a = int(np.floor(s))
            b = int(np.ceil(s + hold[j]))
            if b > n_slots:
                return j
            for o in range(n_regions):
                r = (pref[j] + o) % n_regions
                if not usable[j, r]:
                    continue
                free = True
                for t in range(a, b):
                    if occ[r, t] >= caps[r]:
                        free = False
                        break
                if free:
                    for t in range(a, b):
                        occ[r, t] += 1
                    region[j] = r
                    start[j] = s
                    how[j] = FIRST_CHOICE if o == 0 else NEXT_CHOICE
                    done = True
                    break
            if done:
                continue
        s0 = int(np.ceil(after[j] + 1e-9))
        while not done:
            b = int(np.ceil(s0 + hold[j]))
            if b > n_slots:
                return j
            for o in range(n_regions):
                r = (pref[j] + o) % n_regions
                if not usable[j, r]:
                    continue
                free = True
                for t in range(s0, b):
                    if occ[r, t] >= caps[r]:
                        free = False
                        break
                if free:
                    for t in range(s0, b):
                        occ[r, t] += 1
                    region[j] = r
                    start[j] = float(s0)
                    how[j] = QUEUED
                    done = True
                    break
            s0 += 1
    return n


@functools.cache
def _walker() -> Callable[..., int]:
    """The compiled walk (numba, cached on disk) or, without numba, the same function in plain Python."""
    try:
        import numba
    except ImportError:
        return _walk
    return numba.njit(cache=True, nogil=True)(_walk)


# ------------------------------------------------------------------------------ execution on the runners
@dataclass(frozen=True)
class Executed:
    """A placement as the runners ran it: where and when each job really started."""

    region: np.ndarray
    start_s: np.ndarray
    queued: np.ndarray  # bool: waited for a runner of its region
    moved: np.ndarray  # bool: ran in another region whose runner was free, rather than miss its deadline


def run_on_runners(region: np.ndarray, start_s: np.ndarray, duration_s: np.ndarray, runners: np.ndarray, *,
                   deadline_s: np.ndarray | None = None, allowed: np.ndarray | None = None,
                   intensity: np.ndarray | None = None, grid_start_s: float = 0.0,
                   step_s: float = 3600.0) -> Executed:
    """When and where each job really starts, on the runners of each region.

    Why: a placement reserves runners for *estimated* runs; a run that takes longer than its estimate still
    holds its runner, and a real fleet makes the next job wait for it: a first-come, first-served queue per
    region, in planned-start order, on ``runners[region]`` identical runners (``inf``: unlimited). A job
    that would miss its deadline waiting, while an allowed region has a free runner at its start, is sent
    there instead (the cleanest such region in ``intensity`` (regions x slots) at that slot, else the first),
    as a dispatcher that sees the queue does. The replay accounts emissions, waits and deadlines there.
    """
    region = np.asarray(region, dtype=np.int64)
    start = np.asarray(start_s, dtype=np.float64)
    duration = np.asarray(duration_s, dtype=np.float64)
    runners = np.asarray(runners, dtype=np.float64)
    n, n_regions = start.size, runners.size
    out_start, out_region = start.copy(), region.copy()
    queued, moved = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    finite = np.isfinite(runners)
    if not finite.any() or not n:
        return Executed(out_region, out_start, queued, moved)
    bad = finite & ((runners < 1) | (runners != np.floor(runners)))
    if bad.any():
        raise InputError(f"runners {runners[bad][0]!r} of region #{int(np.flatnonzero(bad)[0])} must be a whole "
                         "number >= 1 (inf: unlimited)", field="capacity")
    deadline = np.full(n, np.inf) if deadline_s is None else np.where(np.isfinite(deadline_s), deadline_s, np.inf)
    ok = np.ones((n, n_regions), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    table = np.zeros((n_regions, 1)) if intensity is None else np.nan_to_num(np.asarray(intensity, float), nan=np.inf)
    order = np.lexsort((np.arange(n), start))  # planned start, then arrival order
    slots = np.where(finite, runners, 0).astype(np.int64)
    _queue_runner()(region[order], start[order], duration[order], deadline[order], ok[order], table,
                    float(grid_start_s), float(step_s), slots, finite, out_start, out_region, queued, moved, order)
    return Executed(out_region, out_start, queued, moved)


def _queue(region: np.ndarray, start: np.ndarray, duration: np.ndarray, deadline: np.ndarray, ok: np.ndarray,
           table: np.ndarray, t0: float, step: float, slots: np.ndarray, finite: np.ndarray, out_start: np.ndarray,
           out_region: np.ndarray, queued: np.ndarray, moved: np.ndarray, order: np.ndarray) -> None:
    """FIFO on identical runners: each job, in planned-start order, takes its region's earliest-free runner,
    or a free runner elsewhere when waiting would miss its deadline."""
    n_regions = slots.size
    offset = np.zeros(n_regions + 1, dtype=np.int64)
    for r in range(n_regions):
        offset[r + 1] = offset[r] + slots[r]
    free = np.full(offset[-1], -np.inf)
    last = table.shape[1] - 1
    for i in range(region.size):
        r, s = region[i], start[i]
        if not finite[r]:
            continue
        k = offset[r]
        for m in range(offset[r] + 1, offset[r + 1]):
            if free[m] < free[k]:
                k = m
        if free[k] > s and free[k] + duration[i] > deadline[i]:  # waiting here misses the deadline
            col = min(max(int((s - t0) // step), 0), last)
            best, best_k, best_cost = -1, -1, np.inf
            for q in range(n_regions):
                if q == r or not ok[i, q]:
                    continue
                if not finite[q]:
                    qk = -1
                else:
                    qk = offset[q]
                    for m in range(offset[q] + 1, offset[q + 1]):
                        if free[m] < free[qk]:
                            qk = m
                    if free[qk] > s:
                        continue
                if best < 0 or table[q, col] < best_cost:
                    best, best_k, best_cost = q, qk, table[q, col]
            if best >= 0:
                if best_k >= 0:
                    free[best_k] = s + duration[i]
                out_region[order[i]] = best
                moved[order[i]] = True
                continue
        if free[k] > s:
            queued[order[i]] = True
            s = free[k]
        free[k] = s + duration[i]
        out_start[order[i]] = s


@functools.cache
def _queue_runner() -> Callable[..., None]:
    """The compiled queue (numba, cached on disk) or, without numba, the same function in plain Python."""
    try:
        import numba
    except ImportError:
        return _queue
    return numba.njit(cache=True, nogil=True)(_queue)
