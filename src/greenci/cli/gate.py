"""``greenci gate``: in a GitHub Actions step, run now, wait a little, or defer the run to the service.

The shell: read the run's GitHub variables and the options, get a decision (from a greenci service, or
planned here with the use case), turn it into ``continue`` / ``wait`` / ``defer``
(:func:`greenci.integrations.github_gate.gate`), write the step outputs and summary, and sleep for a
``wait``. Every outcome exits 0: a deferred run ends successfully and the service starts it again.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from greenci.cli.support import emit_json, friendly
from greenci.errors import InputError


class GateFormat(StrEnum):
    text = "text"
    json = "json"


def register(app: typer.Typer) -> None:
    """Add ``gate`` to ``app``."""
    app.command()(friendly(gate))


def gate(
    service: str | None = typer.Option(None, "--service", envvar="GREENCI_SERVICE_URL",
                                       help="The greenci service's base URL (GREENCI_SERVICE_URL); needed to defer."),
    token: str | None = typer.Option(None, "--token", envvar="GREENCI_SERVICE_TOKEN", show_default=False,
                                     help="An API token with the submit scope (GREENCI_SERVICE_TOKEN)."),
    intensity: list[Path] | None = typer.Option(None, "--intensity", help="Without --service: intensity files or "
                                                                           "folders to plan with here."),
    source: str | None = typer.Option(None, help="Without --service: a forecast API (electricitymaps, ...)."),
    regions: str | None = typer.Option(None, help="Without --service: comma-separated candidate regions."),
    forecast: str = typer.Option("ridge", help="Without --service: forecast model over files."),
    workflow_file: Path | None = typer.Option(None, help="Workflow YAML to read carbon-aware keys from."),
    job_name: str = typer.Option("", "--job", help="Job name (default: GITHUB_JOB)."),
    repo: str | None = typer.Option(None, help="owner/name (default: GITHUB_REPOSITORY)."),
    event: str | None = typer.Option(None, help="Trigger (default: GITHUB_EVENT_NAME)."),
    at: str | None = typer.Option(None, help="Submission time, UTC ISO 8601 (default: now)."),
    duration: str | None = typer.Option(None, help="Your runtime estimate, e.g. 20m."),
    deadline: str | None = typer.Option(None, help="A duration after submission (6h) or a UTC time."),
    allowed_regions: str | None = typer.Option(None, help="Comma-separated regions the job may run in."),
    carbon_aware: bool | None = typer.Option(None, "--carbon-aware/--no-carbon-aware",
                                             help="Opt in (may wait even if someone waits for it) or out."),
    priority: str | None = typer.Option(None, help="With --service: a priority class (critical, normal, flexible)."),
    power_kw: float = typer.Option(1.0, help="Average power draw of the job, kW."),
    max_wait: str = typer.Option("15m", help="Longest wait on the runner; a longer one defers the run."),
    idle_power_w: float = typer.Option(30.0, "--idle-power-w", help="Power of an idle runner, W: a wait must save "
                                                                     "more than it burns."),
    dispatch_workflow: str | None = typer.Option(None, help="Workflow file the service dispatches for a deferred "
                                                            "run (default: this run's, from GITHUB_WORKFLOW_REF)."),
    ref: str | None = typer.Option(None, help="Branch or tag of the dispatched run (default: this run's branch)."),
    greenci_job: str | None = typer.Option(None, "--greenci-job", envvar="GREENCI_JOB",
                                           help="Set in a run the service dispatched (its greenci_job input): it "
                                                "continues, never deferred again."),
    no_sleep: bool = typer.Option(False, "--no-sleep", help="For a wait, do not sleep (tests, dry runs)."),
    output_format: GateFormat = typer.Option(GateFormat.text, "--format", help="text or json."),
) -> None:
    """Gate a GitHub Actions job: continue now, wait a little, or defer it to a cleaner time (exit 0 for all)."""
    from greenci.integrations import github_gate as gg

    run = gg.GitHubRun.from_env(os.environ)
    max_wait_s = _max_wait_s(max_wait)
    gg.check_policy(max_wait_s, idle_power_w)
    if intensity and service:
        raise InputError("give --service (the service decides) or --intensity (plan here), not both")
    client = gg.ServiceClient(service, token) if service else None
    try:
        if greenci_job:
            job, note = gg.started_dispatched(client, greenci_job) if client else (None, None)
            result = gg.dispatched_result(greenci_job, run.greenci_region, job=job, notes=(note,) if note else ())
        elif client is not None:
            request = _request(run, repo, job_name, event, at, duration, deadline, allowed_regions, carbon_aware,
                               priority, power_kw, workflow_file)
            result = gg.decide_with_service(client, request, key=run.idempotency_key(job_name),
                                            dispatch=_target(run, dispatch_workflow, ref), power_kw=power_kw,
                                            max_wait_s=max_wait_s, idle_power_w=idle_power_w)
        else:
            decision = _plan_here(run, repo, job_name, event, at, duration, deadline, allowed_regions, carbon_aware,
                                  power_kw, workflow_file, intensity, source, regions, forecast)
            verdict = gg.gate(decision, power_kw=power_kw, max_wait_s=max_wait_s, idle_power_w=idle_power_w,
                              can_defer=False, defer_hint="deferring needs a greenci service (--service) to start "
                                                          "the run later")
            result = gg.result_of(verdict, decision, str(decision.get("job_id", "")))
        if run.output_path:
            gg.write_outputs(run.output_path, result.outputs())
        if run.summary_path:
            gg.write_summary(run.summary_path, gg.summary_markdown(result))
        _render(result, output_format)
        if result.outcome == "wait":
            _sleep_until(result, no_sleep)
        if client is not None and not greenci_job and result.outcome in ("continue", "wait"):
            note = gg.mark_started(client, result.decision_id)
            if note:
                typer.echo(f"note: {note}", err=True)
    finally:
        if client is not None:
            client.close()


def _max_wait_s(text: str) -> float:
    from greenci.units import parse_duration_s

    if text.strip() in ("0", "0s", "0m"):
        return 0.0
    return parse_duration_s(text, field="max_wait")


def _request(run: Any, repo: str | None, job_name: str, event: str | None, at: str | None, duration: str | None,
             deadline: str | None, allowed_regions: str | None, carbon_aware: bool | None, priority: str | None,
             power_kw: float, workflow_file: Path | None) -> dict[str, Any]:
    """The service's job request from the options, the run's variables and the workflow file's keys."""
    spec = _spec(workflow_file, job_name or run.job)
    body: dict[str, Any] = {"repo": repo or run.repo or "local/repo",
                            "workflow": run.workflow or (spec.workflow if spec else "ci"),
                            "job": job_name or run.job, "event": event or run.event or None,
                            "branch": run.branch or None, "default_branch": run.default_branch,
                            "submitted_at": at, "duration": duration, "deadline": deadline,
                            "allowed_regions": _allowed(allowed_regions), "carbon_aware": carbon_aware,
                            "power_kw": power_kw}
    if spec is not None:
        body["workflow"] = spec.workflow if not run.workflow else body["workflow"]
        if body["duration"] is None and spec.duration_s:
            body["duration"] = f"{spec.duration_s:g}s"
        if body["deadline"] is None and (spec.deadline_at or spec.deadline_after_s):
            body["deadline"] = spec.deadline_at or f"{spec.deadline_after_s:g}s"
        if body["allowed_regions"] is None and spec.allowed_regions:
            body["allowed_regions"] = list(spec.allowed_regions)
        if body["carbon_aware"] is None:
            body["carbon_aware"] = spec.carbon_aware
    if priority:
        body["priority"] = priority
    return {k: v for k, v in body.items() if v is not None}


def _spec(workflow_file: Path | None, job_name: str) -> Any:
    if workflow_file is None:
        return None
    from greenci.usecases.inputs import pick_job
    from greenci.workflows import read_workflow

    return pick_job(read_workflow(workflow_file), job_name, workflow_file)


def _allowed(text: str | None) -> list[str] | None:
    if text is None:
        return None
    regions = [r.strip() for r in text.split(",") if r.strip()]
    if not regions:
        raise InputError(f"--allowed-regions {text!r} names no region: write e.g. eu-central-1,GB")
    return regions


def _target(run: Any, dispatch_workflow: str | None, ref: str | None) -> dict[str, Any] | None:
    """The workflow the service dispatches for a deferred run (None: not known, the run cannot be deferred)."""
    workflow_file = dispatch_workflow or run.workflow_file
    if not workflow_file:
        return None
    if "/" in workflow_file:
        raise InputError(f"--dispatch-workflow {workflow_file!r} must name the file only, e.g. nightly.yml")
    return {"type": "github", "workflow_file": workflow_file, "ref": ref or run.branch or run.default_branch}


def _plan_here(run: Any, repo: str | None, job_name: str, event: str | None, at: str | None, duration: str | None,
               deadline: str | None, allowed_regions: str | None, carbon_aware: bool | None, power_kw: float,
               workflow_file: Path | None, intensity: list[Path] | None, source: str | None, regions: str | None,
               forecast: str) -> dict[str, Any]:
    """The decision planned here with the use case, as the service would (no service: nothing to defer to)."""
    from greenci.cli.scheduling import _regions
    from greenci.cli.support import read_series
    from greenci.timeutil import epoch_s, to_datetime, to_epoch_s
    from greenci.usecases.inputs import JobRequest, default_cache_dir, forecast_provider, job_from_request
    from greenci.usecases.plan import PlanPolicy, plan_job

    submitted = to_datetime(at, field="at") if at is not None else \
        datetime.fromtimestamp(epoch_s(datetime.now(UTC)), UTC)
    name = job_name or run.job
    spec = _spec(workflow_file, name)
    allowed = _allowed(allowed_regions)
    request = JobRequest(repo=repo or run.repo or "local/repo", workflow=None if spec else (run.workflow or None),
                         job_name=name, event=event or run.event or None, branch=run.branch or None,
                         default_branch=run.default_branch, submitted_at=submitted, duration=duration,
                         deadline=deadline, allowed_regions=tuple(allowed) if allowed else None,
                         carbon_aware=carbon_aware, power_kw=power_kw)
    job = job_from_request(request, spec, now=submitted)
    region_list = _regions(regions)
    provider = forecast_provider(regions=region_list, at_s=to_epoch_s(submitted), source=source,
                                 files=intensity or (), model=forecast, cache_dir=default_cache_dir(),
                                 read_series=read_series)
    return plan_job(job, intensity=provider, policy=PlanPolicy.build(), regions=region_list).to_dict()


def _render(result: Any, output_format: GateFormat) -> None:
    if output_format is GateFormat.json:
        emit_json(result.to_dict())
        return
    lines = [f"greenci gate: {result.outcome}", f"  why: {result.why}"]
    if result.region:
        lines.append(f"  region: {result.region}, start {result.start} (wait {result.wait_s / 60:.0f} min)")
    if result.expected_g is not None:
        saving = f", saving {result.saving_g:.1f} gCO2eq" if result.saving_g is not None else ""
        lines.append(f"  expected: {result.expected_g:.1f} gCO2eq{saving}")
    if result.decision_id:
        lines.append(f"  decision: {result.decision_id}")
    if result.outcome == "defer":
        lines.append(f"  next: this run ends now; the service starts the workflow again at {result.start}")
    lines += [f"  note: {n}" for n in result.notes]
    typer.echo("\n".join(lines))


def _sleep_until(result: Any, no_sleep: bool) -> None:
    """Sleep until the decided start (never longer than the decided wait); a start already past sleeps not."""
    if no_sleep:
        return
    from greenci.timeutil import to_datetime, to_epoch_s

    try:
        start_s = to_epoch_s(to_datetime(result.start, field="start"))
    except InputError:
        start_s = time.time() + result.wait_s
    time.sleep(max(0.0, min(result.wait_s, start_s - time.time())))
