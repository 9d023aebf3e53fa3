"""The exact capacity-aware oracle: minimum total emissions under per-region runner capacity, as a MILP.

Why: with unlimited runners every oracle sends most jobs to the one cleanest zone, which no fleet could
take. This is the bound a capacity-aware strategy is measured against: perfect knowledge (the context's
surface, which the replay makes the actual intensity, and true durations) *and* finite runners.

Formulation (solved with SciPy's HiGHS, sparse matrices throughout):

- A **candidate** of job ``j`` is a pair (allowed region ``r``, start ``s``): its arrival, or any slot
  boundary up to ``arrival + wait``. The wait is ``deadline - submitted - duration`` where the job has a
  deadline, else the job's own ``buffer_s`` where set, else the strategy's buffer. Its cost is the
  integral of intensity x power over the true run ``[s, s + duration)`` (the kernel's surface, pro rata).
- **Occupancy rule** (the same as greenci's capacity-aware placement, ``strategies._sequential``): a run
  from ``s`` to ``e`` holds one runner of its region for every whole slot ``t`` in
  ``[floor(s), ceil(e))`` (slot units from the grid start); a slot is never shared pro rata.
- ``x[j, r, s]`` binary; ``sum x = 1`` per job; for every region ``r`` and slot ``t``,
  ``sum over candidates of r holding t <= capacity[r]``; minimise ``sum cost x``.

Before HiGHS sees the model, two exact reductions shrink it: a capacity row that could never be exceeded
(at most ``capacity`` candidates touch it) is dropped, and a job whose cheapest candidate touches no
remaining capacity row is fixed there (repeated until nothing changes). Then the LP relaxation is solved
(dual simplex, a vertex); when it is already integral it is the proven optimum, else the MILP is solved
to ``mip_rel_gap``. A run that hits ``time_limit_s`` says so (``proven_optimal=False`` and the gap), or
raises when it found no placement at all: never a silent approximation.

**Infeasible capacity** (more work than runners inside the windows). ``overflow="queue"`` (default):
every job also gets candidates at the slot boundaries up to ``max_queue_h`` past its window; the oracle
first minimises total lateness (slots past the windows), then emissions at that lateness (two solves),
and reports the late jobs (their placements miss their deadlines; a replay counts them).
``overflow="raise"``: an :class:`~greenci.errors.InputError` names the minimum number of jobs that
cannot fit (from a third model with one "left out" slack per job).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import LinearConstraint, linprog, milp

from greenci.errors import InputError
from greenci.jobs import JobTable
from greenci.scheduling import eligibility as el
from greenci.scheduling.context import Context
from greenci.scheduling.kernel import candidate_starts
from greenci.scheduling.strategies import Placement, Strategy

Capacity = int | Mapping[str, int | None] | None
OVERFLOWS = ("queue", "raise")
_INT_TOL = 1e-6  # an LP value this close to 0 or 1 counts as integral


@dataclass(frozen=True)
class OracleSolve:
    """How the answer was found: model size after the reductions, bounds, optimality and time."""

    status: str  # in words: "optimal (LP relaxation integral)", "time limit: not proven optimal", ...
    proven_optimal: bool  # optimal to within ``mip_rel_gap`` (exactly, when the LP was integral)
    n_jobs: int
    n_candidates: int  # (job, region, start) candidates before the reductions
    n_variables: int  # columns HiGHS saw (0: the reductions fixed every job)
    n_constraints: int  # rows HiGHS saw: one per unfixed job plus the binding capacity rows
    n_capacity_rows: int  # (region, slot) rows that could be exceeded
    fixed_jobs: int  # jobs fixed at their cheapest candidate by the reductions
    objective_g: float  # total emissions of the placement
    lower_bound_g: float  # proven lower bound (LP relaxation or the MIP dual bound), fixed jobs included
    lp_bound_g: float  # the LP relaxation's value (NaN when it did not finish)
    lp_integral: bool | None  # None: the LP relaxation hit the time limit
    mip_gap: float  # (objective - lower bound) / objective; 0 when the LP was integral
    mip_nodes: int  # branch-and-bound nodes (0 when the LP was integral)
    uncapacitated_g: float  # every job at its cheapest window candidate: the unlimited oracle's total
    late_jobs: int  # jobs queued past their windows (infeasible capacity, overflow="queue")
    late_slots: float  # total slots past the windows
    build_s: float
    solve_s: float
    capacity: tuple[float, ...]  # per region of the context; inf = unlimited (labelled so in reports)

    def in_words(self) -> str:
        caps = ", ".join("unlimited" if not np.isfinite(c) else f"{int(c)}" for c in self.capacity)
        late = f"; {self.late_jobs} job(s) queued past their window" if self.late_jobs else ""
        return (f"{self.status}: {self.objective_g:.1f} g (bound {self.lower_bound_g:.1f} g, gap "
                f"{self.mip_gap:.2%}), {self.n_variables} variables x {self.n_constraints} rows after fixing "
                f"{self.fixed_jobs}/{self.n_jobs} jobs, capacity per region [{caps}]{late}, "
                f"{self.build_s + self.solve_s:.2f} s")


@dataclass(frozen=True, eq=False)
class CapacitySolution:
    """Per job: region index, start (slots from the grid start), cost (g), slots past its window; and how."""

    region: np.ndarray
    start_slot: np.ndarray
    cost_g: np.ndarray
    late_slots: np.ndarray
    wait_s: np.ndarray  # the window each job was allowed (before any queueing)
    cheapest: np.ndarray  # bool: the job runs at its cheapest window candidate (unconstrained choice)
    solve: OracleSolve


@dataclass(frozen=True, eq=False)
class _Candidates:
    """Flat (job, region, start) candidates, sorted by job then cost then start; slots held [first, stop)."""

    job: np.ndarray
    region: np.ndarray
    start: np.ndarray
    cost_g: np.ndarray
    late: np.ndarray
    first: np.ndarray
    stop: np.ndarray


def capacity_vector(capacity: Capacity, regions: tuple[str, ...]) -> np.ndarray:
    """Runners per region as floats (inf = unlimited): one int for every region, or a mapping by region name."""
    if capacity is None:
        return np.full(len(regions), np.inf)
    if isinstance(capacity, Mapping):
        unknown = [r for r in capacity if r not in regions]
        if unknown:
            raise InputError(f"capacity names region(s) {', '.join(map(str, unknown))} that are not in the intensity "
                             f"data ({', '.join(regions)}): use those names or drop the entries", field="capacity")
        values = [capacity.get(r) for r in regions]
    else:
        values = [capacity] * len(regions)
    out = np.full(len(regions), np.inf)
    for i, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise InputError(f"capacity {v!r} for region {regions[i]} must be a whole number of runners >= 0 "
                             "(or None for unlimited)", field="capacity")
        out[i] = float(v)
    return out


def job_waits_s(jobs: JobTable, buffer_s: float) -> np.ndarray:
    """Each job's allowed wait (s): deadline minus true duration, else its own buffer, else ``buffer_s``."""
    sub = jobs.submitted_s.astype(np.float64)
    own = np.where(np.isfinite(jobs.buffer_s), jobs.buffer_s, buffer_s)
    wait = np.where(np.isfinite(jobs.deadline_s), jobs.deadline_s - sub - jobs.duration_s, own)
    return np.maximum(wait, 0.0)


def _candidates(jobs: JobTable, ctx: Context, wait: np.ndarray, extra: float) -> _Candidates:
    """Every (job, region, start) with a known cost, ``extra`` slots of queueing past each window included."""
    arrival = ctx.arrival_slots(jobs)
    dur = jobs.duration_s / ctx.step_s
    cand = candidate_starts(arrival, wait + extra)  # (J, W)
    pad = np.isnan(cand)
    t0 = np.where(pad, 0.0, cand)
    issue = np.floor(arrival + 1e-9).astype(np.int64)
    cost = ctx.forecast.all_regions(issue[:, None], t0, t0 + dur[:, None]) * jobs.power_kw[:, None, None]
    ok = np.isfinite(cost) & ~pad[:, :, None]
    allowed = ctx.allowed_mask(jobs)
    if allowed is not None:
        ok &= allowed[:, None, :]
    late = np.maximum(cand - (arrival + wait)[:, None], 0.0)
    late = np.where(late < 1e-9, 0.0, late)
    none = ~ok.any(axis=(1, 2))
    if none.any():
        i = int(np.flatnonzero(none)[0])
        raise InputError(f"{int(none.sum())} job(s) have no start with known intensity in an allowed region (first: "
                         f"job {jobs.ids[i]}): give intensity covering the whole trace plus its longest run and "
                         "wait, without gaps there", field="intensity")
    j, w, r = np.nonzero(ok)
    c = cost[j, w, r]
    s = cand[j, w]
    lt = late[j, w]
    order = np.lexsort((s, c, lt > 0, j))  # by job, window before queue, cheapest, earliest
    j, r, s, c, lt = j[order], r[order], s[order], c[order], lt[order]
    first = np.floor(s).astype(np.int64)
    stop = np.ceil(s + dur[j]).astype(np.int64)  # the rule of strategies._sequential, kept exactly
    return _Candidates(j.astype(np.int64), r.astype(np.int64), s, c, lt, first, stop)


def _entries(c: _Candidates) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(column, row) of every held (region, slot); row = region * span + slot - t0; and t0, span."""
    t0 = int(c.first.min())
    span = int(c.stop.max()) - t0
    length = c.stop - c.first
    col = np.repeat(np.arange(c.job.size), length)
    offset = np.arange(col.size) - np.repeat(np.cumsum(length) - length, length)
    row = c.region[col] * span + (c.first[col] - t0) + offset
    return col, row, t0, span


@dataclass(frozen=True, eq=False)
class _Model:
    """What is left for HiGHS after the reductions, in the candidates' column numbering."""

    cols: np.ndarray  # candidate indices that are variables
    fixed: np.ndarray  # per job: the fixed candidate, or -1
    rows: np.ndarray  # binding (region, slot) row keys
    rhs: np.ndarray  # capacity left in each binding row after the fixed jobs
    a_cap: sparse.csr_matrix  # binding rows x variables


def _reduce(c: _Candidates, n_jobs: int, caps: np.ndarray) -> _Model:
    """Drop capacity rows that cannot be exceeded; fix jobs whose cheapest candidate needs none (repeat)."""
    col, row, _, span = _entries(c)
    cap_row = np.repeat(caps, span)
    n_rows = cap_row.size
    starts = np.flatnonzero(np.r_[True, c.job[1:] != c.job[:-1]])  # first = cheapest window candidate
    best = starts
    # fixing is exact only where the cheapest window candidate is the job's cheapest overall (queueing
    # candidates included): moving the job there never costs more, nor adds lateness
    best_ok = (c.late[best] == 0) & (c.cost_g[best] <= np.minimum.reduceat(c.cost_g, starts))
    fixed = np.full(n_jobs, -1, dtype=np.int64)
    alive = np.ones(c.job.size, dtype=bool)
    while True:
        count = np.bincount(row[alive[col]], minlength=n_rows)
        binding = count > cap_row
        col_binding = np.bincount(col, weights=binding[row], minlength=c.job.size) > 0
        new = (fixed < 0) & best_ok & ~col_binding[best]
        if not new.any():
            break
        fixed[new] = best[new]
        alive &= ~(new[c.job] & (np.arange(c.job.size) != fixed[c.job]))
    is_var = alive & (fixed[c.job] < 0)
    cols = np.flatnonzero(is_var)
    count = np.bincount(row[alive[col]], minlength=n_rows)
    binding = count > cap_row
    rows = np.flatnonzero(binding)
    used = np.bincount(row[(fixed[c.job[col]] == col)], minlength=n_rows)
    rhs = cap_row[rows] - used[rows]
    keep = binding[row] & is_var[col]
    row_index = np.full(n_rows, -1, dtype=np.int64)
    row_index[rows] = np.arange(rows.size)
    col_index = np.full(c.job.size, -1, dtype=np.int64)
    col_index[cols] = np.arange(cols.size)
    a_cap = sparse.csr_matrix((np.ones(int(keep.sum())), (row_index[row[keep]], col_index[col[keep]])),
                              shape=(rows.size, cols.size))
    return _Model(cols, fixed, rows, rhs, a_cap)


@dataclass(frozen=True)
class _Result:
    x: np.ndarray | None
    status: int  # scipy milp: 0 optimal, 1 limit, 2 infeasible
    fun: float
    bound: float
    nodes: int
    lp_bound: float
    lp_integral: bool | None
    seconds: float


def _highs(obj: np.ndarray, a: sparse.csr_matrix, lo: np.ndarray, hi: np.ndarray, *, time_limit_s: float | None,
           mip_rel_gap: float, var_hi: np.ndarray | None = None) -> _Result:
    """LP relaxation first (a vertex: integral means proven optimal), then the MILP if it was fractional."""
    t = time.perf_counter()
    n = obj.size
    upper = np.ones(n) if var_hi is None else var_hi
    constraints = [LinearConstraint(a, lo, hi)] if a.shape[0] else []
    opts: dict[str, object] = {"disp": False}
    if time_limit_s is not None:
        opts["time_limit"] = float(time_limit_s)
    eq = lo == hi  # assignment rows; the others are <= rows (capacity, the lateness budget)
    lp = linprog(obj, A_ub=a[~eq] if (~eq).any() else None, b_ub=hi[~eq] if (~eq).any() else None,
                 A_eq=a[eq] if eq.any() else None, b_eq=hi[eq] if eq.any() else None,
                 bounds=np.c_[np.zeros(n), upper], method="highs-ds", options=opts)  # dual simplex: a vertex
    if lp.status == 2:
        return _Result(None, 2, np.nan, np.nan, 0, np.nan, None, time.perf_counter() - t)
    lp_done = lp.status == 0 and lp.x is not None  # linprog: 0 optimal, 1 limit, 2 infeasible
    if lp_done and np.abs(lp.x - np.round(lp.x)).max(initial=0.0) < _INT_TOL:
        return _Result(np.round(lp.x), 0, float(lp.fun), float(lp.fun), 0, float(lp.fun), True,
                       time.perf_counter() - t)
    left = None if time_limit_s is None else max(time_limit_s - (time.perf_counter() - t), 1.0)
    opts = {"disp": False, "mip_rel_gap": float(mip_rel_gap)}
    if left is not None:
        opts["time_limit"] = left
    res = milp(obj, integrality=np.ones(n), bounds=(np.zeros(n), upper), constraints=constraints, options=opts)
    x = None if res.x is None else np.round(res.x)
    bound = getattr(res, "mip_dual_bound", np.nan)
    bound = float(bound) if bound is not None else np.nan
    nodes = int(getattr(res, "mip_node_count", 0) or 0)
    fun = float(res.fun) if res.fun is not None else np.nan
    return _Result(x, int(res.status), fun, bound, nodes, float(lp.fun) if lp_done else np.nan,
                   False if lp_done else None, time.perf_counter() - t)


def _assignment(model: _Model, c: _Candidates, n_jobs: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """One row per unfixed job over its variables (sum = 1), and the job of each row."""
    free_jobs = np.flatnonzero(model.fixed < 0)
    job_row = np.full(n_jobs, -1, dtype=np.int64)
    job_row[free_jobs] = np.arange(free_jobs.size)
    a = sparse.csr_matrix((np.ones(model.cols.size), (job_row[c.job[model.cols]], np.arange(model.cols.size))),
                          shape=(free_jobs.size, model.cols.size))
    return a, free_jobs


def _check(c: _Candidates, chosen: np.ndarray, caps: np.ndarray) -> None:
    """Every job has one candidate and no (region, slot) holds more runs than runners (post-condition)."""
    sub = _Candidates(*(getattr(c, f)[chosen] for f in ("job", "region", "start", "cost_g", "late", "first", "stop")))
    _, row, _, span = _entries(sub)
    count = np.bincount(row, minlength=caps.size * span)
    if np.any(count > np.repeat(caps, span)):
        raise InputError("the solver returned a placement over capacity (numerical trouble): tighten mip_rel_gap or "
                         "report this trace", field="capacity")


def solve_capacity_oracle(jobs: JobTable, ctx: Context, *, capacity: Capacity, buffer_s: float = 6 * 3600.0,
                          time_limit_s: float | None = None, mip_rel_gap: float = 1e-6, overflow: str = "queue",
                          max_queue_h: float = 24.0) -> CapacitySolution:
    """The minimum-emissions placement of ``jobs`` under ``capacity`` (see the module docstring)."""
    if overflow not in OVERFLOWS:
        raise InputError(f"overflow {overflow!r} is unknown: use 'queue' (late jobs queue past their window) or "
                         "'raise' (say how many jobs cannot fit)", field="overflow")
    if not buffer_s >= 0:
        raise InputError(f"buffer {buffer_s} s must be >= 0", field="buffer_s")
    if time_limit_s is not None and not time_limit_s > 0:
        raise InputError(f"time limit {time_limit_s} s must be > 0 (or None for none)", field="time_limit_s")
    if not (0 <= mip_rel_gap < 1):
        raise InputError(f"mip_rel_gap {mip_rel_gap} must be in [0, 1)", field="mip_rel_gap")
    if not max_queue_h > 0:
        raise InputError(f"max_queue_h {max_queue_h} must be > 0 hours", field="max_queue_h")
    n = len(jobs)
    caps = capacity_vector(capacity, ctx.regions)
    wait_s = job_waits_s(jobs, buffer_s)
    t = time.perf_counter()
    if n == 0:
        empty = np.zeros(0)
        solve = OracleSolve("optimal (no jobs)", True, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, True, 0.0, 0, 0.0, 0, 0.0,
                            0.0, 0.0, tuple(caps))
        return CapacitySolution(np.zeros(0, np.int64), empty, empty, empty, empty, np.zeros(0, bool), solve)
    wait = wait_s / ctx.step_s
    c = _candidates(jobs, ctx, wait, 0.0)
    starts = np.flatnonzero(np.r_[True, c.job[1:] != c.job[:-1]])
    uncapacitated = float(c.cost_g[starts].sum())
    cheapest_g = c.cost_g[starts]
    build = time.perf_counter() - t
    phase = _solve_phase(c, n, caps, c.cost_g, time_limit_s, mip_rel_gap)
    late_budget, late_proven = None, True
    if phase[1].status == 2:  # infeasible inside the windows
        if overflow == "raise":
            short = _min_left_out(c, n, caps, time_limit_s)
            raise InputError(f"capacity [{_caps_words(caps, ctx.regions)}] cannot take all {n} jobs inside their "
                             f"windows: at least {short} job(s) cannot fit. Add runners, widen the buffer or "
                             "deadlines, or use overflow='queue'", field="capacity")
        t = time.perf_counter()
        c = _candidates(jobs, ctx, wait, max_queue_h * 3600.0 / ctx.step_s)
        build += time.perf_counter() - t
        first = _solve_phase(c, n, caps, c.late, time_limit_s, mip_rel_gap)
        if first[1].status == 2:
            raise InputError(f"capacity [{_caps_words(caps, ctx.regions)}] cannot take all {n} jobs even with "
                             f"{max_queue_h:g} h of queueing past their windows: add runners or raise max_queue_h",
                             field="capacity")
        _raise_if_no_answer(first[1], time_limit_s, first[0])
        late_proven = first[1].status == 0
        late_budget = float(np.round(first[1].fun + c.late[first[0].fixed[first[0].fixed >= 0]].sum(), 9))
        phase = _solve_phase(c, n, caps, c.cost_g, time_limit_s, mip_rel_gap, late_budget=late_budget)
    model, res, chosen = phase
    _raise_if_no_answer(res, time_limit_s, model)
    _check(c, chosen, caps)
    fixed_g = float(c.cost_g[model.fixed[model.fixed >= 0]].sum())
    objective = float(c.cost_g[chosen].sum())
    bound = fixed_g + (res.bound if np.isfinite(res.bound) else res.fun if res.status == 0 else np.nan)
    lp_bound = fixed_g + res.lp_bound if np.isfinite(res.lp_bound) else np.nan
    optimal = res.status == 0
    gap = 0.0 if res.lp_integral or objective == 0 else (objective - bound) / objective
    if res.lp_integral:
        status = "optimal (LP relaxation integral)"
    elif optimal:
        status = f"optimal within mip_rel_gap {mip_rel_gap:g}"
    else:
        status = f"time limit {time_limit_s:g} s: best found, NOT proven optimal"
    if late_budget is not None:
        how = "minimum" if late_proven else "best found, minimum NOT proven"
        status += f"; capacity too small for the windows: {late_budget:g} slot(s) of queueing ({how}), then " \
                  "minimum emissions"
        optimal = optimal and late_proven
    late = c.late[chosen]
    solve = OracleSolve(
        status=status, proven_optimal=optimal, n_jobs=n, n_candidates=int(c.job.size), n_variables=int(model.cols.size),
        n_constraints=int((model.fixed < 0).sum() + model.rows.size), n_capacity_rows=int(model.rows.size),
        fixed_jobs=int((model.fixed >= 0).sum()), objective_g=objective, lower_bound_g=float(bound),
        lp_bound_g=float(lp_bound), lp_integral=res.lp_integral, mip_gap=float(gap), mip_nodes=res.nodes,
        uncapacitated_g=uncapacitated, late_jobs=int((late > 0).sum()), late_slots=float(late.sum()),
        build_s=build, solve_s=res.seconds, capacity=tuple(float(x) for x in caps))
    cost = c.cost_g[chosen]
    cheapest = (late == 0) & (cost <= cheapest_g * (1 + 1e-9) + 1e-12)
    return CapacitySolution(c.region[chosen], c.start[chosen], cost, late, wait_s, cheapest, solve)


def _caps_words(caps: np.ndarray, regions: tuple[str, ...]) -> str:
    words = ("unlimited" if not np.isfinite(v) else str(int(v)) for v in caps)
    return ", ".join(f"{r}: {w}" for r, w in zip(regions, words, strict=True))


def _raise_if_no_answer(res: _Result, time_limit_s: float | None, model: _Model) -> None:
    if res.x is None and res.status != 2:
        raise InputError(f"the exact oracle found no placement within the time limit {time_limit_s} s "
                         f"({model.cols.size} variables, {model.rows.size} capacity rows): raise time_limit_s, "
                         "shorten the trace, or use greenci's capacity-aware placement", field="time_limit_s")


def _solve_phase(c: _Candidates, n: int, caps: np.ndarray, objective: np.ndarray, time_limit_s: float | None,
                 mip_rel_gap: float, late_budget: float | None = None) -> tuple[_Model, _Result, np.ndarray]:
    """Reduce, solve, and map the answer back to one candidate per job (``chosen``, empty when infeasible)."""
    model = _reduce(c, n, caps)
    a_job, free_jobs = _assignment(model, c, n)
    blocks = [a_job, model.a_cap]
    lo = [np.ones(free_jobs.size), np.full(model.rows.size, -np.inf)]
    hi = [np.ones(free_jobs.size), model.rhs.astype(np.float64)]
    if late_budget is not None:
        fixed_late = float(c.late[model.fixed[model.fixed >= 0]].sum())
        blocks.append(sparse.csr_matrix(c.late[model.cols][None, :]))
        lo.append(np.array([-np.inf]))
        hi.append(np.array([late_budget - fixed_late + 1e-6]))
    if model.cols.size == 0:
        res = _Result(np.zeros(0), 0, 0.0, 0.0, 0, 0.0, True, 0.0)
    else:
        a = sparse.vstack(blocks, format="csr")
        res = _highs(objective[model.cols], a, np.concatenate(lo), np.concatenate(hi), time_limit_s=time_limit_s,
                     mip_rel_gap=mip_rel_gap)
    if res.x is None:
        return model, res, np.zeros(0, np.int64)
    chosen = model.fixed.copy()
    picked = model.cols[res.x > 0.5]
    chosen[c.job[picked]] = picked
    if np.any(chosen < 0) or picked.size != free_jobs.size:
        raise InputError("the solver's answer does not give every job exactly one start (numerical trouble): "
                         "report this trace", field="capacity")
    return model, res, chosen


def _min_left_out(c: _Candidates, n: int, caps: np.ndarray, time_limit_s: float | None) -> int:
    """The fewest jobs that must be left out for the rest to fit in their windows (one slack per job)."""
    model = _reduce(c, n, caps)
    a_job, free_jobs = _assignment(model, c, n)
    slack = sparse.identity(free_jobs.size, format="csr")
    a = sparse.vstack([sparse.hstack([a_job, slack]), sparse.hstack(
        [model.a_cap, sparse.csr_matrix((model.rows.size, free_jobs.size))])], format="csr")
    obj = np.r_[np.zeros(model.cols.size), np.ones(free_jobs.size)]
    lo = np.r_[np.ones(free_jobs.size), np.full(model.rows.size, -np.inf)]
    hi = np.r_[np.ones(free_jobs.size), model.rhs.astype(np.float64)]
    res = _highs(obj, a, lo, hi, time_limit_s=time_limit_s, mip_rel_gap=0.0)
    if res.x is None:
        raise InputError(f"capacity cannot take all {n} jobs in their windows, and counting how many cannot fit hit "
                         f"the time limit {time_limit_s} s: raise time_limit_s", field="time_limit_s")
    return int(round(res.x[model.cols.size:].sum()))


@dataclass
class CapacityOracle(Strategy):
    """The exact oracle under per-region runner capacity (see the module docstring); an upper bound on saving.

    Without ``capacity`` (or with every region unlimited) it equals :class:`~strategies.Oracle` in total.
    ``last`` keeps the latest :class:`OracleSolve`-bearing solution so that a report can print how it was
    found (the :class:`Placement` interface has no room for it).
    """

    buffer_s: float = 6 * 3600.0
    capacity: Capacity = None
    time_limit_s: float | None = None
    mip_rel_gap: float = 1e-6
    overflow: str = "queue"
    max_queue_h: float = 24.0
    name: str = ""
    last: CapacitySolution | None = field(default=None, init=False, repr=False)

    uses_forecast = False

    def __post_init__(self) -> None:
        if not self.buffer_s >= 0:
            raise InputError(f"buffer {self.buffer_s} s must be >= 0", field="buffer_s")
        if self.overflow not in OVERFLOWS:
            raise InputError(f"overflow {self.overflow!r} is unknown: use 'queue' or 'raise'", field="overflow")
        if not self.name:
            self.name = f"oracle-capacity-{self.buffer_s / 3600:g}"

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        sol = solve_capacity_oracle(jobs, ctx, capacity=self.capacity, buffer_s=self.buffer_s,
                                    time_limit_s=self.time_limit_s, mip_rel_gap=self.mip_rel_gap,
                                    overflow=self.overflow, max_queue_h=self.max_queue_h)
        self.last = sol
        reason = np.where(sol.cheapest, el.SHIFTED, el.CAPACITY)
        sub = jobs.submitted_s.astype(np.float64)
        return Placement(self.name, sol.region, ctx.seconds(sol.start_slot), sol.cost_g, reason, sol.wait_s,
                         sub + jobs.duration_s + sol.wait_s, estimate_s=jobs.duration_s.astype(np.float64))
