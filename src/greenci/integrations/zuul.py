"""Zuul configuration (``zuul.yaml``, ``.zuul.yaml``, ``zuul.d/``) read into job specs the planner takes.

Why: a Zuul project says in its own repository which jobs run in which pipeline; its periodic pipelines
are exactly the flexible work greenci can move to cleaner hours, so they become windows: a job of
``periodic`` may wait up to a day (``periodic-weekly``: a week, ``-hourly``: an hour, ``-monthly``: 28
days) unless it says otherwise.

A config file is a YAML list of items. Read: ``- job: {name, parent, timeout, vars, dependencies,
voting, ...}``, ``- project: {name?, vars, templates: [...], <pipeline>: {jobs: [...]}}`` and
``- project-template: {name, <pipeline>: {jobs: [...]}}``; the other Zuul items (nodeset, secret,
semaphore, pragma, queue, pipeline, ...) are skipped. A jobs entry is a name or a one-key mapping
``{name: {dependencies, voting, vars, timeout, ...}}``. A job named by a project but defined nowhere in
the files is fine (Zuul jobs often come from other repositories); it just has no timeout or vars here.

The keys greenci reads in GitHub workflows come from a job's ``vars:`` (``carbon-aware``, ``duration``,
``deadline``, ``allowed-regions``; the underscore spellings too, as Ansible prefers), the most specific
layer winning: the project's vars, then the job's definition (parents first), then its entry in the
pipeline. Job definitions with the same name (variants) are merged in file order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenci.errors import DataFormatError, InputError
from greenci.traces.zuul import pipeline_event
from greenci.units import parse_duration_s
from greenci.workflows import JobSpec

logger = logging.getLogger("greenci.integrations.zuul")

PathLike = str | os.PathLike[str]

#: Zuul config items that say nothing about when jobs run: skipped
SKIPPED_ITEMS = frozenset({"nodeset", "secret", "semaphore", "pragma", "queue", "pipeline", "image", "flavor",
                           "label", "section", "provider", "tenant", "connection"})
READ_ITEMS = ("job", "project", "project-template")
#: keys of a project or template that are no pipeline
PROJECT_KEYS = frozenset({"name", "templates", "default-branch", "merge-mode", "vars", "queue", "description"})
#: how long a periodic job may wait: about its period, so a run lands before the next one is due
PERIOD_S = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0, "monthly": 28 * 86400.0}
CONFIG_NAMES = (("zuul.yaml", "zuul.d"), (".zuul.yaml", ".zuul.d"))  # Zuul's order: the first found is read
_TRUE = frozenset({"yes", "true", "on", "1"})
_FALSE = frozenset({"no", "false", "off", "0"})


@dataclass(frozen=True)
class ZuulJobSpec:
    """One job in one pipeline of one project, with what greenci needs to plan it."""

    project: str
    pipeline: str
    job: str
    event: str
    periodic: bool
    timeout_s: float | None
    dependencies: tuple[str, ...]
    source: str  # the file naming the job in the pipeline (the project or template stanza)
    line: int | None = None
    voting: bool = True
    carbon_aware: bool | None = None
    duration_s: float | None = None
    deadline_after_s: float | None = None
    deadline_at: str | None = None
    allowed_regions: tuple[str, ...] | None = None
    defined_in: str | None = None  # the file defining the job; None when it comes from another repository

    def to_job_spec(self) -> JobSpec:
        """The workflow-level spec the planner takes: the pipeline is the workflow, its event the trigger."""
        return JobSpec(workflow=self.pipeline, job=self.job, triggers=(self.event,), crons=(),
                       carbon_aware=self.carbon_aware, duration_s=self.duration_s,
                       deadline_after_s=self.deadline_after_s, deadline_at=self.deadline_at,
                       allowed_regions=self.allowed_regions, source=self.source,
                       needs=tuple(self.dependencies))


def period_s(pipeline: str) -> float | None:
    """How long a job of a periodic pipeline may wait (``None`` for a pipeline that is not periodic)."""
    if pipeline_event(pipeline) != "schedule":
        return None
    words = pipeline.lower().replace("_", "-").split("-")
    return next((PERIOD_S[w] for w in words if w in PERIOD_S), PERIOD_S["daily"])


def zuul_job_specs(source: PathLike | Iterable[ZuulJobSpec], *, project: str | None = None) -> list[JobSpec]:
    """The planner's :class:`JobSpec` of every job of a Zuul config (a path) or of specs already read."""
    specs = read_zuul_config(source, project=project) if isinstance(source, (str, os.PathLike)) else list(source)
    return [s.to_job_spec() for s in specs]


# ====================================================================== reading
@dataclass(frozen=True)
class _Stanza:
    """One job, project or template item: its body and where it is."""

    body: dict[str, Any]
    file: str
    line: int


def read_zuul_config(path: PathLike, *, project: str | None = None) -> list[ZuulJobSpec]:
    """Every (project, pipeline, job) of a Zuul config file or folder, in file order.

    ``path`` is one file, a ``zuul.d`` folder, or a repository holding ``zuul.yaml``/``zuul.d`` (else
    ``.zuul.yaml``/``.zuul.d``). ``project`` names a project stanza without ``name`` (default: the folder
    holding the config, i.e. the repository).
    """
    files = config_files(path)
    jobs: dict[str, list[_Stanza]] = {}
    templates: dict[str, _Stanza] = {}
    projects: list[_Stanza] = []
    for f in files:
        for kind, stanza in _items(f):
            if kind == "job":
                jobs.setdefault(_name(stanza, "job"), []).append(stanza)
            elif kind == "project-template":
                templates[_name(stanza, "project-template")] = stanza
            else:
                projects.append(stanza)
    if not projects:
        logger.info("zuul: %s defines no project stanza, so no job runs in a pipeline here", os.fspath(path))
    entries: dict[tuple[str, str, str], ZuulJobSpec] = {}
    for stanza in projects:
        name = stanza.body.get("name") or project or _repo_name(Path(stanza.file))
        if not isinstance(name, str):
            raise DataFormatError(f"line {stanza.line}: project name {name!r} must be a string", path=stanza.file)
        for layer in [*_templates_of(stanza, templates), stanza]:
            for pipeline, entry in _pipeline_entries(layer):
                spec = _spec(name, pipeline, entry, stanza, layer, jobs)
                entries[(name, pipeline, spec.job)] = spec  # the project's own entry wins over a template's
    return list(entries.values())


def config_files(path: PathLike) -> list[Path]:
    """The YAML files of a config: the file itself, or a folder's as Zuul finds them (sorted, recursive)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise InputError(f"{os.fspath(path)}: no such Zuul config file or folder: check the path", field="path")
    for names in CONFIG_NAMES:
        found = [p / n for n in names if (p / n).exists()]
        if found:
            return [f for c in found for f in ([c] if c.is_file() else _yaml_files(c))]
    files = _yaml_files(p)
    if not files:
        raise InputError(f"{os.fspath(path)}: holds no zuul.yaml, .zuul.yaml, zuul.d/ or *.yaml files: give a Zuul "
                         "config file or the repository that holds one", field="path")
    return files


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix.lower() in (".yaml", ".yml"))


def _repo_name(file: Path) -> str:
    """The repository a config file belongs to: the folder holding ``zuul.yaml`` or ``zuul.d``."""
    for parent in file.parents:
        if parent.name in ("zuul.d", ".zuul.d"):
            return parent.parent.resolve().name
    return file.parent.resolve().name


def _items(file: Path) -> list[tuple[str, _Stanza]]:
    """The job, project and template items of one file; the other Zuul items are skipped."""
    name = os.fspath(file)
    doc = _load(file)
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise DataFormatError(f"line {_line(doc) or 1}: a Zuul config file is a YAML list of items (- job: ..., "
                              f"- project: ...), not a {_kind(doc)}: put '- ' before each item", path=name)
    out: list[tuple[str, _Stanza]] = []
    for i, item in enumerate(doc):
        line = _item_line(doc, i)
        if not isinstance(item, dict) or len(item) != 1:
            keys = f"keys ({', '.join(map(str, item))})" if isinstance(item, dict) else f"a {_kind(item)}"
            raise DataFormatError(f"line {line}: an item is a mapping with one key (- job: ..., - project: ...), "
                                  f"got {keys}: indent the item's fields under its key", path=name)
        kind, body = next(iter(item.items()))
        if kind in SKIPPED_ITEMS:
            continue
        if kind not in READ_ITEMS:
            raise DataFormatError(f"line {line}: {kind!r} is no Zuul config item: use one of "
                                  f"{', '.join(READ_ITEMS)} (or {', '.join(sorted(SKIPPED_ITEMS))}, which greenci "
                                  "skips)", path=name)
        if not isinstance(body, dict):
            raise DataFormatError(f"line {line}: {kind} must be a mapping of its fields (name: ..., ...), not a "
                                  f"{_kind(body)}", path=name)
        out.append((kind, _Stanza(body, name, _line(body) or line)))
    return out


def _name(stanza: _Stanza, kind: str) -> str:
    name = stanza.body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DataFormatError(f"line {stanza.line}: a {kind} needs a name (name: my-{kind}), got {name!r}",
                              path=stanza.file)
    return name.strip()


def _templates_of(project: _Stanza, templates: dict[str, _Stanza]) -> list[_Stanza]:
    names = project.body.get("templates") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataFormatError(f"line {_line(names) or project.line}: templates must be a list of template names, "
                              f"got {names!r}", path=project.file)
    missing = [n for n in names if n not in templates]
    if missing:
        logger.info("zuul: %s: templates %s are defined in another repository: their jobs are not read",
                    project.file, ", ".join(missing))
    return [templates[n] for n in names if n in templates]


def _pipeline_entries(stanza: _Stanza) -> list[tuple[str, tuple[str, dict[str, Any], int]]]:
    """(pipeline, (job, its entry's fields, line)) of a project or template, in file order."""
    out = []
    for pipeline, block in stanza.body.items():
        if pipeline in PROJECT_KEYS:
            continue
        where = _line(block) or stanza.line
        if not isinstance(block, dict):
            raise DataFormatError(f"line {where}: pipeline {pipeline!r} must be a mapping with a jobs list "
                                  f"({pipeline}: {{jobs: [job-a, job-b]}}), not a {_kind(block)}", path=stanza.file)
        listed = block.get("jobs") or []
        if not isinstance(listed, list):
            raise DataFormatError(f"line {_line(listed) or where}: {pipeline}.jobs must be a list of job names or "
                                  f"one-key mappings, not a {_kind(listed)}", path=stanza.file)
        for i, entry in enumerate(listed):
            out.append((str(pipeline), _entry(entry, _item_line(listed, i) or where, stanza.file, str(pipeline))))
    return out


def _entry(entry: Any, line: int, file: str, pipeline: str) -> tuple[str, dict[str, Any], int]:
    if isinstance(entry, str) and entry.strip():
        return entry.strip(), {}, line
    if isinstance(entry, dict) and len(entry) == 1:
        job, fields = next(iter(entry.items()))
        if isinstance(job, str) and job.strip() and (fields is None or isinstance(fields, dict)):
            return job.strip(), fields or {}, line
    shown = repr(entry)[:80]
    raise DataFormatError(f"line {line}: a {pipeline} jobs entry is a job name or a one-key mapping "
                          f"(- my-job: {{voting: false}}), got {shown}", path=file)


def _spec(project: str, pipeline: str, entry: tuple[str, dict[str, Any], int], stanza: _Stanza, layer: _Stanza,
          jobs: dict[str, list[_Stanza]]) -> ZuulJobSpec:
    """One pipeline entry of ``layer`` (the project ``stanza`` or one of its templates), resolved."""
    job, fields, line = entry
    chain = _chain(job, jobs)  # parents first
    layers: list[tuple[dict[str, Any], str]] = [(s.body, s.file) for s in chain]
    variant = (fields, layer.file)
    timeout = None
    voting = True
    deps: list[str] = []
    for body, file in [*layers, variant]:
        if "timeout" in body:
            timeout = _timeout(body["timeout"], file, _key_line(body, "timeout"), job)
        if "voting" in body:
            voting = _flag(body["voting"], file, _key_line(body, "voting"), job, "voting")
        if "dependencies" in body:
            deps = _dependencies(body["dependencies"], file, _key_line(body, "dependencies"), job)
    window: dict[str, Any] = {}
    for body, file in [(stanza.body, stanza.file), *layers, variant]:
        block = body.get("vars")
        if block is None:
            continue
        if not isinstance(block, dict):
            raise DataFormatError(f"line {_key_line(body, 'vars')}: vars of {job!r} must be a mapping, not a "
                                  f"{_kind(block)}", path=file)
        window.update(_window(block, file, job))
    periodic = pipeline_event(pipeline) == "schedule"
    if periodic:
        window.setdefault("carbon_aware", True)
        if "deadline_after_s" not in window and "deadline_at" not in window:
            window["deadline_after_s"] = period_s(pipeline)
    after, duration = window.get("deadline_after_s"), window.get("duration_s")
    if after is not None and duration is not None and duration > after:
        raise DataFormatError(f"line {line}: job {job!r} in {pipeline}: duration {duration / 3600:g} h is longer than "
                              f"its deadline {after / 3600:g} h after submission: it could never meet it; give a "
                              "shorter duration or a later deadline in its vars", path=layer.file, field="deadline")
    return ZuulJobSpec(project=project, pipeline=pipeline, job=job, event=pipeline_event(pipeline), periodic=periodic,
                       timeout_s=timeout, dependencies=tuple(deps), source=layer.file, line=line, voting=voting,
                       carbon_aware=window.get("carbon_aware"), duration_s=duration, deadline_after_s=after,
                       deadline_at=window.get("deadline_at"), allowed_regions=window.get("allowed_regions"),
                       defined_in=chain[-1].file if chain else None)


def _chain(job: str, jobs: dict[str, list[_Stanza]]) -> list[_Stanza]:
    """The definitions of a job and its parents found in the files, the furthest ancestor first."""
    out: list[_Stanza] = []
    seen: list[str] = []
    name: str | None = job
    while name is not None and name in jobs:
        if name in seen:
            first = jobs[name][0]
            raise DataFormatError(f"line {first.line}: job {name!r} is its own ancestor ({' -> '.join([*seen, name])}):"
                                  " break the parent loop", path=first.file)
        seen.append(name)
        variants = jobs[name]
        out = list(variants) + out
        parent = next((v.body["parent"] for v in reversed(variants) if v.body.get("parent") is not None), None)
        if parent is not None and not isinstance(parent, str):
            raise DataFormatError(f"line {_key_line(variants[-1].body, 'parent')}: parent of {name!r} must be a job "
                                  f"name, got {parent!r}", path=variants[-1].file)
        name = parent
    return out


def _timeout(value: Any, file: str, line: int, job: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise DataFormatError(f"line {line}: timeout of {job!r} must be a positive number of seconds (timeout: 1800), "
                              f"got {value!r}", path=file, field="timeout")
    return float(value)


def _flag(value: Any, file: str, line: int, job: str, key: str) -> bool:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        raise DataFormatError(f"line {line}: {key} of {job!r} must be yes or no (true/false), got {value!r}",
                              path=file, field=key)
    return text in _TRUE


def _dependencies(value: Any, file: str, line: int, job: str) -> list[str]:
    items = [value] if isinstance(value, (str, dict)) else value
    if not isinstance(items, list):
        raise DataFormatError(f"line {line}: dependencies of {job!r} must be a list of job names, got {value!r}",
                              path=file, field="dependencies")
    out = []
    for d in items:
        name = d.get("name") if isinstance(d, dict) else d
        if not isinstance(name, str) or not name.strip():
            raise DataFormatError(f"line {_line(d) or line}: a dependency of {job!r} is a job name or "
                                  f"{{name: job, soft: true}}, got {d!r}", path=file, field="dependencies")
        out.append(name.strip())
    return out


def _window(block: dict[str, Any], file: str, job: str) -> dict[str, Any]:
    """The greenci keys of one vars mapping (both spellings), checked, as ZuulJobSpec fields."""
    out: dict[str, Any] = {}
    for key in block:
        norm = str(key).replace("_", "-")
        if norm not in ("carbon-aware", "duration", "deadline", "allowed-regions"):
            continue
        value, line = block[key], _key_line(block, key)
        if norm == "carbon-aware":
            out["carbon_aware"] = _flag(value, file, line, job, "carbon-aware")
        elif norm == "duration":
            out["duration_s"] = _seconds(value, file, line, job, "duration")
        elif norm == "deadline":
            out.pop("deadline_after_s", None)
            out.pop("deadline_at", None)
            out.update(_deadline(value, file, line, job))
        else:
            out["allowed_regions"] = _regions(value, file, line, job)
    return out


def _seconds(value: Any, file: str, line: int, job: str, key: str) -> float:
    try:
        return parse_duration_s(value, field=key)
    except InputError as exc:
        raise DataFormatError(f"line {line}: vars of {job!r}: {exc}", path=file, field=key) from None


def _deadline(value: Any, file: str, line: int, job: str) -> dict[str, Any]:
    from greenci.timeutil import to_datetime64

    try:
        return {"deadline_after_s": parse_duration_s(value, field="deadline")}
    except InputError:
        pass
    try:
        return {"deadline_at": str(to_datetime64(str(value))) + "Z"}
    except InputError:
        raise DataFormatError(f"line {line}: vars of {job!r}: deadline {value!r} must be a duration (3h) or an "
                              "ISO 8601 time (2024-05-02T18:00Z)", path=file, field="deadline") from None


def _regions(value: Any, file: str, line: int, job: str) -> tuple[str, ...]:
    regions = [r.strip() for r in value.strip("[]").split(",") if r.strip()] if isinstance(value, str) else value
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) and r.strip() for r in regions):
        raise DataFormatError(f"line {line}: vars of {job!r}: allowed-regions must be a non-empty list of region "
                              f"names, e.g. [DE-LU, GB], got {value!r}", path=file, field="allowed-regions")
    return tuple(r.strip() for r in regions)


# ====================================================================== YAML with line numbers
class _Map(dict):  # type: ignore[type-arg]
    """A mapping that knows its line and the line of each key (for messages)."""

    line: int = 0
    key_lines: dict[Any, int]


class _Seq(list):  # type: ignore[type-arg]
    """A list that knows its line and each item's line."""

    line: int = 0
    lines: list[int]


def _load(file: Path) -> Any:
    """The YAML of one file, mappings and lists carrying their lines; Zuul's own tags read as plain values."""
    import yaml

    name = os.fspath(file)

    class Loader(yaml.SafeLoader):
        """SafeLoader that keeps lines and reads ``!encrypted/...``, ``!inherit``, ``!override`` untagged."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> _Map:
        data = _Map(loader.construct_mapping(node, deep=True))
        data.line = node.start_mark.line + 1
        data.key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        return data

    def sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> _Seq:
        data = _Seq(loader.construct_sequence(node, deep=True))
        data.line = node.start_mark.line + 1
        data.lines = [n.start_mark.line + 1 for n in node.value]
        return data

    def untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            return mapping(loader, node)
        if isinstance(node, yaml.SequenceNode):
            return sequence(loader, node)
        return loader.construct_scalar(node)  # type: ignore[arg-type]

    Loader.add_constructor("tag:yaml.org,2002:map", mapping)
    Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    Loader.add_multi_constructor("!", untagged)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"is not UTF-8 text (byte {exc.start}): a Zuul config is UTF-8 YAML", path=name) from None
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}): check the path", field="path") from None
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise DataFormatError(f"{where}not valid YAML: {exc.problem or exc.context}: fix the indentation or quoting "
                              "there", path=name) from None
    except yaml.YAMLError as exc:
        raise DataFormatError(f"not valid YAML: {str(exc).splitlines()[0]}", path=name) from None


def _line(value: Any) -> int | None:
    return getattr(value, "line", None) or None


def _item_line(seq: Any, i: int) -> int:
    lines = getattr(seq, "lines", None)
    return lines[i] if lines and i < len(lines) else (_line(seq) or 0)


def _key_line(body: Any, key: Any) -> int:
    lines = getattr(body, "key_lines", None) or {}
    return lines.get(key) or _line(body) or 0


def _kind(value: Any) -> str:
    return {dict: "mapping", _Map: "mapping", list: "list", _Seq: "list", str: "text"}.get(type(value),
                                                                                          type(value).__name__)


__all__ = ["PERIOD_S", "ZuulJobSpec", "config_files", "period_s", "read_zuul_config", "zuul_job_specs"]
