"""Plan every job of one or more workflow files at one decision time: what ``greenci plan`` shows.

Each job becomes a :class:`~greenci.jobs.Job` the way ``greenci schedule`` builds one (the workflow's keys
fill what the request leaves out) and all of them are decided in one :func:`~greenci.usecases.plan.plan_batch`
call, so they share one forecast. The event is ``schedule`` for a workflow started only by its crons, else
the one asked for; a workflow that event does not start is listed, not planned. Energy and grams count
every leg of a matrix; a matrix whose legs only an expression knows is counted once and flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime

import numpy as np

from greenci.errors import InputError
from greenci.forecast import ForecastProvider
from greenci.scheduling import eligibility as el
from greenci.timeutil import iso, to_datetime, to_epoch_s
from greenci.usecases.inputs import EVENTS, JobRequest, job_from_request
from greenci.usecases.plan import PlanPolicy, plan_batch
from greenci.usecases.ports import RunHistoryStore
from greenci.workflows import JobSpec

#: reasons of a flexible job: it may wait (whether waiting paid off or not)
_ELIGIBLE = frozenset(el.REASONS[i] for i in (el.SHIFTED, el.LOW_SAVING, el.CAPACITY))


@dataclass(frozen=True)
class JobPlan:
    """The plan of one job of a workflow; grams and kWh are for all its legs (``legs_counted``)."""

    workflow: str
    job: str
    source: str
    triggers: tuple[str, ...]
    event: str
    planned: bool  # False: the event does not start this workflow
    matrix_legs: int | None
    legs_counted: int
    uses: str | None
    needs: tuple[str, ...]
    eligible: bool
    reason: str
    duration_estimate_s: float | None = None
    estimate_source: str | None = None
    window: str | None = None
    region: str | None = None
    start: str | None = None
    wait_s: float | None = None
    energy_kwh: float = 0.0
    expected_g: float = 0.0
    baseline_g: float = 0.0
    saving_g: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def legs_unknown(self) -> bool:
        return self.matrix_legs is None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out.update({k: list(v) for k, v in out.items() if isinstance(v, tuple)})
        out["legs_unknown"] = self.legs_unknown
        return out


@dataclass(frozen=True)
class WorkflowPlan:
    """Plans of every job, and their totals (planned jobs only)."""

    at: str
    event: str
    forecast: str
    synthetic: bool
    oracle: bool
    jobs: tuple[JobPlan, ...]
    notes: tuple[str, ...] = ()

    @property
    def planned(self) -> tuple[JobPlan, ...]:
        return tuple(j for j in self.jobs if j.planned)

    @property
    def energy_kwh(self) -> float:
        return sum(j.energy_kwh for j in self.planned)

    @property
    def expected_g(self) -> float:
        return sum(j.expected_g for j in self.planned)

    @property
    def baseline_g(self) -> float:
        return sum(j.baseline_g for j in self.planned)

    @property
    def saving_g(self) -> float:
        return sum(j.saving_g for j in self.planned)

    def to_dict(self) -> dict[str, object]:
        return {"at": self.at, "event": self.event, "forecast": self.forecast, "synthetic": self.synthetic,
                "oracle": self.oracle, "jobs": [j.to_dict() for j in self.jobs],
                "totals": {"jobs": len(self.planned), "legs": sum(j.legs_counted for j in self.planned),
                           "energy_kwh": self.energy_kwh, "expected_g": self.expected_g,
                           "baseline_g": self.baseline_g, "saving_g": self.saving_g},
                "notes": list(self.notes)}


def _chained(plans: list[JobPlan], by_index: dict, intensity: ForecastProvider, regions: Sequence[str] | None,
             at: datetime) -> list[JobPlan]:
    """The jobs of each run that need others (and those they need) placed as a chain: none starts before
    its needs end, and the chain keeps its deadline (:mod:`greenci.scheduling.chains`)."""
    from greenci.cloud_regions import resolve_regions
    from greenci.scheduling.chains import ChainJob, place_chain

    at_s = float(to_epoch_s(at))
    candidates = tuple(regions or intensity.regions)
    out = list(plans)
    for run in dict.fromkeys((p.source, p.workflow) for p in plans):  # a workflow file; a Zuul pipeline
        members = [k for k, p in enumerate(plans) if (p.source, p.workflow) == run and p.planned]
        names = {plans[k].job for k in members}
        linked = {plans[k].job for k in members if set(plans[k].needs) & names}
        linked |= {n for k in members for n in plans[k].needs if n in names}
        chain = [k for k in members if plans[k].job in linked]
        if not chain:
            continue
        jobs = []
        for k in chain:
            job, d = by_index[k]
            allowed = None
            if job.allowed_regions is not None:
                ok = set(resolve_regions(job.allowed_regions, candidates, field="allowed-regions"))
                allowed = np.array([r in ok for r in candidates])
            deadline = float(to_epoch_s(to_datetime(d.deadline, field="deadline"))) if d.deadline else float("inf")
            jobs.append(ChainJob(plans[k].job, tuple(n for n in plans[k].needs if n in names),
                                 float(d.duration_estimate_s), deadline, plans[k].eligible, allowed, job.power_kw))
        bounded = [j.deadline_s for j in jobs if np.isfinite(j.deadline_s)]
        horizon = max([sum(j.estimate_s for j in jobs), *(b - at_s for b in bounded)]) + 3600.0
        forecast = intensity.forecast(candidates, int(at_s), horizon)
        slots = place_chain(forecast.surface, start_s=forecast.grid.start_s, step_s=forecast.grid.step_s,
                            at_s=at_s, jobs=jobs)
        for k, job_spec, slot in zip(chain, jobs, slots, strict=True):
            p = out[k]
            legs = p.legs_counted
            after = f"after {', '.join(job_spec.needs)} (planned to end {iso(int(slot.earliest_s))})" \
                if job_spec.needs else "first of its chain"
            bound = f"; the chain ends by {iso(int(slot.latest_end_s))}" if np.isfinite(slot.latest_end_s) else ""
            notes = list(p.notes)
            if slot.late:
                notes.append("the chain cannot end by its deadline with these estimates: this job starts as soon "
                             "as its needs end")
            out[k] = replace(p, region=forecast.grid.regions[slot.region], start=iso(int(round(slot.start_s))),
                             wait_s=slot.start_s - at_s, window=f"{after}{bound}",
                             expected_g=slot.expected_g * legs, baseline_g=slot.baseline_g * legs,
                             saving_g=(slot.baseline_g - slot.expected_g) * legs, notes=tuple(notes))
    return out


def event_for(spec: JobSpec, asked: str | None) -> str:
    """``schedule`` for a workflow started only by its crons (a manual dispatch aside); else ``asked``; else
    the one event that starts it (a Zuul pipeline's, a workflow ``on:`` one event); else ``push``."""
    if spec.crons and set(spec.triggers) <= {"schedule", "workflow_dispatch"}:
        return "schedule"
    if asked:
        return asked
    own = [t for t in spec.triggers if t in EVENTS and t != "workflow_call"]  # a reusable one runs in its caller
    return own[0] if len(own) == 1 else "push"


def starts(spec: JobSpec, event: str) -> bool:
    """Whether ``event`` starts the workflow of ``spec`` (one without triggers is taken to run on any)."""
    return not spec.triggers or event in spec.triggers


def plan_workflows(specs: Sequence[JobSpec], *, at: datetime, intensity: ForecastProvider,
                   history: RunHistoryStore | None = None, policy: PlanPolicy | None = None,
                   regions: Sequence[str] | None = None, request: JobRequest | None = None) -> WorkflowPlan:
    """Plan every job of ``specs`` as submitted at ``at``; ``request`` gives the repository, branch, event and
    power that the files do not (its workflow, job name and duration are the files' to say)."""
    base = replace(request or JobRequest(), workflow=None, job_name="", submitted_at=at, duration=None)
    if not specs:
        raise InputError("no job to plan: give a workflow file or a folder of them", field="path")
    if base.event is not None and base.event not in EVENTS:
        raise InputError(f"event {base.event!r} is unknown: use one of {', '.join(EVENTS)}", field="event")
    jobs, todo = [], []
    for k, spec in enumerate(specs):
        event = event_for(spec, base.event)
        if not starts(spec, event):
            continue
        try:
            job = job_from_request(replace(base, event=event, id=f"{base.repo}:{spec.source}:{spec.job}#{k}"),
                                   spec, now=at)
        except InputError as exc:
            raise InputError(f"{spec.source}: job {spec.job}: {exc}", field=exc.field) from None
        jobs.append(job)
        todo.append(k)
    decisions = plan_batch(jobs, intensity=intensity, history=history, policy=policy, regions=regions)
    by_index = dict(zip(todo, zip(jobs, decisions, strict=True), strict=True))
    out = []
    notes: list[str] = []
    for k, spec in enumerate(specs):
        legs = spec.matrix_legs if spec.matrix_legs is not None else 1
        event = event_for(spec, base.event)
        pending = JobPlan(workflow=spec.workflow, job=spec.job, source=spec.source, triggers=spec.triggers,
                          event=event, planned=False, matrix_legs=spec.matrix_legs, legs_counted=legs, uses=spec.uses,
                          needs=spec.needs, eligible=False, reason="")
        if k not in by_index:
            called = " (a reusable workflow: it runs inside its caller's run, planned there)" if spec.reusable else ""
            out.append(replace(pending, reason=f"not started by {event}: its triggers are "
                                               f"{', '.join(spec.triggers)}{called}"))
            continue
        job, d = by_index[k]
        job_notes = list(d.notes)
        if spec.matrix_legs is None:
            job_notes.append(f"matrix legs unknown until the run ({spec.matrix_expression}): counted once")
            notes.append(f"{spec.workflow} / {spec.job}: matrix legs unknown (an expression decides them), "
                         "counted once")
        if spec.uses:
            job_notes.append(f"calls the reusable workflow {spec.uses}: planned as one job of this run")
        out.append(replace(
            pending, planned=True, eligible=d.reason in _ELIGIBLE, reason=d.reason,
            duration_estimate_s=d.duration_estimate_s, estimate_source=d.estimate_source, window=d.window,
            region=d.region, start=d.start, wait_s=d.wait_s,
            energy_kwh=job.power_kw * d.duration_estimate_s / 3600.0 * legs, expected_g=d.expected_g * legs,
            baseline_g=d.baseline_g * legs, saving_g=d.saving_g * legs, notes=tuple(job_notes)))
    if any(j.planned and j.needs for j in out):
        out = _chained(out, by_index, intensity, regions, at)
    first = decisions[0] if decisions else None
    if first is None:
        notes.append(f"no workflow is started by {base.event or 'push'}: nothing planned; choose another event")
    return WorkflowPlan(at=iso(to_epoch_s(at)), event=base.event or "push",
                        forecast=first.forecast if first else "", synthetic=bool(first and first.synthetic),
                        oracle=bool(first and first.oracle), jobs=tuple(out), notes=tuple(notes))
