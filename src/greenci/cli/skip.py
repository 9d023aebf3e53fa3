"""``greenci skip-advice``: which workflows and jobs need not run for a change, and why."""

from __future__ import annotations

from pathlib import Path

import typer

from greenci.cli.support import console as _console
from greenci.cli.support import friendly as _friendly


def register(app: typer.Typer) -> None:
    """Add ``skip-advice`` to ``app``."""
    app.command("skip-advice")(_friendly(skip_advice_command))


def skip_advice_command(
    workflows: Path = typer.Argument(..., metavar="WORKFLOWS", help="A workflow file, a .github/workflows folder, "
                                                                    "or a repository root."),
    changed: list[str] = typer.Option(..., "--changed", help="A changed path (repeat the option for each path)."),
    event: str = typer.Option("push", help="Event of the run: push or pull_request."),
) -> None:
    """Say which jobs the workflows' path filters (GitHub's semantics, per event) would not start."""
    from dataclasses import replace

    from rich.table import Table

    from greenci.errors import InputError
    from greenci.workflows import read_filters, read_workflow, skip_advice, workflow_files

    if event not in ("push", "pull_request", "pull_request_target"):
        raise InputError(f"--event {event!r}: path filters apply to push, pull_request or pull_request_target")
    files = workflow_files(workflows) if workflows.is_dir() else [workflows]
    specs, filters = [], {}
    for f in files:
        found = read_workflow(f)
        wf = read_filters(f)
        filters[found[0].workflow] = replace(wf, workflow=found[0].workflow)  # the reader's name for it
        specs += found
    table = Table(title=f"Skip advice for {len(changed)} changed path{'s' if len(changed) != 1 else ''} on {event}")
    for c in ("workflow", "job", "skip", "why"):
        table.add_column(c)
    for a in skip_advice(specs, changed, event, filters=filters):
        table.add_row(a.workflow, a.job, "skip" if a.skip else "run", a.why)
    _console().print(table)
