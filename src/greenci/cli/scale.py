"""``greenci scale plan``: node counts per region and hour as a Heat template (or KEDA), and what they save."""

from __future__ import annotations

from pathlib import Path

import typer

from greenci.cli.support import console as _console
from greenci.cli.support import friendly as _friendly

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``scale`` group (``plan``) to ``app``."""
    scale = typer.Typer(no_args_is_help=True, help="Autoscaling plans for runner pools (OpenStack Heat, KEDA).")
    scale.command("plan")(_friendly(scale_plan_command))
    app.add_typer(scale, name="scale")


def scale_plan_command(
    pools: Path = typer.Option(..., "--pools", help="Runner pools file (YAML or JSON): size, idle/busy power, "
                                                    "start time and energy, min_runners per region."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the template (stack.yaml)."),
    intensity: list[Path] | None = typer.Option(None, "--intensity", help="Intensity files or folders (default: "
                                                                          "the synthetic model, labelled)."),
    history: list[Path] | None = typer.Option(None, "--history", help="Run histories (trace files) for the load."),
    jobs_per_hour: float | None = typer.Option(None, "--jobs-per-hour", help="A constant load instead of a history: "
                                                                             "jobs per hour, fleet-wide."),
    job_duration: str = typer.Option("10m", "--job-duration", help="Duration of one job of --jobs-per-hour."),
    urgent_share: float | None = typer.Option(None, "--urgent-share", help="Share of work that may not wait "
                                                                           "(default: from the history's events; "
                                                                           "0.5 for a constant load)."),
    regions: str | None = typer.Option(None, "--regions", help="Comma-separated regions (default: every pool)."),
    start: str | None = typer.Option(None, "--start", help="First hour of the plan, UTC ISO 8601 (default: the "
                                                           "intensity files' end less --hours, else now)."),
    hours: int = typer.Option(24, "--hours", help="Hours to plan (1-72)."),
    max_wait_h: float = typer.Option(6.0, "--max-wait-h", help="Longest wait of deferrable work, hours."),
    headroom: float = typer.Option(1.0, "--headroom", help="Nodes per busy runner of urgent load (>= 1)."),
    forecast: str = typer.Option("ridge", "--forecast", help="Forecast model over files: ridge, persistence, "
                                                             "seasonal-naive, or perfect (an oracle)."),
    trigger: str = typer.Option("cron", "--trigger", help="cron (Mistral cron triggers at the planned hours) or "
                                                          "alarm (Aodh alarms on intensity and load)."),
    fmt: str = typer.Option("heat", "--format", help="heat (OpenStack HOT) or keda (Kubernetes ScaledObjects)."),
) -> None:
    """Plan runner nodes per region and hour from the load and the intensity forecast; write the template.

    Example: greenci scale plan --pools pools.yaml --intensity data/ --history runs.csv -o stack.yaml
    """
    from rich.table import Table

    from greenci.units import parse_duration_s
    from greenci.usecases.scale_plan import ScalePlanRequest, scale_plan

    request = ScalePlanRequest(
        pools=pools, intensity=tuple(intensity or ()), history=tuple(history or ()), jobs_per_hour=jobs_per_hour,
        job_duration_s=parse_duration_s(job_duration, field="job_duration"), urgent_share=urgent_share,
        regions=tuple(r.strip() for r in regions.split(",") if r.strip()) if regions else (), start=start,
        hours=hours, max_wait_h=max_wait_h, headroom=headroom, forecast=forecast, trigger=trigger, fmt=fmt)
    outcome = scale_plan(request)
    output.write_text(outcome.document, encoding="utf-8")
    label = " (SYNTHETIC)" if outcome.synthetic else ""
    table = Table(title=f"What scaling saves over {outcome.plan.hours} h, on the intensity forecast{label}")
    for c in ("region", "fleet", "node-h", "kWh", "gCO2eq", "starts", "saved gCO2eq", "max wait h"):
        table.add_column(c, justify="left" if c in ("region", "fleet") else "right")
    for row in outcome.savings:
        for name, cost in (("fixed (full size)", row.fixed), ("carbon-blind scaling", row.following),
                           ("greenci plan", row.plan)):
            mine = name == "greenci plan"
            saved = f"{row.saved_g:,.0f} ({row.saved_share:.0%})" if mine and row.fixed.emissions_g > 0 else ""
            wait = f"{row.max_wait_h:g} (<= {row.wait_objective_h:g})" if mine else ""
            table.add_row(row.region if name.startswith("fixed") else "", name, f"{cost.node_h:,.0f}",
                          f"{cost.energy_kwh:,.2f}", f"{cost.emissions_g:,.0f}", str(cost.starts), saved, wait)
    out = _console()
    out.print(table)
    for line in outcome.inputs:
        out.print(f"input: {line}", highlight=False)
    for note in outcome.notes:
        out.print(f"note: {note}", highlight=False)
    out.print(f"wrote {output} ({len(outcome.plan.actions)} scaling actions, {request.fmt}, trigger "
              f"{request.trigger}){label}", highlight=False)
