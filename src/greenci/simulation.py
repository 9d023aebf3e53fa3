"""Trace-driven replay: jobs in arrival order through strategies, decided on forecasts, accounted on actuals.

Every decision sees only what was known at its time: the forecast issued at the last slot boundary
before the job arrived (or, for the oracle, the actual future, and it is labelled so), and duration
estimates from earlier runs only. Emissions are always accounted on actual intensity and true runtimes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.jobs import DurationModel, JobTable, estimate_error
from greenci.scheduling import eligibility as el
from greenci.scheduling.capacity import Capacity, capacity_per_region, run_on_runners
from greenci.scheduling.chains import inferred_needs, needs_broken
from greenci.scheduling.context import ORACLE_NAME, Context, forecast_surface, needed_horizon_h
from greenci.scheduling.kernel import ActualSurface
from greenci.scheduling.pool_energy import PoolEnergy, job_intervals, pool_energy
from greenci.scheduling.pools import PoolSet
from greenci.scheduling.strategies import Placement, Strategy, accounted_emissions_g
from greenci.timeutil import iso


@dataclass(frozen=True)
class StrategyResult:
    """Totals of one strategy over one trace."""

    name: str
    emissions_g: float
    reduction_vs_round_robin: float
    deadline_misses: int
    wait_p50_s: float
    wait_p95_s: float
    wait_max_s: float
    shifted_jobs: int
    jobs_by_region: dict[str, int]
    job_hours_by_region: dict[str, float]
    reasons: dict[str, int]
    expected_g: float
    decided_on: str
    #: runs that ended after their deadline but whose runtime the trace cleaning capped (the true one is
    #: unknown, so whether they would have missed is unknown): reported apart from ``deadline_misses``
    late_on_capped_runtime: int = 0
    #: jobs started before a job of their run that they waited for in the trace had ended (None: the trace
    #: does not say which jobs form a run, as a table of workflow runs does not)
    needs_broken: int | None = None


@dataclass(frozen=True, eq=False)
class Timeline:
    """Running jobs and cumulative emissions per slot, per strategy (the study's Figure 2)."""

    times: np.ndarray
    running: dict[str, np.ndarray]
    cumulative_g: dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Everything one replay produced."""

    strategies: list[StrategyResult]
    regions: tuple[str, ...]
    jobs: int
    span: tuple[str, str]
    forecast: str
    synthetic_intensity: bool
    synthetic_jobs: bool
    timeline: Timeline
    notes: tuple[str, ...] = ()
    estimator: dict[str, float] = field(default_factory=dict)
    placements: dict[str, Placement] = field(default_factory=dict)
    emissions_by_job: dict[str, np.ndarray] = field(default_factory=dict)
    by_repo: dict[str, dict[str, float]] = field(default_factory=dict)  # repo -> strategy -> emissions_g
    jobs_by_repo: dict[str, int] = field(default_factory=dict)
    #: the runner pools assumed (None: unlimited capacity, no pool energy) and each strategy's pool energy
    pools: PoolSet | None = None
    pool_energy: dict[str, PoolEnergy] = field(default_factory=dict)

    def by_name(self, name: str) -> StrategyResult:
        for s in self.strategies:
            if s.name == name:
                return s
        raise InputError(f"strategy {name!r} is not in this result: {', '.join(s.name for s in self.strategies)}")


def simulate(jobs: JobTable, grid: IntensityGrid, strategies: Sequence[Strategy], *, forecast: str = "ridge",
             duration_model: DurationModel | None = None, horizon_h: float | None = None,
             keep_placements: bool = False, notes: Sequence[str] = (),
             progress: Callable[[int, int], None] | None = None, pools: PoolSet | None = None,
             capacity: Capacity | None = None) -> SimulationResult:
    """Replay ``jobs`` on ``grid`` through ``strategies``; the first strategy named round-robin is the baseline.

    ``pools``: the runner pools the fleet has; each strategy's placement is then also accounted as pool
    energy (busy and idle nodes) over one span common to all strategies, so that they compare fairly.
    ``capacity``: the runners per region the fleet has (the strategies are built with the same); each
    placement is then run on those runners with the actual durations (:func:`run_on_runners`): a job whose
    runner is still busy with a run longer than its estimate starts when it frees, and is accounted there.
    """
    if len(jobs) == 0:
        raise InputError("the trace has no jobs: check the trace file and the start/days span")
    if not strategies:
        raise InputError("no strategy given: choose from round-robin, location, lts-1, lts-3, lts-6, greenci, oracle")
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise InputError(f"strategy names repeat: {', '.join(names)}")
    _check_coverage(jobs, grid)
    actual = ActualSurface(grid)  # accounting, and what an oracle decides on: never a forecaster's context
    oracle_ctx = Context.build(jobs, grid, duration_model=duration_model)
    ctx = oracle_ctx.deciding_on(actual, "perfect") if forecast == "perfect" else oracle_ctx
    if forecast != "perfect" and any(s.uses_forecast for s in strategies):
        if horizon_h is None:
            horizon_h = needed_horizon_h((s.buffer_s for s in strategies), ctx.estimates.estimate_s)
        surface = forecast_surface(grid, forecast, max(1, int(np.ceil(horizon_h * 3600 / grid.step_s))), jobs)
        ctx = ctx.deciding_on(surface, forecast)
    results, placements, grams_by = [], {}, {}
    pairs = inferred_needs(jobs.run_ids, jobs.submitted_s, jobs.duration_s) if jobs.run_ids is not None else None
    runners = capacity_per_region(capacity, grid.regions) if capacity is not None else None
    allowed = oracle_ctx.allowed_mask(jobs) if runners is not None else None
    queued_notes = []
    for k, strategy in enumerate(strategies):
        placement = strategy.place(jobs, ctx if strategy.uses_forecast else oracle_ctx)
        if runners is not None:
            placement, note = _on_runners(strategy.name, placement, jobs, runners, grid, allowed)
            queued_notes += [note] if note else []
        grams = accounted_emissions_g(placement, jobs, actual)
        placements[strategy.name] = placement
        grams_by[strategy.name] = grams
        results.append(_totals(strategy, placement, grams, jobs, grid, ctx, pairs))
        if progress:
            progress(k + 1, len(strategies))
    base = next((r for r in results if r.name == "round-robin"), None)
    if base is not None and base.emissions_g > 0:
        results = [_with_reduction(r, 1.0 - r.emissions_g / base.emissions_g) for r in results]
    energy = _pool_energies(jobs, grid, placements, pools) if pools is not None else {}
    err = estimate_error(jobs, ctx.estimates)
    repos, repo_code = np.unique(jobs.repo.astype(str), return_inverse=True)
    by_repo = {str(r): {} for r in repos}
    for name, grams in grams_by.items():
        sums = np.bincount(repo_code, weights=grams, minlength=repos.size)
        for r, g in zip(repos, sums, strict=True):
            by_repo[str(r)][name] = float(g)
    counts = np.bincount(repo_code, minlength=repos.size)
    return SimulationResult(
        strategies=results, regions=grid.regions, jobs=len(jobs),
        span=(iso(np.datetime64(int(jobs.submitted_s[0]), "s")), iso(np.datetime64(int(jobs.submitted_s[-1]), "s"))),
        forecast=forecast, synthetic_intensity=grid.synthetic, synthetic_jobs=jobs.synthetic,
        timeline=_timeline(jobs, grid.step_s, placements, grams_by),
        notes=tuple(jobs.notes) + tuple(notes) + tuple(queued_notes),
        estimator={"jobs_estimated": err.estimated, "mae_s": err.mae_s, "median_ratio": err.median_ratio,
                   "under_share": err.under_share},
        placements=placements if keep_placements else {},
        emissions_by_job=grams_by if keep_placements else {},
        by_repo=by_repo, jobs_by_repo={str(r): int(c) for r, c in zip(repos, counts, strict=True)},
        pools=pools, pool_energy=energy,
    )


def _on_runners(name: str, p: Placement, jobs: JobTable, runners: np.ndarray, grid: IntensityGrid,
                allowed: np.ndarray | None) -> tuple[Placement, str | None]:
    """The placement as the runners execute it (actual durations, first come first served per region)."""
    from dataclasses import replace

    pieces = np.zeros(len(jobs), dtype=bool)
    pieces[list(p.segments)] = True  # an interruptible job runs in pieces: its slots are its own
    ran = run_on_runners(p.region, np.where(pieces, -np.inf, p.start_s), np.where(pieces, 0.0, jobs.duration_s),
                         runners, deadline_s=np.where(pieces, np.inf, p.deadline_s), allowed=allowed,
                         intensity=grid.values, grid_start_s=float(grid.start_s), step_s=float(grid.step_s))
    start, region = np.where(pieces, p.start_s, ran.start_s), np.where(pieces, p.region, ran.region)
    later = start - p.start_s
    queued, moved = int(np.sum(ran.queued & ~pieces)), int(np.sum(ran.moved & ~pieces))
    if not queued and not moved:
        return p, None
    parts = []
    if queued:
        parts.append(f"{queued:,} job(s) waited for a runner still busy with a run longer than its estimate (P95 "
                     f"{np.percentile(later[later > 0], 95) / 60:.0f} min, max {later.max() / 3600:.1f} h, "
                     "in its wait)")
    if moved:
        parts.append(f"{moved:,} ran in another allowed region with a free runner rather than miss the deadline "
                     "waiting")
    return replace(p, start_s=start, region=region), f"runners under {name}: " + "; ".join(parts)


def _pool_energies(jobs: JobTable, grid: IntensityGrid, placements: dict[str, Placement],
                   pools: PoolSet) -> dict[str, PoolEnergy]:
    """Each placement's pool energy over one span: the first arrival to the last end of any strategy."""
    step = grid.step_s
    last = max(float(job_intervals(p.region, p.start_s, jobs.duration_s, step, p.segments)[2].max())
               for p in placements.values())
    span = (float(jobs.submitted_s.min()), last)
    return {name: pool_energy(p.region, p.start_s, jobs.duration_s, pools, grid, segments=p.segments, span_s=span)
            for name, p in placements.items()}


def _check_coverage(jobs: JobTable, grid: IntensityGrid) -> None:
    first, last_end = int(jobs.submitted_s[0]), float(np.max(jobs.submitted_s + jobs.duration_s))
    g0, g1 = int(grid.start.astype(np.int64)), int(grid.end.astype(np.int64))
    if first < g0 or last_end > g1:
        raise InputError(
            f"the trace ({iso(np.datetime64(first, 's'))} .. {iso(np.datetime64(int(last_end), 's'))}, last run's end) "
            f"is not inside the intensity data ({iso(grid.start)} .. {iso(grid.end)}): give intensity covering "
            "the trace plus the buffers, or align the trace (align_to)"
        )


def _with_reduction(r: StrategyResult, reduction: float) -> StrategyResult:
    from dataclasses import replace

    return replace(r, reduction_vs_round_robin=float(reduction))


def _totals(strategy: Strategy, p: Placement, grams: np.ndarray, jobs: JobTable, grid: IntensityGrid,
            ctx: Context, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> StrategyResult:
    wait = p.start_s - jobs.submitted_s
    end = p.start_s + jobs.duration_s
    for j, seg in p.segments.items():  # an interruptible job ends after its last slot
        end[j] = max(seg[-1] + grid.step_s, end[j])
    late = end > p.deadline_s + 1e-6
    misses = int(np.sum(late & ~jobs.capped))
    regions = grid.regions
    counts = np.bincount(p.region, minlength=len(regions))
    hours = np.bincount(p.region, weights=jobs.duration_s / 3600.0, minlength=len(regions))
    codes, n = np.unique(p.reason, return_counts=True)
    return StrategyResult(
        name=strategy.name, emissions_g=float(grams.sum()), reduction_vs_round_robin=0.0, deadline_misses=misses,
        wait_p50_s=float(np.percentile(wait, 50)), wait_p95_s=float(np.percentile(wait, 95)),
        wait_max_s=float(wait.max()), shifted_jobs=int(np.sum(wait > 0)),
        jobs_by_region={r: int(c) for r, c in zip(regions, counts, strict=True)},
        job_hours_by_region={r: float(h) for r, h in zip(regions, hours, strict=True)},
        reasons={el.REASONS[int(c)]: int(k) for c, k in zip(codes, n, strict=True)},
        expected_g=float(np.nansum(p.expected_g)),
        decided_on=_decided_on(strategy, ctx), late_on_capped_runtime=int(np.sum(late & jobs.capped)),
        needs_broken=None if pairs is None else needs_broken(*pairs, p.start_s, end),
    )


def _decided_on(strategy: Strategy, ctx: Context) -> str:
    if strategy.name == "round-robin":
        return "no intensity"
    if not strategy.uses_forecast:
        return f"{ORACLE_NAME} and true durations"
    return f"forecast: {ctx.forecast_name}"


def _timeline(jobs: JobTable, step: int, placements: dict[str, Placement],
              grams_by: dict[str, np.ndarray]) -> Timeline:
    """Jobs running at each slot start, and the emissions of all jobs started before that slot's end."""
    t0 = int(jobs.submitted_s[0]) // step * step
    t_end = int(np.max([p.start_s.max() for p in placements.values()])) + step
    times = np.arange(t0, t_end + 1, step, dtype=np.int64)
    running, cumulative = {}, {}
    for name, p in placements.items():
        starts = np.sort(p.start_s)
        ends = np.sort(p.start_s + jobs.duration_s)
        running[name] = (np.searchsorted(starts, times, side="right")
                         - np.searchsorted(ends, times, side="right")).astype(np.int64)
        slot = np.clip(((p.start_s - t0) // step).astype(np.int64), 0, times.size - 1)
        cumulative[name] = np.cumsum(np.bincount(slot, weights=grams_by[name], minlength=times.size))
    return Timeline(times.astype("datetime64[s]"), running, cumulative)
