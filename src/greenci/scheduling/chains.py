"""``needs`` chains: jobs of one run that wait for each other, placed so the chain keeps its deadline.

A job never starts before the planned end of every job it needs, and the whole chain still ends by its
deadline. Deadlines are carried backwards first: a job must end early enough that the jobs after it fit
before their own ends (``latest_end = min(own deadline, min over successors (their latest end - their
estimate))``). Then the jobs are placed in dependency order, each at the cleanest (start, region) of its
window ``[planned end of its needs, latest end - estimate]`` on the one forecast issued at the decision
time (later forecasts are not known then). A job that may not wait (fail fast) starts as soon as its needs
end, in the cleanest allowed region then. This is greedy: each job takes the best of what the jobs before
it left, which keeps every bound; it is not the joint optimum of the chain.

Replays meet chains too: a trace of jobs (GitHub's jobs of a run) does not say what needs what, but a job
of a run that was queued only once another of its run had ended was waiting for it (GitHub queues a job
when its needs end). :func:`inferred_needs` reads those pairs from the trace and :func:`needs_broken`
counts the jobs a strategy starts before one of them has ended: what shifting jobs one by one breaks.

The baseline of a chain job is what it would emit unshifted: every job as soon as its needs end, in the
mean of its allowed regions, as the baseline of one job is "run now".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from greenci.errors import InputError
from greenci.scheduling.kernel import ForecastSurface

__all__ = ["ChainJob", "ChainSlot", "dependency_order", "inferred_needs", "latest_ends", "needs_broken", "place_chain"]


@dataclass(frozen=True)
class ChainJob:
    """One job of a chain: what it needs, how long it is expected to run, its own bound and regions."""

    key: str
    needs: tuple[str, ...]
    estimate_s: float
    deadline_s: float  # its own latest end (inf: none of its own)
    may_wait: bool  # False: it starts as soon as its needs end (fail fast)
    allowed: np.ndarray | None = None  # (regions,) mask; None: any
    power_kw: float = 1.0


@dataclass(frozen=True)
class ChainSlot:
    """Where and when a chain job runs, what it is expected to emit, and the bound it was held to."""

    key: str
    region: int
    start_s: float
    end_s: float
    expected_g: float  # NaN when the forecast does not cover the run
    baseline_g: float  # unshifted: as soon as its needs end (unshifted), mean of allowed regions
    earliest_s: float  # the planned end of its needs (or the decision time)
    latest_end_s: float  # inf when nothing bounds it
    late: bool  # the chain's deadline could not be kept: it starts as soon as it can


def dependency_order(jobs: Sequence[ChainJob]) -> list[int]:
    """Indices of ``jobs`` so that every job comes after the jobs it needs; a cycle or an unknown need is
    an error naming the jobs."""
    index = {j.key: i for i, j in enumerate(jobs)}
    if len(index) != len(jobs):
        raise InputError("two jobs of one chain share a name: give each job its own name", field="needs")
    waiting = [0] * len(jobs)
    after: list[list[int]] = [[] for _ in jobs]
    for i, j in enumerate(jobs):
        for need in j.needs:
            if need not in index:
                raise InputError(f"job {j.key} needs {need!r}, which is not a job of its run: fix needs",
                                 field="needs")
            waiting[i] += 1
            after[index[need]].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for k in after[i]:
            waiting[k] -= 1
            if waiting[k] == 0:
                ready.append(k)
    if len(order) != len(jobs):
        stuck = ", ".join(jobs[i].key for i, n in enumerate(waiting) if n > 0)
        raise InputError(f"needs form a cycle among {stuck}: a job cannot wait for itself", field="needs")
    return order


def latest_ends(jobs: Sequence[ChainJob], order: Sequence[int]) -> np.ndarray:
    """Each job's latest end: its own deadline, and early enough for every job after it."""
    index = {j.key: i for i, j in enumerate(jobs)}
    latest = np.array([j.deadline_s for j in jobs], dtype=np.float64)
    for i in reversed(order):
        for need in jobs[i].needs:
            k = index[need]
            latest[k] = min(latest[k], latest[i] - jobs[i].estimate_s)
    return latest


def place_chain(surface: ForecastSurface, *, start_s: int, step_s: int, at_s: float,
                jobs: Sequence[ChainJob]) -> list[ChainSlot]:
    """Place ``jobs`` (one run's jobs and their needs) on a forecast issued at ``start_s`` (slot 0 of
    ``surface``), decided at ``at_s``. Returns one slot per job, in the order of ``jobs``."""
    if not jobs:
        return []
    order = dependency_order(jobs)
    latest = latest_ends(jobs, order)
    index = {j.key: i for i, j in enumerate(jobs)}
    n_regions = surface.n_regions
    out: list[ChainSlot | None] = [None] * len(jobs)
    asap_end = np.zeros(len(jobs))
    for i in order:
        job = jobs[i]
        allowed = np.ones(n_regions, dtype=bool) if job.allowed is None else np.asarray(job.allowed, dtype=bool)
        earliest = max([float(at_s), *(out[index[n]].end_s for n in job.needs)])  # type: ignore[union-attr]
        unshifted = max([float(at_s), *(asap_end[index[n]] for n in job.needs)])
        asap_end[i] = unshifted + job.estimate_s
        last_start = latest[i] - job.estimate_s if job.may_wait and np.isfinite(latest[i]) else earliest
        late = bool(last_start < earliest - 1e-9)
        starts = _candidates(earliest, max(last_start, earliest), start_s, step_s)
        cost = _cost(surface, starts, job.estimate_s, start_s, step_s) * job.power_kw  # (W, R)
        cost = np.where(allowed[None, :] & np.isfinite(cost), cost, np.inf)
        k = int(np.argmin(cost.reshape(-1)))  # start-major: the earlier start wins a tie
        w, r = divmod(k, n_regions)
        best = float(cost[w, r])
        if not np.isfinite(best):  # the forecast does not cover it: as soon as it can, first allowed region
            w, r, best = 0, int(np.flatnonzero(allowed)[0]), float("nan")
        now = _cost(surface, np.array([unshifted]), job.estimate_s, start_s, step_s)[0] * job.power_kw
        baseline = float(np.mean(now[allowed])) if np.isfinite(now[allowed]).all() else float("nan")
        start = float(starts[w])
        out[i] = ChainSlot(job.key, r, start, start + job.estimate_s, best, baseline, earliest, float(latest[i]),
                           late)
    return [s for s in out if s is not None]


def _candidates(earliest_s: float, last_s: float, start_s: int, step_s: int) -> np.ndarray:
    """``earliest_s``, then every slot boundary after it up to ``last_s`` (seconds)."""
    first = start_s + np.ceil((earliest_s - start_s) / step_s + 1e-9) * step_s
    return np.r_[earliest_s, np.arange(first, last_s + 1e-6, step_s)]


def _cost(surface: ForecastSurface, starts_s: np.ndarray, duration_s: float, start_s: int,
          step_s: int) -> np.ndarray:
    """Forecast g per kW of a run of ``duration_s`` from each start, in every region: (starts, regions)."""
    t0 = (np.asarray(starts_s, dtype=np.float64) - start_s) / step_s
    issue = np.zeros(t0.size, dtype=np.int64)
    return surface.all_regions(issue, t0, t0 + duration_s / step_s)


def inferred_needs(run_ids: np.ndarray, submitted_s: np.ndarray, duration_s: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(need, job)`` of one run: ``job`` was queued at or after ``need`` ended in the trace.

    Jobs whose run is unknown (``""``) pair with nothing. Vectorised per run; runs hold tens of jobs.
    """
    runs = np.asarray(run_ids, dtype=object)
    known = np.flatnonzero(runs != "")
    if known.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = known[np.argsort(runs[known], kind="stable")]
    keys = runs[order]
    bounds = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
    sub = np.asarray(submitted_s, dtype=np.float64)
    end = sub + np.asarray(duration_s, dtype=np.float64)
    needs, jobs = [], []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b - a < 2:
            continue
        idx = order[a:b]
        later = sub[idx][None, :] >= end[idx][:, None] - 1e-9  # [need, job]
        i, k = np.nonzero(later)
        needs.append(idx[i])
        jobs.append(idx[k])
    if not needs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(needs).astype(np.int64), np.concatenate(jobs).astype(np.int64)


def needs_broken(need: np.ndarray, job: np.ndarray, start_s: np.ndarray, end_s: np.ndarray) -> int:
    """How many jobs start before one of their needs (``need[k]`` of ``job[k]``) has ended."""
    if not need.size:
        return 0
    early = np.asarray(start_s)[job] < np.asarray(end_s)[need] - 1e-6
    return int(np.unique(job[early]).size)
