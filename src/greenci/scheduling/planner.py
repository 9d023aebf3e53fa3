"""One job in, one decision out: where and when to run it, what it is expected to emit, and why.

The core of the one-job path, pure: it takes the job, what was known at its submission (an
:class:`~greenci.forecast.IssuedForecast`, an :class:`~greenci.jobs.Estimate`, its window) and a
strategy, and returns a :class:`Decision`. Reading sources, history stores and sinks is the use case's
job (:mod:`greenci.usecases.plan`). The same strategies as the replay decide, on a one-row job table
and a context issued at the job's slot boundary, so a decision here is the decision a replay makes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from greenci.errors import InputError
from greenci.forecast import IssuedForecast
from greenci.jobs import ESTIMATE_SOURCES, DurationEstimates, Estimate, Job, JobTable
from greenci.scheduling import eligibility as el
from greenci.scheduling.context import Context
from greenci.scheduling.strategies import NIGHTLY_SAFETY, GreenciStrategy, Strategy
from greenci.scheduling.windows import JobWindow
from greenci.timeutil import iso


@dataclass(frozen=True)
class Decision:
    """The scheduler's answer for one job (gCO2eq at the job's power; times UTC ISO 8601)."""

    job_id: str
    region: str
    start: str
    wait_s: float
    duration_estimate_s: float
    estimate_source: str
    history_runs: int
    user_weight: float | None
    expected_g: float
    baseline_g: float  # run now, averaged over the allowed regions (a scheduler that ignores carbon)
    now_best_g: float  # run now in the cleanest allowed region
    saving_g: float  # baseline_g - expected_g
    reason: str
    window: str
    deadline: str | None
    forecast: str
    fallback: str | None
    synthetic: bool
    oracle: bool = False
    estimate: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def time_shift_saving_g(self) -> float:
        """What waiting saves against running now in the cleanest region."""
        return self.now_best_g - self.expected_g

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready fields (a number that is not known is None, never NaN)."""
        out: dict[str, object] = {}
        for name in _DECISION_FIELDS:
            v = getattr(self, name)
            out[name] = None if isinstance(v, float) and not math.isfinite(v) else (
                list(v) if isinstance(v, tuple) else v)
        out["time_shift_saving_g"] = None if not math.isfinite(self.time_shift_saving_g) else self.time_shift_saving_g
        return out


_DECISION_FIELDS = tuple(f.name for f in fields(Decision))  # read per answer: fields() built them each time


def job_table(jobs: Sequence[Job], deadlines_s: Sequence[float]) -> JobTable:
    """The table the strategies read, in the given order (runtimes are unknown: placeholders never read)."""
    n = len(jobs)
    allowed = tuple(j.allowed_regions for j in jobs)
    return JobTable(
        ids=np.array([j.id for j in jobs], dtype=object), repo=np.array([j.repo for j in jobs], dtype=object),
        workflow=np.array([j.workflow for j in jobs], dtype=object),
        job_name=np.array([j.job_name for j in jobs], dtype=object),
        event=np.array([j.event for j in jobs], dtype=object),
        submitted_s=np.array([j.submitted_s for j in jobs], dtype=np.int64),
        duration_s=np.ones(n), user_estimate_s=np.array([j.duration_estimate_s or np.nan for j in jobs]),
        deadline_s=np.asarray(deadlines_s, dtype=np.float64),
        buffer_s=np.array([np.nan if j.buffer_s is None else j.buffer_s for j in jobs]),
        carbon_aware=np.array([j.carbon_aware is not False for j in jobs]),
        power_kw=np.array([j.power_kw for j in jobs]), interruptible=np.array([j.interruptible for j in jobs]),
        default_branch=np.array([j.default_branch for j in jobs]),
        allowed_regions=None if all(a is None for a in allowed) else allowed,
        opted_in=np.array([j.carbon_aware is True for j in jobs]),
    )


def decide(job: Job, forecast: IssuedForecast, estimate: Estimate, window: JobWindow, *,
           strategy: Strategy | None = None, notes: tuple[str, ...] = ()) -> Decision:
    """Decide one job on ``forecast`` with ``strategy`` (default: greenci's own, 6 h buffer)."""
    return decide_group([job], forecast, [estimate], [window], strategy=strategy, notes=[notes])[0]


def decide_group(jobs: Sequence[Job], forecast: IssuedForecast, estimates: Sequence[Estimate],
                 windows: Sequence[JobWindow], *, strategy: Strategy | None = None,
                 notes: Sequence[tuple[str, ...]] | None = None) -> list[Decision]:
    """Decide jobs submitted in the slot ``forecast`` was issued at, in one vectorised placement.

    The jobs must be in submission order (the order strategies place them in).
    """
    strategy = strategy or GreenciStrategy()
    grid = forecast.grid
    subs = np.array([j.submitted_s for j in jobs], dtype=np.int64)
    outside = (subs < grid.start_s) | (subs >= grid.start_s + grid.step_s)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise InputError(f"job {jobs[k].id}: the forecast starts {iso(grid.start)}, not at the slot of its "
                         f"submission {iso(int(subs[k]))}: issue the forecast at the submission time")
    if subs.size > 1 and np.any(np.diff(subs) < 0):
        raise InputError("jobs of a group must be in submission order")
    run_now = forecast.fallback == "run-now"
    est_in = np.array([e.estimate_s for e in estimates])
    deadlines = np.array([w.deadline_s for w in windows], dtype=np.float64)
    inferred = np.array([w.inferred for w in windows])
    # an end nobody set: a run twice as long as estimated still ends before it
    deadlines = np.where(inferred, deadlines - (NIGHTLY_SAFETY - 1.0) * est_in, deadlines)
    deadlines = np.where(np.isfinite(deadlines), np.maximum(deadlines, subs + est_in), np.nan)
    if run_now:
        jobs = [replace(j, buffer_s=0.0, deadline=None) for j in jobs]
        deadlines = np.full(len(jobs), np.nan)
    table = job_table(jobs, deadlines)
    est_table = DurationEstimates(
        est_in, np.array([e.history_runs for e in estimates]), np.full(len(jobs), np.nan), np.zeros(len(jobs)),
        np.array([np.nan if e.user_weight is None else e.user_weight for e in estimates]),
        np.array([ESTIMATE_SOURCES.index(e.source) for e in estimates]))
    ctx = Context(regions=grid.regions, start_s=grid.start_s, step_s=grid.step_s, n_slots=grid.n_slots,
                  forecast=forecast.surface, estimates=est_table, forecast_name=forecast.method,
                  synthetic=grid.synthetic)
    placement = strategy.place(table, ctx)
    est = placement.estimate_s if placement.estimate_s is not None else est_in
    allowed = ctx.allowed_mask(table)
    arrival = (subs - grid.start_s) / grid.step_s
    power = table.power_kw
    now = placement.now_g_per_kw  # the kernel's first candidate, when the strategy kept it
    if now is None:
        now = forecast.surface.all_regions(np.zeros(len(jobs), np.int64), arrival, arrival + est / grid.step_s)
    now = now * power[:, None]
    ok = np.isfinite(now) if allowed is None else (np.isfinite(now) & allowed)
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore"):
        baseline = np.where(count > 0, np.where(ok, now, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)
    now_best = np.where(count > 0, np.where(ok, now, np.inf).min(axis=1), np.nan)
    out = []
    for k, job in enumerate(jobs):
        region = int(placement.region[k])
        start_s = float(placement.start_s[k])
        expected = float(placement.expected_g[k])
        if not np.isfinite(expected):
            expected = float(now[k, region]) if np.isfinite(now[k, region]) else float(baseline[k])
        code = el.NO_FORECAST if run_now else int(placement.reason[k])
        e, w = estimates[k], windows[k]
        out.append(Decision(
            job_id=job.id, region=grid.regions[region], start=iso(int(round(start_s))), wait_s=start_s - subs[k],
            duration_estimate_s=float(est[k]), estimate_source=e.source, history_runs=e.history_runs,
            user_weight=e.user_weight, expected_g=expected, baseline_g=float(baseline[k]),
            now_best_g=float(now_best[k]), saving_g=float(baseline[k]) - expected, reason=el.REASONS[code],
            window="runs now (no forecast)" if run_now else w.text,
            deadline=None if not np.isfinite(w.deadline_s) else iso(int(w.deadline_s)),
            forecast=forecast.method, fallback=forecast.fallback, synthetic=grid.synthetic, oracle=forecast.oracle,
            estimate=e.explain(),
            notes=tuple(notes[k] if notes else ()) + ((forecast.note,) if forecast.note else ()),
        ))
    return out
