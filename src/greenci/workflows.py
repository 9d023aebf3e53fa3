"""GitHub Actions workflow files: the carbon-aware keys greenci reads, and the triggers.

Keys (as in the study's Listing 1), at workflow level, job level or in a step's ``with:`` (the most
specific wins)::

    carbon-aware: yes            # may greenci shift this job? (yes/no/true/false)
    duration: 1h                 # the user's runtime estimate
    deadline: 3h                 # relative to submission, or an ISO 8601 time
    allowed-regions: [eu-central-1, DE-LU]

PyYAML reads the bare key ``on`` as the boolean True (YAML 1.1); both spellings are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenci.errors import DataFormatError, InputError
from greenci.units import parse_duration_s

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


def read_workflow(source: str | Path) -> list[JobSpec]:
    """Job specs of a workflow file (path) or YAML text."""
    import yaml

    path = Path(source) if not isinstance(source, str) or "\n" not in source else None
    name = str(path) if path else "workflow"
    try:
        text = _workflow_text(path) if path else str(source)
        doc = yaml.safe_load(text)
    except FileNotFoundError:
        raise InputError(f"{name}: no such workflow file: check the path") from None
    except yaml.YAMLError as exc:
        raise DataFormatError(f"not valid YAML ({exc.__class__.__name__}): {str(exc).splitlines()[0]}",
                              path=name) from None
    if not isinstance(doc, dict) or "jobs" not in doc or not isinstance(doc["jobs"], dict):
        raise DataFormatError("a workflow needs a 'jobs:' mapping", path=name)
    triggers, crons = _triggers(doc.get("on", doc.get(True)))
    top = _keys(doc, name, "workflow")
    out = []
    for job_id, job in doc["jobs"].items():
        if not isinstance(job, dict):
            raise DataFormatError(f"job {job_id!r} must be a mapping", path=name)
        merged = dict(top)
        merged.update(_keys(job, name, f"job {job_id}"))
        for k, step in enumerate(job.get("steps") or []):
            if isinstance(step, dict) and isinstance(step.get("with"), dict):
                merged.update(_keys(step["with"], name, f"job {job_id} step {k + 1}"))
        out.append(JobSpec(
            workflow=str(doc.get("name") or (path.stem if path else "workflow")), job=str(job_id),
            triggers=triggers, crons=crons, carbon_aware=merged.get("carbon-aware"),
            duration_s=merged.get("duration"), deadline_after_s=merged.get("deadline_after"),
            deadline_at=merged.get("deadline_at"), allowed_regions=merged.get("allowed-regions"), source=name,
        ))
    return out


def _triggers(on: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if on is None:
        return (), ()
    if isinstance(on, str):
        return (on,), ()
    if isinstance(on, list):
        return tuple(str(x) for x in on), ()
    if isinstance(on, dict):
        crons = tuple(str(c.get("cron")) for c in (on.get("schedule") or []) if isinstance(c, dict) and c.get("cron"))
        return tuple(str(k) for k in on), crons
    return (), ()


def _keys(block: dict, name: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "carbon-aware" in block:
        v = str(block["carbon-aware"]).strip().lower() if not isinstance(block["carbon-aware"], bool) else (
            "true" if block["carbon-aware"] else "false")
        if v not in _TRUE | _FALSE:
            raise InputError(f"{name}: {where}: carbon-aware {block['carbon-aware']!r} must be yes or no")
        out["carbon-aware"] = v in _TRUE
    if "duration" in block:
        out["duration"] = parse_duration_s(block["duration"], field=f"{name}: {where}: duration")
    if "deadline" in block:
        raw = block["deadline"]
        try:
            out["deadline_after"] = parse_duration_s(raw, field="deadline")
        except InputError:
            from greenci.timeutil import to_datetime64

            try:
                out["deadline_at"] = str(to_datetime64(raw)) + "Z"
            except InputError:
                raise InputError(f"{name}: {where}: deadline {raw!r} must be a duration (3h) or an ISO 8601 time"
                                 ) from None
    if "allowed-regions" in block:
        regions = block["allowed-regions"]
        if isinstance(regions, str):
            regions = [r.strip() for r in regions.strip("[]").split(",") if r.strip()]
        if not isinstance(regions, list) or not regions:
            raise InputError(f"{name}: {where}: allowed-regions must be a non-empty list, e.g. [DE-LU, GB]")
        out["allowed-regions"] = tuple(str(r) for r in regions)
    return out
