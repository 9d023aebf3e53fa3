"""CI run histories: fetch them from GitHub, and summarise what a trace holds (``greenci trace ...``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def summarise_trace(paths: Sequence[Path]) -> dict[str, Any]:
    """Runs per repository and event, unusable rows, implausible runtimes and the duration estimator's error."""
    from greenci.jobs import estimate_durations, estimate_error
    from greenci.traces import read_trace
    from greenci.traces.cleaning import find_implausible

    read = read_trace(list(paths))
    jobs = read.jobs
    found = find_implausible(jobs)
    err = estimate_error(jobs, estimate_durations(jobs))
    repos, counts = np.unique(jobs.repo.astype(str), return_counts=True)
    events, ecounts = np.unique(jobs.event.astype(str), return_counts=True)
    return {
        "jobs": len(jobs), "problems": len(read.problems),
        "first_problems": [{"path": str(p.path), "row": p.row, "reason": p.reason} for p in read.problems[:5]],
        "repositories": {str(r): int(c) for r, c in zip(repos, counts, strict=True)},
        "events": {str(e): int(c) for e, c in zip(events, ecounts, strict=True)},
        "implausible": {"runs": len(found), "rule": found.rule, "by_repo": found.by_repo()},
        "duration_estimator": {"estimated": err.estimated, "mae_s": _num(err.mae_s),
                               "under_share": _num(err.under_share), "median_ratio": _num(err.median_ratio)},
        "notes": list(jobs.notes),
    }


def fetch_traces(repos: Sequence[str], out_dir: Path, *, since: str | None = None, max_pages: int = 10,
                 base_url: str = "https://api.github.com",
                 on_repo: Callable[[str, Any], None] | None = None) -> list[Any]:
    """Page GitHub's workflow-runs API into one JSON file per repository (``owner__name.json``)."""
    from greenci.outputs import check_folder
    from greenci.traces.github_rest import fetch_runs

    check_folder(out_dir, field="out_dir")  # before the first request, not after an hour of paging
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for repo in repos:
        res = fetch_runs(repo, out=out_dir / (repo.replace("/", "__") + ".json"), since=since, max_pages=max_pages,
                         base_url=base_url)
        results.append(res)
        if on_repo is not None:
            on_repo(repo, res)
    return results
