"""``greenci trace fetch`` and ``greenci trace summary``: CI run histories from GitHub, and what a trace holds."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from greenci.cli.support import OutputFormat
from greenci.cli.support import Progress as _Progress
from greenci.cli.support import console as _console
from greenci.cli.support import emit_json as _emit_json
from greenci.cli.support import friendly as _friendly


def register(app: typer.Typer) -> None:
    """Add the ``trace`` group to ``app``."""
    trace_app = typer.Typer(no_args_is_help=True, help="CI run histories: fetch from GitHub, inspect.")
    trace_app.command("fetch")(_friendly(trace_fetch))
    trace_app.command("summary")(_friendly(trace_summary))
    app.add_typer(trace_app, name="trace")


def trace_fetch(
    repos: list[str] = typer.Argument(..., help="Repositories as owner/name."),
    out_dir: Path = typer.Option(Path("traces"), "-o", "--out", help="Folder for one JSON file per repository."),
    since: str | None = typer.Option(None, help="Only runs created at or after this UTC time."),
    max_pages: int = typer.Option(10, help="At most this many pages of 100 runs per repository."),
    base_url: str = typer.Option("https://api.github.com", help="GitHub API base URL (GitHub Enterprise)."),
) -> None:
    """Page GitHub's workflow-runs API (token from GREENCI_GITHUB_TOKEN or GITHUB_TOKEN) into JSON files."""
    from greenci.usecases.traces import fetch_traces

    bar = _Progress("fetching runs", len(repos))
    done = 0

    def said(repo: str, res: object) -> None:
        nonlocal done
        more = "" if res.complete else f" (stopped after {res.pages} pages; raise --max-pages for more)"  # type: ignore[attr-defined]
        Console(stderr=True).print(f"{repo}: {res.runs:,} runs -> {res.path}{more}",  # type: ignore[attr-defined]
                                   highlight=False, markup=False)
        done += 1
        bar.update(done)

    try:
        fetch_traces(repos, out_dir, since=since, max_pages=max_pages, base_url=base_url, on_repo=said)
    finally:
        bar.close()


def trace_summary(
    paths: list[Path] = typer.Argument(..., help="Trace files or folders."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Runs per repository and event, unusable rows, implausible runtimes and the duration estimator's error."""
    from greenci.usecases.traces import summarise_trace

    doc = summarise_trace(paths)
    if output_format is OutputFormat.json:
        _emit_json(doc)
        return
    from greenci.report import key_value_table

    est = doc["duration_estimator"]
    rows = [("runs", f"{doc['jobs']:,}"), ("rows left out", f"{doc['problems']:,}")]
    rows += [(f"repo {r}", f"{c:,}") for r, c in sorted(doc["repositories"].items(), key=lambda kv: -kv[1])]
    rows += [(f"event {e}", f"{c:,}") for e, c in sorted(doc["events"].items(), key=lambda kv: -kv[1])]
    rows += [("implausible runtimes", f"{doc['implausible']['runs']:,}"),
             ("estimate MAE", f"{(est['mae_s'] or float('nan')) / 60:.1f} min"),
             ("under-estimated", f"{100 * (est['under_share'] or float('nan')):.1f} %")]
    caption = doc["implausible"]["rule"] + "\n" + "\n".join(doc["notes"])
    _console().print(key_value_table("Trace", rows, caption=caption))
