"""Plan one job or a batch: what ``greenci schedule``, the service and the CI gate all call.

The caller injects where intensity comes from (a :class:`~greenci.forecast.ForecastProvider`, usually
wrapped in the fallback chain), where earlier runs come from (a :class:`~greenci.usecases.ports.RunHistoryStore`)
and where decisions go (a :class:`~greenci.usecases.ports.DecisionSink`). This module resolves the job's
allowed regions (cloud region names too), estimates its duration from its own runs or, on a cold start,
from its workflow or repository, sets its window (deadline, schedule or buffer), asks for the forecast
issued at its submission and lets the strategy decide. Every remark a person should see (a history that
holds no run of this job, a deadline shorter than the estimate) travels in ``Decision.notes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from greenci.bounds import MAX_HORIZON_H, check_range
from greenci.cloud_regions import resolve_regions
from greenci.errors import InputError
from greenci.forecast import ForecastProvider, GridForecasts
from greenci.jobs import Estimate, Job, RunHistory, estimate_one
from greenci.scheduling.eligibility import EligibilityRules
from greenci.scheduling.planner import Decision, decide_group
from greenci.scheduling.strategies import GreenciStrategy, Strategy
from greenci.scheduling.windows import JobWindow, WorkingMorning, job_window
from greenci.usecases.ports import DecisionSink, RunHistoryStore

_EMPTY = RunHistory(("", "", ""), np.zeros(0, np.int64), np.zeros(0))


@dataclass(frozen=True)
class PlanPolicy:
    """How jobs are planned: the strategy (default greenci's own) and the working morning for schedules."""

    strategy: Strategy = field(default_factory=GreenciStrategy)
    morning: WorkingMorning | None = None

    @classmethod
    def build(cls, *, buffer_h: float = 6.0, rules: EligibilityRules | None = None,
              morning: WorkingMorning | None = None) -> PlanPolicy:
        check_range(buffer_h, field="buffer_h", low=0, high=MAX_HORIZON_H, unit="h")
        return cls(GreenciStrategy(buffer_s=buffer_h * 3600.0, rules=rules or EligibilityRules()), morning)


@dataclass(frozen=True)
class _Prepared:
    job: Job
    estimate: Estimate
    window: JobWindow
    notes: tuple[str, ...]
    buffer_s: float  # the wait allowed when the window sets no deadline

    @property
    def horizon_s(self) -> float:
        """How far ahead the forecast must reach: the longest wait, the run, and a slot to spare."""
        sub = self.job.submitted_s
        wait = self.window.deadline_s - sub if np.isfinite(self.window.deadline_s) else self.buffer_s
        return max(wait, 0.0) + self.estimate.estimate_s + 3600.0


def plan_job(job: Job, *, intensity: ForecastProvider, history: RunHistoryStore | None = None,
             policy: PlanPolicy | None = None, regions: Sequence[str] | None = None,
             sink: DecisionSink | None = None) -> Decision:
    """Where and when ``job`` should run, on the forecast known at its submission."""
    return plan_batch([job], intensity=intensity, history=history, policy=policy, regions=regions, sink=sink)[0]


def plan_batch(jobs: Sequence[Job], *, intensity: ForecastProvider, history: RunHistoryStore | None = None,
               policy: PlanPolicy | None = None, regions: Sequence[str] | None = None,
               sink: DecisionSink | None = None) -> list[Decision]:
    """Decisions for many jobs, in the given order: jobs submitted in the same slot share one forecast and
    one vectorised placement (the strategy places them in submission order)."""
    policy = policy or PlanPolicy()
    if not jobs:
        return []
    candidates = tuple(regions or intensity.regions)
    if not candidates:
        raise InputError(f"{intensity.name} lists no regions: give the candidate regions, e.g. DE-LU,GB",
                         field="regions")
    resolved: dict[tuple[str, ...] | None, tuple[str, ...] | None] = {None: None}
    prepared = []
    for job in jobs:
        if job.allowed_regions not in resolved:
            which = f"job {job.id}: " if len(jobs) > 1 else ""
            where = f"{which}allowed-regions of {job.keys_from}" if job.keys_from else f"{which}allowed_regions"
            resolved[job.allowed_regions] = resolve_regions(job.allowed_regions, candidates,  # type: ignore[arg-type]
                                                            field=where)
        if resolved[job.allowed_regions] != job.allowed_regions:
            job = replace(job, allowed_regions=resolved[job.allowed_regions])
        prepared.append(_prepare(job, history, policy))
    if len(prepared) == 1:  # the common request: no grouping, no batch fit
        p = prepared[0]
        forecast = intensity.forecast(candidates, p.job.submitted_s, p.horizon_s)
        [decision] = decide_group([p.job], forecast, [p.estimate], [p.window], strategy=policy.strategy,
                                  notes=[p.notes])
        if sink is not None:
            sink.record(decision)
        return [decision]
    subs = np.array([p.job.submitted_s for p in prepared], dtype=np.int64)
    order = np.argsort(subs, kind="stable")
    # jobs in one slot of a grid provider share its forecast; an API provider is asked per job (it caches)
    grid = intensity.grid if isinstance(intensity, GridForecasts) else None
    slot = (subs - grid.start_s) // grid.step_s if grid is not None else np.arange(subs.size)
    if grid is not None:  # fit every issue time of the batch in one pass
        inside = slot[(slot >= 1) & (slot < grid.n_slots)]
        intensity.forecast_many(inside, intensity.horizon_slots(max(p.horizon_s for p in prepared)))
    out: list[Decision | None] = [None] * len(jobs)
    bounds = np.flatnonzero(np.r_[True, slot[order][1:] != slot[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        group = [int(i) for i in order[a:b]]
        members = [prepared[i] for i in group]
        forecast = intensity.forecast(candidates, int(subs[group[0]]), max(p.horizon_s for p in members))
        decisions = decide_group([p.job for p in members], forecast, [p.estimate for p in members],
                                 [p.window for p in members], strategy=policy.strategy,
                                 notes=[p.notes for p in members])
        for i, d in zip(group, decisions, strict=True):
            out[i] = d
            if sink is not None:
                sink.record(d)
    return [d for d in out if d is not None]


def _prepare(job: Job, history: RunHistoryStore | None, policy: PlanPolicy) -> _Prepared:
    """The estimate, window and notes of one job, from what was known at its submission."""
    sub = job.submitted_s
    notes: list[str] = []
    own = workflow = repo = _EMPTY
    if history is not None:
        own = history.runs(job.repo, job.workflow, job.job_name, sub)
        if not len(own):
            workflow = history.workflow_runs(job.repo, job.workflow, sub)
            repo = history.repo_runs(job.repo, sub)
            notes.append(_no_runs_note(job, history))
    estimate = estimate_one(own, job.duration_estimate_s, workflow=workflow, repo=repo)
    buffer_s = float(getattr(policy.strategy, "buffer_s", 6 * 3600.0))
    if job.buffer_s is not None:
        buffer_s = job.buffer_s
    window = job_window(job, history=own, morning=policy.morning, buffer_s=buffer_s)
    if np.isfinite(window.deadline_s) and window.deadline_s - sub < estimate.estimate_s:
        notes.append(f"the window ends {(window.deadline_s - sub) / 60:.0f} min after submission, before the "
                     f"estimated {estimate.estimate_s / 60:.0f} min run could finish: it runs now and may end late")
    return _Prepared(job, estimate, window, tuple(notes), buffer_s)


def _no_runs_note(job: Job, history: RunHistoryStore) -> str:
    keys = getattr(history, "keys", None)
    held = keys(limit=3) if callable(keys) else []
    n_keys = getattr(history, "n_keys", None)
    total = n_keys() if callable(n_keys) else len(held)
    where = f"{job.repo} / {job.workflow} / {job.job_name or '(no job name)'}"
    if not held:
        return f"the run history holds no earlier run of {where}"
    shown = "; ".join(" / ".join(k) for k in held[:3]) + (f" and {total - 3} more" if total > 3 else "")
    return f"the run history holds no earlier run of {where} (it holds {shown}): check repo, workflow and job"
