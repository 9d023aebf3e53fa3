"""Autoscaling plans: how many runner nodes each region should run in each hour, and what that saves.

Why: a fixed fleet of a pool's full size burns idle power around the clock, and starting a server costs
carbon too. Given the expected load per region and hour (work someone waits for, which must run in its
hour, and deferrable work, which may wait up to the wait objective), the intensity forecast and the
pools, the plan chooses node counts that

* always carry the urgent load (times a headroom factor, rounded up to whole nodes);
* move deferrable work into cleaner hours within the wait objective (so nodes scale in when intensity is
  high and the queue allows, and scale out for clean hours);
* stay within ``[min_runners, runners]`` of each pool;
* pay ``idle_w`` for every node-hour, ``busy_w - idle_w`` more for busy node-hours, and ``start_kwh`` for
  every node started (at the intensity of the hour the start begins, ``start_s`` before the node is needed).

It is solved exactly, per region, as a small mixed-integer program (SciPy's HiGHS): node counts are
integers, work is a fluid of node-hours placed by hour (a job's busy time counts in the hour it is served).
Unplaceable work is not dropped: it is an error naming the region, the hour and the fix.

The load model (:func:`load_from_history`): mean busy node-hours per UTC hour of the week over a run
history, split into urgent (runs a person waits for, :func:`~greenci.scheduling.eligibility.attended`)
and deferrable, shared among regions in proportion to their pools' sizes (plans shift in time, not between
regions). :func:`constant_load` is the same for a load given as a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from greenci.errors import ConfigError, GreenciError, InputError
from greenci.jobs import JobTable
from greenci.scheduling.eligibility import attended
from greenci.scheduling.pools import PoolSet, RunnerPool

__all__ = ["HOUR_S", "FleetCost", "LoadForecast", "PlanSavings", "ScaleAction", "ScalePlan", "WaitObjective",
           "constant_load", "fleet_cost", "hour_of_week", "load_from_history", "plan_scaling", "plan_savings"]

HOUR_S = 3600
WEEK_H = 168
_SOLVER_TIME_LIMIT_S = 3.0
_GAP = 1e-2  # relative optimality gap: 1 % of a region's plan emissions


@dataclass(frozen=True, eq=False)
class LoadForecast:
    """Expected busy node-hours per region and hour: ``urgent`` must run in its hour, ``deferrable`` may wait.

    Arrays are regions x hours from ``start_s`` (UTC, whole hours). ``source`` says where the load came from.
    """

    regions: tuple[str, ...]
    start_s: int
    urgent_node_h: np.ndarray
    deferrable_node_h: np.ndarray
    source: str
    synthetic: bool = False

    def __post_init__(self) -> None:
        for name in ("urgent_node_h", "deferrable_node_h"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (len(self.regions), arr.shape[-1] if arr.ndim == 2 else -1):
                raise InputError(f"load {name} must be regions x hours, got shape {arr.shape} for "
                                 f"{len(self.regions)} regions", field="load")
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise InputError(f"load {name} must be finite and >= 0: give a non-negative load", field="load")
            object.__setattr__(self, name, arr)
        if self.urgent_node_h.shape != self.deferrable_node_h.shape:
            raise InputError("urgent and deferrable load must have the same shape", field="load")
        if int(self.start_s) % HOUR_S:
            raise InputError(f"load start {self.start_s} s is not on a whole hour: plans are hourly", field="start")

    @property
    def hours(self) -> int:
        return int(self.urgent_node_h.shape[1])


@dataclass(frozen=True)
class WaitObjective:
    """How long deferrable work may wait (whole hours) and the spare capacity kept for urgent work."""

    max_wait_h: float = 6.0
    headroom: float = 1.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.max_wait_h) or not 0 <= self.max_wait_h <= WEEK_H:
            raise InputError(f"max_wait_h {self.max_wait_h:g} must be between 0 and {WEEK_H} hours",
                             field="max_wait_h")
        if not np.isfinite(self.headroom) or not 1.0 <= self.headroom <= 10.0:
            raise InputError(f"headroom {self.headroom:g} must be between 1 (nodes = urgent load) and 10",
                             field="headroom")

    @property
    def wait_slots(self) -> int:
        return int(np.floor(self.max_wait_h + 1e-9))


@dataclass(frozen=True)
class ScaleAction:
    """A change of a region's node count: issued at ``at_s`` so that the nodes are ready at ``ready_s``."""

    region: str
    at_s: int
    ready_s: int
    nodes_before: int
    nodes_after: int

    @property
    def kind(self) -> str:
        return "scale-out" if self.nodes_after > self.nodes_before else "scale-in"


@dataclass(frozen=True, eq=False)
class ScalePlan:
    """Node counts (regions x hours), the busy node-hours placed in each hour, starts, and the actions."""

    regions: tuple[str, ...]
    start_s: int
    nodes: np.ndarray  # int64, regions x hours
    busy_node_h: np.ndarray  # float, regions x hours (urgent + deferrable served in that hour)
    starts: np.ndarray  # int64, nodes started to be ready at each hour
    intensity_g_per_kwh: np.ndarray  # the forecast the plan was made on
    max_wait_h: np.ndarray  # per region: the longest planned wait of deferrable work (hours)
    mean_wait_h: np.ndarray  # per region: node-hour weighted mean wait of deferrable work
    actions: tuple[ScaleAction, ...]
    objective: WaitObjective
    optimal: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def hours(self) -> int:
        return int(self.nodes.shape[1])

    def times_s(self) -> np.ndarray:
        return self.start_s + np.arange(self.hours, dtype=np.int64) * HOUR_S


def hour_of_week(t_s: np.ndarray) -> np.ndarray:
    """UTC hour of the week, Monday 00:00 = 0 (the epoch was a Thursday)."""
    t = np.asarray(t_s, dtype=np.int64)
    return (((t // 86400) + 3) % 7) * 24 + (t // HOUR_S) % 24


# --------------------------------------------------------------------------------------------- load
def _share(pools: PoolSet, regions: Sequence[str]) -> np.ndarray:
    sizes = np.array([_pool(pools, r).runners for r in regions], dtype=np.float64)
    return sizes / sizes.sum()


def load_from_history(jobs: JobTable, pools: PoolSet, regions: Sequence[str], start_s: int, hours: int, *,
                      urgent_share: float | None = None) -> LoadForecast:
    """Mean busy node-hours per UTC hour of the week over ``jobs``, laid on the plan's hours.

    The urgent part is the work of runs a person waits for (unless ``urgent_share`` overrides the split).
    Hours of the week the history never covered take the mean of their hour of day, then the overall mean.
    """
    if len(jobs) == 0:
        raise InputError("the run history holds no job: give a trace with runs, or a constant load", field="history")
    sub = jobs.submitted_s.astype(np.int64)
    work_h = jobs.duration_s.astype(np.float64) / HOUR_S
    how = hour_of_week(sub)
    first_h, last_h = int(sub.min()) // HOUR_S, int(sub.max()) // HOUR_S
    seen = np.bincount(hour_of_week(np.arange(first_h, last_h + 1, dtype=np.int64) * HOUR_S), minlength=WEEK_H)
    if urgent_share is None:
        urgent_mask = attended(jobs) & ~jobs.opted_in
        urgent_sum = np.bincount(how, weights=np.where(urgent_mask, work_h, 0.0), minlength=WEEK_H)
        defer_sum = np.bincount(how, weights=np.where(urgent_mask, 0.0, work_h), minlength=WEEK_H)
    else:
        _check_share(urgent_share)
        total = np.bincount(how, weights=work_h, minlength=WEEK_H)
        urgent_sum, defer_sum = total * urgent_share, total * (1.0 - urgent_share)
    urgent, defer = _per_hour(urgent_sum, seen), _per_hour(defer_sum, seen)
    plan_how = hour_of_week(start_s + np.arange(hours, dtype=np.int64) * HOUR_S)
    share = _share(pools, regions)[:, None]
    split = "urgent = runs a person waits for" if urgent_share is None else f"urgent share {urgent_share:g}"
    return LoadForecast(tuple(regions), int(start_s), share * urgent[plan_how][None, :],
                        share * defer[plan_how][None, :],
                        source=f"mean per UTC hour of week of {len(jobs):,} runs ({jobs.source or 'run history'}; "
                               f"{split}; shared by pool size)", synthetic=bool(jobs.synthetic))


def _per_hour(sums: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Mean per hour of the week; unseen hours of the week fall back to their hour of day, then the mean."""
    out = np.divide(sums, seen, out=np.full(WEEK_H, np.nan), where=seen > 0)
    day_sum = sums.reshape(7, 24).sum(axis=0)
    day_seen = seen.reshape(7, 24).sum(axis=0)
    by_day = np.divide(day_sum, day_seen, out=np.full(24, sums.sum() / max(seen.sum(), 1)), where=day_seen > 0)
    return np.where(np.isfinite(out), out, np.tile(by_day, 7))


def constant_load(pools: PoolSet, regions: Sequence[str], start_s: int, hours: int, *, jobs_per_hour: float,
                  job_duration_s: float, urgent_share: float) -> LoadForecast:
    """A flat load: ``jobs_per_hour`` fleet-wide, each ``job_duration_s`` long, shared by pool size."""
    if not np.isfinite(jobs_per_hour) or jobs_per_hour < 0:
        raise InputError(f"jobs_per_hour {jobs_per_hour:g} must be a number >= 0", field="jobs_per_hour")
    if not np.isfinite(job_duration_s) or job_duration_s <= 0:
        raise InputError(f"job_duration {job_duration_s:g} s must be > 0", field="job_duration")
    _check_share(urgent_share)
    node_h = _share(pools, regions)[:, None] * np.full((1, int(hours)), jobs_per_hour * job_duration_s / HOUR_S)
    return LoadForecast(tuple(regions), int(start_s), node_h * urgent_share, node_h * (1.0 - urgent_share),
                        source=f"constant load {jobs_per_hour:g} jobs/h of {job_duration_s / 60:g} min "
                               f"(urgent share {urgent_share:g}; shared by pool size)")


def _check_share(share: float) -> None:
    if not np.isfinite(share) or not 0.0 <= share <= 1.0:
        raise InputError(f"urgent_share {share:g} must be between 0 (all work may wait) and 1 (none may)",
                         field="urgent_share")


def _pool(pools: PoolSet, region: str) -> RunnerPool:
    pool = pools.get(region)
    if pool is None:
        held = ", ".join(p.region for p in pools.pools)
        raise InputError(f"region {region!r} has no pool in {pools.source} (it has {held}): add a pool for it or "
                         "choose regions among those", field="regions")
    return pool


# --------------------------------------------------------------------------------------------- plan
def plan_scaling(load: LoadForecast, intensity_g_per_kwh: np.ndarray, pools: PoolSet,
                 objective: WaitObjective = WaitObjective(), *, initial_nodes: Sequence[int] | None = None
                 ) -> ScalePlan:
    """The cheapest (gCO2eq) node counts per region and hour that carry ``load`` within ``objective``.

    ``intensity_g_per_kwh`` is regions x hours (the forecast), aligned with ``load``. ``initial_nodes`` are
    the nodes running before the first hour (None: whatever the plan starts with, no start counted).
    """
    values = np.asarray(intensity_g_per_kwh, dtype=np.float64)
    if values.shape != load.urgent_node_h.shape:
        raise InputError(f"intensity has shape {values.shape}, the load {load.urgent_node_h.shape}: give one "
                         "value per region and hour of the plan", field="intensity")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        bad = int(np.flatnonzero(~(np.isfinite(values.ravel()) & (values.ravel() >= 0)))[0])
        r, h = divmod(bad, values.shape[1])
        raise InputError(f"intensity of {load.regions[r]} at hour {h} of the plan is {values[r, h]}: the forecast "
                         "has a gap or a negative value; give intensity covering the plan", field="intensity")
    if initial_nodes is not None and len(initial_nodes) != len(load.regions):
        raise InputError(f"initial_nodes has {len(initial_nodes)} values for {len(load.regions)} regions",
                         field="initial_nodes")
    rows, notes, optimal = [], [], True
    for i, region in enumerate(load.regions):
        pool = _pool(pools, region)
        got = _plan_region(region, pool, load.urgent_node_h[i], load.deferrable_node_h[i], values[i], objective,
                           None if initial_nodes is None else int(initial_nodes[i]))
        rows.append(got)
        optimal &= got[-1]
        if not got[-1]:
            notes.append(f"{region}: the solver stopped at its time limit; the plan is feasible, not proven optimal")
    nodes = np.vstack([r[0] for r in rows]).astype(np.int64)
    busy = np.vstack([r[1] for r in rows])
    starts = np.vstack([r[2] for r in rows]).astype(np.int64)
    max_wait = np.array([r[3] for r in rows])
    mean_wait = np.array([r[4] for r in rows])
    actions = _actions(load.regions, load.start_s, nodes, pools, initial_nodes)
    return ScalePlan(load.regions, load.start_s, nodes, busy, starts, values, max_wait, mean_wait, actions,
                     objective, optimal, tuple(notes))


def _plan_region(region: str, pool: RunnerPool, urgent: np.ndarray, defer: np.ndarray, intensity: np.ndarray,
                 objective: WaitObjective, initial: int | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, bool]:
    """One region's mixed-integer program (see the module docstring); variables are laid out as
    ``[x (arrival hour, wait) pairs | nodes per hour | starts per hour | unplaced work per arrival hour]``."""
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix
    except ImportError as exc:
        raise ConfigError(f"a scale plan needs SciPy ({exc}): pip install 'greenci[capacity]'") from None

    n_h = urgent.size
    floor = np.maximum(pool.min_runners, np.ceil(urgent * objective.headroom - 1e-9)).astype(np.int64)
    over = np.flatnonzero(floor > pool.runners)
    if over.size:
        h = int(over[0])
        raise InputError(f"pools.{region}.runners: {pool.runners} cannot carry the urgent load of hour {h} of the "
                         f"plan ({urgent[h]:.2f} busy runners x headroom {objective.headroom:g}): give more runners, a "
                         "smaller headroom or a lower load", field=f"pools.{region}.runners")
    w = objective.wait_slots
    arrive, wait = np.divmod(np.arange(n_h * (w + 1)), w + 1)
    keep = (arrive + wait < n_h) & (defer[arrive] > 0)
    arrive, wait = arrive[keep], wait[keep]
    serve = arrive + wait
    n_x = arrive.size
    i_n, i_s, i_z = n_x, n_x + n_h, n_x + 2 * n_h
    n_var = n_x + 3 * n_h
    spread_w = pool.busy_w - pool.idle_w
    ahead = int(np.ceil(pool.start_s / HOUR_S - 1e-9))
    start_slot = np.clip(np.arange(n_h) - ahead, 0, n_h - 1)
    scale = max(float(intensity.max()), 1.0) * max(pool.busy_w, 1.0) / 1000.0
    eps = 1e-6 * scale
    cost = np.empty(n_var)
    cost[:n_x] = spread_w / 1000.0 * intensity[serve] + eps * wait  # ties: serve earlier
    cost[i_n:i_s] = pool.idle_w / 1000.0 * intensity + eps  # ties: fewer nodes
    cost[i_s:i_z] = pool.start_kwh * intensity[start_slot] + eps
    cost[i_z:] = 1e6 * scale  # unplaced work: only when nothing else is possible
    hours = np.arange(n_h)
    # each arrival hour's deferrable work is placed (or left unplaced)
    a_rows = np.concatenate([arrive, hours])
    a_cols = np.concatenate([np.arange(n_x), i_z + hours])
    place = coo_matrix((np.ones(a_rows.size), (a_rows, a_cols)), shape=(n_h, n_var))
    # busy node-hours of each hour fit on its nodes: sum x - n <= -urgent
    b_rows = np.concatenate([serve, hours])
    b_cols = np.concatenate([np.arange(n_x), i_n + hours])
    fit = coo_matrix((np.concatenate([np.ones(n_x), -np.ones(n_h)]), (b_rows, b_cols)), shape=(n_h, n_var))
    # starts: n[h] - n[h-1] - s[h] <= 0 (and n[0] - s[0] <= initial)
    later = hours[1:]
    s_rows = np.concatenate([later, later, hours])
    s_cols = np.concatenate([i_n + later, i_n + later - 1, i_s + hours])
    s_vals = np.concatenate([np.ones(later.size), -np.ones(later.size), -np.ones(n_h)])
    if initial is not None:
        s_rows, s_cols, s_vals = np.append(s_rows, 0), np.append(s_cols, i_n), np.append(s_vals, 1.0)
    grow = coo_matrix((s_vals, (s_rows, s_cols)), shape=(n_h, n_var))
    grow_hi = np.zeros(n_h)
    grow_hi[0] = np.inf if initial is None else float(initial)
    lower = np.zeros(n_var)
    upper = np.full(n_var, np.inf)
    lower[i_n:i_s], upper[i_n:i_s] = floor, pool.runners
    upper[i_z:] = defer
    if initial is None:
        upper[i_s] = 0.0
    integrality = np.zeros(n_var)
    integrality[i_n:i_s] = 1
    constraints = [LinearConstraint(place.tocsr(), defer, defer),
                   LinearConstraint(fit.tocsr(), -np.inf, -urgent),
                   LinearConstraint(grow.tocsr(), -np.inf, grow_hi)]
    res = milp(cost, constraints=constraints, integrality=integrality, bounds=Bounds(lower, upper),
               options={"time_limit": _SOLVER_TIME_LIMIT_S, "mip_rel_gap": _GAP})
    if res.x is None:
        raise GreenciError(f"{region}: the scale plan's solver found no plan ({res.message}): report this with "
                           "the pools and load")
    x, nodes = res.x[:n_x], np.rint(res.x[i_n:i_s]).astype(np.int64)
    unplaced = res.x[i_z:]
    if np.any(unplaced > 1e-6):
        h = int(np.flatnonzero(unplaced > 1e-6)[0])
        if res.status != 0:
            raise GreenciError(f"{region}: the scale plan's solver stopped at its {_SOLVER_TIME_LIMIT_S:g} s limit "
                               f"before placing all deferrable work: plan fewer hours", field="hours")
        raise InputError(f"pools.{region}.runners: {pool.runners} runners cannot serve {unplaced[h]:.2f} node-hours "
                         f"of deferrable work arriving at hour {h} of the plan within max_wait_h "
                         f"{objective.max_wait_h:g} h: give more runners, a longer wait or a lower load",
                         field=(f"pools.{region}.runners", "max_wait_h"))
    busy = urgent + np.bincount(serve, weights=x, minlength=n_h)
    starts = np.maximum(np.diff(nodes, prepend=nodes[0] if initial is None else initial), 0)
    used = x > 1e-9
    max_wait = float(wait[used].max()) if used.any() else 0.0
    mean_wait = float(np.sum(x * wait) / np.sum(x)) if used.any() else 0.0
    return nodes, busy, starts, max_wait, mean_wait, bool(res.status == 0)


def _actions(regions: Sequence[str], start_s: int, nodes: np.ndarray, pools: PoolSet,
             initial_nodes: Sequence[int] | None) -> tuple[ScaleAction, ...]:
    """Every change of a node count: a scale-out issued ``start_s`` of the pool ahead, a scale-in on the hour."""
    out = []
    times = start_s + np.arange(nodes.shape[1], dtype=np.int64) * HOUR_S
    for i, region in enumerate(regions):
        before = np.concatenate([[nodes[i, 0] if initial_nodes is None else int(initial_nodes[i])], nodes[i, :-1]])
        lead = int(np.ceil(_pool(pools, region).start_s))
        for h in np.flatnonzero(before != nodes[i]):
            grow = nodes[i, h] > before[h]
            out.append(ScaleAction(region, int(times[h]) - (lead if grow else 0), int(times[h]), int(before[h]),
                                   int(nodes[i, h])))
    return tuple(sorted(out, key=lambda a: (a.at_s, a.region)))


# --------------------------------------------------------------------------------------------- savings
@dataclass(frozen=True)
class FleetCost:
    """What a fleet schedule costs over the plan: node-hours, energy and emissions (on the forecast)."""

    node_h: float
    energy_kwh: float
    emissions_g: float
    starts: int


def fleet_cost(nodes: np.ndarray, busy_node_h: np.ndarray, starts: np.ndarray, intensity_g_per_kwh: np.ndarray,
               pool: RunnerPool) -> FleetCost:
    """Idle power on every node-hour, the busy surplus on busy node-hours, ``start_kwh`` per start.

    A start is counted at the intensity of the hour it begins (``start_s`` before its node is needed), as the
    plan counts it. :func:`greenci.scheduling.pool_energy.pool_energy` counts a fixed fleet under a placement of
    jobs; a plan varies the node count and pays for starts, so it is costed here (a test checks that the two
    agree on a fixed fleet).
    """
    nodes = np.asarray(nodes, dtype=np.float64)
    intensity = np.asarray(intensity_g_per_kwh, dtype=np.float64)
    run_kwh = (nodes * pool.idle_w + np.asarray(busy_node_h) * (pool.busy_w - pool.idle_w)) / 1000.0
    start_kwh = np.asarray(starts, dtype=np.float64) * pool.start_kwh
    ahead = int(np.ceil(pool.start_s / HOUR_S - 1e-9))
    at = np.clip(np.arange(intensity.size) - ahead, 0, intensity.size - 1)
    return FleetCost(float(nodes.sum()), float(run_kwh.sum() + start_kwh.sum()),
                     float(np.sum(run_kwh * intensity) + np.sum(start_kwh * intensity[at])), int(np.sum(starts)))


@dataclass(frozen=True)
class PlanSavings:
    """One region (or ``"all"``): the fixed fleet, carbon-blind load-following scaling, and the plan."""

    region: str
    fixed: FleetCost
    following: FleetCost
    plan: FleetCost
    max_wait_h: float
    wait_objective_h: float

    @property
    def saved_node_h(self) -> float:
        return self.fixed.node_h - self.plan.node_h

    @property
    def saved_g(self) -> float:
        return self.fixed.emissions_g - self.plan.emissions_g

    @property
    def saved_share(self) -> float:
        return self.saved_g / self.fixed.emissions_g if self.fixed.emissions_g > 0 else float("nan")


def plan_savings(plan: ScalePlan, load: LoadForecast, pools: PoolSet) -> list[PlanSavings]:
    """The plan against a fixed fleet of the pools' full size (work runs on arrival) and against carbon-blind
    scaling (the fewest node-hours and starts under the same wait objective, the same plan on a flat
    intensity); one row per region and a total. All costed on the plan's intensity forecast."""
    following = plan_scaling(load, np.ones_like(plan.intensity_g_per_kwh), pools, plan.objective)
    rows = []
    for i, region in enumerate(plan.regions):
        pool = _pool(pools, region)
        intensity = plan.intensity_g_per_kwh[i]
        arriving = load.urgent_node_h[i] + load.deferrable_node_h[i]
        fixed = fleet_cost(np.full(plan.hours, pool.runners), arriving, np.zeros(plan.hours), intensity, pool)
        follow = fleet_cost(following.nodes[i], following.busy_node_h[i], following.starts[i], intensity, pool)
        mine = fleet_cost(plan.nodes[i], plan.busy_node_h[i], plan.starts[i], intensity, pool)
        rows.append(PlanSavings(region, fixed, follow, mine, float(plan.max_wait_h[i]), plan.objective.max_wait_h))
    rows.append(PlanSavings("all", *(_total([getattr(r, k) for r in rows]) for k in ("fixed", "following", "plan")),
                            max(r.max_wait_h for r in rows), plan.objective.max_wait_h))
    return rows


def _total(costs: Sequence[FleetCost]) -> FleetCost:
    return FleetCost(sum(c.node_h for c in costs), sum(c.energy_kwh for c in costs),
                     sum(c.emissions_g for c in costs), sum(c.starts for c in costs))
