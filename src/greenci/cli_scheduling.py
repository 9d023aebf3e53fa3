"""``greenci simulate``, ``schedule`` and ``trace``: the command-line shell of scheduling and replay.

The main CLI adds these with :func:`register`; every command only parses options, calls the core
(:mod:`greenci.simulation`, :mod:`greenci.planner`, :mod:`greenci.traces`) and prints its result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console

from greenci.cli_support import OutputFormat
from greenci.cli_support import Progress as _Progress
from greenci.cli_support import clean as _clean
from greenci.cli_support import console as _console
from greenci.cli_support import emit_json as _emit_json
from greenci.cli_support import friendly as _friendly
from greenci.cli_support import int_list as _int_list
from greenci.cli_support import read_series as _read_series
from greenci.errors import InputError


def register(app: typer.Typer) -> None:
    """Add ``simulate``, ``schedule`` and the ``trace`` group to ``app``."""
    app.command()(_friendly(simulate))
    app.command()(_friendly(schedule))
    trace_app = typer.Typer(no_args_is_help=True, help="CI run histories: fetch from GitHub, inspect.")
    trace_app.command("fetch")(_friendly(trace_fetch))
    trace_app.command("summary")(_friendly(trace_summary))
    app.add_typer(trace_app, name="trace")


# ------------------------------------------------------------------------------------------ simulate
def simulate(
    study: bool = typer.Option(False, "--study", help="Reproduce the CI/CD study: 12 regions, 7,392 runs, 4 days."),
    trace: list[Path] | None = typer.Option(None, "--trace", help="CI run histories (GHAminer CSV, GitHub JSON, CSV)."),
    intensity: list[Path] | None = typer.Option(
        None, "--intensity", help="Intensity files or folders (default: ../shared data, else the synthetic model)."),
    regions: str | None = typer.Option(None, help="Comma-separated regions (default: the study's 12)."),
    start: str | None = typer.Option(None, help="First day of the replay, UTC (default 2022-10-12 for --study)."),
    days: float = typer.Option(4.0, help="Days to replay."),
    strategies: str = typer.Option(",".join(("round-robin", "location", "lts-1", "lts-3", "lts-6", "oracle",
                                             "greenci")), help="Comma-separated strategies."),
    buffer_h: float = typer.Option(6.0, "--buffer-h", help="Buffer of 'oracle' and 'greenci' without a suffix."),
    capacity: int | None = typer.Option(None, help="Concurrent runners per region for greenci (default: unlimited)."),
    wait_price: float = typer.Option(0.0, help="greenci: g per kWh-hour a wait must save to be worth it."),
    forecast: str = typer.Option("ridge", help="Forecast deciders see: ridge, persistence, seasonal-naive, perfect."),
    seed: int = typer.Option(2022, help="Seed of the generated study runs."),
    align_to: str | None = typer.Option(None, help="Shift the trace by whole weeks to start near this date."),
    implausible: str = typer.Option(
        "auto", help="Implausible runtimes: 'cap' at the workflow's plausible limit, 'exclude', 'keep', or 'auto' "
                     "(cap for CI traces, keep for batch traces such as GAIA's)."),
    nightly_tz: str | None = typer.Option(
        None, help="greenci: infer nightly deadlines (next 08:00) in this IANA time zone, e.g. Europe/Berlin."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Folder for JSON, CSV/Parquet and PNG outputs."),
    sweep: bool = typer.Option(False, "--sweep", help="Sweep strategies x buffers x region sets x seeds on Dask."),
    buffers: str = typer.Option("1,3,6", help="--sweep: buffers in hours."),
    seeds: str = typer.Option("2022", help="--sweep: seeds of the generated study runs."),
    region_set: list[str] | None = typer.Option(None, "--region-set",
                                                help="--sweep: NAME=R1,R2,... (repeatable; default: --regions)."),
    scheduler: str | None = typer.Option(None, help="--sweep: Dask scheduler address, or 'serial' (default: local "
                                                    "cluster)."),
) -> None:
    """Replay CI runs through scheduling strategies: decided on forecasts, accounted on actual intensity."""
    from greenci.scheduling.strategies import make_strategy
    from greenci.simulation import simulate as run_simulation
    from greenci.simulation_report import (
        load_table,
        repo_table,
        simulation_json,
        simulation_table,
        timeline_table,
        write_outputs,
    )
    from greenci.study import STUDY_REDUCTIONS, STUDY_REGIONS

    names = [n.strip() for n in strategies.split(",") if n.strip()]
    region_list = [r.strip() for r in regions.split(",")] if regions else list(STUDY_REGIONS)
    if not study and not trace:
        raise InputError("give --study (generated runs as in the study) or --trace FILE... (real CI histories)")
    if sweep:
        _run_sweep(study, trace or [], intensity or [], region_list, region_set or [], start, days, names, buffers,
                   seeds, forecast, scheduler, align_to, implausible, output_format)
        return
    strats = [make_strategy(n, default_buffer_h=buffer_h, capacity=capacity, wait_price_g_per_kwh_h=wait_price,
                            nightly_time_zone=nightly_tz) for n in names]
    jobs, grid = _simulation_inputs(study, trace or [], intensity or [], region_list, start, days, seed,
                                    align_to, implausible)
    bar = _Progress("simulating strategies", len(strats))
    try:
        result = run_simulation(jobs, grid, strats, forecast=forecast, keep_placements=out is not None,
                                progress=lambda d, t: bar.update(d, t))
    finally:
        bar.close()
    reference = STUDY_REDUCTIONS if study or trace else None
    generated = None
    if trace:  # the reproduction on generated runs, same regions and forecast, for side-by-side reading
        gen_jobs, gen_grid = _simulation_inputs(True, [], intensity or [], region_list, None, 4.0, seed, None,
                                                implausible)
        gen = run_simulation(gen_jobs, gen_grid, strats, forecast=forecast)
        generated = {s.name: s.reduction_vs_round_robin for s in gen.strategies}
    if out is not None:
        written = write_outputs(result, out, reference)
        Console(stderr=True).print("wrote " + ", ".join(str(p) for p in written), highlight=False)
    if output_format is OutputFormat.json:
        _emit_json(simulation_json(result, reference, generated))
        return
    console = _console()
    console.print(simulation_table(result, reference, generated))
    if len(result.by_repo) > 1:
        console.print(repo_table(result))
    console.print(load_table(result))
    console.print(timeline_table(result))


def _run_sweep(study: bool, trace: list[Path], intensity: list[Path], regions: list[str], region_sets: list[str],
               start: str | None, days: float, names: list[str], buffers: str, seeds: str, forecast: str,
               scheduler: str | None, align_to: str | None, implausible: str, output_format: OutputFormat) -> None:
    """``simulate --sweep``: every strategy x buffer x region set x seed, on Dask (or serially)."""
    import re

    from greenci.sweep import StudyTrace, sweep, sweep_local

    sets: dict[str, list[str]] = {}
    for spec in region_sets:
        name, eq, members = spec.partition("=")
        if not eq or not name.strip() or not members.strip():
            raise InputError(f"--region-set {spec!r} must be NAME=R1,R2,... e.g. europe=DE-LU,GB")
        sets[name.strip()] = [m.strip() for m in members.split(",") if m.strip()]
    if not sets:
        sets = {"regions": regions}
    every = sorted({r for members in sets.values() for r in members})
    jobs, grid = _simulation_inputs(study, trace, intensity, every, start, days, int(_int_list(seeds, "--seeds")[0]),
                                    align_to, implausible)
    bases = sorted({re.sub(r"-[0-9.]+$", "", n) for n in names})
    buffer_list = [float(b) for b in buffers.split(",") if b.strip()]
    seed_list = _int_list(seeds, "--seeds")
    trace_factory = None
    if study:
        from greenci.study import study_runs
        from greenci.tracegen import STUDY_START

        trace_factory = StudyTrace(runs=study_runs(days), days=days, start=start or STUDY_START)
    kwargs = dict(strategies=bases, buffers_h=buffer_list, region_sets=sets, seeds=seed_list, forecast=forecast,
                  trace_factory=trace_factory)
    bar = _Progress("sweeping", 1)
    try:
        progress = lambda d, t: bar.update(d, t)  # noqa: E731
        if scheduler == "serial":
            rows = sweep_local(None if study else jobs, grid, progress=progress, **kwargs)
        else:
            rows = sweep(None if study else jobs, grid, scheduler=scheduler, progress=progress, **kwargs)
    finally:
        bar.close()
    if output_format is OutputFormat.json:
        from dataclasses import asdict

        _emit_json({"rows": [asdict(r) for r in rows], "synthetic_jobs": bool(study),
                    "synthetic_intensity": grid.synthetic})
        return
    from rich.table import Table

    table = Table(title=f"Sweep: {len(rows)} rows" + (" — SYNTHETIC runs" if study else ""))
    for col in ("region set", "seed", "strategy", "buffer h", "kgCO2eq", "vs round-robin", "misses", "wait P95"):
        table.add_column(col, justify="left" if col in ("region set", "strategy") else "right")
    for r in rows:
        table.add_row(r.region_set, str(r.seed), r.strategy, f"{r.buffer_h:g}", f"{r.emissions_g / 1000:,.2f}",
                      f"{-100 * r.reduction_vs_round_robin:+.2f} %" if r.reduction_vs_round_robin else "0.00 %",
                      str(r.deadline_misses), f"{r.wait_p95_s / 3600:.2f} h")
    _console().print(table)


def _simulation_inputs(study: bool, trace: list[Path], intensity: list[Path], regions: list[str],
                       start: str | None, days: float, seed: int, align_to: str | None,
                       implausible: str) -> tuple[Any, Any]:
    """Jobs and the intensity grid for ``greenci simulate``."""
    from greenci.study import load_intensity_grid, study_runs
    from greenci.timeutil import to_datetime64

    if not days > 0:
        raise InputError(f"--days {days} must be positive")
    if trace:
        return _trace_inputs(trace, intensity, regions, start, days, seed, align_to, implausible)
    from greenci.tracegen import STUDY_START, generate_study_trace

    t0 = to_datetime64(start or STUDY_START)
    t1 = t0 + np.timedelta64(int(days * 86400), "s")
    jobs = generate_study_trace(start=t0, days=days, runs=study_runs(days), seed=seed)
    if not intensity:
        from greenci.shared_data import find_shared_data

        found = find_shared_data()
        if found is not None:
            intensity = [found / "intensity" / "electricitymaps-hourly"]
    if intensity:
        grid = load_intensity_grid(intensity, regions, t0, t1, read_series=_read_series)
    else:
        from greenci.synthetic import synthetic_grid

        hist = np.timedelta64(56 * 86400, "s")
        span_h = float((t1 - t0 + hist).astype(np.int64)) / 3600 + 48
        grid = synthetic_grid(regions, start=t0 - hist, hours=span_h, seed=seed)
    return jobs, grid


# ------------------------------------------------------------------------------------------ schedule
def schedule(
    repo: str = typer.Option("local/repo", help="Repository, owner/name."),
    workflow: str = typer.Option("ci", help="Workflow name."),
    job_name: str = typer.Option("", "--job", help="Job name within the workflow."),
    event: str = typer.Option("push", help="Trigger: push, pull_request, schedule, workflow_dispatch."),
    at: str | None = typer.Option(None, help="Submission time, UTC ISO 8601 (default: now)."),
    duration: str | None = typer.Option(None, help="Your runtime estimate (e.g. 20m); blended with history."),
    deadline: str | None = typer.Option(None, help="Deadline: a duration after submission (3h) or a UTC time."),
    buffer_h: float = typer.Option(6.0, "--buffer-h", help="Allowed waiting when no deadline is given."),
    allowed_regions: str | None = typer.Option(None, help="Comma-separated regions the job may run in."),
    carbon_aware: bool = typer.Option(True, "--carbon-aware/--no-carbon-aware", help="May greenci shift it?"),
    power_kw: float = typer.Option(1.0, help="Average power draw of the job, kW."),
    workflow_file: Path | None = typer.Option(None, help="Workflow YAML to read carbon-aware keys from."),
    history: list[Path] | None = typer.Option(None, help="Run histories of this workflow (trace files)."),
    intensity: list[Path] | None = typer.Option(None, help="Intensity files or folders."),
    source: str | None = typer.Option(None, help="Forecast API instead of files: electricitymaps, watttime, ..."),
    regions: str | None = typer.Option(None, help="Comma-separated candidate regions (default: the study's 12)."),
    forecast: str = typer.Option("ridge", help="Forecast model over files: ridge, persistence, seasonal-naive."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Decide one job: region, start, expected emissions, saving and the reason in words."""
    from dataclasses import asdict
    from datetime import UTC, datetime

    from greenci.jobs import Job
    from greenci.planner import plan_job
    from greenci.study import STUDY_REGIONS
    from greenci.timeutil import to_datetime64
    from greenci.units import parse_duration_s

    submitted = datetime.fromtimestamp(int(to_datetime64(at).astype(np.int64)), UTC) if at else datetime.now(UTC)
    region_list = [r.strip() for r in regions.split(",")] if regions else list(STUDY_REGIONS)
    est = parse_duration_s(duration, field="--duration") if duration else None
    allowed = tuple(r.strip() for r in allowed_regions.split(",")) if allowed_regions else None
    dl = None
    if workflow_file is not None:
        from greenci.workflows import read_workflow

        specs = [s for s in read_workflow(workflow_file) if not job_name or s.job == job_name]
        if not specs:
            raise InputError(f"{workflow_file}: no job {job_name!r}: use --job with one of its job ids")
        spec = specs[0]
        workflow, job_name = spec.workflow, spec.job
        est = est or spec.duration_s
        allowed = allowed or spec.allowed_regions
        carbon_aware = carbon_aware if spec.carbon_aware is None else spec.carbon_aware
        deadline = deadline or spec.deadline_at or (f"{spec.deadline_after_s}s" if spec.deadline_after_s else None)
    if deadline:
        try:
            dl = submitted + _timedelta(parse_duration_s(deadline, field="--deadline"))
        except InputError:
            dl = datetime.fromtimestamp(int(to_datetime64(deadline).astype(np.int64)), UTC)
    job = Job(id=f"{repo}:{workflow}:{job_name}@{submitted.isoformat()}", repo=repo, workflow=workflow,
              job_name=job_name, submitted_at=submitted, event=event, duration_estimate_s=est, deadline=dl,
              buffer_s=buffer_h * 3600.0, allowed_regions=allowed, carbon_aware=carbon_aware, power_kw=power_kw)
    past = None
    if history:
        from greenci.traces import read_trace

        past = read_trace(history).jobs
    grid, as_forecast = _schedule_grid(region_list if not allowed else list(dict.fromkeys([*allowed])),
                                       submitted, intensity or [], source)
    decision = plan_job(job, grid, history=past, forecast=forecast, default_buffer_s=buffer_h * 3600.0,
                        grid_is_forecast=as_forecast)
    if output_format is OutputFormat.json:
        _emit_json(asdict(decision))
        return
    from greenci.report import SYNTHETIC_NOTE, key_value_table

    rows = [("run in", decision.region), ("start", f"{decision.start} (wait {decision.wait_s / 3600:.2f} h)"),
            ("duration estimate", f"{decision.duration_estimate_s / 60:.1f} min from {decision.history_runs} runs"),
            ("expected", f"{decision.expected_g:.1f} gCO2eq"),
            ("run now (mean of regions)", f"{decision.baseline_g:.1f} gCO2eq"),
            ("expected saving", f"{decision.saving_g:.1f} gCO2eq"), ("why", decision.reason)]
    _console().print(key_value_table("Decision" + (" — SYNTHETIC" if decision.synthetic else ""), rows,
                                     caption=SYNTHETIC_NOTE if decision.synthetic else None))


def _timedelta(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


def _schedule_grid(regions: list[str], submitted: Any, intensity: list[Path], source: str | None) -> tuple[Any, bool]:
    """The grid a one-job decision reads: an API forecast as is, or files/synthetic with a forecast model."""
    from greenci.grid import IntensityGrid

    at = np.datetime64(int(submitted.timestamp()), "s")
    if source:
        from greenci.sources.clients import make_client

        client = make_client(source)
        return IntensityGrid.from_series([client.forecast(r) for r in regions], span="common"), True
    if intensity:
        from greenci.study import load_intensity_grid

        return load_intensity_grid(intensity, regions, at, at + np.timedelta64(86400, "s"),
                                   read_series=_read_series), False
    from greenci.synthetic import synthetic_grid

    return synthetic_grid(regions, start=at - np.timedelta64(56 * 86400, "s"), hours=56 * 24 + 72), False


def _trace_inputs(trace: list[Path], intensity: list[Path], regions: list[str], start: str | None, days: float,
                  seed: int, align_to: str | None, implausible: str) -> tuple[Any, Any]:
    """Real CI histories: read, clean implausible runtimes, align whole weeks into the intensity span."""
    from dataclasses import replace

    from greenci.grid import IntensityGrid
    from greenci.timeutil import to_datetime64
    from greenci.traces import read_trace
    from greenci.traces.cleaning import align_into, align_to_weeks, clean_implausible

    read = read_trace(trace)
    jobs = read.jobs
    if read.problems:
        first = read.problems[0]
        jobs = replace(jobs, notes=(*jobs.notes, f"{len(read.problems):,} trace rows could not be used (first: "
                                                 f"{first.path} row {first.row}: {first.reason})"))
    if implausible not in ("auto", "cap", "exclude", "keep"):
        raise InputError(f"--implausible {implausible!r} must be auto, cap, exclude or keep")
    batch = bool(np.all(jobs.event.astype(str) == "batch"))
    if implausible == "keep" or (implausible == "auto" and batch):
        why = "batch trace: no CI job limit applies" if batch else "--implausible keep"
        jobs = replace(jobs, notes=(*jobs.notes, f"runtimes kept as read ({why})"))
    else:
        jobs, _ = clean_implausible(jobs, policy="cap" if implausible == "auto" else implausible)
    if not intensity:
        from greenci.shared_data import find_shared_data

        found = find_shared_data()
        if found is None:
            raise InputError("--trace needs --intensity FILES|DIR (no ../shared data found to default to)")
        intensity = [found / "intensity" / "electricitymaps-hourly"]
    series = [s for s in _read_series(intensity) if s.region in set(regions)]
    missing = sorted(set(regions) - {s.region for s in series})
    if missing:
        raise InputError(f"no intensity for region(s) {', '.join(missing)} in {', '.join(map(str, intensity))}")
    grid = IntensityGrid.from_series(series).select(regions)
    history = np.timedelta64(56 * 86400, "s")
    if align_to:
        jobs, _ = align_to_weeks(jobs, align_to)
    elif int(jobs.submitted_s[0]) < int((grid.start + history).astype(np.int64)) or \
            float(np.max(jobs.submitted_s + jobs.duration_s)) > float(grid.end.astype(np.int64)):
        jobs, _ = align_into(jobs, grid.start + history, grid.end - np.timedelta64(2 * 86400, "s"),
                             drop_outside=True)
    if start:
        t0 = int(to_datetime64(start).astype(np.int64))
        keep = (jobs.submitted_s >= t0) & (jobs.submitted_s < t0 + days * 86400)
        if not keep.any():
            raise InputError(f"no run of the trace falls in --start {start} + {days:g} days after alignment")
        jobs = jobs.take(np.flatnonzero(keep))
    t_first = np.datetime64(int(jobs.submitted_s[0]), "s")
    t_last = np.datetime64(int(np.max(jobs.submitted_s + jobs.duration_s)), "s")
    lo = max(t_first - history, grid.start)
    hi = min(t_last + np.timedelta64(2 * 86400, "s"), grid.end)
    return jobs, grid.between(lo, hi)


# ------------------------------------------------------------------------------------------ trace


def trace_fetch(
    repos: list[str] = typer.Argument(..., help="Repositories as owner/name."),
    out_dir: Path = typer.Option(Path("traces"), "-o", "--out", help="Folder for one JSON file per repository."),
    since: str | None = typer.Option(None, help="Only runs created at or after this UTC time."),
    max_pages: int = typer.Option(10, help="At most this many pages of 100 runs per repository."),
    base_url: str = typer.Option("https://api.github.com", help="GitHub API base URL (GitHub Enterprise)."),
) -> None:
    """Page GitHub's workflow-runs API (token from GREENCI_GITHUB_TOKEN or GITHUB_TOKEN) into JSON files."""
    from greenci.traces.github_rest import fetch_runs

    out_dir.mkdir(parents=True, exist_ok=True)
    bar = _Progress("fetching runs", len(repos))
    try:
        for k, repo in enumerate(repos):
            target = out_dir / (repo.replace("/", "__") + ".json")
            res = fetch_runs(repo, out=target, since=since, max_pages=max_pages, base_url=base_url)
            more = "" if res.complete else f" (stopped after {res.pages} pages; raise --max-pages for more)"
            Console(stderr=True).print(f"{repo}: {res.runs:,} runs -> {res.path}{more}", highlight=False)
            bar.update(k + 1)
    finally:
        bar.close()


def trace_summary(
    paths: list[Path] = typer.Argument(..., help="Trace files or folders."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Runs per repository and event, unusable rows, implausible runtimes and the duration estimator's error."""
    from greenci.jobs import estimate_durations, estimate_error
    from greenci.traces import read_trace
    from greenci.traces.cleaning import find_implausible

    read = read_trace(paths)
    jobs = read.jobs
    found = find_implausible(jobs)
    err = estimate_error(jobs, estimate_durations(jobs))
    repos, counts = np.unique(jobs.repo.astype(str), return_counts=True)
    events, ecounts = np.unique(jobs.event.astype(str), return_counts=True)
    doc = {
        "jobs": len(jobs), "problems": len(read.problems),
        "first_problems": [{"path": str(p.path), "row": p.row, "reason": p.reason} for p in read.problems[:5]],
        "repositories": {str(r): int(c) for r, c in zip(repos, counts, strict=True)},
        "events": {str(e): int(c) for e, c in zip(events, ecounts, strict=True)},
        "implausible": {"runs": len(found), "rule": found.rule, "by_repo": found.by_repo()},
        "duration_estimator": {"estimated": err.estimated, "mae_s": _clean(err.mae_s),
                               "under_share": _clean(err.under_share), "median_ratio": _clean(err.median_ratio)},
        "notes": list(jobs.notes),
    }
    if output_format is OutputFormat.json:
        _emit_json(doc)
        return
    from greenci.report import key_value_table

    rows = [("runs", f"{len(jobs):,}"), ("rows left out", f"{len(read.problems):,}")]
    rows += [(f"repo {r}", f"{c:,}") for r, c in sorted(doc["repositories"].items(), key=lambda kv: -kv[1])]
    rows += [(f"event {e}", f"{c:,}") for e, c in sorted(doc["events"].items(), key=lambda kv: -kv[1])]
    rows += [("implausible runtimes", f"{len(found):,}"),
             ("estimate MAE", f"{err.mae_s / 60:.1f} min"), ("under-estimated", f"{100 * err.under_share:.1f} %")]
    _console().print(key_value_table("Trace", rows, caption=found.rule + "\n" + "\n".join(jobs.notes)))
