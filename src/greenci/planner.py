"""One job in, one decision out: where and when to run it, what it is expected to emit, and why.

This is what ``greenci schedule`` and (later) the service answer. It reuses the strategies: the job is
appended to its own run history (only earlier runs inform its duration estimate) and placed by
:class:`~greenci.scheduling.strategies.GreenciStrategy` on the forecast issued at its submission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.jobs import Job, JobTable
from greenci.scheduling import eligibility as el
from greenci.scheduling.kernel import ActualSurface
from greenci.scheduling.strategies import Context, GreenciStrategy
from greenci.timeutil import iso, to_epoch_s


@dataclass(frozen=True)
class Decision:
    """The scheduler's answer for one job."""

    job_id: str
    region: str
    start: str
    wait_s: float
    duration_estimate_s: float
    history_runs: int
    expected_g: float
    baseline_g: float
    saving_g: float
    reason: str
    forecast: str
    synthetic: bool


def plan_job(job: Job, grid: IntensityGrid, *, history: JobTable | None = None, forecast: str = "ridge",
             default_buffer_s: float = 6 * 3600.0, rules: el.EligibilityRules | None = None,
             grid_is_forecast: bool = False) -> Decision:
    """Decide one job. ``grid_is_forecast``: the grid already is a forecast (e.g. from an API), use it as is."""
    sub = to_epoch_s(job.submitted_at)
    past = _history_of(job, history, sub)
    n_past = len(past) if past is not None else 0
    deadline = float(to_epoch_s(job.deadline)) if job.deadline else np.nan
    allowed = None if job.allowed_regions is None else [None] * n_past + [job.allowed_regions]
    table = JobTable.build(
        submitted_s=np.r_[past.submitted_s if past is not None else [], sub].astype(np.int64),
        duration_s=np.r_[past.duration_s if past is not None else [], 1.0],  # own runtime unknown, never read
        repo=[job.repo] * (n_past + 1), workflow=[job.workflow] * (n_past + 1),
        job_name=[job.job_name] * (n_past + 1),
        user_estimate_s=np.r_[np.full(n_past, np.nan), job.duration_estimate_s or np.nan],
        deadline_s=np.r_[np.full(n_past, np.nan), deadline],
        buffer_s=np.r_[np.full(n_past, np.nan), np.nan if job.buffer_s is None else job.buffer_s],
        carbon_aware=np.r_[np.ones(n_past, bool), job.carbon_aware],
        power_kw=np.r_[np.ones(n_past), job.power_kw],
        interruptible=np.r_[np.zeros(n_past, bool), job.interruptible],
        default_branch=np.r_[np.ones(n_past, bool), job.default_branch],
        event=[*(["push"] * n_past), job.event],
        allowed_regions=allowed,
    )
    if sub < int(grid.start.astype(np.int64)):
        raise InputError(f"job {job.id}: submitted {iso(np.datetime64(sub, 's'))} before the intensity data "
                         f"starts ({iso(grid.start)}): give intensity covering the submission time")
    if grid_is_forecast:
        surface = ActualSurface(grid)
        ctx = Context.build(table, grid, forecast_name="as given")
        ctx = Context(grid, ctx.actual, surface, ctx.estimates, "as given")
    else:
        from greenci.simulation import forecast_surface

        one = table.take(np.array([len(table) - 1]))
        surface = forecast_surface(grid, forecast, max(1, int(48 * 3600 // grid.step_s)), one) if forecast != \
            "perfect" else None
        ctx = Context.build(table, grid, forecast=surface, forecast_name=forecast)
    strategy = GreenciStrategy(buffer_s=default_buffer_s, rules=rules or el.EligibilityRules())
    placement = strategy.place(table, ctx)
    j = len(table) - 1
    est = strategy.durations(table, ctx)[j]
    if not np.isfinite(est):
        est = job.duration_estimate_s or 3600.0
    arrival = (sub - int(grid.start.astype(np.int64))) / grid.step_s
    regions_ok = np.ones(len(grid.regions), bool) if job.allowed_regions is None else np.isin(
        np.asarray(grid.regions), job.allowed_regions)
    now_cost = ctx.forecast.integral(np.array([[int(np.floor(arrival + 1e-9))]]),
                                     np.flatnonzero(regions_ok)[None, :], np.array([[arrival]]),
                                     np.array([[arrival + est / grid.step_s]]))
    baseline = float(np.nanmean(now_cost)) * job.power_kw
    expected = float(placement.expected_g[j])
    if not np.isfinite(expected):
        expected = baseline
    return Decision(
        job_id=job.id, region=grid.regions[placement.region[j]],
        start=iso(np.datetime64(int(round(placement.start_s[j])), "s")),
        wait_s=float(placement.start_s[j] - sub), duration_estimate_s=float(est), history_runs=n_past,
        expected_g=expected, baseline_g=baseline, saving_g=baseline - expected,
        reason=el.REASONS[int(placement.reason[j])], forecast=ctx.forecast_name, synthetic=grid.synthetic,
    )


def _history_of(job: Job, history: JobTable | None, sub: int) -> JobTable | None:
    """Earlier runs of the same (repo, workflow, job), strictly before the submission."""
    if history is None or len(history) == 0:
        return None
    same = ((history.repo.astype(str) == job.repo) & (history.workflow.astype(str) == job.workflow)
            & (history.job_name.astype(str) == job.job_name) & (history.submitted_s < sub))
    idx = np.flatnonzero(same)
    return history.take(idx) if idx.size else None
