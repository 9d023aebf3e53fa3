"""GitHub Actions workflow files: the carbon-aware keys greenci reads, and what GitHub runs.

Keys (as in the study's Listing 1), at workflow level, job level or in a step's ``with:`` (the most
specific wins; a job that calls a reusable workflow may set them in its own ``with:``)::

    carbon-aware: yes            # may greenci shift this job? (yes/no/true/false)
    duration: 1h                 # the user's runtime estimate
    deadline: 3h                 # relative to submission, or an ISO 8601 time
    allowed-regions: [eu-central-1, DE-LU]

Besides them each job records what decides how much work a run is and when it may start: the triggers
(:mod:`~greenci.workflows.triggers`), the matrix legs (:mod:`~greenci.workflows.matrix`), ``needs``,
``runs-on``, ``concurrency`` and the reusable workflow a job calls. Every error names the file, line and
column of the value at fault (:mod:`~greenci.workflows.yamlpos`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenci.errors import DataFormatError, InputError
from greenci.units import parse_duration_s
from greenci.workflows.matrix import Legs, matrix_legs
from greenci.workflows.triggers import Triggers, read_triggers
from greenci.workflows.yamlpos import Located, load, strings

KEYS = ("carbon-aware", "duration", "deadline", "allowed-regions")
_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0"}


@dataclass(frozen=True)
class JobSpec:
    """What a workflow file says about one job."""

    workflow: str
    job: str
    triggers: tuple[str, ...]
    crons: tuple[str, ...]
    carbon_aware: bool | None
    duration_s: float | None
    deadline_after_s: float | None
    deadline_at: str | None
    allowed_regions: tuple[str, ...] | None
    source: str = "workflow"  # the file it was read from, for messages
    needs: tuple[str, ...] = ()
    matrix_legs: int | None = 1  # None: an expression decides when the run starts
    matrix_expression: str | None = None
    uses: str | None = None  # the reusable workflow this job calls (it has no steps of its own)
    runs_on: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # path filters of the workflow's push / pull-request events
    paths_ignore: tuple[str, ...] = ()
    concurrency: str | None = None  # the job's concurrency group, else the workflow's
    cancel_in_progress: bool | str = False
    line: int | None = None  # where the job's key is in the file
    column: int | None = None

    @property
    def reusable(self) -> bool:
        """Whether the job's workflow may be called by others (``on: workflow_call``)."""
        return "workflow_call" in self.triggers


MAX_WORKFLOW_BYTES = 1_000_000  # GitHub refuses workflow files far smaller than this


def _workflow_text(path: Path) -> str:
    """The file's text; a folder, a binary file or one too large to be a workflow is refused by name."""
    if path.is_dir():
        raise InputError(f"{path} is a folder: give the workflow file, e.g. {path / '.github/workflows/ci.yml'}")
    if path.exists() and path.stat().st_size > MAX_WORKFLOW_BYTES:
        raise DataFormatError(f"{path.stat().st_size:,} bytes is too large for a workflow file: give the YAML file "
                              "of the workflow", path=str(path))
    data = path.read_bytes()
    if b"\0" in data:
        raise DataFormatError("holds NUL bytes, so it is not a YAML workflow file: give the workflow's .yml file",
                              path=str(path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"is not UTF-8 text (byte {exc.start}): a workflow file is UTF-8 YAML", path=str(path)) \
            from None


def workflow_files(folder: Path) -> list[Path]:
    """The workflow files of a repository root (its ``.github/workflows/``) or of a workflows folder."""
    inner = folder / ".github" / "workflows"
    where = inner if inner.is_dir() else folder
    files = sorted(p for p in where.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    if not files:
        raise InputError(f"{where} holds no .yml or .yaml file: give a workflow file, a .github/workflows folder or "
                         "a repository root that has one", field="path")
    return files


def read_workflows(path: str | Path) -> list[JobSpec]:
    """Job specs of a workflow file, of every workflow in a ``.github/workflows`` folder, or of a repository
    root holding one (files in name order, jobs in file order)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such workflow file or folder: check the path", field="path")
    if not path.is_dir():
        return read_workflow(path)
    return [spec for f in workflow_files(path) for spec in read_workflow(f)]


def read_workflow(source: str | Path) -> list[JobSpec]:
    """Job specs of a workflow file (path) or YAML text."""
    path = Path(source) if not isinstance(source, str) or "\n" not in source else None
    name = str(path) if path else "workflow"
    try:
        text = _workflow_text(path) if path else str(source)
    except FileNotFoundError:
        raise InputError(f"{name}: no such workflow file: check the path") from None
    doc, at = load(text, name)
    _check_is_workflow(doc, at)
    on = doc.get("on", doc.get(True))
    triggers = read_triggers(on, lambda p, m: at.error(("on" if "on" in doc else True, *p), m))
    top = _keys(doc, at, (), "workflow")
    workflow_group = _concurrency(doc.get("concurrency"), at, ("concurrency",))
    workflow = str(doc.get("name") or (path.stem if path else "workflow"))
    out = [_job(str(job_id), job, at, workflow, triggers, top, workflow_group) for job_id, job in doc["jobs"].items()]
    _check_needs(out, at)
    return out


def _check_is_workflow(doc: Any, at: Located) -> None:
    """A workflow has a ``jobs:`` mapping; an action's ``action.yml`` (``runs: {using: ...}``) is named as one."""
    if isinstance(doc, dict) and "jobs" not in doc and isinstance(doc.get("runs"), dict) and "using" in doc["runs"]:
        raise at.error(("runs", "using"), f"this is a GitHub Action (runs.using: {doc['runs']['using']}), not a "
                                          "workflow: give the workflow under .github/workflows/ that uses it")
    if not isinstance(doc, dict) or "jobs" not in doc:
        raise at.error((), "a workflow needs a 'jobs:' mapping: give a GitHub Actions workflow file")
    if not isinstance(doc["jobs"], dict) or not doc["jobs"]:
        raise at.error(("jobs",), "'jobs:' must map job ids to jobs, e.g. jobs: {build: {runs-on: ubuntu-latest}}")


def _job(job_id: str, job: Any, at: Located, workflow: str, triggers: Triggers, top: dict[str, Any],
         workflow_group: tuple[str | None, bool | str]) -> JobSpec:
    path: tuple[Any, ...] = ("jobs", job_id)
    if not isinstance(job, dict):
        raise at.error(path, f"job {job_id!r} must be a mapping (runs-on, steps, ...)")
    merged = dict(top)
    merged.update(_keys(job, at, path, f"job {job_id}"))
    uses = job.get("uses")
    if uses is not None and not isinstance(uses, str):
        raise at.error((*path, "uses"), f"job {job_id}: uses {uses!r} must name a workflow, e.g. "
                                        "owner/repo/.github/workflows/build.yml@v1 or ./.github/workflows/build.yml")
    if uses is not None and isinstance(job.get("with"), dict):
        merged.update(_keys(job["with"], at, (*path, "with"), f"job {job_id}"))
    steps = job.get("steps") or []
    if not isinstance(steps, list):
        raise at.error((*path, "steps"), f"job {job_id}: steps must be a list of steps (- run: make)")
    for k, step in enumerate(steps):
        if isinstance(step, dict) and isinstance(step.get("with"), dict):
            merged.update(_keys(step["with"], at, (*path, "steps", k, "with"), f"job {job_id} step {k + 1}"))
    strategy = job.get("strategy")
    legs = Legs(1)
    if isinstance(strategy, dict) and "matrix" in strategy:
        legs = matrix_legs(strategy["matrix"],
                           lambda p, m: at.error((*path, "strategy", "matrix", *p), f"job {job_id}: {m}"))
    group, cancel = _concurrency(job.get("concurrency"), at, (*path, "concurrency"))
    if group is None:
        group, cancel = workflow_group
    pos = at.at(path, key=True)
    return JobSpec(
        workflow=workflow, job=job_id, triggers=triggers.events, crons=triggers.crons,
        carbon_aware=merged.get("carbon-aware"), duration_s=merged.get("duration"),
        deadline_after_s=merged.get("deadline_after"), deadline_at=merged.get("deadline_at"),
        allowed_regions=merged.get("allowed-regions"), source=at.name,
        needs=_needs(job.get("needs"), at, (*path, "needs"), job_id), matrix_legs=legs.count,
        matrix_expression=legs.expression, uses=uses, runs_on=_runs_on(job.get("runs-on"), at, (*path, "runs-on")),
        paths=triggers.paths, paths_ignore=triggers.paths_ignore, concurrency=group, cancel_in_progress=cancel,
        line=pos[0] if pos else None, column=pos[1] if pos else None,
    )


def _needs(value: Any, at: Located, path: tuple[Any, ...], job_id: str) -> tuple[str, ...]:
    found = strings(value)
    if found is not None:
        return found
    raise at.error(path, f"job {job_id}: needs {value!r} must be a job id or a list of job ids, e.g. [build, test]")


def _runs_on(value: Any, at: Located, path: tuple[Any, ...]) -> tuple[str, ...]:
    """Runner labels: a label, a list of labels, or a mapping with a ``group`` and ``labels``."""
    found = strings(value)
    if found is not None:
        return found
    if isinstance(value, dict):
        labels = value.get("labels", [])
        labels = [labels] if isinstance(labels, str) else labels
        group = value.get("group")
        if isinstance(labels, list) and all(isinstance(x, str) for x in labels) and \
                (group is None or isinstance(group, str)):
            return tuple(([f"group:{group}"] if group else []) + list(labels))
    raise at.error(path, f"runs-on {value!r} must be a runner label, a list of labels or {{group: G, labels: [...]}}")


def _concurrency(value: Any, at: Located, path: tuple[Any, ...]) -> tuple[str | None, bool | str]:
    """(group, cancel-in-progress) of a ``concurrency`` string or mapping; cancel may be an expression."""
    if value is None:
        return None, False
    if isinstance(value, str):
        return value, False
    if isinstance(value, dict) and isinstance(value.get("group"), str):
        cancel = value.get("cancel-in-progress", False)
        if isinstance(cancel, (bool, str)):
            return value["group"], cancel
        raise at.error((*path, "cancel-in-progress"), f"cancel-in-progress {cancel!r} must be true, false or an "
                                                      "expression")
    raise at.error(path, f"concurrency {value!r} must be a group name or {{group: NAME, cancel-in-progress: true}}")


def _check_needs(specs: Sequence[JobSpec], at: Located) -> None:
    """Every ``needs`` names a job of this workflow, and no job waits for itself through a chain."""
    ids = [s.job for s in specs]
    for s in specs:
        for k, other in enumerate(s.needs):
            if other not in ids:
                raise at.error(("jobs", s.job, "needs", k),
                               f"job {s.job} needs {other!r}, which is not a job of this workflow (its jobs: "
                               f"{', '.join(ids)}): fix the name")
    graph = {s.job: s.needs for s in specs}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(job: str, trail: list[str]) -> None:
        state[job] = 1
        for other in graph[job]:
            if state.get(other) == 1:
                cycle = [*trail[trail.index(other):], job, other] if other in trail else [job, other]
                raise at.error(("jobs", cycle[0], "needs"), f"needs form a cycle: {' -> '.join(cycle)}: no job of it "
                                                            "could start; remove one of these needs")
            if state.get(other) is None:
                visit(other, [*trail, job])
        state[job] = 2

    for job in ids:
        if job not in state:
            visit(job, [])


def _keys(block: dict[Any, Any], at: Located, path: tuple[Any, ...], where: str) -> dict[str, Any]:
    """The carbon-aware keys of one block; a bad value is an error at its own line and column."""
    out: dict[str, Any] = {}
    if "carbon-aware" in block:
        raw = block["carbon-aware"]
        v = ("true" if raw else "false") if isinstance(raw, bool) else str(raw).strip().lower()
        if v not in _TRUE | _FALSE:
            raise at.error((*path, "carbon-aware"), f"{where}: carbon-aware {raw!r} must be yes or no")
        out["carbon-aware"] = v in _TRUE
    if "duration" in block:
        try:
            out["duration"] = parse_duration_s(block["duration"], field="duration")
        except InputError as exc:
            raise at.error((*path, "duration"), f"{where}: {exc}") from None
    if "deadline" in block:
        raw = block["deadline"]
        try:
            out["deadline_after"] = parse_duration_s(raw, field="deadline")
        except InputError:
            from greenci.timeutil import to_datetime64

            try:
                out["deadline_at"] = str(to_datetime64(raw)) + "Z"
            except InputError:
                raise at.error((*path, "deadline"), f"{where}: deadline {raw!r} must be a duration (3h) or an ISO "
                                                    "8601 time (2022-10-13T08:00Z)") from None
    if "allowed-regions" in block:
        regions = block["allowed-regions"]
        if isinstance(regions, str):
            regions = [r.strip() for r in regions.strip("[]").split(",") if r.strip()]
        if not isinstance(regions, list) or not regions:
            raise at.error((*path, "allowed-regions"), f"{where}: allowed-regions must be a non-empty list, e.g. "
                                                       "[DE-LU, GB]")
        out["allowed-regions"] = tuple(str(r) for r in regions)
    return out
