"""What a person or a CI system gives, turned into what the use cases take: a job, providers, a history.

The shells (CLI, service, CI gate) all need the same three things before they can ask for a decision:
a :class:`~greenci.jobs.Job` from a request and a workflow file's keys; a forecast provider from "these
files", "this API" or nothing (the labelled synthetic model); and a run-history store from trace files.
Errors name the field and the fix, never a command-line option.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from greenci.bounds import MAX_HORIZON_H, MAX_POWER_KW, check_range
from greenci.errors import InputError
from greenci.forecast import ForecastProvider, GridForecasts
from greenci.grid import IntensityGrid, IntensitySeries
from greenci.jobs import HistoryIndex, Job
from greenci.timeutil import from_epoch_s, iso, to_datetime, to_epoch_s
from greenci.units import parse_duration_s
from greenci.workflows import JobSpec

ReadSeries = Callable[[Sequence[Path]], list[IntensitySeries]]
HISTORY_S = 56 * 86400  # weeks of intensity before a decision that forecasts learn from
#: events greenci knows (GitHub Actions' triggers, Zuul's pipelines map onto them, batch for cluster traces)
EVENTS = ("push", "pull_request", "pull_request_target", "schedule", "workflow_dispatch", "workflow_run",
          "workflow_call", "merge_group", "release", "repository_dispatch", "batch")


@dataclass(frozen=True)
class JobRequest:
    """One job as asked for (any field may be missing; the workflow file's keys fill the gaps)."""

    repo: str = "local/repo"
    workflow: str | None = None
    job_name: str = ""
    event: str | None = None
    branch: str | None = None
    default_branch: str = "main"
    submitted_at: datetime | None = None
    duration: str | float | None = None
    deadline: str | None = None
    buffer_h: float | None = None
    allowed_regions: tuple[str, ...] | None = None
    carbon_aware: bool | None = None
    power_kw: float = 1.0
    id: str | None = None


def job_from_request(request: JobRequest, spec: JobSpec | None = None, *, now: datetime) -> Job:
    """The :class:`Job` of a request, with a workflow file's keys where the request says nothing."""
    submitted = request.submitted_at or now
    if spec is not None and request.workflow and request.workflow != spec.workflow:
        raise InputError(f"workflow {request.workflow!r} differs from the name {spec.workflow!r} in {spec.source}: "
                         "leave workflow out or give the matching file", field="workflow")
    workflow = request.workflow or (spec.workflow if spec else "ci")
    job_name = request.job_name or (spec.job if spec else "")
    event = request.event if request.event is not None else _event_of(spec)
    if event not in EVENTS:
        raise InputError(f"event {event!r} is unknown: use one of {', '.join(EVENTS)}", field="event")
    if spec is not None and spec.triggers and event not in spec.triggers and event != "workflow_dispatch":
        raise InputError(f"event {event!r} does not trigger workflow {spec.workflow!r} of {spec.source} (its triggers: "
                         f"{', '.join(spec.triggers)}): choose one of them", field="event")
    duration_s = (parse_duration_s(request.duration, field="duration") if request.duration is not None
                  else (spec.duration_s if spec else None))
    deadline = _deadline(request.deadline, spec, submitted)
    if deadline is not None and duration_s is not None and \
            to_epoch_s(submitted) + duration_s > to_epoch_s(deadline):
        room_min = (to_epoch_s(deadline) - to_epoch_s(submitted)) / 60
        raise InputError(f"deadline {iso(to_epoch_s(deadline))} is {room_min:g} "
                         f"min after the submission, shorter than the duration {duration_s / 60:g} min: the job "
                         "cannot meet it even when started now: give a later deadline or a shorter duration",
                         field=("deadline", "duration"))
    allowed = request.allowed_regions or (spec.allowed_regions if spec else None)
    carbon_aware = request.carbon_aware if request.carbon_aware is not None else (
        spec.carbon_aware if spec else None)
    buffer_s = None if request.buffer_h is None else float(request.buffer_h) * 3600.0
    if buffer_s is not None:
        check_range(float(request.buffer_h), field="buffer_h", low=0, high=MAX_HORIZON_H, unit="h")
    check_range(request.power_kw, field="power_kw", low=0, high=MAX_POWER_KW, unit="kW", low_open=True)
    branch = request.branch or request.default_branch
    job_id = request.id or f"{request.repo}:{workflow}:{job_name}@{submitted.isoformat()}"
    return Job(id=job_id, repo=request.repo, workflow=workflow, job_name=job_name, submitted_at=submitted,
               event=event, duration_estimate_s=duration_s, deadline=deadline, buffer_s=buffer_s,
               allowed_regions=tuple(allowed) if allowed else None, carbon_aware=carbon_aware,
               power_kw=float(request.power_kw), default_branch=branch == request.default_branch,
               crons=spec.crons if spec else (),
               keys_from=spec.source if spec is not None and not request.allowed_regions and spec.allowed_regions
               else None)


def _event_of(spec: JobSpec | None) -> str:
    """A workflow run only by its schedule is a scheduled run; anything else defaults to a push."""
    if spec is not None and spec.triggers and set(spec.triggers) <= {"schedule", "workflow_dispatch"} \
            and "schedule" in spec.triggers:
        return "schedule"
    return "push"


def _deadline(text: str | None, spec: JobSpec | None, submitted: datetime) -> datetime | None:
    """A deadline: a duration after submission (3h) or a UTC time; the request's wins over the file's."""
    if text is None and spec is not None:
        if spec.deadline_at:
            text = spec.deadline_at
        elif spec.deadline_after_s:
            text = f"{spec.deadline_after_s}s"
    if text is None:
        return None
    try:
        after = parse_duration_s(text, field="deadline")
        at = from_epoch_s(to_epoch_s(submitted) + after)
    except InputError:
        try:
            at = to_datetime(text)
        except InputError:
            raise InputError(f"deadline {text!r} is neither a duration (3h, 90m) nor an ISO 8601 time "
                             "(2022-10-12T18:00Z)", field="deadline") from None
    if at <= submitted:
        raise InputError(f"deadline {iso(to_epoch_s(at))} is not after the submission {iso(to_epoch_s(submitted))}: "
                         "give a later time or a duration", field="deadline")
    return at


def pick_job(specs: Sequence[JobSpec], job_name: str, path: str | os.PathLike[str]) -> JobSpec:
    """The job ``job_name`` of a workflow file (the only one when ``job_name`` is empty)."""
    if job_name:
        for s in specs:
            if s.job == job_name:
                return s
        raise InputError(f"{os.fspath(path)}: no job {job_name!r}: its jobs are {', '.join(s.job for s in specs)}",
                         field="job_name")
    if len(specs) != 1:
        raise InputError(f"{os.fspath(path)}: holds {len(specs)} jobs ({', '.join(s.job for s in specs)}): name "
                         "one with job_name", field="job_name")
    return specs[0]


# ---------------------------------------------------------------------------------------- providers
def forecast_provider(*, regions: Sequence[str], at_s: int, source: str | None = None,
                      files: Sequence[Path] = (), model: str = "ridge", cache_dir: Path | None = None,
                      read_series: ReadSeries | None = None, seed: int = 0) -> ForecastProvider:
    """Where a decision at ``at_s`` reads intensity: an API wrapped in the fallback chain (files, when
    given too, are its history for the profile step), files with a forecast model, or the synthetic model."""
    read = read_series or _read_intensity
    if source:
        from greenci.sources.clients import make_client
        from greenci.sources.fallback import DirectoryForecastStore, FallbackChain, MemoryForecastStore
        from greenci.sources.providers import ClientForecasts

        history = _files_grid(files, regions, at_s - HISTORY_S, at_s, read) if files else None
        store = DirectoryForecastStore(cache_dir) if cache_dir is not None else MemoryForecastStore()
        return FallbackChain(ClientForecasts(make_client(source)), store, history=history)
    if files:
        grid = _files_grid(files, regions, at_s - HISTORY_S, at_s + 2 * 86400, read)
        if not grid.start_s < at_s < grid.start_s + grid.n_slots * grid.step_s:
            raise InputError(f"the intensity files cover {iso(grid.start)} .. {iso(grid.end)}, not the decision "
                             f"time {iso(at_s)}: give files up to that time, an API source, or a time inside them "
                             "with at", field=("intensity", "at"))
        return GridForecasts(grid, model, label="intensity files")
    from greenci.synthetic import synthetic_grid

    grid = synthetic_grid(list(regions), start=np.datetime64(at_s - HISTORY_S, "s"), hours=HISTORY_S / 3600 + 72,
                          seed=seed)
    return GridForecasts(grid, model, label="the synthetic model (SYNTHETIC)")


def _files_grid(files: Sequence[Path], regions: Sequence[str], lo_s: int, hi_s: int, read: ReadSeries) -> IntensityGrid:
    series = [s for s in read(files) if s.region in set(regions)]
    missing = sorted(set(regions) - {s.region for s in series})
    if missing:
        held = sorted({s.region for s in read(files)})
        raise InputError(f"no intensity for region(s) {', '.join(missing)} in {', '.join(map(str, files))} (they "
                         f"hold {', '.join(held)}): give files for them or choose regions among those",
                         field="regions")
    grid = IntensityGrid.from_series(series).select(list(regions))
    lo, hi = max(lo_s, grid.start_s), min(hi_s, grid.start_s + grid.n_slots * grid.step_s)
    if hi <= lo:
        return grid
    return grid.between(np.datetime64(lo, "s"), np.datetime64(hi, "s"))


def _read_intensity(paths: Sequence[Path]) -> list[IntensitySeries]:
    from greenci.sources import read_intensity

    return read_intensity(list(paths))


def history_store(paths: Sequence[Path]) -> tuple[HistoryIndex, tuple[str, ...]]:
    """Earlier runs from trace files (any format :func:`greenci.traces.read_trace` reads), and a note naming
    the rows that could not be used (left out, never guessed)."""
    from greenci.traces import read_trace

    got = read_trace(list(paths))
    notes: tuple[str, ...] = ()
    if got.problems:
        first = got.problems[0]
        notes = (f"{len(got.problems):,} history rows could not be used and were left out (first: {first.path} "
                 f"row {first.row}: {first.reason})",)
    return HistoryIndex(got.jobs), notes


def default_cache_dir() -> Path:
    """Where separate CLI calls keep the last good forecasts: ``$GREENCI_CACHE_DIR`` or the XDG cache."""
    env = os.environ.get("GREENCI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "greenci" / "forecasts"


def footprint_source(sources: Sequence[str], region: str, *, read_series: ReadSeries | None = None) -> Any:
    """The intensity a footprint reads: one API (history when past, its forecast when ahead), files, or the
    synthetic model (the default, labelled synthetic)."""
    from greenci.sources.clients import CLIENT_NAMES

    read = read_series or _read_intensity
    special = [x for x in sources if x in CLIENT_NAMES or x == "synthetic"]
    if special and len(sources) > 1:
        raise InputError("the intensity source is either files/folders, or one API name, or 'synthetic': not a mix",
                         field="source")
    if special and special[0] in CLIENT_NAMES:
        from greenci.sources.clients import make_client
        from greenci.sources.providers import ClientForecasts

        return ClientForecasts(make_client(special[0]))
    if sources and not special:
        series = read([Path(p) for p in sources])
        mine = [s for s in series if s.region == region]
        if not mine:
            raise InputError(f"region {region!r} is not in {', '.join(sources)}: it holds "
                             f"{', '.join(sorted({s.region for s in series}))}: choose one of them", field="region")
        return GridForecasts(IntensityGrid.from_series(mine), "persistence", label="intensity files")
    from greenci.synthetic import SyntheticIntensity

    return SyntheticIntensity()
