"""``greenci plan``: every job of a workflow file or a ``.github/workflows`` folder, planned at one time."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from greenci.cli.support import console as _console
from greenci.cli.support import emit_json as _emit_json
from greenci.cli.support import friendly as _friendly
from greenci.cli.support import read_series as _read_series


class PlanFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def register(app: typer.Typer) -> None:
    """Add ``plan`` to ``app``."""
    app.command()(_friendly(plan))


def plan(
    path: Path | None = typer.Argument(None, metavar="PATH", help="A workflow file, a .github/workflows folder, "
                                                                  "or a repository root."),
    zuul: Path | None = typer.Option(None, "--zuul", help="A Zuul config instead (zuul.yaml, a zuul.d folder or "
                                                          "a repository root): each pipeline's jobs with its event."),
    output_format: PlanFormat = typer.Option(PlanFormat.table, "--format", help="table, json or markdown."),
    at: str | None = typer.Option(None, help="Decision time, UTC ISO 8601 (default: now)."),
    event: str | None = typer.Option(None, help="Event of the run: push, pull_request, ... (default push; a "
                                                "workflow run only by cron is planned as schedule)."),
    repo: str = typer.Option("local/repo", help="Repository, owner/name (to match --history)."),
    branch: str | None = typer.Option(None, help="Branch of the run (default: the default branch)."),
    intensity: list[Path] | None = typer.Option(None, help="Intensity files or folders."),
    source: str | None = typer.Option(None, help="Forecast API instead of files: electricitymaps, watttime, ..."),
    forecast: str = typer.Option("ridge", help="Forecast model over files: ridge, persistence, seasonal-naive."),
    regions: str | None = typer.Option(None, help="Comma-separated candidate regions (default: the study's 12)."),
    history: list[Path] | None = typer.Option(None, help="Run histories (trace files); several files may follow "
                                                         "one --history."),
    buffer_h: float = typer.Option(6.0, "--buffer-h", help="Allowed waiting when a job sets no deadline."),
    power_kw: float = typer.Option(1.0, help="Average power draw of each job leg, kW."),
) -> None:
    """Plan every job of the workflows: region, start, expected gCO2eq and saving, matrix legs counted."""
    from greenci.cli.scheduling import _regions
    from greenci.errors import InputError
    from greenci.timeutil import epoch_s, to_datetime, to_epoch_s
    from greenci.usecases.inputs import JobRequest, default_cache_dir, forecast_provider, history_store
    from greenci.usecases.plan import PlanPolicy
    from greenci.usecases.workflow_plan import plan_workflows
    from greenci.workflows import read_workflows

    when = to_datetime(at, field="at") if at is not None else datetime.fromtimestamp(epoch_s(datetime.now(UTC)), UTC)
    if (path is None) == (zuul is None):
        raise InputError("give a workflow PATH or --zuul CONFIG (one of them)", field="path")
    if zuul is not None:
        from greenci.integrations.zuul import zuul_job_specs

        specs = zuul_job_specs(zuul)
        if not specs:
            raise InputError(f"{zuul}: its projects run no job in any pipeline: nothing to plan", field="zuul")
    else:
        specs = read_workflows(path)
    region_list = _regions(regions)
    provider = forecast_provider(regions=region_list, at_s=to_epoch_s(when), source=source, files=intensity or (),
                                 model=forecast, cache_dir=default_cache_dir(), read_series=_read_series)
    store, history_notes = history_store(history) if history else (None, ())
    for note in history_notes:
        Console(stderr=True, soft_wrap=True).print(f"note: {note}", highlight=False, markup=False)
    result = plan_workflows(specs, at=when, intensity=provider, history=store, regions=region_list,
                            policy=PlanPolicy.build(buffer_h=buffer_h),
                            request=JobRequest(repo=repo, event=event, branch=branch, power_kw=power_kw))
    if output_format is PlanFormat.json:
        _emit_json(result.to_dict())
    elif output_format is PlanFormat.markdown:
        typer.echo(markdown(result))
    else:
        _render_table(result)


def _legs(j: Any) -> str:
    return "?" if j.matrix_legs is None else str(j.matrix_legs)


def _row(j: Any, *, short: bool = False) -> list[str]:
    """One job's cells (``short``: the reason without its last clause, for a terminal's width)."""
    name = j.job + ("" if short or not j.uses else f" (uses {j.uses})")
    reason = j.reason.split(";")[0] if short else j.reason
    if not j.planned:
        return [j.workflow, name, _legs(j), j.event, "-", "", "", "", "", "", "", "", reason]
    source = {"your estimate": "yours"}.get(j.estimate_source or "", j.estimate_source or "")
    return [j.workflow, name, _legs(j), j.event, "yes" if j.eligible else "no", j.region or "",
            (j.start or "")[5:16].replace("T", " "), f"{(j.wait_s or 0) / 3600:.1f}",
            f"{(j.duration_estimate_s or 0) / 60:.0f} ({source})", f"{j.energy_kwh:.2f}", f"{j.expected_g:.1f}",
            f"{j.saving_g:.1f}", reason]


_COLUMNS = ("workflow", "job", "legs", "event", "may wait", "region", "start (UTC)", "wait h", "est. min",
            "kWh", "gCO2eq", "saving g", "why")


def _title(result: Any) -> str:
    n_files = len({j.source for j in result.jobs})
    return (f"Plan at {result.at[:16]}Z: {len(result.planned)} of {len(result.jobs)} jobs in {n_files} workflow "
            f"file{'s' if n_files != 1 else ''} ({result.event}; {result.forecast or 'no forecast'})"
            + (" — SYNTHETIC" if result.synthetic else "") + (" — ORACLE" if result.oracle else ""))


def _total_row(result: Any) -> list[str]:
    legs = sum(j.legs_counted for j in result.planned)
    return ["total", "", str(legs), "", "", "", "", "", "", f"{result.energy_kwh:.2f}", f"{result.expected_g:.1f}",
            f"{result.saving_g:.1f}", f"against {result.baseline_g:.1f} g running now (mean of allowed regions)"]


def _notes(result: Any) -> list[str]:
    out = list(result.notes)
    out += [f"{j.workflow} / {j.job}: {n}" for j in result.planned for n in j.notes if "matrix legs unknown" not in n]
    return out


def _render_table(result: Any) -> None:
    from rich.table import Table

    from greenci.report import SYNTHETIC_NOTE

    table = Table(title=_title(result), caption=SYNTHETIC_NOTE if result.synthetic else None)
    for col in _COLUMNS:
        table.add_column(col, justify="right" if col in ("legs", "wait h", "kWh", "gCO2eq", "saving g") else "left",
                         overflow="fold", no_wrap=col in ("start (UTC)", "region"))
    for j in result.jobs:
        table.add_row(*_row(j, short=True))
    table.add_section()
    table.add_row(*_total_row(result))
    console = _console()
    console.print(table)
    for note in _notes(result):
        console.print(f"note: {note}", highlight=False, markup=False)


def markdown(result: Any) -> str:
    """The plan as a GitHub-flavoured markdown table (for a job summary or a pull-request comment)."""
    from greenci.report import SYNTHETIC_NOTE

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    right = {"legs", "wait h", "kWh", "gCO2eq", "saving g"}
    out = [f"### {_title(result)}", ""]
    if result.synthetic:
        out += [f"**SYNTHETIC**: {SYNTHETIC_NOTE}", ""]
    out += [line(list(_COLUMNS)), "|" + "|".join("---:" if c in right else "---" for c in _COLUMNS) + "|"]
    out += [line(_row(j)) for j in result.jobs]
    out.append(line([f"**{c}**" if c else "" for c in _total_row(result)]))
    notes = _notes(result)
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    return "\n".join(out)
