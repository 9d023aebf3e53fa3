"""``greenci simulate`` and ``greenci schedule``: parse options, call a use case, render its answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from greenci.bounds import MAX_HORIZON_H, check_range
from greenci.cli.support import OutputFormat, waiting
from greenci.cli.support import Progress as _Progress
from greenci.cli.support import console as _console
from greenci.cli.support import emit_json as _emit_json
from greenci.cli.support import friendly as _friendly
from greenci.cli.support import int_list as _int_list
from greenci.cli.support import read_series as _read_series
from greenci.errors import InputError

_STUDY_STRATEGIES = "round-robin,location,lts-1,lts-3,lts-6,oracle,greenci"


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``schedule`` to ``app``."""
    app.command()(_friendly(simulate))
    app.command()(_friendly(schedule))


def _rules(delay_user_triggered: list[str] | None, min_saving_g: float) -> Any:
    """Fail-fast policy from ``--delay-user-triggered all|OWNER/REPO|OWNER/REPO:WORKFLOW`` (repeatable)."""
    from greenci.scheduling.eligibility import EligibilityRules

    given = [v.strip() for v in delay_user_triggered or []]
    for v in given:
        if v != "all" and not re.fullmatch(r"[\w.-]+/[\w.-]+(:.+)?", v):
            raise InputError(f"--delay-user-triggered {v!r} must be 'all', OWNER/REPO or OWNER/REPO:WORKFLOW, "
                             "e.g. acme/app:nightly")
    check_range(min_saving_g, field="--min-saving-g", low=0, high=1e9, unit="g")
    return EligibilityRules(delay_user_triggered="all" in given,
                            overrides={v: True for v in given if v != "all"}, min_saving_g=min_saving_g)


def _regions(text: str | None) -> tuple[str, ...]:
    from greenci.study import STUDY_REGIONS

    if not text:
        return STUDY_REGIONS
    regions = tuple(r.strip() for r in text.split(",") if r.strip())
    if not regions:
        raise InputError(f"--regions {text!r} names no region: write e.g. DE-LU,GB")
    return regions


_DELAY_HELP = ("Let runs someone waits for (pull requests, manual runs, other branches) wait too: 'all', "
               "OWNER/REPO or OWNER/REPO:WORKFLOW (repeatable). Default: they run now (fail fast).")


# ------------------------------------------------------------------------------------------ simulate
def simulate(
    study: bool = typer.Option(False, "--study", help="Reproduce the CI/CD study: 12 regions, 7,392 runs, 4 days."),
    trace: list[Path] | None = typer.Option(None, "--trace", help="CI run histories (GHAminer CSV, GitHub JSON, CSV); "
                                                                  "several files may follow one --trace."),
    intensity: list[Path] | None = typer.Option(
        None, "--intensity", help="Intensity files or folders (default: ../shared data, else the synthetic model)."),
    regions: str | None = typer.Option(None, help="Comma-separated regions (default: the study's 12)."),
    start: str | None = typer.Option(None, help="First day of the replay, UTC (default 2022-10-12 for --study)."),
    days: float = typer.Option(4.0, help="Days to replay."),
    strategies: str = typer.Option(_STUDY_STRATEGIES, help="Comma-separated strategies."),
    buffer_h: float = typer.Option(6.0, "--buffer-h", help="Buffer of 'oracle' and 'greenci' without a suffix."),
    capacity: int | None = typer.Option(None, help="Runners per region, for every strategy (default: unlimited)."),
    pools: Path | None = typer.Option(None, "--pools", help="Runner pools per region (YAML or JSON, see "
                                                            "examples/pools.yaml): capacity, and pool energy "
                                                            "(busy and idle nodes) for every strategy."),
    wait_price: float = typer.Option(0.0, help="greenci: g per kWh-hour a wait must save to be worth it."),
    min_saving_g: float = typer.Option(0.0, "--min-saving-g", help="greenci: run now when waiting saves less."),
    delay_user_triggered: list[str] | None = typer.Option(None, "--delay-user-triggered", help=_DELAY_HELP),
    forecast: str = typer.Option("ridge", help="Forecast deciders see: ridge, persistence, seasonal-naive, perfect."),
    seed: int = typer.Option(2022, help="Seed of the generated study runs."),
    align_to: str | None = typer.Option(None, help="Shift the trace by whole weeks to start near this date."),
    implausible: str = typer.Option(
        "auto", help="Implausible runtimes: 'cap' at the workflow's plausible limit, 'exclude', 'keep', or 'auto' "
                     "(cap for CI traces, keep for batch traces such as GAIA's)."),
    nightly_tz: str | None = typer.Option(
        None, help="greenci: unattended runs outside office hours may wait until 08:00 in this IANA time zone."),
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
    from greenci.usecases.replay import ReplayRequest, replay

    if not study and not trace:
        raise InputError("give --study (generated runs as in the study) or --trace FILE... (real CI histories)")
    if study and trace:
        raise InputError("give --study or --trace, not both: they replay different runs")
    if out is not None:
        from greenci.outputs import check_folder

        check_folder(out, field="-o")
    sweep_only = {"--buffers": buffers != "1,3,6", "--seeds": seeds != "2022", "--region-set": bool(region_set),
                  "--scheduler": scheduler is not None}
    if not sweep and any(sweep_only.values()):
        raise InputError(f"{', '.join(k for k, v in sweep_only.items() if v)} apply only with --sweep: add --sweep "
                         "or leave them out")
    if sweep and out is not None:
        raise InputError("-o writes a replay's outputs; a --sweep prints its table (or --format json): leave -o out")
    if pools is not None and capacity is not None:
        raise InputError("--capacity and --pools both size the runners: give --capacity N (one size for every "
                         "region) or --pools FILE (per region), not both", field=("capacity", "pools"))
    if pools is not None and sweep:
        raise InputError("--pools applies to a replay, not to --sweep: leave one of them out", field="pools")
    pool_set = None
    if pools is not None:
        from greenci.scheduling.pools import read_pools

        pool_set = read_pools(pools)
    names = tuple(n.strip() for n in strategies.split(",") if n.strip())
    request = ReplayRequest(
        study=study, trace=tuple(trace or ()), intensity=tuple(intensity or ()), regions=_regions(regions),
        start=start, days=days, strategies=names, buffer_h=buffer_h, capacity=capacity,
        wait_price_g_per_kwh_h=wait_price, forecast=forecast, seed=seed, align_to=align_to, implausible=implausible,
        nightly_tz=nightly_tz, rules=_rules(delay_user_triggered, min_saving_g), keep_placements=out is not None,
        pools=pool_set)
    if sweep:
        _sweep(request, region_set or [], buffers, seeds, scheduler, output_format)
        return
    bar = _Progress("simulating strategies", len(names))
    try:
        outcome = replay(request, read_series=_read_series, progress=lambda d, t: bar.update(d, t))
    finally:
        bar.close()
    _render_replay(outcome, out, output_format)


def _render_replay(outcome: Any, out: Path | None, output_format: OutputFormat) -> None:
    from greenci.simulation_report import (
        load_table,
        pool_table,
        repo_table,
        simulation_json,
        simulation_table,
        timeline_table,
        write_outputs,
    )

    result = outcome.result
    if outcome.notes:
        Console(stderr=True).print("\n".join(outcome.notes), highlight=False, markup=False)
    if out is not None:
        written = write_outputs(result, out, outcome.reference)
        Console(stderr=True).print("wrote " + ", ".join(str(p) for p in written), highlight=False, markup=False)
    if output_format is OutputFormat.json:
        doc = simulation_json(result, outcome.reference, outcome.generated)
        doc["notes"] = list(doc.get("notes", [])) + list(outcome.notes)
        _emit_json(doc)
        return
    console = _console()
    console.print(simulation_table(result, outcome.reference, outcome.generated))
    if len(result.by_repo) > 1:
        console.print(repo_table(result))
    if result.pools is not None:
        console.print(pool_table(result))
    console.print(load_table(result))
    console.print(timeline_table(result))


def _sweep(request: Any, region_sets: list[str], buffers: str, seeds: str, scheduler: str | None,
           output_format: OutputFormat) -> None:
    """``simulate --sweep``: every strategy x buffer x region set x seed, on Dask (or serially)."""
    from greenci.usecases.replay import sweep_replay

    sets: dict[str, list[str]] = {}
    for spec in region_sets:
        name, eq, members = spec.partition("=")
        if not eq or not name.strip() or not members.strip():
            raise InputError(f"--region-set {spec!r} must be NAME=R1,R2,... e.g. europe=DE-LU,GB")
        sets[name.strip()] = [m.strip() for m in members.split(",") if m.strip()]
    try:
        buffer_list = [float(b) for b in buffers.split(",") if b.strip()]
    except ValueError:
        raise InputError(f"--buffers {buffers!r} must be comma-separated hours, e.g. 1,3,6") from None
    if not buffer_list:
        raise InputError(f"--buffers {buffers!r} names no buffer: write hours, e.g. 1,3,6")
    for b in buffer_list:
        check_range(b, field="--buffers", low=0, high=MAX_HORIZON_H, unit="h")
    bar = _Progress("sweeping", 1)
    try:
        rows = sweep_replay(request, region_sets=sets, buffers_h=buffer_list, seeds=_int_list(seeds, "--seeds"),
                            scheduler=scheduler, read_series=_read_series, progress=lambda d, t: bar.update(d, t),
                            waiting=waiting)
    finally:
        bar.close()
    if output_format is OutputFormat.json:
        from dataclasses import asdict

        _emit_json({"rows": [asdict(r) for r in rows], "synthetic_jobs": bool(request.study)})
        return
    from rich.table import Table

    table = Table(title=f"Sweep: {len(rows)} rows" + (" — SYNTHETIC runs" if request.study else ""))
    for col in ("region set", "seed", "strategy", "buffer h", "kgCO2eq", "vs round-robin", "misses", "wait P95"):
        table.add_column(col, justify="left" if col in ("region set", "strategy") else "right")
    for r in rows:
        table.add_row(r.region_set, str(r.seed), r.strategy, f"{r.buffer_h:g}", f"{r.emissions_g / 1000:,.2f}",
                      f"{-100 * r.reduction_vs_round_robin:+.2f} %" if r.reduction_vs_round_robin else "0.00 %",
                      str(r.deadline_misses), f"{r.wait_p95_s / 3600:.2f} h")
    _console().print(table)


# ------------------------------------------------------------------------------------------ schedule
def schedule(
    repo: str = typer.Option("local/repo", help="Repository, owner/name."),
    workflow: str | None = typer.Option(None, help="Workflow name (default: the workflow file's, else 'ci')."),
    job_name: str = typer.Option("", "--job", help="Job name within the workflow."),
    event: str | None = typer.Option(None, help="Trigger: push, pull_request, schedule, workflow_dispatch, ... "
                                                "(default: schedule for a workflow run only by cron, else push)."),
    branch: str | None = typer.Option(None, help="Branch of the run (default: the default branch)."),
    default_branch: str = typer.Option("main", help="The repository's default branch."),
    at: str | None = typer.Option(None, help="Submission time, UTC ISO 8601 (default: now)."),
    duration: str | None = typer.Option(None, help="Your runtime estimate (e.g. 20m); blended with history."),
    deadline: str | None = typer.Option(None, help="Deadline: a duration after submission (3h) or a UTC time."),
    buffer_h: float = typer.Option(6.0, "--buffer-h", help="Allowed waiting when no deadline is given."),
    allowed_regions: str | None = typer.Option(None, help="Comma-separated regions the job may run in (grid zones "
                                                          "or cloud regions such as eu-central-1)."),
    carbon_aware: bool | None = typer.Option(None, "--carbon-aware/--no-carbon-aware",
                                             help="Opt in (may wait even if someone waits for it) or out."),
    delay_user_triggered: list[str] | None = typer.Option(None, "--delay-user-triggered", help=_DELAY_HELP),
    morning: str | None = typer.Option(None, help="Scheduled runs finish by 08:00 in this IANA time zone, "
                                                  "or ZONE@HOUR (e.g. Europe/Berlin@7)."),
    power_kw: float = typer.Option(1.0, help="Average power draw of the job, kW."),
    workflow_file: Path | None = typer.Option(None, help="Workflow YAML to read carbon-aware keys from."),
    history: list[Path] | None = typer.Option(None, help="Run histories of this workflow (trace files); several "
                                                         "files may follow one --history."),
    intensity: list[Path] | None = typer.Option(None, help="Intensity files or folders."),
    source: str | None = typer.Option(None, help="Forecast API instead of files: electricitymaps, watttime, ..."),
    regions: str | None = typer.Option(None, help="Comma-separated candidate regions (default: the study's 12)."),
    forecast: str = typer.Option("ridge", help="Forecast model over files: ridge, persistence, seasonal-naive."),
    record: Path | None = typer.Option(None, help="Append the decision as a JSON line to this file."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Decide one job: region, start, expected emissions, saving and the reason in words."""
    from greenci.timeutil import epoch_s, to_datetime, to_epoch_s
    from greenci.usecases.inputs import (
        JobRequest,
        default_cache_dir,
        forecast_provider,
        history_store,
        job_from_request,
        pick_job,
    )
    from greenci.usecases.plan import PlanPolicy, plan_job
    from greenci.usecases.ports import JsonLinesSink

    submitted = to_datetime(at, field="at") if at is not None else \
        datetime.fromtimestamp(epoch_s(datetime.now(UTC)), UTC)
    spec = None
    if workflow_file is not None:
        from greenci.workflows import read_workflow

        spec = pick_job(read_workflow(workflow_file), job_name, workflow_file)
    allowed = tuple(r.strip() for r in allowed_regions.split(",") if r.strip()) if allowed_regions is not None \
        else None
    if allowed == ():
        raise InputError(f"--allowed-regions {allowed_regions!r} names no region: write e.g. eu-central-1,GB")
    request = JobRequest(repo=repo, workflow=workflow, job_name=job_name, event=event, branch=branch,
                         default_branch=default_branch, submitted_at=submitted, duration=duration, deadline=deadline,
                         allowed_regions=allowed, carbon_aware=carbon_aware, power_kw=power_kw)
    job = job_from_request(request, spec, now=submitted)
    region_list = _regions(regions)
    sink = JsonLinesSink(record) if record else None  # checked before the decision, not after
    provider = forecast_provider(regions=region_list, at_s=to_epoch_s(submitted), source=source,
                                 files=intensity or (), model=forecast, cache_dir=default_cache_dir(),
                                 read_series=_read_series)
    policy = PlanPolicy.build(buffer_h=buffer_h, rules=_rules(delay_user_triggered, 0.0),
                              morning=_morning(morning))
    store, history_notes = history_store(history) if history else (None, ())
    for note in history_notes:
        Console(stderr=True, soft_wrap=True).print(f"note: {note}", highlight=False, markup=False)
    decision = plan_job(job, intensity=provider, history=store,
                        policy=policy, regions=region_list, sink=sink)
    if output_format is OutputFormat.json:
        _emit_json(decision.to_dict())
        return
    _render_decision(decision)


def _morning(text: str | None) -> Any:
    from greenci.scheduling.windows import WorkingMorning

    if not text:
        return None
    zone, _, hour = text.partition("@")
    try:
        return WorkingMorning(zone.strip(), int(hour) if hour.strip() else 8)
    except ValueError:
        raise InputError(f"--morning {text!r} must be ZONE or ZONE@HOUR, e.g. Europe/Berlin@7") from None


def _render_decision(d: Any) -> None:
    from greenci.report import SYNTHETIC_NOTE, key_value_table

    rows = [("run in", d.region), ("start", f"{d.start} (wait {d.wait_s / 3600:.2f} h)"),
            ("window", d.window), ("duration estimate", d.estimate),
            ("expected", f"{d.expected_g:.1f} gCO2eq"),
            ("run now, mean of allowed regions", f"{d.baseline_g:.1f} gCO2eq"),
            ("run now, cleanest allowed region", f"{d.now_best_g:.1f} gCO2eq"),
            ("expected saving", f"{d.saving_g:.1f} gCO2eq against running now"),
            ("why", d.reason), ("forecast", d.forecast + (" (ORACLE: actual intensity)" if d.oracle else ""))]
    rows += [("note", n) for n in d.notes]
    _console().print(key_value_table("Decision" + (" — SYNTHETIC" if d.synthetic else ""), rows,
                                     caption=SYNTHETIC_NOTE if d.synthetic else None))
