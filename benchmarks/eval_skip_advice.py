"""Skip advice on a real history: how many runs the advice would skip, and how often a skipped run had failed.

Run: ``python benchmarks/eval_skip_advice.py --mirror PATH --repo psf/requests [--min-support 5]``.

Reads the shared GitHub Actions runs (``jobs/github-actions/gha-dashboard/builds_features_*.csv``, merged and
de-duplicated on (repo, id_build)) of one repository and a bare git mirror of that repository. For each push or
pull-request run, in time order:

- the changed paths: a push's commit against its first parent (the push's own ``before`` is not in the data, so
  a push of several commits is seen as its last one); a pull request's head against its merge base with the
  default branch as it was when the run started (GitHub's three-dot diff);
- the workflow at that commit: the file under ``.github/workflows/`` whose ``name:`` (else its path) is the run's
  ``workflow_name``, its per-event path filters read with ``read_filters`` and its jobs with ``read_workflow``;
- advice from ``skip_advice``: the path filters, then rules learned (``learn_rules``) on runs that finished
  before this one started. By default a run the advice skipped teaches the learner nothing (its outcome would not
  exist had the advice been followed); ``--learn-from-skipped`` lets every past run teach.

Precision = skipped runs that succeeded / skipped runs that succeeded or failed (a skipped run that failed is a
miss; cancelled or skipped runs are counted apart). Runs whose commit is missing from the mirror, or whose
workflow is not found at the commit (e.g. Dependabot's dynamic runs), are counted and left out. Prints tables;
asserts nothing. Skips with a message when ``../shared`` or the mirror is absent.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from greenci.errors import GreenciError
from greenci.shared_data import find_shared_data
from greenci.workflows import JobSpec, read_workflow
from greenci.workflows.skip import (
    PATH_EVENTS,
    HistoryRow,
    WorkflowFilters,
    learn_rules,
    path_classes,
    read_filters,
    skip_advice,
)

RUNS_GLOB = "jobs/github-actions/gha-dashboard/builds_features_*.csv"
FAILED = {"failure", "timed_out", "startup_failure"}


class Mirror:
    """Read-only questions to a bare git mirror, cached."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._workflows: dict[str, dict[str, tuple[WorkflowFilters, list[JobSpec]]]] = {}
        head = self.git("symbolic-ref", "HEAD", check=False).strip()
        self.default_ref = head or "refs/heads/main"

    def git(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        done = subprocess.run(["git", "-C", str(self.path), *args], input=stdin, capture_output=True, text=True,
                              check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def present(self, shas: list[str]) -> set[str]:
        out = self.git("cat-file", "--batch-check", stdin="".join(f"{s}^{{commit}}\n" for s in shas))
        return {s for s, line in zip(shas, out.splitlines(), strict=True) if not line.endswith("missing")}

    def changed(self, sha: str, event: str, started: datetime) -> list[str]:
        base = ""
        if event.startswith("pull_request"):
            tip = self.git("rev-list", "-1", "--first-parent", f"--before={started.isoformat()}", self.default_ref,
                           check=False).strip()
            base = self.git("merge-base", tip, sha, check=False).strip() if tip else ""
            if base == sha:
                base = ""
        if not base:
            parents = self.git("rev-list", "--parents", "-n1", sha).split()[1:]
            base = parents[0] if parents else ""
        args = ["diff-tree", "--no-commit-id", "--name-only", "-r"]
        out = self.git(*args, base, sha) if base else self.git(*args, "--root", sha)
        return [p for p in out.splitlines() if p]

    def workflows(self, sha: str) -> dict[str, tuple[WorkflowFilters, list[JobSpec]]]:
        """The commit's workflows by name (and by path, GitHub's name for a workflow without ``name:``)."""
        if sha in self._workflows:
            return self._workflows[sha]
        found: dict[str, tuple[WorkflowFilters, list[JobSpec]]] = {}
        files = self.git("ls-tree", "--name-only", f"{sha}:.github/workflows", check=False).split()
        for name in files:
            if not name.endswith((".yml", ".yaml")):
                continue
            path = f".github/workflows/{name}"
            text = self.git("show", f"{sha}:{path}", check=False)
            if not text:
                continue
            try:
                filters = read_filters(text + "\n", name=path)
            except GreenciError:
                continue
            try:
                specs = read_workflow(text + "\n")
            except GreenciError:  # greenci's reader is stricter than GitHub: keep one spec for the workflow
                specs = [JobSpec(filters.workflow, "*", filters.events, (), None, None, None, None, None)]
            specs = [JobSpec(**{**s.__dict__, "workflow": filters.workflow}) for s in specs]
            found[filters.workflow] = (filters, specs)
            found.setdefault(path, (filters, specs))
        self._workflows[sha] = found
        return found


@dataclass(frozen=True)
class Outcome:
    workflow: str
    event: str
    classes: frozenset[str]
    conclusion: str
    skip: bool
    source: str


def load_runs(data: Path, repo: str):  # -> pandas.DataFrame
    import pandas as pd

    files = sorted(data.glob(RUNS_GLOB))
    if not files:
        return None
    runs = pd.concat([pd.read_csv(f, low_memory=False) for f in files]).drop_duplicates(["repo", "id_build"])
    runs = runs[runs["repo"] == repo].copy()
    runs["started"] = pd.to_datetime(runs["created_at"], utc=True, format="mixed")
    runs["finished"] = pd.to_datetime(runs["updated_at"], utc=True, format="mixed")
    return runs.sort_values(["started", "id_build"])


def replay(runs, mirror: Mirror, *, min_support: int, learn_from_skipped: bool,
           counts: Counter[str]) -> list[Outcome]:
    counts["runs"] = len(runs)
    runs = runs[runs["workflow_event_trigger"].isin(PATH_EVENTS)]
    counts["push / pull-request runs"] = len(runs)
    present = mirror.present(sorted(set(runs["commit_sha"])))
    history: list[HistoryRow] = []
    out: list[Outcome] = []
    for run in runs.itertuples(index=False):
        if run.commit_sha not in present:
            counts["left out: commit missing from the mirror"] += 1
            continue
        found = mirror.workflows(run.commit_sha).get(str(run.workflow_name))
        if found is None:
            counts["left out: workflow not found at the commit"] += 1
            continue
        filters, specs = found
        event = str(run.workflow_event_trigger)
        started = run.started.to_pydatetime()
        changed = mirror.changed(run.commit_sha, event, started)
        if not changed:
            counts["left out: no changed paths (empty diff)"] += 1
            continue
        rules = learn_rules(history, before=started, min_support=min_support)
        advice = skip_advice(specs, changed, event, rules, filters={filters.workflow: filters})
        skip = all(a.skip for a in advice)
        source = advice[0].source if skip else "none"
        if source == "learned":
            source = "learned " + "+".join(sorted(path_classes(changed))) + "-only"
        classes = path_classes(changed)
        out.append(Outcome(filters.workflow, event, classes, str(run.conclusion), skip, source))
        if learn_from_skipped or not skip:
            history.append(HistoryRow(filters.workflow, classes, str(run.conclusion), started,
                                      run.finished.to_pydatetime()))
    counts["evaluated"] = len(out)
    return out


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} %" if b else "-"


def report(console: Console, repo: str, outcomes: list[Outcome], counts: Counter[str], args: argparse.Namespace,
           ) -> None:
    t = Table(title=f"Skip advice replayed on {repo}: the runs")
    t.add_column("runs")
    t.add_column("count", justify="right")
    for k in ("runs", "push / pull-request runs", "left out: commit missing from the mirror",
              "left out: workflow not found at the commit", "left out: no changed paths (empty diff)", "evaluated"):
        t.add_row(k, f"{counts[k]:,}")
    console.print(t)

    n = len(outcomes)
    t = Table(title=f"Advice by reason (min_support {args.min_support}; "
                    f"{'skipped runs teach' if args.learn_from_skipped else 'skipped runs do not teach'})")
    for c in ("why", "skipped", "share of evaluated", "succeeded", "failed (miss)", "other", "precision"):
        t.add_column(c, justify="left" if c == "why" else "right")
    skipped = [o for o in outcomes if o.skip]
    groups = sorted({o.source for o in skipped})
    for label, rows in [*((g, [o for o in skipped if o.source == g]) for g in groups), ("all skip advice", skipped)]:
        ok = sum(o.conclusion == "success" for o in rows)
        bad = sum(o.conclusion in FAILED for o in rows)
        t.add_row(label, f"{len(rows):,}", pct(len(rows), n), f"{ok:,}", f"{bad:,}", f"{len(rows) - ok - bad:,}",
                  pct(ok, ok + bad))
    console.print(t)

    t = Table(title="Evaluated runs by the classes of their changed paths")
    for c in ("classes", "runs", "succeeded", "failed", "skipped by the advice"):
        t.add_column(c, justify="left" if c == "classes" else "right")
    by = Counter("+".join(sorted(o.classes)) for o in outcomes)
    for cls, k in by.most_common():
        rows = [o for o in outcomes if "+".join(sorted(o.classes)) == cls]
        t.add_row(cls, f"{k:,}", f"{sum(o.conclusion == 'success' for o in rows):,}",
                  f"{sum(o.conclusion in FAILED for o in rows):,}", f"{sum(o.skip for o in rows):,}")
    console.print(t)

    t = Table(title="Skip advice by workflow")
    for c in ("workflow", "evaluated", "skipped", "succeeded", "failed (miss)", "precision"):
        t.add_column(c, justify="left" if c == "workflow" else "right")
    for wf in sorted({o.workflow for o in outcomes}):
        rows = [o for o in outcomes if o.workflow == wf]
        sk = [o for o in rows if o.skip]
        ok = sum(o.conclusion == "success" for o in sk)
        bad = sum(o.conclusion in FAILED for o in sk)
        t.add_row(wf, f"{len(rows):,}", f"{len(sk):,}", f"{ok:,}", f"{bad:,}", pct(ok, ok + bad))
    console.print(t)

    filtered = [o for o in outcomes if o.source in ("path-filter", "not-triggered")]
    with_filters = Counter(o.workflow for o in filtered)
    console.print(f"Sanity check: {len(filtered)} of {n:,} runs GitHub ran although the workflow's path filters (or "
                  f"its triggers) say it should not have started{': ' + str(dict(with_filters)) if filtered else ''}"
                  " (expected ~0; the changed paths here approximate GitHub's diff).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, help="bare git mirror of the repository (e.g. from git clone --mirror)")
    parser.add_argument("--repo", default="psf/requests", help="owner/name as in the runs' repo column")
    parser.add_argument("--min-support", type=int, default=5, help="earlier successful runs a rule needs")
    parser.add_argument("--learn-from-skipped", action="store_true",
                        help="let runs the advice skipped teach the learner too (their outcome is known here)")
    args = parser.parse_args()
    console = Console(width=120)
    data = find_shared_data()
    if data is None:
        console.print("skipped: ../shared/data not found (set GREENCI_SHARED to the folder holding data/)")
        return
    if args.mirror is None or not args.mirror.is_dir():
        console.print(f"skipped: no git mirror of {args.repo} at {args.mirror}: give --mirror PATH "
                      f"(e.g. git clone --mirror https://github.com/{args.repo})")
        return
    runs = load_runs(data, args.repo)
    if runs is None or len(runs) == 0:
        console.print(f"skipped: no runs of {args.repo} in {data / RUNS_GLOB}")
        return
    counts: Counter[str] = Counter()
    outcomes = replay(runs, Mirror(args.mirror), min_support=args.min_support,
                      learn_from_skipped=args.learn_from_skipped, counts=counts)
    report(console, args.repo, outcomes, counts, args)


if __name__ == "__main__":
    sys.exit(main())
